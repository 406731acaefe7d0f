"""A run on AWS, simulated and measured: the DAG under the real scheduler and triggerer against the emulator's
AWS latency profile, once per transform mode; per run its modelled AWS wall, worker-slot and triggerer seconds.

It starts the emulator with `--latency aws:<scale>` (SageMaker's states last their modelled AWS seconds divided
by `scale`; aws_emulator/sagemaker/latency.py) and Airflow's api-server, scheduler, dag-processor and triggerer
with a LocalExecutor in a throw-away AIRFLOW_HOME (scripts/local_airflow.py, as `make airflow`), with the
nightly deadline as configured (on, 4 h, unless AIRFLOW__POPSEG__DEADLINE_HOURS says otherwise), the schedule
off (only the triggered runs run) and `[popseg] check_interval` = 30 s / scale (the default poll, scaled like
the rest). It triggers the DAG once per transform mode (`{"transform": <mode>, "force": true}`, one after the
other), waits for each run and prints, per run:

- **AWS wall**: what the run would take on AWS. The run's measured wall (the DAG run's start to end), in which
  each interval where the emulator waited out a modelled SageMaker duration lasts its modelled AWS seconds
  instead: a training job from CreateTrainingJob to Completed (its modelled phases), an endpoint's Creating
  and Deleting, a transform job's launch before its first request (the emulator's log has each one's start,
  end and modelled seconds; an endpoint's Deleting is recomputed from its name by `LatencyProfile`). Where
  waits overlap (a K-Means job starting while the PCA endpoint is deleted) the overlap is stretched once, by
  the larger factor. Everything else (scheduling, task start-up, the tasks' own work, the emulator's
  algorithms) counts as measured. Not modelled: on AWS a wait's end is noticed up to one poll later (30 s by
  default); here that delay is 30 s / scale, so the AWS wall is short by up to about 25 s per wait.
- **worker-slot seconds**: the sum, over every try of every task, of the time its process ran on a worker:
  each stretch of its task log from "::group::Pre Execute" to the last line before it deferred or ended (a
  deferred try resumes in a new process: a new stretch). Airflow 3.3.2 keeps no record of this: a task
  instance's start_date stays its first start when it resumes from a deferral, so end_date − start_date
  includes the deferral, and task_instance_history holds only earlier tries. The log misses only the
  fork of the task process and its final state call (well under a second per stretch). A stretch during which
  a SageMaker wait of a resource the task names in its log ended (a synchronous wait, such as a waiter that is
  not deferred; the endpoint teardowns now defer theirs) counts that wait at its modelled AWS seconds, as on AWS
  it would hold the slot that long; the local seconds are printed beside it.
- **ratio**: AWS worker-slot seconds / AWS wall (the goal: at most 5 %).
- **triggerer seconds**: the time tasks spent deferred (from a stretch's end to the next one's start, the
  trigger's wait and the scheduler's pick-up), with the waits that ended meanwhile at their AWS seconds.
- **cost**: the run's usage as run.json's `cost` items list it (each training job, endpoint and transform job,
  its instance type and count), with each item's seconds taken back to AWS's and priced from `--price-table`
  (the shipped include/segmentation_aws/prices.json by default, which has no prices: every item then says "no
  price" and why). A training job's BillableTimeInSeconds is the emulator's modelled AWS seconds already; an
  endpoint's creation-to-deletion and a transform job's start-to-end are the emulator's clock, so each modelled
  wait of that resource in them (Creating and Deleting; the launch) counts at its AWS seconds instead, and the
  rest (the requests served) as measured. run.json's own figure is from the emulator's scaled-down clock.

and per task, its worker-slot seconds (AWS and local), so the reader sees where the worker time goes. Last, the
scheduler log's error lines (none: the real scheduler finishes a run of the DAG with its deadline).

    .venv/bin/python bench/aws_profile.py [--scale 20] [--keep DIR] [--price-table FILE]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from aws_emulator.connection import client
from aws_emulator.sagemaker.latency import LatencyProfile
from include.airflow_popseg.settings import DAG_ID
from include.segmentation_aws import cost
from scripts import local_airflow, seed_emulator

MODES = ("endpoint", "batch")
AWS_POLL_SECONDS = 30  # [popseg] check_interval's default: how often a wait asks SageMaker on AWS

# The emulator's log (`%(asctime)s %(levelname)s %(name)s %(message)s`, local time) on each modelled wait.
_EMULATOR_LINE = re.compile(r"(?P<stamp>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ \S+ (?P<message>.*)")
_TRAINING_START = re.compile(r"training job (?P<name>\S+): modelled AWS seconds (?P<phases>\{.*\})")
_TRAINING_END = re.compile(r"training job (?P<name>\S+) (Completed|Failed|Stopped)")
_CREATING_START = re.compile(r"endpoint (?P<name>\S+): modelled AWS seconds to InService (?P<seconds>[\d.]+)")
_CREATING_END = re.compile(r"endpoint (?P<name>\S+) (InService|failed)")
_DELETED = re.compile(r"endpoint (?P<name>\S+) deleted")
_LAUNCH = re.compile(r"transform job (?P<name>\S+): modelled AWS seconds before its first request (?P<seconds>[\d.]+)")
_ATTEMPT = re.compile(r"attempt=(?P<try>\d+)\.log")


@dataclass(frozen=True)
class Wait:
    """One interval in which the emulator waited out a modelled duration: its resource, its emulator-clock
    start and end (epoch seconds), and the AWS seconds it stands for."""

    resource: str
    start: float
    end: float
    aws_seconds: float

    @property
    def factor(self) -> float:
        """How many times longer this interval lasts on AWS (at most the scale; less where the emulator's own
        work in a state took longer than its scaled share)."""
        return max(1.0, self.aws_seconds / max(self.end - self.start, 1e-6))


@dataclass
class Stretch:
    """One process of a task try on a worker: its start and end (epoch seconds) and whether it deferred."""

    start: float
    end: float
    deferred: bool


def modelled_waits(emulator_log: Path, profile: LatencyProfile) -> list[Wait]:
    """Every modelled wait the emulator's log records (training jobs, endpoints' Creating and Deleting,
    transform jobs' launch)."""
    waits, open_training, open_creating = [], {}, {}
    for line in emulator_log.read_text(errors="replace").splitlines():
        parsed = _EMULATOR_LINE.match(line)
        if not parsed:
            continue
        at = datetime.strptime(parsed["stamp"], "%Y-%m-%d %H:%M:%S,%f").timestamp()  # local time, as logged
        message = parsed["message"]
        if found := _TRAINING_START.match(message):
            phases = json.loads(found["phases"].replace("'", '"'))
            open_training[found["name"]] = (at, sum(phases.values()))
        elif (found := _TRAINING_END.match(message)) and found["name"] in open_training:
            start, seconds = open_training.pop(found["name"])  # logged just after the job's clock started
            waits.append(Wait(f"training job {found['name']}", min(start, at - profile.real(seconds)), at, seconds))
        elif found := _CREATING_START.match(message):
            open_creating[found["name"]] = (at, float(found["seconds"]))
        elif (found := _CREATING_END.match(message)) and found["name"] in open_creating:
            start, seconds = open_creating.pop(found["name"])
            waits.append(Wait(f"endpoint {found['name']}", start, at, seconds))
        elif found := _DELETED.match(message):
            seconds = profile.endpoint_deleting(found["name"])
            waits.append(Wait(f"endpoint {found['name']}", at - profile.real(seconds), at, seconds))
        elif found := _LAUNCH.match(message):
            seconds = float(found["seconds"])
            waits.append(Wait(f"transform job {found['name']}", at, at + profile.real(seconds), seconds))
    return waits


