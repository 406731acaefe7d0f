"""The PCA transform task in a child process of its own, against the emulator (its S3 and a PCA endpoint it
serves), and its peak RSS: for tests/unit/test_transform_memory.py and a one-off at more rows,

    python -m tests.support.transform_memory [--repeat N] CENSUS.csv ...

on census files as `bench/pipeline.py --generate-only --keep DIR` writes them: each is preprocessed in a child,
then transformed N times (default 2) in a fresh child under our local runs' allocator settings
(scripts/local_airflow.MEMORY_ENV), with and without numpy's NUMPY_MADVISE_HUGEPAGE=0. A line of JSON a run.
"""

from __future__ import annotations

import argparse
import json
import uuid

import numpy as np

from devtools.preprocess_memory import measure

BUCKET = "popseg-transform-memory"
PARAMS = {"k": 10, "instance_count": 1}


def client(endpoint_url: str, service: str):
    import boto3

    return boto3.client(
        service, endpoint_url=endpoint_url, region_name="us-east-1",
        aws_access_key_id="memory", aws_secret_access_key="memory",
    )  # fmt: skip


def pca_endpoint(endpoint_url: str, bucket: str, components: int, kept: int) -> dict:
    """A PCA model of `components` random orthonormal axes in `bucket`, served by an endpoint: the transform's
    handoffs but "run_id" and "prepared" ({"training", "chosen", "plan"}, `kept` components kept)."""
    from include.sagemaker_formats.artifacts import PCAModel, write_pca_model
    from include.segmentation import census
    from include.segmentation_aws.store import RunStore
    from tests.support.sagemaker_requests import PCA_IMAGE, deploy

    features = len(census.FEATURES)
    axes = np.linalg.qr(np.random.default_rng(5).standard_normal((features, components)))[0]
    model = PCAModel.from_largest_first(np.arange(components, 0, -1), axes, np.full(features, 0.5))
    model_uri = RunStore(client(endpoint_url, "s3"), bucket).write("models/pca/model.tar.gz", write_pca_model(model))
    endpoint = deploy(client(endpoint_url, "sagemaker"), f"pca-memory-{uuid.uuid4().hex[:6]}", PCA_IMAGE, model_uri)
    return {
        "training": {"job_name": "pca-memory", "model_artifact": model_uri},
        "chosen": {"kept_components": kept, "explained": 0.9, "explained_variance": "unused"},
        "plan": {"Endpoint": {"EndpointName": endpoint}},
    }


def transform_peak(
    endpoint_url: str, bucket: str, key: str, endpoint: dict, envs: list[dict], max_batch_bytes: int | None = None
) -> tuple[dict, list[float]]:
    """Preprocess s3://bucket/key in a child, then the transform on it (`endpoint`: pca_endpoint's handoffs) in
    a fresh child for each of `envs`, what each adds to its environment: (the preprocess child's result, each
    transform child's peak RSS in MiB). `max_batch_bytes`: a request's bytes (endpoints.MAX_BATCH_BYTES)."""
    prepared = measure(endpoint_url, bucket, key, PARAMS)
    handoffs = {"run_id": prepared["run_id"], "prepared": prepared["prepared"], **endpoint}
    peaks = []
    for settings in envs:
        result = measure(
            endpoint_url, bucket, key, PARAMS, path="transform", env=settings, handoffs=handoffs,
            max_batch_bytes=max_batch_bytes,
        )  # fmt: skip
        assert result["rows"] == prepared["rows"]
        peaks.append(result["peak_mib"])
    return prepared, peaks


def main() -> None:
    from aws_emulator.server import running_emulator
    from scripts.local_airflow import MEMORY_ENV

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("census", nargs="+", help="census CSV files")
    parser.add_argument("--repeat", type=int, default=2, help="transform runs per census and setting")
    args = parser.parse_args()
    without_flag = {name: value for name, value in MEMORY_ENV.items() if name != "NUMPY_MADVISE_HUGEPAGE"}
    settings = {"local": MEMORY_ENV, "local without NUMPY_MADVISE_HUGEPAGE": without_flag}
    with running_emulator(transition_seconds=0.3) as emulator:
        url, s3 = emulator.endpoint_url, client(emulator.endpoint_url, "s3")
        s3.create_bucket(Bucket=BUCKET)
        endpoint = pca_endpoint(url, BUCKET, components=34, kept=7)
        for path in args.census:
            key = path.rsplit("/", 1)[-1]
            s3.upload_file(path, BUCKET, key)
            envs = [env for _ in range(args.repeat) for env in settings.values()]
            prepared, peaks = transform_peak(url, BUCKET, key, endpoint, envs)
            for name, peak in zip([n for _ in range(args.repeat) for n in settings], peaks, strict=True):
                print(json.dumps({"rows": prepared["rows"], "settings": name, "peak_mib": round(peak, 1)}), flush=True)
            s3.delete_object(Bucket=BUCKET, Key=key)


if __name__ == "__main__":
    main()
