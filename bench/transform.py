"""endpoints.transform through the emulator's PCA endpoint: 1,000,000 x 34 rows, one request in flight
against several, and the process's peak RSS.

Run from the project root: `python bench/transform.py [concurrency ...]` (default: 1 4).
"""

from __future__ import annotations

import os
import resource
import sys
import time

import boto3
import numpy as np

from aws_emulator.server import running_emulator
from bench.emulator import deploy, train
from include.segmentation_aws import endpoints


def main(concurrencies: list[int]) -> None:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    rows = np.random.default_rng(0).random((1_000_000, 34), dtype=np.float32)
    with running_emulator() as emulator:
        s3, sagemaker = (
            boto3.client(s, endpoint_url=emulator.endpoint_url, region_name="us-east-1") for s in ("s3", "sagemaker")
        )
        runtime = boto3.client(
            "sagemaker-runtime",
            endpoint_url=emulator.endpoint_url,
            region_name="us-east-1",
            config=boto3.session.Config(max_pool_connections=max(10, *concurrencies)),
        )
        s3.create_bucket(Bucket="bench")
        hyperparameters = {"feature_dim": "34", "mini_batch_size": "500", "num_components": "33"}
        train(sagemaker, s3, "bench-transform", "pca", rows[:20_000], hyperparameters)
        deploy(sagemaker, "bench-transform", "pca", "s3://bench/models/bench-transform/output/model.tar.gz")
        invoke = endpoints.invoker(runtime, "bench-transform")
        for concurrency in concurrencies:
            start = time.perf_counter()
            answer = endpoints.transform(rows, invoke, concurrency=concurrency)
            seconds = time.perf_counter() - start
            print(
                f"transform 1,000,000 x 34, concurrency {concurrency}: {seconds:.1f} s "
                f"({len(answer['projection']) / seconds:,.0f} rows/s)"
            )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the process (emulator included): {peak:.0f} MiB")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1, 4])
