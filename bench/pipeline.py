"""The whole pipeline at 3 k, 100 k, 1 M (and 10 M) rows: `make run` end to end, each task's seconds and memory.

For each size it writes a synthetic census (include/segmentation/synthetic.py; unique State-County keys; in
blocks of GENERATE_ROWS rows, so that writing 10 M rows holds one block), runs `scripts/run_local.py --data
<file>` (what `make run DATA=…` runs: emulator, `airflow dags test`, download of the results) in a throw-away
AIRFLOW_HOME and output folder, and measures:

- per task, the peak RSS of the process that ran it. `airflow dags test` runs every task in its own process,
  one after the other (`Dag.test` → `run_task_in_process`; a real worker starts one process per task), so the
  task's peak is that process's peak while the task ran: every SAMPLE_SECONDS the bench reads the process's
  high-water mark (VmHWM, /proc/<pid>/status) and resets it (`5` to /proc/<pid>/clear_refs, Linux ≥ 4.0), so
  each interval's peak is exact however short the spike, and an interval counts for every task it overlaps
  (an interval straddling two tasks counts for both: the figure is an upper bound, by one interval). The
  process keeps what earlier tasks left (imports, the allocators' free lists), so the RSS it had when the task
  started is printed beside the peak ("from");
- the emulator's own peak RSS (it plays SageMaker's instances and S3), separately, by the same sampling;
- the wall of each task (from the run's Airflow database, deferrals included) and of the run;
- for each pair of consecutive sizes the issue's ratios: each task's peak at the larger size over the smaller
  (goal ≤ 1.10) and the DAG run's wall over the smaller's against the ratio of rows (goal: not above it).

`--airflow scheduler` runs the DAG as a deployment does instead: Airflow's api-server, scheduler, dag-processor
and triggerer with a LocalExecutor (scripts/local_airflow.py, as `make airflow`) in a throw-away AIRFLOW_HOME,
the census uploaded to the emulator, one triggered run. Each try of each task then runs in a process of its own
(forked by the worker's supervisor; a deferred task resumes in a new one), as on any executor, and each such
process reports its own peak RSS as it stops (bench/task_memory_plugin: an Airflow listener, loaded only by this
bench; VmHWM, exact), with its RSS when the task started ("from"). The per-task figures are those processes'
(the largest over a task's processes), nothing inherited from other tasks; the Airflow components' own peaks
(scheduler, api-server, …) are printed apart, and the emulator's as before. `--allocators default` runs
Airflow's processes without the allocator settings of our local runs (scripts/local_airflow.MEMORY_ENV), as a
deployment's worker starts them; each task still applies its own (include/airflow_popseg/allocators.py).

    .venv/bin/python bench/pipeline.py [--rows 3220,100000,1000000] [--keep DIR]
        [--airflow scheduler [--allocators default]]
    .venv/bin/python bench/pipeline.py --rows 10000000 --generate-only --keep DIR   # the census file alone
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import psutil

from bench.task_memory_plugin import task_memory
from include.segmentation.synthetic import scaled_census
from scripts import local_airflow, seed_emulator
from scripts.local_airflow import EMULATOR_DATA

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The tasks whose work grows with the rows; the others take constant time (configs, waits, teardown).
ROW_TASKS = ("preprocess", "transform_with_pca", "assign_segments", "extract_attributes", "build_report", "publish")
# Reading two /proc status files and writing a clear_refs is cheap (unlike PSS, which walks page tables), so
# the sampling can be fine: it only decides which task an interval's peak is counted for.
SAMPLE_SECONDS = 0.1
# Rows generated and written at a time: what the bench's process holds while it writes a census, whatever its
# size (10 M rows, 2.1 GB: 1.5 GB peak RSS, 18 min under load 6); a census of at most this many rows is
# `scaled_census(rows)`, the file it always was.
GENERATE_ROWS = 1_000_000
# The folder of the listener that reports each task process's peak (`--airflow scheduler`).
TASK_MEMORY_PLUGIN = Path(__file__).resolve().parent / "task_memory_plugin"
GROWTH_GOAL = 1.10  # the goal: a task's peak at 10 M rows within 10 % of its peak at 1 M


def _status(pid: int) -> dict[str, int]:
    """VmHWM and VmRSS of a process, in bytes (/proc/<pid>/status); {} once it has ended."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return {}
    fields = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            fields[name] = int(value.split()[0]) * 1024
    return fields


