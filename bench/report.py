"""steps.build_report at 3 k, 100 k, 400 k and 1 M rows: seconds and the peak RSS of each, on synthetic runs.

Run from the project root: `python bench/report.py [rows …]`. Each size runs in its own child process
(devtools.report_memory): the run's work files are written to a temporary directory first, as the pipeline leaves
them, then the child runs the task on them, streaming its rows, with its two whole-frame inputs (segment traits,
median distances) fed from a small run. Rows past 3,220 are areas without a county FIPS code
(devtools.synthetic_run.census_rows), which the map counts and names up to us_map.LISTED, rather than draws.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from devtools.preprocess_memory import SETTLED_ALLOCATORS
from devtools.report_memory import measure, write_run

SIZES = (3_000, 100_000, 400_000, 1_000_000)


def main() -> None:
    sizes = [int(arg) for arg in sys.argv[1:]] or list(SIZES)
    print(f"{'rows':>10} {'build_report s':>15} {'peak RSS MiB':>13} {'settled MiB':>12} {'report.html MB':>15}")
    for rows in sizes:
        with tempfile.TemporaryDirectory() as root:
            handoffs = write_run(Path(root), rows)
            result = measure(Path(root), handoffs)
            settled = measure(Path(root), handoffs, env=SETTLED_ALLOCATORS)  # as the memory test compares
        print(
            f"{result['rows']:>10,} {result['seconds']:15.2f} {result['peak_mib']:13.0f} {settled['peak_mib']:12.0f} "
            f"{result['report_bytes'] / 1e6:15.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
