"""build_report at 3 k, 100 k and 1 M rows: seconds and the peak RSS of each, on synthetic runs.

Run from the project root: `python bench/report.py [rows …]`. Each size runs in its own child process, so its
peak RSS is its own: the child builds the frames steps.build_report reads (devtools.synthetic_run: the same
RunResults), then times report.build_report alone. "before it" is the child's peak RSS once the frames are
built: where the two peaks are equal, build_report did not raise it. Rows past 3,220 are areas without a
county FIPS code (devtools.synthetic_run.census_rows), which the map lists, bounded, rather than draws.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SIZES = (3_000, 100_000, 1_000_000)


def measure(rows: int) -> dict:
    """In this process: build the run's frames, then time build_report. Peak RSS covers both."""
    from devtools.synthetic_run import synthetic_run
    from include.segmentation import report

    results = synthetic_run(rows, k=6)
    frames_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB: making the frames (PCA, K-Means)
    start = time.perf_counter()
    html, plots = report.build_report(results)
    seconds = time.perf_counter() - start
    return {
        "rows": len(results.segments),
        "seconds": seconds,
        "frames_peak_kib": frames_peak,
        "html_bytes": len(html.encode()),
        "plot_bytes": sum(map(len, plots.values())),
    }


def main() -> None:
    sizes = [int(arg) for arg in sys.argv[1:]] or list(SIZES)
    print(
        f"{'rows':>10} {'build_report s':>15} {'peak RSS MiB':>13} {'before it MiB':>14} "
        f"{'report.html MB':>15} {'plots MB':>9}"
    )
    for rows in sizes:
        code = f"import json, bench.report as b; print(json.dumps(b.measure({rows})))"
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux: the largest child so far
        result = json.loads(out.stdout.strip().splitlines()[-1])
        rss = f"{peak / 1024:13.0f}" if peak > before else f"{'≤ ' + str(round(before / 1024)):>13}"
        print(
            f"{result['rows']:>10,} {result['seconds']:15.2f} {rss} {result['frames_peak_kib'] / 1024:14.0f} "
            f"{result['html_bytes'] / 1e6:15.2f} {result['plot_bytes'] / 1e6:9.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