def _reset_peak(pid: int) -> None:
    """Reset the process's high-water mark (VmHWM) to its current RSS."""
    with contextlib.suppress(FileNotFoundError, ProcessLookupError, PermissionError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


@dataclass
class Interval:
    """One sampling interval (Unix times): the Airflow process's peak RSS in it and its RSS at the end, and the
    emulator's peak (bytes; 0 when the process did not exist yet)."""

    start: float
    end: float
    airflow_peak: int
    airflow_rss: int
    emulator_peak: int


@dataclass
class RunMemory:
    """Samples, in a thread, the peak RSS of the `airflow dags test` process and of the emulator's, interval by
    interval (see the module docstring), and the command lines of every process of the tree it saw."""

    root: int
    intervals: list[Interval] = field(default_factory=list)
    commands: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> RunMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _processes(self) -> tuple[int | None, list[int]]:
        """The pid of the `airflow dags test` process (None before it starts), the emulator's pids."""
        airflow, emulator = None, []
        try:
            tree = psutil.Process(self.root).children(recursive=True)
        except psutil.NoSuchProcess:
            return None, []
        for process in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                command = process.cmdline()
                self.commands.add(" ".join(Path(part).name if i < 2 else part for i, part in enumerate(command[:4])))
                if "aws_emulator" in " ".join(command):
                    emulator.append(process.pid)
                elif " dags test " in f" {' '.join(command)} ":
                    airflow = process.pid
        return airflow, emulator

    def _sample(self) -> None:
        last = time.time()
        while not self._stop.wait(SAMPLE_SECONDS):
            airflow, emulator = self._processes()
            now = time.time()
            status = _status(airflow) if airflow else {}
            emulator_peak = 0
            for pid in emulator:
                emulator_peak += _status(pid).get("VmHWM", 0)
                _reset_peak(pid)
            if airflow:
                _reset_peak(airflow)
            self.intervals.append(Interval(last, now, status.get("VmHWM", 0), status.get("VmRSS", 0), emulator_peak))
            last = now

    def task(self, start: float, end: float) -> tuple[int, int, int]:
        """(the Airflow process's peak RSS between two Unix times, its RSS when the first interval in them
        ended, the emulator's peak in them), bytes; an interval counts when it overlaps them."""
        inside = [i for i in self.intervals if i.end >= start and i.start <= end]
        if not inside:
            return 0, 0, 0
        return max(i.airflow_peak for i in inside), inside[0].airflow_rss, max(i.emulator_peak for i in inside)

    def airflow_peak(self) -> int:
        return max((i.airflow_peak for i in self.intervals), default=0)

    def emulator_peak(self) -> int:
        return max((i.emulator_peak for i in self.intervals), default=0)

    def peak(self) -> int:
        """The largest sum of the two peaks in one interval: Airflow's and the emulator's together (an upper
        bound of what they held at once; the download and the run script's own process aside)."""
        return max((i.airflow_peak + i.emulator_peak for i in self.intervals), default=0)


def run_once(
    rows: int, workdir: Path, airflow: str = "dags-test", timeout: float = 3600, allocators: str = "local"
) -> dict:
    """One run on a synthetic census of `rows` rows, by `make run` (`airflow` "dags-test") or under the real
    scheduler ("scheduler"): its wall, the peaks, and per task (seconds, peak RSS of its process, that process's
    RSS when the task started, the emulator's peak meanwhile). `allocators` (scheduler only): "local", the
    allocator settings of our local runs (scripts/local_airflow.MEMORY_ENV), or "default", the tasks without
    them, as a deployment's worker runs unless it sets them."""
    census = synthetic_census(rows, workdir)
    own = None
    if airflow == "scheduler":
        name = f"{rows}-default-allocators" if allocators == "default" else str(rows)
        wall, memory, home, own = scheduler_run(census, workdir, name, timeout, allocators)
    else:
        wall, memory, home = make_run(census, workdir, str(rows))
    run, tasks = timings(home / "airflow.db")
    figures = {}
    for task, (seconds, start, end) in tasks.items():
        peak, started_at, emulator = memory.task(start, end)
        if own is not None:  # the task's own processes, not one shared with the tasks before it
            peak, started_at = own.tasks.get(task, (0, 0))
        figures[task] = (seconds, peak, started_at, emulator)
    return {
        "rows": rows,
        "airflow": airflow,
        "allocators": allocators if airflow == "scheduler" else "local",
        "csv_mb": census.stat().st_size / 1e6,
        "wall": wall,
        "dag_run": run,
        "stored_mb": stored_bytes(home / EMULATOR_DATA) / 1e6,
        "airflow_peak": own.peak() if own else memory.airflow_peak(),
        "emulator_peak": memory.emulator_peak(),
        "components": own.components if own else {},
        "task_processes": own.processes if own else 0,
        "huge_pages": own.huge_pages if own else {},
        "commands": sorted(memory.commands),
        "tasks": figures,
    }


@dataclass
class TaskProcesses:
    """What the task processes of a scheduler run reported (bench/task_memory_plugin), and the components' peaks.

    `tasks`: task id -> (the largest peak RSS of its processes, the RSS of that process when its task started),
    bytes; `processes`: how many task processes reported; `components`: each Airflow component's peak RSS (the
    process `airflow <component>` itself, not the processes it starts), bytes; `huge_pages`: task id -> the
    transparent huge pages its processes held as they stopped, the most of any, bytes (0 when none)."""

    tasks: dict[str, tuple[int, int]]
    processes: int
    components: dict[str, int]
    huge_pages: dict[str, int] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path, components: dict[str, int]) -> TaskProcesses:
        tasks: dict[str, tuple[int, int]] = {}
        huge: dict[str, int] = {}
        lines = path.read_text().splitlines() if path.exists() else []
        for line in lines:
            record = json.loads(line)
            if record["peak"] > tasks.get(record["task"], (0, 0))[0]:
                tasks[record["task"]] = (record["peak"], record["start_rss"])
            huge[record["task"]] = max(huge.get(record["task"], 0), record.get("huge_pages", 0))
        return cls(tasks, len(lines), components, huge)

    def peak(self) -> int:
        return max((peak for peak, _ in self.tasks.values()), default=0)


