"""`make run`: the whole DAG with `airflow dags test` against the local emulator, results in output/.

Starts the emulator, uploads the census (the bundled synthetic sample, or DATA=path.csv), points the
DAG's AWS connection at the emulator with dummy credentials, runs the DAG, downloads the results to
output/<run_id>/ and output/latest/, prints a summary, and stops what it started.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from boto3.s3.transfer import TransferConfig

from aws_emulator.connection import client
from include.segmentation import inputs
from include.segmentation_aws.defaults import DEFAULT_BUCKET, DEFAULT_OUTPUT_PREFIX
from include.segmentation_aws.layout import LATEST, PLOTS, REPORT, RUN_DOCUMENT, SEGMENTS, latest_key, results_prefix
from include.segmentation_aws.published_runs import RUN_ID
from scripts import seed_emulator
from scripts.local_airflow import airflow_env, start_emulator, stop

PROJECT_ROOT = Path(__file__).resolve().parent.parent

BUCKET, OUTPUT_PREFIX = DEFAULT_BUCKET, DEFAULT_OUTPUT_PREFIX  # where a run with the DAG's defaults writes
WHOLE_OBJECT = TransferConfig(multipart_threshold=2**63)
"""Each result is streamed to disk by one GetObject, never held in memory: ranged gets (boto3's way above
8 MiB) carry no checksum, while a whole-object get lets botocore check the object's full checksum."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # `make run DATA=…` passes the path through the environment, never through a shell command line.
    parser.add_argument(
        "--data",
        default=os.environ.get("DATA") or None,
        help="census CSV to segment (default: $DATA, else the bundled synthetic sample)",
    )
    parser.add_argument("--output", default=str(PROJECT_ROOT / "output"))
    parser.add_argument("--home", default=str(seed_emulator.AIRFLOW_HOME), help="AIRFLOW_HOME for the run")
    args = parser.parse_args()
    airflow_home = Path(args.home)
    airflow_home.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    emulator, url = start_emulator(airflow_home / "emulator.log")
    try:
        env = airflow_env(url, airflow_home)
        os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
        upload_census(url, args.data)
        run(["airflow", "db", "migrate"], env, airflow_home / "db-migrate.log")
        print("Running population_segmentation with `airflow dags test` against the emulator …", flush=True)
        log = airflow_home / "dags-test.log"
        code = run(["airflow", "dags", "test", "population_segmentation"], env, log, check=False)
        succeeded = code == 0 and "state=success" in _finished_line(log)
        if not succeeded:
            print(f"\nThe run failed (exit {code}). Last lines of {log}:\n", file=sys.stderr)
            print("\n".join(log.read_text().splitlines()[-40:]), file=sys.stderr)
            return 1
        destination = download_results(url, Path(args.output))
        summarise(destination, time.perf_counter() - started)
        return 0
    finally:
        stop(emulator)


def upload_census(url: str, data: str | None) -> None:
    uri = seed_emulator.upload_census(url, data)
    print(f"Census: {data or 'bundled synthetic sample (3,220 counties)'} -> {uri}", flush=True)


def run(command: list[str], env: dict[str, str], log: Path, check: bool = True) -> int:
    executable = Path(sys.executable).parent / command[0]
    with log.open("w") as handle:
        code = subprocess.call([str(executable), *command[1:]], env=env, stdout=handle, stderr=subprocess.STDOUT)
    if check and code:
        raise SystemExit(f"{' '.join(command)} failed (exit {code}); see {log}")
    return code


def _finished_line(log: Path) -> str:
    lines = [line for line in log.read_text().splitlines() if "DagRun Finished" in line]
    return lines[-1] if lines else ""


def download_results(url: str, output: Path) -> Path:
    """The published run's files into output/<run_id>/ and output/latest/; nothing is written outside output/.

    Everything is checked first (the run id, then every key's target), then downloaded into a staging folder
    in output/; only a complete download replaces output/<run_id>/ and output/latest/, so a refused or failed
    run leaves the previous results where they were."""
    s3 = client("s3", url)
    latest = json.loads(s3.get_object(Bucket=BUCKET, Key=latest_key(OUTPUT_PREFIX))["Body"].read())
    run_id = str(latest.get("run_id"))
    if not RUN_ID.fullmatch(run_id) or run_id in (".", ".."):
        raise SystemExit(f"{LATEST} names run {run_id!r}, which is not an Airflow run id; nothing downloaded")
    prefix = results_prefix(OUTPUT_PREFIX, run_id)
    run_dir, latest_dir = inside(output, run_id), inside(output, "latest")
    keys = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        for item in page.get("Contents", [])
    ]
    for key in keys:
        inside(run_dir, key[len(prefix) :])  # refused before anything is deleted or written
    output.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=output))
    try:
        for key in keys:
            target = inside(staging / "run", key[len(prefix) :])
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(BUCKET, key, str(target), Config=WHOLE_OBJECT)
        (staging / "run").mkdir(exist_ok=True)  # a run that published nothing still gets its (empty) folder
        shutil.copytree(staging / "run", staging / "latest")
        for folder, name in ((run_dir, "run"), (latest_dir, "latest")):
            shutil.rmtree(folder, ignore_errors=True)
            (staging / name).rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return run_dir


def inside(root: Path, relative: str) -> Path:
    """`root / relative`, refused (SystemExit) unless it is strictly inside `root`."""
    base = root.resolve()
    path = (base / relative).resolve()
    if path == base or not path.is_relative_to(base):
        raise SystemExit(f"refusing to write {relative!r}: it is not inside {root}")
    return path


def summarise(run_dir: Path, seconds: float) -> None:
    import pandas as pd

    run = json.loads((run_dir / RUN_DOCUMENT).read_text())
    sizes = pd.read_csv(run_dir / SEGMENTS)["segment"].value_counts().sort_index()
    print(f"\nRun {run['run_id']} succeeded in {seconds:.0f} s.")
    print(f"Input: {inputs.describe(run['input'], run.get('input_sha256'))}")
    print(f"Rows: {run['rows_in']:,} in, {run['rows']:,} segmented ({len(run['dropped'])} incomplete dropped)")
    print(f"PCA: {run['n_components']} components keep {run['explained_variance']:.4f} of the variance")
    print("Segments: " + ", ".join(f"{segment}: {count}" for segment, count in sizes.items()))
    billed = run.get("billable_instance_seconds", run["billable_seconds"])
    print(f"Billable SageMaker seconds: {run['billable_seconds']} wall-clock, {billed} instance-seconds")
    print(f"Results: {run_dir}/ (also {run_dir.parent / 'latest'}/)")
    print(f"Report: {run_dir.parent / 'latest' / REPORT} (plots in {run_dir.parent / 'latest' / PLOTS}/)")


if __name__ == "__main__":
    sys.exit(main())
