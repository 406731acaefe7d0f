"""The whole pipeline at 3 k, 100 k and 1 M rows: `make run` end to end, and each task's seconds, rows/s and memory.

For each size it writes a synthetic census (include/segmentation/synthetic.py; unique State-County keys),
runs `scripts/run_local.py --data <file>` (what `make run DATA=…` runs: emulator, `airflow dags test`,
download of the results) in a throw-away AIRFLOW_HOME and output folder, and samples the memory (PSS)
of that whole process tree (emulator, Airflow, its tasks) every 0.5 s. Per task it prints the seconds the
task instance took (from the run's Airflow database, deferrals included), rows per second, and the peak
of the tree's memory while it ran.

    .venv/bin/python bench/pipeline.py [--rows 3220,100000,1000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import psutil

from include.segmentation.synthetic import scaled_census
from scripts.local_airflow import EMULATOR_DATA

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The tasks whose work grows with the rows; the others take constant time (configs, waits, teardown).
ROW_TASKS = ("preprocess", "transform_with_pca", "assign_segments", "extract_attributes", "build_report", "publish")
SAMPLE_SECONDS = 0.5  # PSS walks each process's page tables: sampled faster, it slows the run it measures


class TreeMemory:
    """Samples, in a thread, the summed memory of a process and all its descendants, and of the emulator's
    process alone: (time, total bytes, emulator bytes) triples.

    Each process counts its PSS (proportional set size: its private pages plus its share of the pages it
    shares, such as the libraries and the pages a forked child still shares with its parent), so that the
    sum is the memory the run occupies; summed RSS would count every shared page once per process.
    """

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.samples: list[tuple[float, int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            total = emulator = 0
            try:
                processes = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for process in processes:
                with contextlib.suppress(psutil.NoSuchProcess):  # ended between listing and reading
                    rss = process.memory_full_info().pss
                    total += rss
                    if "aws_emulator" in process.cmdline():
                        emulator += rss
            self.samples.append((time.time(), total, emulator))

    def peak(self, start: float = 0.0, end: float = float("inf"), emulator: bool = False) -> int:
        """The largest summed PSS (or the emulator's) sampled between two Unix times, in bytes (0 if none)."""
        return max((s[2 if emulator else 1] for s in self.samples if start <= s[0] <= end), default=0)


def run_once(rows: int, workdir: Path) -> dict:
    """`make run` on a synthetic census of `rows` rows: its wall, peak memory, and each task's figures."""
    census = synthetic_census(rows, workdir)
    wall, memory, home = make_run(census, workdir, str(rows))
    run, tasks = timings(home / "airflow.db")
    return {
        "rows": rows,
        "csv_mb": census.stat().st_size / 1e6,
        "wall": wall,
        "dag_run": run,
        "peak": memory.peak(),
        "emulator_peak": memory.peak(emulator=True),
        "tasks": {
            task: (seconds, memory.peak(start, end), memory.peak(start, end, emulator=True))
            for task, (seconds, start, end) in tasks.items()
        },
    }


def synthetic_census(rows: int, workdir: Path) -> Path:
    """`workdir/census-<rows>.csv`, a synthetic census of `rows` rows (written once, then reused)."""
    census = workdir / f"census-{rows}.csv"
    if not census.exists():
        scaled_census(rows).to_csv(census, index=False)
    return census


def make_run(census: Path, workdir: Path, name: str, conf: dict | None = None) -> tuple[float, TreeMemory, Path]:
    """`make run DATA=<census> CONF=<conf>` in the throw-away AIRFLOW_HOME `workdir/home-<name>` (results in
    `workdir/output-<name>`, its output in `workdir/make-run-<name>.log`): its wall seconds, the memory
    sampled while it ran, and that home. SystemExit if the run fails."""
    home, output, log_path = workdir / f"home-{name}", workdir / f"output-{name}", workdir / f"make-run-{name}.log"
    # make run keeps the emulator's state in AIRFLOW_HOME, and a census it has segmented is then skipped as
    # unchanged: each measurement starts from an empty emulator, so that it trains (--keep reuses the home).
    shutil.rmtree(home / EMULATOR_DATA, ignore_errors=True)
    command = [sys.executable, "scripts/run_local.py", "--data", str(census), "--output", str(output)]
    command += ["--home", str(home), *(["--conf", json.dumps(conf)] if conf else [])]
    started = time.perf_counter()
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT)
        with TreeMemory(process.pid) as memory:
            code = process.wait()
    wall = time.perf_counter() - started
    if code:
        raise SystemExit(f"make run on {census.name} ({name}) failed (exit {code}); see {log_path}")
    return wall, memory, home


def timings(database: Path) -> tuple[float, dict[str, tuple[float, float, float]]]:
    """The last DAG run's seconds, and per task (seconds, start, end as Unix times), from the Airflow database."""
    with sqlite3.connect(database) as db:
        run_start, run_end = db.execute(
            "SELECT start_date, end_date FROM dag_run WHERE dag_id = 'population_segmentation' ORDER BY id DESC"
        ).fetchone()
        rows = db.execute(
            "SELECT task_id, start_date, end_date FROM task_instance WHERE dag_id = 'population_segmentation'"
            " AND run_id = (SELECT run_id FROM dag_run WHERE dag_id = 'population_segmentation' ORDER BY id DESC)"
        ).fetchall()
    tasks = {task: (_unix(end) - _unix(start), _unix(start), _unix(end)) for task, start, end in rows if end}
    return _unix(run_end) - _unix(run_start), tasks


def _unix(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def print_table(results: list[dict]) -> None:
    print("\nEnd to end (`make run DATA=<file>`; memory summed over emulator, Airflow and tasks (PSS))")
    print(f"{'rows':>10} {'CSV MB':>7} {'make run s':>10} {'DAG run s':>9} {'peak MiB':>12} {'(emulator)':>10}")
    for r in results:
        peak, emulator = r["peak"] / 2**20, r["emulator_peak"] / 2**20
        print(
            f"{r['rows']:>10,} {r['csv_mb']:>7.0f} {r['wall']:>10.1f} {r['dag_run']:>9.1f}"
            f" {peak:>12.0f} {emulator:>10.0f}"
        )
    print("\nPer task: seconds | rows/s | peak memory (PSS, MiB) while it ran, all / emulator")
    header = "".join(f"{r['rows']:>34,}" for r in results)
    print(f"{'task':<26}{header}")
    for task in sorted(results[0]["tasks"], key=lambda t: results[0]["tasks"][t][0], reverse=True):
        cells = []
        for r in results:
            seconds, peak, emulator = r["tasks"].get(task, (0.0, 0, 0))
            rate = f"{r['rows'] / seconds:,.0f}" if task in ROW_TASKS and seconds else "-"
            cells.append(f"{seconds:>7.1f} | {rate:>9} | {peak / 2**20:>5.0f} / {emulator / 2**20:>4.0f}")
        print(f"{task:<26}" + "".join(f"{c:>34}" for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="3220,100000,1000000", help="comma-separated row counts")
    parser.add_argument("--keep", help="work in this folder and keep it (census files are reused)")
    args = parser.parse_args()
    sizes = [int(n) for n in args.rows.split(",")]
    with tempfile.TemporaryDirectory(prefix="popseg-bench-") as scratch:
        workdir = Path(args.keep or scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        results = []
        for rows in sizes:
            print(f"make run on {rows:,} synthetic rows …", flush=True)
            results.append(run_once(rows, workdir))
            print(f"  {results[-1]['wall']:.1f} s, DAG run {results[-1]['dag_run']:.1f} s", flush=True)
    print_table(results)


if __name__ == "__main__":
    main()
