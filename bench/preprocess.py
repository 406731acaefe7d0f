"""The preprocess task's steps on a large synthetic census: seconds, rows/s and peak RSS per step.

Run from the project root: `python bench/preprocess.py [--rows 1000000]`. The census CSV is made once
with `include/segmentation/synthetic.py` and kept in the temporary directory; the steps then run in a
child process, so its peak RSS (ru_maxrss, a running maximum) counts the preprocess work alone:

  load+validate   read the bytes through the loader's bounds, checksum, parse and validate
  prepare         clean and fit the 0–1 scaling (census.prepare)
  encode+shard    scale to float32 and encode the training channel's RecordIO shards, one held at a time
  work frames     the cleaned features and county names as parquet (what later tasks read)

CPU seconds are printed beside wall seconds: on a shared machine they vary less.

With `--task`, it also runs the DAG's whole `preprocess` task (steps.preprocess: read the census from S3,
validate, write the training shards and work files back) against the emulator, started as its own
process so that the task's peak RSS is its own.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_census(rows: int) -> Path:
    """The synthetic census of `rows` rows as CSV, made once per row count."""
    path = Path(tempfile.gettempdir()) / f"popseg-bench-census-{rows}.csv"
    if not path.exists():
        from include.segmentation.synthetic import scaled_census

        start = time.perf_counter()
        partial = path.with_suffix(".partial")
        scaled_census(rows).to_csv(partial, index=False)
        partial.rename(path)
        print(f"made {path} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return path


def child(path: Path, instance_count: int) -> None:
    """Run the steps in order as steps.preprocess does; print one JSON line per step: wall and CPU
    seconds, rows, and the peak RSS so far (bytes)."""
    from include.sagemaker_formats.recordio import dense_shards
    from include.segmentation import census

    def step(name: str, run, rows=lambda result: len(result)):
        wall, cpu = time.perf_counter(), time.process_time()
        result = run()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
        print(json.dumps({"step": name, "seconds": wall, "cpu": cpu, "rows": rows(result), "peak": peak}))
        return result

    def load():
        with open(path, "rb") as handle:
            data = census.read_census_bytes(handle, str(path), size=os.fstat(handle.fileno()).st_size)
        hashlib.sha256(data).hexdigest()
        return census.load_census(data, name=str(path))

    loaded = {"frame": step("load+validate", load)}
    prepared = step("prepare", lambda: census.prepare(loaded["frame"], str(path), 10), lambda p: len(p.features))
    del loaded["frame"]  # as steps.preprocess lets it go once prepared

    def encode():
        return [len(shard) for shard in dense_shards(prepared.scaled, min_shards=instance_count)]

    sizes = step("encode+shard", encode, lambda _: len(prepared.features))
    print(json.dumps({"note": f"{len(sizes)} shards, {sum(sizes) / 2**20:.0f} MiB"}))

    def frames():
        for part in (prepared.features, prepared.counties):
            part.to_parquet(io.BytesIO())
        return prepared.features

    step("work frames (parquet)", frames)


def task_child(connection: str, instance_count: int) -> None:
    """steps.preprocess on the census uploaded to s3://bench/census.csv; one JSON line as `child` prints."""
    os.environ["AIRFLOW_CONN_POPSEG_BENCH"] = connection
    from include.airflow_popseg import steps
    from include.airflow_popseg.context import RunContext

    params = {"bucket": "bench", "input_key": "census.csv", "output_prefix": "bench", "k": 10}
    run = RunContext({**params, "instance_count": instance_count}, f"bench__{time.time_ns()}", "popseg_bench")
    wall, cpu = time.perf_counter(), time.process_time()
    prepared = steps.preprocess(run)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"step": "preprocess task", "seconds": wall, "cpu": cpu, "rows": prepared["rows"], "peak": peak}))


def run_task(path: Path, instance_count: int) -> str:
    """Start the emulator, upload the census, run `task_child` in a child process; its output."""
    import boto3

    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    emulator = subprocess.Popen(
        [sys.executable, "-m", "aws_emulator", "--port", "0", "--log-level", "WARNING"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = emulator.stdout.readline().strip().rsplit(" ", 1)[-1]
        s3 = boto3.client(
            "s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench"
        )
        s3.create_bucket(Bucket="bench")
        s3.upload_file(str(path), "bench", "census.csv")
        connection = json.dumps({"conn_type": "aws", "extra": {"endpoint_url": url, "region_name": "us-east-1"}})
        command = [sys.executable, __file__, "--task-child", connection, "--instance-count", str(instance_count)]
        return subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT, env=env).stdout
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--instance-count", type=int, default=1)
    parser.add_argument("--task", action="store_true", help="also run the whole preprocess task against the emulator")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--task-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.instance_count)
        return
    if args.task_child:
        task_child(args.task_child, args.instance_count)
        return
    path = make_census(args.rows)
    command = [sys.executable, __file__, "--child", str(path), "--instance-count", str(args.instance_count)]
    output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    if args.task:
        output += run_task(path, args.instance_count)
    print(f"preprocess of {args.rows:,} rows ({path.stat().st_size / 1e6:.0f} MB CSV)")
    for line in (line for line in output.splitlines() if line.startswith('{"')):  # JSON lines only
        step = json.loads(line)
        if "note" in step:
            print(f"    ({step['note']})")
            continue
        rate, peak = step["rows"] / step["seconds"] / 1e6, step["peak"] / 2**20
        print(
            f"  {step['step']:<22} {step['seconds']:6.2f} s ({step['cpu']:5.2f} s CPU)  {rate:5.2f} M rows/s  "
            f"peak RSS {peak:5.0f} MiB"
        )


if __name__ == "__main__":
    main()
