"""`make run` in each transform mode (endpoint, batch) on the real census and 1 M rows: walls, instance-seconds.

For each census (the real ACS 2015 file, read in place from ../shared/data/census/ and skipped with a message
when absent; and a synthetic census of --rows rows, include/segmentation/synthetic.py) and each mode, it runs
`scripts/run_local.py --data <file> --conf '{"transform": "<mode>"}'` (what `make run DATA=… CONF=…` runs) in
a throw-away AIRFLOW_HOME from an empty emulator (bench/pipeline.py's `make_run`), --repeat times in turn
(endpoint, batch, endpoint, batch: the first run of all pays for cold caches), keeps per mode the run with the
shortest DAG run, and prints:

- wall seconds of `make run` and of the DAG run, and of each algorithm's transform stage: from the first of
  its tasks' start to the last one's end in the run's Airflow database (endpoint: deploy_<alg>, the task that
  invokes it, delete_<alg>_endpoint; batch: batch_<alg>, read_<alg>_batch, delete_<alg>_model);
- billable instance-seconds of what the stage kept running. An endpoint: from its CreateEndpoint to its
  deletion as the emulator's log records them (its whole life, Creating included: an upper bound of what
  hosting bills), times the endpoint config's InitialInstanceCount (from the run's plan). A transform job:
  DescribeTransformJob's TransformEndTime − TransformStartTime (the interval SageMaker's API reference says is
  billed), times its InstanceCount, asked of an emulator started over the run's saved SageMaker state
  (emulator-data/ without its S3 objects).

    .venv/bin/python bench/transform_modes.py [--rows 1000000] [--repeat 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from aws_emulator.connection import client
from aws_emulator.persistence import CURRENT, STATE_FILE
from bench.churn import CENSUS
from bench.pipeline import make_run, synthetic_census, timings
from include.airflow_popseg.settings import DAG_ID
from scripts.local_airflow import EMULATOR_DATA, start_emulator, stop

MODES = ("endpoint", "batch")
ALGORITHMS = ("pca", "kmeans")
# Each mode's tasks of an algorithm's transform stage, in order (their plan tasks only build requests).
STAGE_TASKS = {
    "endpoint": {
        "pca": ("deploy_pca", "transform_with_pca", "delete_pca_endpoint"),
        "kmeans": ("deploy_kmeans", "assign_segments", "delete_kmeans_endpoint"),
    },
    "batch": {
        "pca": ("batch_pca", "read_pca_batch", "delete_pca_model"),
        "kmeans": ("batch_kmeans", "read_kmeans_batch", "delete_kmeans_model"),
    },
}
# The emulator's log lines (aws_emulator/server.py, sagemaker/hosting.py) that open and close an endpoint's life.
_LOG_LINE = re.compile(r"(?P<stamp>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO \S+ (?P<message>.*)")
_CREATED = re.compile(r"sagemaker CreateEndpoint (?P<name>\S+) -> 200")
_DELETED = re.compile(r"endpoint (?P<name>\S+) deleted")


@dataclass(frozen=True)
class Billed:
    """What one stage kept running: an endpoint or a transform job, its instances and their seconds."""

    kind: str  # "endpoint" or "transform job"
    name: str
    instance_type: str
    instance_count: int
    seconds: float

    @property
    def instance_seconds(self) -> float:
        return self.seconds * self.instance_count


def measure(census: Path, label: str, workdir: Path, repeat: int) -> list[dict]:
    """Both modes on one census, `repeat` times in turn (endpoint, batch, endpoint, …): per mode the run with
    the shortest DAG run, with its walls, each stage's tasks and wall, and what each stage billed."""
    best: dict[str, dict] = {}
    for attempt in range(1, repeat + 1):
        for mode in MODES:
            print(f"make run on {label}, transform = {mode} ({attempt}/{repeat}) …", flush=True)
            result = _run(census, label, mode, workdir)
            print(f"  {result['wall']:.1f} s, DAG run {result['dag_run']:.1f} s", flush=True)
            if mode not in best or result["dag_run"] < best[mode]["dag_run"]:
                best[mode] = result
    return [best[mode] for mode in MODES]


def _run(census: Path, label: str, mode: str, workdir: Path) -> dict:
    """One `make run` of `census` in `mode`, in the home kept for that census and mode."""
    wall, memory, home = make_run(census, workdir, f"{census.stem}-{mode}", {"transform": mode})
    dag_run, tasks = timings(home / "airflow.db")
    plans = _plans(home / "airflow.db", mode)
    billed = _endpoints(home, plans) if mode == "endpoint" else _transform_jobs(home, plans)
    stages = {}
    for algorithm in ALGORITHMS:
        names = STAGE_TASKS[mode][algorithm]
        missing = [name for name in names if name not in tasks]
        if missing:
            raise SystemExit(f"the {mode} run on {label} has no finished {', '.join(missing)} in {home}")
        start, end = min(tasks[n][1] for n in names), max(tasks[n][2] for n in names)
        stages[algorithm] = {"tasks": {n: tasks[n][0] for n in names}, "wall": end - start}
    return {
        "label": label,
        "mode": mode,
        "wall": wall,
        "dag_run": dag_run,
        "peak": memory.peak(),
        "stages": stages,
        "billed": billed,
    }


