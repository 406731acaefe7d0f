"""Consecutive runs of the DAG under a real scheduler and triggerer, against the emulator.

`airflow dags test` runs triggers inline; only a real scheduler, triggerer and executor show races between a
deferring worker and a trigger that fires at once (1 s polls against a fast emulator). This starts the
emulator and Airflow as `airflow standalone` runs it (scheduler, triggerer, dag-processor, api-server,
LocalExecutor) in a throw-away AIRFLOW_HOME on loopback (scripts/local_airflow.py, as `make airflow`),
triggers N runs one after another, and prints each run's state, duration, deferrals, task retries and
training jobs created, then totals.

    .venv/bin/python bench/scheduler_soak.py --runs 20
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aws_emulator.connection import client
from include.segmentation_aws.names import RunNames
from scripts import local_airflow, seed_emulator

PROJECT_ROOT = Path(__file__).resolve().parent.parent

AIRFLOW = str(Path(sys.executable).parent / "airflow")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=600, help="seconds one run may take")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="popseg-soak-"))
    emulator, url = local_airflow.start_emulator(home / "emulator.log")
    port = local_airflow.free_port()
    env = {**local_airflow.served_env(url, home, port), "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False"}
    seed_emulator.upload_census(url, None)
    processes = local_airflow.start_airflow(env, port)
    try:
        _wait_for_dag(env)
        results = [_one_run(env, url, i, args.timeout) for i in range(1, args.runs + 1)]
    finally:
        local_airflow.stop_airflow(processes)
        local_airflow.stop(emulator)
    failed = [r for r in results if r["state"] != "success"]
    print(
        f"\n{len(results)} runs under a real scheduler: {len(results) - len(failed)} succeeded, "
        f"{len(failed)} failed; "
        f"{sum(r['deferrals'] for r in results)} deferrals, {sum(r['retries'] for r in results)} task retries, "
        f"training jobs per run: {sorted({r['jobs'] for r in results})}; logs in {home}"
    )
    return 1 if failed else 0


def _wait_for_dag(env: dict[str, str]) -> None:
    for _ in range(240):
        if any(d.get("dag_id") == "population_segmentation" for d in _json(env, "dags", "list")):
            return
        time.sleep(1)
    raise SystemExit("the dag-processor never parsed population_segmentation")


def _one_run(env: dict[str, str], url: str, index: int, timeout: float) -> dict:
    run_id = f"soak__{index:03d}_{int(time.time())}"
    while any(r["state"] in ("queued", "running") for r in _runs(env)):  # e.g. the scheduled run unpausing made
        time.sleep(2)
    started = time.monotonic()
    _airflow(env, "dags", "trigger", "population_segmentation", "--run-id", run_id)
    state = "queued"
    while state in ("queued", "running") and time.monotonic() - started < timeout:
        time.sleep(2)
        state = next((r["state"] for r in _runs(env) if r["run_id"] == run_id), state)
    tries = _task_tries(env, run_id)
    token = RunNames.for_run(run_id).token
    jobs = client("sagemaker", url).list_training_jobs(NameContains=token)["TrainingJobSummaries"]
    result = {
        "run": run_id, "state": state, "seconds": round(time.monotonic() - started),
        "deferrals": _deferred_tries(env, run_id),
        "retries": sum(max(0, t - 1) for t in tries.values()), "jobs": len(jobs),
    }  # fmt: skip
    print(json.dumps(result), flush=True)
    return result


def _runs(env: dict[str, str]) -> list[dict]:
    return _json(env, "dags", "list-runs", "population_segmentation")


def _task_tries(env: dict[str, str], run_id: str) -> dict[str, int]:
    listed = _json(env, "tasks", "states-for-dag-run", "population_segmentation", run_id)
    return {t["task_id"]: int(t.get("try_number") or 1) for t in listed}


def _deferred_tries(env: dict[str, str], run_id: str) -> int:
    """Task tries whose log shows a deferral (the sensor's and the trainings' waits in the triggerer)."""
    logs = Path(env["AIRFLOW_HOME"]) / "logs" / "dag_id=population_segmentation" / f"run_id={run_id}"
    return sum("defer" in path.read_text(errors="replace").lower() for path in logs.rglob("*.log"))


def _airflow(env: dict[str, str], *args: str) -> str:
    return subprocess.run([AIRFLOW, *args], env=env, capture_output=True, text=True).stdout


def _json(env: dict[str, str], *args: str) -> list:
    """The JSON a `… -o json` command prints, skipping the log lines before it."""
    for line in reversed(_airflow(env, *args, "-o", "json").splitlines()):
        if line.startswith(("[", "{")):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return []


if __name__ == "__main__":
    raise SystemExit(main())