def aws_seconds(start: float, end: float, waits: list[Wait]) -> float:
    """Seconds that [start, end] of the emulator's clock take on AWS: each piece as long as measured, times the
    largest factor of the waits under way in it."""
    cuts = sorted({start, end, *(t for w in waits for t in (w.start, w.end) if start < t < end)})
    total = 0.0
    for a, b in itertools.pairwise(cuts):
        factors = [w.factor for w in waits if w.start <= a and b <= w.end]
        total += (b - a) * max(factors, default=1.0)
    return total


def task_stretches(log_dir: Path) -> dict[str, list[tuple[list[Stretch], str]]]:
    """Per task (mapped ones by map index: `train_kmeans[0]`), per try: its stretches on a worker and its log."""
    tries: dict[str, list[tuple[list[Stretch], str]]] = defaultdict(list)
    for path in sorted(log_dir.rglob("attempt=*.log")):
        if not _ATTEMPT.fullmatch(path.name):  # attempt=1.log.trigger.1.log: the triggerer's lines
            continue
        task = path.relative_to(log_dir).parts[0].removeprefix("task_id=")
        if path.parent.name.startswith("map_index="):
            task += f"[{path.parent.name.removeprefix('map_index=')}]"
        stretches: list[Stretch] = []
        text = path.read_text(errors="replace")
        for line in text.splitlines():
            try:
                record = json.loads(line)
                at = datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00")).timestamp()
            except (ValueError, KeyError, TypeError):
                continue
            if record.get("event") == "::group::Pre Execute" or not stretches:
                stretches.append(Stretch(at, at, deferred=False))
            stretches[-1].end = at
            if str(record.get("event", "")).startswith("Pausing task as DEFERRED"):
                stretches[-1].deferred = True
        tries[task].append((stretches, text))
    return tries


