"""The preprocess task on large synthetic censuses: its seconds and peak RSS, streaming and read whole as before.

Run from the project root: `python bench/preprocess.py [--rows 1000000 --rows 4000000]`. Each census CSV is
made once with `include/segmentation/synthetic.py` (past 1 M rows, the 1 M census repeated with its County
names numbered) and kept in the temporary directory. The emulator runs as its own process; the DAG's
`preprocess` task (steps.preprocess: read the census from S3, validate, write the training shards and work
files back) runs on each census in a child of its own (devtools/preprocess_memory.py), so that its peak RSS
(ru_maxrss) is its own: streaming ("task"), and up to --whole-up-to rows also read whole as before every
census was streamed ("whole", steps.preprocess_whole).

The largest census the task streams is MAX_STREAMED_CENSUS_BYTES (8 GiB, 10 M rows of ~210 bytes are 2.1 GB);
the whole-file path ("whole") reads at most MAX_CENSUS_BYTES (1 GiB, about 5 M rows), so keep --whole-up-to
below that.

With `--steps`, it also times the whole-file path's steps one by one in a single process:

  load+validate   read the bytes through the loader's bounds, checksum, parse and validate
  prepare         clean and fit the 0–1 scaling (census.prepare)
  encode+shard    scale to float32 and encode the training channel's RecordIO shards, one held at a time
  work frames     the cleaned features and county names as parquet (what later tasks read)

CPU seconds are printed beside wall seconds: on a shared machine they vary less.
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
BLOCK_ROWS = 1_000_000  # rows of synthetic census made in one frame; larger ones repeat it (census_file)


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


def census_file(rows: int) -> Path:
    """The census of `rows` rows: `make_census` up to BLOCK_ROWS; past that, the BLOCK_ROWS census repeated, each
    copy's County names suffixed with its number (" r1", " r2"...) so that every State-County key stays unique.
    Made once per row count, a block at a time: making 10 M rows in one frame would take ~6 GB."""
    if rows <= BLOCK_ROWS:
        return make_census(rows)
    path = Path(tempfile.gettempdir()) / f"popseg-bench-census-{rows}.csv"
    if not path.exists():
        start, block = time.perf_counter(), make_census(BLOCK_ROWS).read_bytes()
        header, _, body = block.partition(b"\n")
        lines = body.rstrip(b"\n").split(b"\n")
        partial = path.with_suffix(".partial")
        with open(partial, "wb") as out:
            out.write(header + b"\n")
            for copy, done in enumerate(range(0, rows, BLOCK_ROWS)):
                suffix = b"" if copy == 0 else b" r%d" % copy
                for line in lines[: rows - done]:
                    census_id, state, rest = line.split(b",", 2)
                    county, rest = rest.split(b",", 1)
                    out.write(b"%s,%s,%s%s,%s\n" % (census_id, state, county, suffix, rest))
        partial.rename(path)
        print(f"made {path} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return path


def run_tasks(paths: dict[int, Path], instance_count: int, whole_up_to: int) -> list[dict]:
    """Start the emulator, and for each census upload it and run the preprocess task on it in a child of its
    own (devtools/preprocess_memory.py), streaming ("task") and, up to `whole_up_to` rows, read whole as before
    ("whole"). One dict per run: rows, path, seconds, cpu, peak_mib."""
    import boto3

    from devtools.preprocess_memory import measure
    from include.segmentation_aws.store import UPLOADS

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
    results = []
    try:
        url = emulator.stdout.readline().strip().rsplit(" ", 1)[-1]
        s3 = boto3.client(
            "s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench"
        )
        s3.create_bucket(Bucket="bench")
        for rows, path in paths.items():
            key = f"census-{rows}.csv"
            with open(path, "rb") as census:
                s3.upload_fileobj(census, "bench", key, Config=UPLOADS)
            for which in ("task", "whole") if rows <= whole_up_to else ("task",):
                params = {"k": 10, "instance_count": instance_count}
                result = measure(url, "bench", key, params, path=which)
                results.append({**result, "rows_kept": result["rows"], "rows": rows, "path": which})
                print(json.dumps(results[-1]), file=sys.stderr)
            s3.delete_object(Bucket="bench", Key=key)
            objects = [item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket="bench")
                       for item in page.get("Contents", [])]  # fmt: skip
            for key in objects:  # the runs' outputs: the emulator holds them in memory
                s3.delete_object(Bucket="bench", Key=key)
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="census rows (repeat for several; 1,000,000)")
    parser.add_argument("--instance-count", type=int, default=1)
    parser.add_argument("--steps", action="store_true", help="also time the whole-file path's steps in one process")
    parser.add_argument(
        "--whole-up-to", type=int, default=1_000_000, help="run the whole-file path too up to this many rows"
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.instance_count)
        return
    counts = args.rows or [1_000_000]
    paths = {rows: census_file(rows) for rows in counts}
    if args.steps:
        for rows, path in paths.items():
            command = [sys.executable, __file__, "--child", str(path), "--instance-count", str(args.instance_count)]
            output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout
            print(f"whole-file steps on {rows:,} rows ({path.stat().st_size / 1e6:.0f} MB CSV)")
            print_steps(output)
    print("preprocess task, in a child of its own against the emulator (task: streaming; whole: as before)")
    for result in run_tasks(paths, args.instance_count, args.whole_up_to):
        size = paths[result["rows"]].stat().st_size / 1e6
        print(
            f"  {result['rows']:>11,} rows ({size:5.0f} MB)  {result['path']:<5}  {result['seconds']:7.1f} s "
            f"({result['cpu']:6.1f} s CPU)  peak RSS {result['peak_mib']:6.0f} MiB"
        )


def print_steps(output: str) -> None:
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
