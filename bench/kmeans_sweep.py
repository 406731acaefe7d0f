"""A k sweep's K-Means jobs against one job, on the emulator: do the mapped jobs overlap or queue?

Run from the project root: `python bench/kmeans_sweep.py [--rows 3218 1000000]`. For each size it uploads
(rows, 7) float32 components once, then times CreateTrainingJob-to-Completed of one job (k = 8) and of the
sweep k = 4…10 submitted together (7 jobs, each with the training rows as its `test` channel and
eval_metrics msd and ssd, as the DAG's sweep asks), and the most sweep jobs that were in Training at the
same moment (from SecondaryStatusTransitions). On SageMaker each job has instances of its own, so a sweep
takes about one job's time; here the jobs share the machine's cores, so an overlapping sweep is bounded by
CPU (about the sum of its jobs' CPU time over the cores), where a queue would run one job after another.
"""

from __future__ import annotations

import argparse
import io
import os
import time

import boto3
import numpy as np

from aws_emulator.server import running_emulator
from include.sagemaker_formats.recordio import RECORDIO_CONTENT_TYPE, encode_dense

ROLE = "arn:aws:iam::123456789012:role/bench"
IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/kmeans:1"
COMPONENTS = 7
SWEEP = range(4, 11)
SINGLE_K = 8


def _request(name: str, k: int, prefix: str) -> dict:
    channel = {
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://bench/{prefix}/"}},
        "ContentType": RECORDIO_CONTENT_TYPE,
    }
    return {
        "TrainingJobName": name,
        "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "HyperParameters": {"feature_dim": str(COMPONENTS), "k": str(k), "eval_metrics": '["msd","ssd"]'},
        "InputDataConfig": [{"ChannelName": "train", **channel}, {"ChannelName": "test", **channel}],
        "OutputDataConfig": {"S3OutputPath": "s3://bench/models"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }


def _run(sagemaker, jobs: dict[str, int], prefix: str) -> tuple[float, list[dict]]:
    """(seconds from the first CreateTrainingJob to the last job's end, the jobs' descriptions)."""
    start = time.perf_counter()
    for name, k in jobs.items():
        sagemaker.create_training_job(**_request(name, k, prefix))
    described = {}
    while len(described) < len(jobs):
        for name in jobs.keys() - described.keys():
            job = sagemaker.describe_training_job(TrainingJobName=name)
            if job["TrainingJobStatus"] not in ("InProgress", "Stopping"):
                described[name] = job
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    failed = [(n, j.get("FailureReason")) for n, j in described.items() if j["TrainingJobStatus"] != "Completed"]
    if failed:
        raise SystemExit(f"jobs did not complete: {failed}")
    return seconds, [described[name] for name in jobs]


def _peak_training(jobs: list[dict]) -> int:
    """The most jobs that were in Training at the same moment (from SecondaryStatusTransitions)."""
    training = [next(t for t in j["SecondaryStatusTransitions"] if t["Status"] == "Training") for j in jobs]
    # At equal times an end sorts before a start (False < True): touching intervals do not overlap.
    events = sorted([(t["StartTime"], True) for t in training] + [(t["EndTime"], False) for t in training])
    peak = current = 0
    for _, starts in events:
        current += 1 if starts else -1
        peak = max(peak, current)
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[3218, 1_000_000])
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    rng = np.random.default_rng(0)
    print(f"{'rows':>10} {'1 job (k=8) s':>14} {'sweep k=4..10 s':>16} {'ratio':>6} {'training at once':>17}")
    with running_emulator() as emulator:
        s3, sagemaker = (
            boto3.client(s, endpoint_url=emulator.endpoint_url, region_name="us-east-1") for s in ("s3", "sagemaker")
        )
        s3.create_bucket(Bucket="bench")
        for rows in args.rows:
            components = rng.normal(size=(rows, COMPONENTS)).astype("float32")
            s3.upload_fileobj(io.BytesIO(encode_dense(components)), "bench", f"rows-{rows}/train.rec")
            single, _ = _run(sagemaker, {f"single-{rows}": SINGLE_K}, f"rows-{rows}")
            sweep, jobs = _run(sagemaker, {f"sweep-{rows}-k{k}": k for k in SWEEP}, f"rows-{rows}")
            at_once = f"{_peak_training(jobs)} of {len(jobs)}"
            print(f"{rows:>10,} {single:>14.2f} {sweep:>16.2f} {sweep / single:>6.2f} {at_once:>17}")


if __name__ == "__main__":
    main()