def scheduler_run(
    census: Path, workdir: Path, name: str, timeout: float, allocators: str = "local"
) -> tuple[float, RunMemory, Path, TaskProcesses]:
    """One triggered run of the DAG on `census` under Airflow's real scheduler (LocalExecutor), in the fresh
    AIRFLOW_HOME `workdir/scheduler-<name>` with a fresh emulator: its wall seconds (upload, start-up and run),
    the emulator's memory sampled meanwhile, that home, and what the task processes reported. SystemExit when
    the run fails or does not end within `timeout` seconds."""
    home = workdir / f"scheduler-{name}"
    shutil.rmtree(home, ignore_errors=True)  # a fresh database and emulator: the run trains
    home.mkdir(parents=True)
    reports = home / "task-memory.jsonl"
    started = time.perf_counter()
    with RunMemory(os.getpid()) as memory:
        emulator, url = local_airflow.start_emulator(home / "emulator.log", data_dir=home / EMULATOR_DATA)
        processes: list[subprocess.Popen] = []
        try:
            seed_emulator.upload_census(url, str(census))
            port = local_airflow.free_port()
            env = {
                **local_airflow.served_env(url, home, port),
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",  # only the triggered run
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(TASK_MEMORY_PLUGIN),
                task_memory.OUTPUT: str(reports),
            }
            if allocators == "default":  # Airflow's processes as a deployment runs them: glibc's and Arrow's defaults
                env = {name: value for name, value in env.items() if name not in local_airflow.MEMORY_ENV}
            processes = local_airflow.start_airflow(env, port)
            base = f"http://127.0.0.1:{port}"
            token = local_airflow.wait_until_up(base, local_airflow.admin_password(home), processes)
            run = local_airflow.trigger_and_wait(base, token, {}, timeout)
            components = {process.name: _status(process.pid).get("VmHWM", 0) for process in processes}
        finally:
            local_airflow.stop_airflow(processes)
            local_airflow.stop(emulator)
    wall = time.perf_counter() - started
    if run["state"] != "success":
        raise SystemExit(f"the run on {census.name} ended {run['state']}; see the task logs in {home / 'logs'}")
    return wall, memory, home, TaskProcesses.read(reports, components)


