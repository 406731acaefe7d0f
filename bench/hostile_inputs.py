"""Refusing hostile inputs: error, message, peak memory and time of each refusal in a fresh process.

Run from the project root: `python bench/hostile_inputs.py`. Crafts every input of
`devtools/hostile_inputs.py` in a temporary folder, refuses each in its own child process (which does
that one refusal and nothing else) and prints a table. Peak RSS is the child's ru_maxrss as its
launcher's RUSAGE_CHILDREN reports it, raw; the baseline child only imports the modules, so the
difference is what the refusal itself cost. Time is the one call in the child, imports excluded.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from devtools.hostile_inputs import CRAFTERS, measure


def main() -> None:
    rows = [("baseline (imports only)", "", measure("baseline"))]
    with tempfile.TemporaryDirectory(prefix="popseg-hostile-") as directory:
        for craft in CRAFTERS:
            case = craft(Path(directory))
            refusal = measure(case.loader, case.path)
            if refusal.error != case.error:
                raise SystemExit(f"{case.name}: expected {case.error}, got {refusal.error}: {refusal.message[:200]}")
            rows.append((case.name, f"{case.path.stat().st_size:,}", refusal))
    print(f"{'input':<36} {'bytes on disk':>13}  {'error':<22} {'peak RSS':>9} {'time':>8}  message")
    for name, size, refusal in rows:
        # Messages from the census loader begin with the temporary path: show what follows it.
        message = refusal.message.split(": ", 1)[-1] if refusal.message.startswith("/") else refusal.message
        print(
            f"{name:<36} {size:>13}  {refusal.error:<22} {refusal.peak_rss_mib:>5.0f} MiB "
            f"{refusal.ms:>5.0f} ms  {message[:80]}"
        )


if __name__ == "__main__":
    main()
