"""choose_k or match_segments in a child process of its own, against an S3 endpoint outside it (the emulator), on
what tests.support.match_runs.stage put there: its peak RSS, seconds and the rows, for the memory test
(tests/unit/test_match_memory.py) and a bench.

As devtools.preprocess_memory's children: forked from a small launcher (its _LAUNCHER), so that the peak is the
task's, not that of the process that made the rows."""

from __future__ import annotations

import json
import sys

from devtools.preprocess_memory import measured_child

TASKS = ("choose_k", "match_segments")


def measure(
    endpoint_url: str,
    bucket: str,
    task: str,
    handoffs: dict,
    env: dict[str, str] | None = None,
    part_bytes: int | None = None,
    row_group_rows: int | None = None,
) -> dict:
    """Run `task` (one of TASKS) on `handoffs` (match_runs.stage's) in a fresh child: {"task", "rows", "seconds",
    "peak_mib"}. `env` adds to the child's environment (devtools.preprocess_memory.SETTLED_ALLOCATORS, say);
    `part_bytes` sets store.STREAM_PART_BYTES (an upload part) and `row_group_rows` parquet_tables.ROW_GROUP_ROWS
    (the moved counties held for a row group of segment_changes.parquet) in the child (theirs when None)."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    request = json.dumps(
        {
            "endpoint_url": endpoint_url, "bucket": bucket, "task": task, "handoffs": handoffs,
            "part_bytes": part_bytes, "row_group_rows": row_group_rows,
        }
    )  # fmt: skip
    return measured_child("tests.support.match_memory", request, env=env)


def _child(request: dict) -> None:
    import logging
    import time

    import boto3

    from include.airflow_popseg import steps
    from tests.support.match_runs import run_of

    if request.get("part_bytes"):
        from include.segmentation_aws import store

        store.STREAM_PART_BYTES = request["part_bytes"]
    if request.get("row_group_rows"):
        from include.segmentation import parquet_tables

        parquet_tables.ROW_GROUP_ROWS = request["row_group_rows"]
    logging.disable(logging.INFO)  # the task's log lines would go to stdout, where the result goes
    handoffs = request["handoffs"]
    client = boto3.client(
        "s3", endpoint_url=request["endpoint_url"], region_name="us-east-1",
        aws_access_key_id="memory", aws_secret_access_key="memory",
    )  # fmt: skip
    run = run_of(client, request["bucket"], handoffs["run_id"])
    wall = time.perf_counter()
    if request["task"] == "choose_k":
        steps.choose_k(run, handoffs["trainings"], handoffs["transformed"])
    else:
        steps.match_segments(run, handoffs["assigned"], handoffs["comparison"], {"k": handoffs["k"]})
    rows = steps._parquet_rows(run, handoffs["assigned"]["segments"])
    print(json.dumps({"task": request["task"], "rows": rows, "seconds": time.perf_counter() - wall}))


if __name__ == "__main__":
    _child(json.loads(sys.argv[1]))
