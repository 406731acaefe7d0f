"""A DAG run with OpenLineage's file transport, in a process of its own, and the events it wrote.

The provider decides once per process, when its plugin is imported, whether a transport is configured
(`conf.is_disabled()`, cached): the session's own process has none, so the run with one is made in a child
process that sees AIRFLOW__OPENLINEAGE__TRANSPORT from its start (`dag.test()`, as tests/dag runs the DAG).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.paths import PROJECT_ROOT

NAMESPACE = "popseg-test"  # [openlineage] namespace: the job namespace the events carry


def run_with_file_transport(events: Path, run_conf: dict) -> dict:
    """One population_segmentation run under `dag.test(run_conf=...)` whose OpenLineage events are appended,
    one JSON document a line, to `events`; the run's id, state and task states."""
    transport = {"type": "file", "log_file_path": str(events), "append": True}
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": NAMESPACE,
    }
    result = events.with_suffix(".run.json")
    script = (
        "from tests.support.openlineage_events import _run_in_this_process; "
        f"_run_in_this_process({run_conf!r}, {str(result)!r})"
    )
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=PROJECT_ROOT)
    assert ran.returncode == 0 and result.exists(), ran.stderr[-3000:]
    return json.loads(result.read_text())


def _run_in_this_process(run_conf: dict, result: str) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    assert not bag.import_errors, bag.import_errors
    run = bag.dags["population_segmentation"].test(run_conf=run_conf)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    Path(result).write_text(json.dumps({"run_id": run.run_id, "state": run.state, "tasks": states}))


@dataclass(frozen=True)
class TaskDatasets:
    """What one task's COMPLETE event says it read and wrote: dataset names `s3://bucket/key` -> the dataset."""

    inputs: dict[str, dict]
    outputs: dict[str, dict]


def completed_tasks(events: Path, dag_id: str) -> dict[str, TaskDatasets]:
    """task id -> the datasets of its COMPLETE event (a mapped task's map indexes merged)."""
    found: dict[str, TaskDatasets] = {}
    for line in events.read_text().splitlines():
        event = json.loads(line)
        job = event["job"]["name"]
        if event["eventType"] != "COMPLETE" or not job.startswith(f"{dag_id}."):
            continue
        task = found.setdefault(job[len(dag_id) + 1 :], TaskDatasets({}, {}))
        task.inputs.update({f"{d['namespace']}/{d['name']}": d for d in event.get("inputs", [])})
        task.outputs.update({f"{d['namespace']}/{d['name']}": d for d in event.get("outputs", [])})
    return found
