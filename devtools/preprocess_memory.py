"""A task in a child process of its own, against an endpoint outside it (the emulator): its peak RSS, seconds and
rows, for the memory tests (tests/unit/test_preprocess_memory.py, test_transform_memory.py) and bench/preprocess.py.

The census must already be in the bucket. The child reads it, as the task does, through a boto3 client to
`endpoint_url`, so that the objects it reads and writes are held by the endpoint's process, not counted in its
own. `path` picks the task: "task" (steps.preprocess: streaming, or whole when it must), "whole"
(steps.preprocess_whole, how every census was read before preprocess streamed), or "transform"
(steps.transform_with_pca on a run that preprocess made: `handoffs` gives its run id and the task's arguments,
the PCA endpoint being one the emulator serves).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PATHS = ("task", "whole", "transform")
# glibc's malloc serves a large block by mmap and gives it back on free, but after such a free it raises its mmap
# threshold to that block's size (up to 32 MiB), so the next chunks' ~10 MiB arrays come from the heap, whose
# top it keeps: a process's first few chunks raise its peak by ~5 % until that settles (by ~1 M rows; from 1 M to
# 5 M rows the peak moves 4 %). This fixed threshold (glibc's default, without the raising) takes that warm-up out
# of a comparison of peaks, so that what is compared is what the task holds.
FIXED_MMAP_THRESHOLD = {"MALLOC_MMAP_THRESHOLD_": str(128 << 10)}
# pyarrow allocates through its own pool, mimalloc, which keeps the pages freed blocks leave until it settles: a
# task reading parquet row groups peaks 240 MiB above its imports at 400 k rows and 239 at 1.6 M, but 185 at 100 k.
# Its system pool (glibc's malloc) with FIXED_MMAP_THRESHOLD gives memory back as it is freed (131, 132 and 134
# MiB): that warm-up is taken out of a comparison of peaks the same way.
SETTLED_ALLOCATORS = {**FIXED_MMAP_THRESHOLD, "ARROW_DEFAULT_MEMORY_POOL": "system"}

# Runs the child and reports its peak RSS. A child's ru_maxrss counts the memory of the process it was forked
# from (Linux records the forking process's high-water mark at exec), so the child is forked from this small
# launcher, not from a test or bench process that may have grown while making the census.
_LAUNCHER = """
import json, resource, subprocess, sys
child = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, check=True)
result = json.loads(child.stdout.splitlines()[-1])
result["peak_rss_kib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps(result))
"""


def measure(
    endpoint_url: str,
    bucket: str,
    key: str,
    params: dict,
    path: str = "task",
    chunk_bytes: int | None = None,
    env: dict[str, str] | None = None,
    handoffs: dict | None = None,
    max_batch_bytes: int | None = None,
) -> dict:
    """Run preprocess on s3://bucket/key in a fresh child: {"rows_in", "rows", "seconds", "cpu", "peak_mib",
    "run_id", "prepared"} (preprocess's handoff, for a "transform" child); or, with path "transform", the
    transform on `handoffs` ({"run_id", "prepared", "training", "chosen", "plan"}): {"rows", "seconds", "cpu",
    "peak_mib"}. `chunk_bytes` sets census.streaming.CHUNK_BYTES in the child (its own when None); `env` adds to
    its environment (FIXED_MMAP_THRESHOLD, say); `max_batch_bytes` sets endpoints.MAX_BATCH_BYTES (a request's
    size) in a "transform" child."""
    if path not in PATHS:
        raise ValueError(f"path must be one of {PATHS}, got {path!r}")
    request = json.dumps(
        {
            "endpoint_url": endpoint_url,
            "bucket": bucket,
            "key": key,
            "params": params,
            "path": path,
            "chunk_bytes": chunk_bytes,
            "handoffs": handoffs,
            "max_batch_bytes": max_batch_bytes,
        }
    )
    return measured_child("devtools.preprocess_memory", request, env=env)


def measured_child(module: str, *args: str, env: dict[str, str] | None = None) -> dict:
    """`python -m module *args` in a fresh child of a small launcher (_LAUNCHER): the JSON object its last line
    of stdout prints, with "peak_mib", the child's peak RSS in MiB. `env` adds to the child's environment."""
    output = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, sys.executable, "-m", module, *args],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **(env or {})},
        check=True,
    ).stdout
    result = json.loads(output)
    result["peak_mib"] = result.pop("peak_rss_kib") / 1024
    return result


def _child(request: dict) -> None:
    import logging
    import time
    from types import SimpleNamespace

    import boto3

    from include.airflow_popseg import steps
    from include.segmentation_aws.layout import RunLayout
    from include.segmentation_aws.names import RunNames
    from include.segmentation_aws.store import RunStore

    if request.get("chunk_bytes"):
        from include.segmentation.census import streaming

        streaming.CHUNK_BYTES = request["chunk_bytes"]
    if request.get("max_batch_bytes"):
        from include.segmentation_aws import endpoints

        endpoints.MAX_BATCH_BYTES = request["max_batch_bytes"]
    logging.disable(logging.INFO)  # the task's log lines would go to stdout, where the result goes
    handoffs = request.get("handoffs") or {}
    bucket, run_id = request["bucket"], handoffs.get("run_id") or f"manual__memory_{time.time_ns()}"

    def client(service: str):
        return boto3.client(
            service, endpoint_url=request["endpoint_url"], region_name="us-east-1",
            aws_access_key_id="memory", aws_secret_access_key="memory",
        )  # fmt: skip

    params = {"bucket": bucket, "input_key": request["key"], "output_prefix": "memory", **request["params"]}
    names = RunNames.for_run(run_id)
    run = SimpleNamespace(
        params=params, run_id=run_id, layout=RunLayout(bucket, "memory", run_id, names.token), names=names,
        store=RunStore(client("s3"), bucket), input_uri=f"s3://{bucket}/{request['key']}",
        sagemaker_runtime=lambda: client("sagemaker-runtime"),
    )  # fmt: skip
    wall, cpu = time.perf_counter(), time.process_time()
    if request["path"] == "transform":
        steps.transform_with_pca(run, handoffs["plan"], handoffs["training"], handoffs["chosen"], handoffs["prepared"])
        result = {"rows": handoffs["prepared"]["rows"]}
    else:
        prepared = (steps.preprocess if request["path"] == "task" else steps.preprocess_whole)(run)
        result = {"rows_in": prepared["rows_in"], "rows": prepared["rows"], "run_id": run_id, "prepared": prepared}
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(json.dumps({**result, "seconds": wall, "cpu": cpu}))


if __name__ == "__main__":
    _child(json.loads(sys.argv[1]))
