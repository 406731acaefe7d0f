"""Emulator figures: InvokeEndpoint latency and concurrency, PCA and K-Means training on 1,000,000 rows.

Run from the project root: `python bench/emulator.py`. Everything goes over HTTP with boto3, as users do.
"""

from __future__ import annotations

import io
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import numpy as np

from aws_emulator.server import running_emulator
from include.sagemaker_formats.recordio import RECORDIO_CONTENT_TYPE, decode_labels, encode_dense

ROLE = "arn:aws:iam::123456789012:role/bench"
IMAGES = {a: f"382416733822.dkr.ecr.us-east-1.amazonaws.com/{a}:1" for a in ("pca", "kmeans")}


def train(sagemaker, s3, name: str, algorithm: str, rows: np.ndarray, hyperparameters: dict[str, str]) -> tuple:
    """(upload seconds, CreateTrainingJob-to-Completed seconds, description)."""
    start = time.perf_counter()
    # Multipart, as a client must for bodies above the emulator's per-request cap (MAX_REQUEST_BYTES).
    s3.upload_fileobj(io.BytesIO(encode_dense(rows)), "bench", f"{name}/train.rec")
    uploaded = time.perf_counter()
    sagemaker.create_training_job(
        TrainingJobName=name,
        RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": IMAGES[algorithm], "TrainingInputMode": "File"},
        HyperParameters=hyperparameters,
        InputDataConfig=[
            {
                "ChannelName": "train",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://bench/{name}/"}},
                "ContentType": RECORDIO_CONTENT_TYPE,
            }
        ],
        OutputDataConfig={"S3OutputPath": "s3://bench/models"},
        ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
    )
    while (job := sagemaker.describe_training_job(TrainingJobName=name))["TrainingJobStatus"] == "InProgress":
        time.sleep(0.05)
    return uploaded - start, time.perf_counter() - uploaded, job


def deploy(sagemaker, name: str, algorithm: str, artifact: str) -> None:
    sagemaker.create_model(
        ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGES[algorithm], "ModelDataUrl": artifact}
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        ],
    )
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 1})


def main() -> None:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    rng = np.random.default_rng(0)
    with running_emulator() as emulator:
        clients = {
            s: boto3.client(s, endpoint_url=emulator.endpoint_url, region_name="us-east-1")
            for s in ("s3", "sagemaker", "sagemaker-runtime")
        }
        s3, sagemaker, runtime = clients["s3"], clients["sagemaker"], clients["sagemaker-runtime"]
        s3.create_bucket(Bucket="bench")

        wide = rng.random((1_000_000, 34), dtype=np.float32)
        upload, seconds, job = train(
            sagemaker,
            s3,
            "bench-pca",
            "pca",
            wide,
            {"feature_dim": "34", "mini_batch_size": "500", "num_components": "33"},
        )
        print(
            f"PCA training, 1,000,000 x 34: {seconds:.1f} s to Completed (upload {upload:.1f} s), "
            f"{job['TrainingJobStatus']}"
        )
        narrow = rng.random((1_000_000, 7), dtype=np.float32)
        upload, seconds, job = train(sagemaker, s3, "bench-kmeans", "kmeans", narrow, {"feature_dim": "7", "k": "8"})
        print(
            f"K-Means training (k=8), 1,000,000 x 7: {seconds:.1f} s to Completed (upload {upload:.1f} s), "
            f"{job['TrainingJobStatus']}"
        )

        deploy(sagemaker, "bench-pca", "pca", "s3://bench/models/bench-pca/output/model.tar.gz")
        rows = wide[:30_000]
        body = encode_dense(rows)
        latencies = []
        for _ in range(10):
            start = time.perf_counter()
            answer = runtime.invoke_endpoint(
                EndpointName="bench-pca",
                ContentType=RECORDIO_CONTENT_TYPE,
                Accept=RECORDIO_CONTENT_TYPE,
                Body=body,
            )
            decode_labels(answer["Body"].read())
            latencies.append(time.perf_counter() - start)
        print(
            f"InvokeEndpoint, {len(body) / 1e6:.2f} MB RecordIO ({len(rows):,} x 34) -> RecordIO: "
            f"median {statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
        )

        def call(_: int) -> int:
            answer = runtime.invoke_endpoint(
                EndpointName="bench-pca",
                ContentType=RECORDIO_CONTENT_TYPE,
                Accept=RECORDIO_CONTENT_TYPE,
                Body=body,
            )
            return len(decode_labels(answer["Body"].read())["projection"])

        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=8) as pool:
            answered = list(pool.map(call, range(64)))
        elapsed = time.perf_counter() - start
        print(
            f"8 concurrent clients, 64 calls of {len(body) / 1e6:.2f} MB: {sum(a == len(rows) for a in answered)} "
            f"answered in full in {elapsed:.1f} s ({64 * len(rows) / elapsed:,.0f} rows/s)"
        )

        small = encode_dense(wide[:1000])
        start = time.perf_counter()
        for _ in range(20):
            runtime.invoke_endpoint(EndpointName="bench-pca", ContentType=RECORDIO_CONTENT_TYPE, Body=small)
        print(
            f"InvokeEndpoint, 1,000 x 34 RecordIO -> JSON (default Accept): "
            f"{(time.perf_counter() - start) / 20 * 1000:.0f} ms per call"
        )


if __name__ == "__main__":
    main()