def measure_run(run: dict, home: Path, waits: list[Wait], url: str) -> dict:
    """The figures of one finished DAG run (the API's record of it)."""
    start, end = (datetime.fromisoformat(run[k].replace("Z", "+00:00")).timestamp() for k in ("start_date", "end_date"))
    in_run = [w for w in waits if w.end > start and w.start < end]
    logs = home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run['dag_run_id']}"
    per_task: dict[str, dict[str, float]] = defaultdict(lambda: {"local": 0.0, "aws": 0.0})
    deferred_local = deferred_aws = 0.0
    for task, tries in task_stretches(logs).items():
        for stretches, text in tries:
            own = [w for w in in_run if w.resource.split(" ", 2)[-1] in text]
            for stretch in stretches:
                ended = [w for w in own if stretch.start <= w.end <= stretch.end]  # waited for, holding the slot
                per_task[task]["local"] += stretch.end - stretch.start
                per_task[task]["aws"] += aws_seconds(stretch.start, stretch.end, ended)
            for before, after in itertools.pairwise(stretches):
                ended = [w for w in own if before.end <= w.end <= after.start]
                deferred_local += after.start - before.end
                deferred_aws += aws_seconds(before.end, after.start, ended)
    return {
        "run": run["dag_run_id"], "mode": run["conf"]["transform"], "state": run["state"],
        "wall_local": end - start, "wall_aws": aws_seconds(start, end, in_run),
        "slots_local": sum(t["local"] for t in per_task.values()),
        "slots_aws": sum(t["aws"] for t in per_task.values()),
        "deferred_local": deferred_local, "deferred_aws": deferred_aws,
        "cost": recorded_cost(url, run["dag_run_id"]), "tasks": dict(per_task),
    }  # fmt: skip


def recorded_cost(url: str, run_id: str) -> dict | None:
    """run.json's `cost` object of the run (published under <prefix>/runs/<run id>/), or None."""
    s3 = client("s3", url)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=seed_emulator.BUCKET):
        for item in page.get("Contents", []):
            if item["Key"].endswith(f"/runs/{run_id}/run.json"):
                document = json.loads(s3.get_object(Bucket=seed_emulator.BUCKET, Key=item["Key"])["Body"].read())
                return document.get("cost")
    return None


def aws_cost(recorded: dict | None, waits: list[Wait], table: cost.PriceTable) -> dict | None:
    """run.json's `cost` of a run priced again from `table`, each item's seconds taken back to AWS's: a training
    job's as recorded (modelled), an endpoint's or transform job's with each modelled wait of it at its AWS
    seconds instead of its emulator seconds. None when the run recorded no cost."""
    if not recorded:
        return None
    stretched: dict[str, float] = defaultdict(float)  # resource -> AWS seconds beyond its emulator seconds
    for wait in waits:
        stretched[wait.resource] += wait.aws_seconds - (wait.end - wait.start)
    resource = {cost.HOSTING: "endpoint", cost.TRANSFORM: "transform job"}
    usages = []
    for item in recorded["items"]:
        seconds = item["seconds"]
        if seconds is not None and item["kind"] in resource:
            seconds += stretched[f"{resource[item['kind']]} {item['name']}"]
        usages.append(
            cost.Usage(item["kind"], item["name"], item["instance_type"], item["instance_count"], seconds,
                       missing=item["no_price"] if seconds is None else None)
        )  # fmt: skip
    return cost.estimate(usages, recorded["region"], table)


def _shown_cost(estimate: dict | None) -> str:
    if estimate is None:
        return "not recorded by this version"
    if estimate["total"] is not None:
        return f"${estimate['total']:.2f}"
    return f"no price ({'; '.join(estimate['no_price'])})"


def scheduler_errors(home: Path) -> list[str]:
    return [
        line for line in (home / "scheduler.log").read_text(errors="replace").splitlines()
        if re.search(r"\b(ERROR|CRITICAL)\b|Traceback", line)
    ]  # fmt: skip


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f} / {fifteen:.1f} on {os.cpu_count()} cores"