def stored_bytes(folder: Path) -> int:
    """The bytes the emulator saved when it stopped (`folder`: its S3 objects, their versions, SageMaker's state):
    what the run left in S3, census and results included."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def synthetic_census(rows: int, workdir: Path) -> Path:
    """`workdir/census-<rows>.csv`, a synthetic census of `rows` rows (written once, then reused).

    Written GENERATE_ROWS rows at a time, so that its memory does not grow with the rows: the first block is
    `scaled_census` (up to GENERATE_ROWS rows, the file it always was), each further block `scaled_census` of
    the next seed without missing rows, its County names numbered on from the block before (keys stay unique).
    Written to a temporary name first: an interrupted generation is not taken for a census."""
    census = workdir / f"census-{rows}.csv"
    if census.exists():
        return census
    partial = census.with_suffix(".partial")
    with partial.open("w", newline="") as out:
        for block, first in enumerate(range(0, rows, GENERATE_ROWS)):
            count = min(GENERATE_ROWS, rows - first)
            frame = scaled_census(count) if block == 0 else scaled_census(count, seed=block, missing_rows=0)
            if block:
                roots = frame["County"].str.rsplit(" ", n=1).str[0]
                frame["County"] = roots + " " + _numbers(first, count)
            frame.to_csv(out, index=False, header=block == 0)
            del frame
    partial.rename(census)
    return census


def _numbers(first: int, count: int) -> np.ndarray:
    """The running numbers first + 1 … first + count, as text."""
    return (np.arange(count) + first + 1).astype(str)


def make_run(census: Path, workdir: Path, name: str, conf: dict | None = None) -> tuple[float, RunMemory, Path]:
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
        with RunMemory(process.pid) as memory:
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


def _mib(value: int) -> str:
    return f"{value / 2**20:,.0f}"


def print_table(results: list[dict]) -> None:
    how = {
        "dags-test": "`make run DATA=<file>`, every task in the one `airflow dags test` process",
        "scheduler": "the real scheduler, LocalExecutor: every task try in a process of its own",
    }[results[-1].get("airflow", "dags-test")]
    if results[-1].get("allocators") == "default":
        how += ", glibc's and Arrow's default allocators"
    print(f"\nEnd to end ({how}): walls, and the peak RSS of Airflow's task processes and of the emulator")
    print("(S3 MB: what the emulator holds after the run, census, work files and results)")
    print(
        f"{'rows':>11} {'CSV MB':>7} {'S3 MB':>7} {'make run s':>10} {'DAG run s':>9} {'tasks MiB':>9}"
        f" {'emulator MiB':>12}"
    )
    for r in results:
        print(
            f"{r['rows']:>11,} {r['csv_mb']:>7.0f} {r.get('stored_mb', 0):>7.0f} {r['wall']:>10.1f}"
            f" {r['dag_run']:>9.1f}"
            f" {_mib(r['airflow_peak']):>9} {_mib(r['emulator_peak']):>12}"
        )
    print(
        "\nPer task: seconds | rows/s | peak RSS of its process (MiB; from: its RSS when the task started) | emulator"
    )
    header = "".join(f"{r['rows']:>40,}" for r in results)
    print(f"{'task':<26}{header}")
    for task in sorted(results[-1]["tasks"], key=lambda t: results[-1]["tasks"][t][0], reverse=True):
        cells = []
        for r in results:
            seconds, peak, start, emulator = r["tasks"].get(task, (0.0, 0, 0, 0))
            rate = f"{r['rows'] / seconds:,.0f}" if task in ROW_TASKS and seconds else "-"
            cells.append(f"{seconds:>6.1f} | {rate:>9} | {_mib(peak):>5} (from {_mib(start):>5}) | {_mib(emulator):>5}")
        print(f"{task:<26}" + "".join(f"{c:>40}" for c in cells))
    for small, large in itertools.pairwise(results):
        print_ratios(small, large)
    if results[-1].get("components"):
        print("\nAirflow's components, peak RSS (MiB; the tasks ran in processes of their own, above):")
        for name in results[-1]["components"]:
            print(f"  {name:<24}" + "".join(f"{_mib(r['components'].get(name, 0)):>12}" for r in results))
        print("  task processes reported: " + ", ".join(f"{r['task_processes']}" for r in results))
        huge = sorted({task for r in results for task, held in r.get("huge_pages", {}).items() if held})
        print("Transparent huge pages the task processes held as they stopped (MiB; counted whole in their RSS):")
        for task in huge or ["(none)"]:
            print(f"  {task:<24}" + "".join(f"{_mib(r.get('huge_pages', {}).get(task, 0)):>12}" for r in results))
        return
    print("\nProcesses seen under make run (tasks run in the `airflow dags test` process):")
    for command in results[-1]["commands"]:
        print(f"  {command}")


def print_ratios(small: dict, large: dict) -> None:
    """The issue's goals between two sizes: each task's peak (≤ GROWTH_GOAL ×) and the run's wall (≤ rows ×).

    Beside each peak's ratio, what the task added above the RSS it started with (peak − from) at both sizes:
    under `airflow dags test` a task's peak includes what the tasks before it left in the process, which a
    worker's fresh process per task would not hold, so a ratio above the goal with a flat addition is the
    earlier tasks' memory, not this one's."""
    rows = large["rows"] / small["rows"]
    print(f"\n{large['rows']:,} rows against {small['rows']:,} ({rows:g} × the rows)")
    print(f"  {'task':<26}{'peak ratio':>11}  {'(goal ≤ ' + format(GROWTH_GOAL, '.2f') + ')':<16}{'added MiB':>16}")
    for task in sorted(large["tasks"], key=lambda t: large["tasks"][t][0], reverse=True):
        _, before, before_from, _ = small["tasks"].get(task, (0, 0, 0, 0))
        _, after, after_from, _ = large["tasks"][task]
        if before and after:
            mark = "" if after / before <= GROWTH_GOAL else "above"
            added = f"{_mib(before - before_from)} → {_mib(after - after_from)}"
            print(f"  {task:<26}{after / before:>11.3f}  {mark:<16}{added:>16}")
    for what in ("airflow_peak", "emulator_peak"):
        print(f"  {what:<26}{large[what] / small[what]:>11.3f}" if small[what] else f"  {what:<26}{'-':>11}")
    time_ratio = large["dag_run"] / small["dag_run"]
    verdict = "met" if time_ratio <= rows else "not met"
    print(
        f"  DAG run wall {small['dag_run']:.1f} s → {large['dag_run']:.1f} s: {time_ratio:.2f} ×"
        f" ({verdict}: ≤ {rows:g} ×)"
    )


def generate_only(sizes: list[int], workdir: Path) -> None:
    """Write each size's census file and say how long it took and the bench's own peak RSS (its bound)."""
    for rows in sizes:
        started = time.perf_counter()
        census = synthetic_census(rows, workdir)
        seconds = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        size = census.stat().st_size
        print(f"{rows:>11,} rows: {census} ({size / 1e6:,.0f} MB) in {seconds:.1f} s; bench peak RSS {_mib(peak)} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="3220,100000,1000000", help="comma-separated row counts")
    parser.add_argument("--keep", help="work in this folder and keep it (census files are reused)")
    parser.add_argument("--generate-only", action="store_true", help="write the census files, run nothing")
    parser.add_argument("--with", dest="earlier", default="", help="comma-separated bench-<rows>.json to print first")
    parser.add_argument(
        "--airflow", choices=("dags-test", "scheduler"), default="dags-test",
        help="`make run`, all tasks in one process (default), or the real scheduler, each task in its own",
    )  # fmt: skip
    parser.add_argument("--timeout", type=float, default=3600, help="seconds a scheduler run may take")
    parser.add_argument(
        "--allocators", choices=("local", "default"), default="local",
        help="scheduler: the tasks with our local runs' allocator settings (default) or without them",
    )  # fmt: skip
    args = parser.parse_args()
    sizes = [int(n) for n in args.rows.split(",") if n]
    with tempfile.TemporaryDirectory(prefix="popseg-bench-") as scratch:
        workdir = Path(args.keep or scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        if args.generate_only:
            generate_only(sizes, workdir)
            return
        results = load_results([path for path in args.earlier.split(",") if path])
        for rows in sizes:
            print(f"{args.airflow}: {rows:,} synthetic rows …", flush=True)
            results.append(run_once(rows, workdir, args.airflow, args.timeout, args.allocators))
            print(f"  {results[-1]['wall']:.1f} s, DAG run {results[-1]['dag_run']:.1f} s", flush=True)
            saved = f"bench-{rows}.json" if args.airflow == "dags-test" else f"bench-scheduler-{rows}.json"
            saved = saved.replace("scheduler", "scheduler-default") if args.allocators == "default" else saved
            (workdir / saved).write_text(json.dumps(results[-1], indent=1))
    print_table(results)


def load_results(paths: list[str]) -> list[dict]:
    """The results `main` saved (bench-<rows>.json in the work folder), to print again or beside a new size."""
    return [json.loads(Path(path).read_text()) for path in paths]


if __name__ == "__main__":
    main()
