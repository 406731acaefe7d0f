"""The preprocess task's steps on a large synthetic census: seconds, rows/s and peak RSS per step.

Run from the project root: `python bench/preprocess.py [--rows 1000000]`. The census CSV is made once
with `include/segmentation/synthetic.py` and kept in the temporary directory; the steps then run in a
child process, so its peak RSS (ru_maxrss, a running maximum) counts the preprocess work alone:

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
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


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
            data = census.read_census_bytes(handle, str(path))
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--instance-count", type=int, default=1)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.instance_count)
        return
    path = make_census(args.rows)
    command = [sys.executable, __file__, "--child", str(path), "--instance-count", str(args.instance_count)]
    output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    print(f"preprocess of {args.rows:,} rows ({path.stat().st_size / 1e6:.0f} MB CSV)")
    for line in output.splitlines():
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