def print_report(results: list[dict], scale: float, table: cost.PriceTable) -> None:
    print(f"\nPer run (AWS: the emulator's SageMaker waits at their modelled AWS seconds; scale {scale:g})")
    print(
        f"{'mode':<9}{'state':<9}{'AWS wall':>10}{'slots':>9}{'ratio':>8}{'triggerer':>11}   "
        f"{'local wall':>10}{'slots':>8}{'deferred':>10}   cost on AWS"
    )
    for r in results:
        shown = _shown_cost(r["aws_cost"])
        print(
            f"{r['mode']:<9}{r['state']:<9}{r['wall_aws']:>9.0f}s{r['slots_aws']:>8.0f}s"
            f"{r['slots_aws'] / r['wall_aws']:>8.1%}{r['deferred_aws']:>10.0f}s   "
            f"{r['wall_local']:>9.1f}s{r['slots_local']:>7.1f}s{r['deferred_local']:>9.1f}s   {shown}"
        )
    print(
        f"Cost on AWS: run.json's items, hosting and transform seconds with each modelled wait at its AWS seconds, "
        f"training's BillableTimeInSeconds as recorded (modelled), priced from {table.name}"
        + (f" ({table.source}, read {table.read})" if table.source else "")
    )
    for r in results:
        estimate = r["aws_cost"]
        if estimate:
            hours = sum(i["instance_seconds"] or 0 for i in estimate["items"]) / 3600
            print(f"  {r['mode']}: {len(estimate['items'])} items, {hours:.2f} instance-hours")
    tasks = sorted(
        {t for r in results for t in r["tasks"]},
        key=lambda t: -max(r["tasks"].get(t, {"aws": 0})["aws"] for r in results),
    )
    print("\nWorker-slot seconds per task, AWS (local)")
    print(f"{'task':<28}" + "".join(f"{r['mode']:>22}" for r in results))
    for task in tasks:
        cells = []
        for r in results:
            held = r["tasks"].get(task)
            cells.append(f"{held['aws']:>12.1f} ({held['local']:>6.1f})" if held else f"{'–':>22}")
        print(f"{task:<28}" + "".join(f"{c:>22}" for c in cells))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=20, help="SageMaker's times divided by this (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="the latency profile's seed (default 0)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds one run may take")
    parser.add_argument("--keep", help="AIRFLOW_HOME to use and keep (default: a new temporary directory)")
    parser.add_argument(
        "--price-table", default=str(cost.PRICE_TABLE),
        help="the price table the cost is read from (default: the shipped one, which has no prices)",
    )  # fmt: skip
    args = parser.parse_args()
    table = cost.load_price_table(args.price_table)  # a table that cannot be read stops the bench before it runs
    profile = LatencyProfile(args.scale, args.seed)
    home = Path(args.keep or tempfile.mkdtemp(prefix="popseg-aws-profile-")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    print(f"Before: {_load()}", flush=True)
    emulator, url = local_airflow.start_emulator(home / "emulator.log", latency=profile)
    port = local_airflow.free_port()
    env = {
        **local_airflow.served_env(url, home, port),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",  # no scheduled run beside the triggered ones
        "AIRFLOW__POPSEG__CHECK_INTERVAL": f"{AWS_POLL_SECONDS / args.scale:g}",
    }
    print(f"Nightly deadline: {env.get('AIRFLOW__POPSEG__DEADLINE_HOURS', '4 (the default)')} h", flush=True)
    seed_emulator.upload_census(url, None)
    processes = local_airflow.start_airflow(env, port)
    results = []
    try:
        base = f"http://127.0.0.1:{port}"
        token = local_airflow.wait_until_up(base, local_airflow.admin_password(home), processes)
        print(f"Airflow is up (logs in {home}); {_load()}", flush=True)
        for mode in MODES:
            # force: the second run trains too (same census, same settings)
            run = local_airflow.trigger_and_wait(base, token, {"transform": mode, "force": True}, args.timeout)
            waits = modelled_waits(home / "emulator.log", profile)
            results.append(measure_run(run, home, waits, url))
            results[-1]["aws_cost"] = aws_cost(results[-1]["cost"], waits, table)
            print(f"  {mode}: {run['state']}; {_load()}", flush=True)
    finally:
        local_airflow.stop_airflow(processes)
        local_airflow.stop(emulator)
    print_report(results, args.scale, table)
    errors = scheduler_errors(home)
    print(f"\nScheduler log: {len(errors)} error line(s)" + "".join(f"\n  {e[:200]}" for e in errors[:10]))
    print(f"After: {_load()}; logs in {home}")
    return 0 if all(r["state"] == "success" for r in results) and not errors else 1


if __name__ == "__main__":
    raise SystemExit(main())