def _plans(database: Path, mode: str) -> dict[str, dict]:
    """Each algorithm's plan in the last DAG run (its plan task's return value): the endpoint's or the batch
    transform's requests."""
    suffix = "endpoint" if mode == "endpoint" else "batch"
    with sqlite3.connect(database) as db:
        run_id = db.execute("SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC", (DAG_ID,)).fetchone()[0]
        plans = {}
        for algorithm in ALGORITHMS:
            row = db.execute(
                "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = ? AND key = 'return_value'",
                (DAG_ID, run_id, f"plan_{algorithm}_{suffix}"),
            ).fetchone()
            if row is None:
                raise SystemExit(f"{database}: run {run_id} has no plan_{algorithm}_{suffix} result")
            plans[algorithm] = json.loads(row[0])
    return plans


def _endpoints(home: Path, plans: dict[str, dict]) -> dict[str, Billed]:
    """Each algorithm's endpoint, billed from its CreateEndpoint to its deletion in the emulator's log."""
    created: dict[str, float] = {}
    deleted: dict[str, float] = {}
    for line in (home / "emulator.log").read_text(errors="replace").splitlines():
        logged = _LOG_LINE.match(line)
        if not logged:
            continue
        when = datetime.strptime(logged["stamp"], "%Y-%m-%d %H:%M:%S,%f").timestamp()  # asctime: local time
        if found := _CREATED.fullmatch(logged["message"]):
            created.setdefault(found["name"], when)
        elif found := _DELETED.fullmatch(logged["message"]):
            deleted[found["name"]] = when
    billed = {}
    for algorithm, plan in plans.items():
        name = plan["Endpoint"]["EndpointName"]
        if name not in created or name not in deleted:
            raise SystemExit(f"{home / 'emulator.log'} does not record both the creation and the deletion of {name}")
        (variant,) = plan["EndpointConfig"]["ProductionVariants"]
        seconds = deleted[name] - created[name]
        billed[algorithm] = Billed("endpoint", name, variant["InstanceType"], variant["InitialInstanceCount"], seconds)
    return billed


def _transform_jobs(home: Path, plans: dict[str, dict]) -> dict[str, Billed]:
    """Each algorithm's transform job as DescribeTransformJob gives it, from an emulator started over a copy of
    the run's saved SageMaker state (the state file only: the jobs' S3 objects are not needed to describe them)."""
    saved = home / EMULATOR_DATA
    snapshot = (saved / CURRENT).read_text().strip()
    with tempfile.TemporaryDirectory(prefix="popseg-bench-state-") as scratch:
        data = Path(scratch) / "data"
        (data / snapshot).mkdir(parents=True)
        shutil.copy(saved / CURRENT, data / CURRENT)
        shutil.copy(saved / snapshot / STATE_FILE, data / snapshot / STATE_FILE)
        with contextlib.redirect_stdout(io.StringIO()):  # its "AWS emulator: <url>" line
            emulator, url = start_emulator(Path(scratch) / "emulator.log", data_dir=data)
        try:
            sagemaker = client("sagemaker", url)
            billed = {}
            for algorithm, plan in plans.items():
                job = sagemaker.describe_transform_job(TransformJobName=plan["Transform"]["TransformJobName"])
                resources = job["TransformResources"]
                seconds = (job["TransformEndTime"] - job["TransformStartTime"]).total_seconds()
                billed[algorithm] = Billed(
                    "transform job", job["TransformJobName"], resources["InstanceType"], resources["InstanceCount"],
                    seconds,
                )  # fmt: skip
        finally:
            stop(emulator)
    return billed


def print_results(results: list[dict]) -> None:
    print("\nPer stage: its tasks' seconds, the stage's wall (first start to last end), and what it kept running")
    for r in results:
        print(f"{r['label']}, transform = {r['mode']}:")
        for algorithm in ALGORITHMS:
            stage, billed = r["stages"][algorithm], r["billed"][algorithm]
            tasks = ", ".join(f"{task} {seconds:.1f}" for task, seconds in stage["tasks"].items())
            print(
                f"  {algorithm:<7} {tasks}: {stage['wall']:.1f} s; {billed.kind} {billed.instance_count} ×"
                f" {billed.instance_type} for {billed.seconds:.1f} s = {billed.instance_seconds:.1f} instance-s"
            )
    print("\nmake run, DAG run and transform stages (PCA + K-Means) in seconds; billable instance-seconds")
    print(
        f"{'census':<26} {'mode':<9} {'make run':>8} {'DAG run':>8} {'transform':>20} {'instance-s':>20}"
        f" {'peak MiB':>8}"
    )
    for r in results:
        pca, kmeans = r["stages"]["pca"]["wall"], r["stages"]["kmeans"]["wall"]
        billed_pca, billed_kmeans = (r["billed"][a].instance_seconds for a in ALGORITHMS)
        transform = f"{pca + kmeans:.1f} ({pca:.1f} + {kmeans:.1f})"
        billed = f"{billed_pca + billed_kmeans:.1f} ({billed_pca:.1f} + {billed_kmeans:.1f})"
        print(
            f"{r['label']:<26} {r['mode']:<9} {r['wall']:>8.1f} {r['dag_run']:>8.1f} {transform:>20} {billed:>20}"
            f" {r['peak'] / 2**20:>8.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the synthetic census (0: none)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per mode and census; the fastest is kept")
    parser.add_argument("--keep", help="work in this folder and keep it (the synthetic census is reused)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="popseg-bench-") as scratch:
        workdir = Path(args.keep or scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        results = []
        if CENSUS.exists():
            results += measure(CENSUS, "census (3,220 rows)", workdir, args.repeat)
        else:
            print(f"{CENSUS} is absent (../shared holds the real census): measured on synthetic rows only")
        if args.rows:
            results += measure(
                synthetic_census(args.rows, workdir), f"synthetic ({args.rows:,} rows)", workdir, args.repeat
            )
    if results:
        print_results(results)


if __name__ == "__main__":
    main()
