"""extract_attributes in a child process of its own, against the emulator's S3, and its peak RSS: for
tests/unit/test_attributes_memory.py and a one-off measure at more rows (`python -m tests.support.attribute_memory
ROWS...` with the emulator at $EMULATOR_URL).

The parent puts a census in the bucket, preprocesses it in a child (devtools.preprocess_memory.measure), and
writes made models and matched segments (tests.support.attribute_runs) beside its work files; the child then
runs only the task, reading everything through a boto3 client, so that the objects are held by the emulator's
process, not counted in the child's.
"""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

import numpy as np

from devtools.preprocess_memory import SETTLED_ALLOCATORS, measure, measured_child

K, KEPT = 10, 4


def _run(endpoint_url: str, bucket: str, run_id: str, key: str = "census.csv") -> SimpleNamespace:
    import boto3

    from include.segmentation_aws.layout import RunLayout
    from include.segmentation_aws.names import RunNames
    from include.segmentation_aws.store import RunStore

    client = boto3.client(
        "s3", endpoint_url=endpoint_url, region_name="us-east-1",
        aws_access_key_id="memory", aws_secret_access_key="memory",
    )  # fmt: skip
    names = RunNames.for_run(run_id)
    return SimpleNamespace(
        params={"bucket": bucket, "input_key": key, "output_prefix": "memory", "k": K}, run_id=run_id,
        layout=RunLayout(bucket, "memory", run_id, names.token), names=names, store=RunStore(client, bucket),
        input_uri=f"s3://{bucket}/{key}",
    )  # fmt: skip


def prepare(endpoint_url: str, bucket: str, rows: int) -> dict:
    """A census of `rows` rows preprocessed, models and matched segments written: the task's handoffs."""
    from include.sagemaker_formats.artifacts import PCAModel, write_kmeans_model, write_pca_model
    from include.segmentation import census
    from include.segmentation.synthetic import scaled_census
    from tests.support.attribute_runs import matched_segments

    key = f"census-{rows}.csv"
    first = _run(endpoint_url, bucket, "unused", key)
    first.store.write(key, scaled_census(rows).to_csv(index=False).encode())
    prepared = measure(endpoint_url, bucket, key, {"k": K})
    run = _run(endpoint_url, bucket, prepared["run_id"], key)
    run.store.client.delete_object(Bucket=bucket, Key=key)
    axes = np.linalg.qr(np.random.default_rng(5).standard_normal((len(census.FEATURES), KEPT)))[0]
    model = PCAModel.from_largest_first(np.arange(KEPT, 0, -1), axes, np.full(len(census.FEATURES), 0.5))
    pca = run.store.write(run.layout.work("pca.tar.gz"), write_pca_model(model))
    centroids = np.random.default_rng(4).standard_normal((K, KEPT)).astype("float32")
    kmeans = run.store.write(run.layout.work("kmeans.tar.gz"), write_kmeans_model(centroids))
    keys = run.store.read_frame(prepared["prepared"]["counties"]).index
    segments, by_cluster = matched_segments(keys, K)
    return {
        "run_id": prepared["run_id"],
        "rows": prepared["rows"],
        "pca": {"job_name": "pca", "model_artifact": pca},
        "kmeans": {"job_name": "kmeans", "model_artifact": kmeans},
        "chosen": {"kept_components": KEPT, "explained": 0.9, "explained_variance": "unused"},
        "prepared": prepared["prepared"],
        "matched": {
            "segments": run.store.write(run.layout.matched_segments, _in_row_groups(segments)),
            "continuity": "unused",
            "changes": [],
            "segment_ids": sorted(by_cluster),
            "by_cluster": by_cluster,
        },
    }


def _in_row_groups(frame) -> bytes:
    """The matched segments as parquet in row groups of steps.READ_ROWS, as match_segments writes them once it
    streams. (A whole frame's to_parquet writes one row group up to 1,048,576 rows, which a reader holds whole:
    ~40 MB more at 400 k rows than at 100 k, and no more past 1 M.)"""
    import io

    from include.airflow_popseg import steps

    buffer = io.BytesIO()
    frame.to_parquet(buffer, row_group_size=steps.READ_ROWS)
    return buffer.getvalue()


def measure_attributes(endpoint_url: str, bucket: str, handoffs: dict) -> dict:
    """extract_attributes on `handoffs` (prepare's) in a fresh child: {"written", "seconds", "peak_mib"}."""
    request = json.dumps({"endpoint_url": endpoint_url, "bucket": bucket, "handoffs": handoffs})
    return measured_child("tests.support.attribute_memory", "--child", request, env=SETTLED_ALLOCATORS)


def _child(request: dict) -> None:
    import logging
    import time

    from include.airflow_popseg import steps

    logging.disable(logging.INFO)  # the task's log lines would go to stdout, where the result goes
    h = request["handoffs"]
    run = _run(request["endpoint_url"], request["bucket"], h["run_id"])
    wall = time.perf_counter()
    written = steps.extract_attributes(run, h["pca"], h["kmeans"], h["chosen"], h["prepared"], h["matched"])
    print(json.dumps({"written": written, "seconds": time.perf_counter() - wall}))


def main() -> None:
    """One-off: the task's peak RSS and seconds at each ROWS given (`python -m tests.support.attribute_memory
    100000 400000 1000000`), against an emulator of its own, and the sha256 of what it wrote."""
    import hashlib

    import boto3

    from aws_emulator.server import running_emulator

    if sys.argv[1] == "--child":
        _child(json.loads(sys.argv[2]))
        return
    with running_emulator(transition_seconds=0.3) as emulator:
        endpoint_url, bucket = emulator.endpoint_url, "popseg-attributes-memory"
        s3 = boto3.client(
            "s3", endpoint_url=endpoint_url, region_name="us-east-1",
            aws_access_key_id="memory", aws_secret_access_key="memory",
        )  # fmt: skip
        s3.create_bucket(Bucket=bucket)
        for rows in map(int, sys.argv[1:]):
            result = measure_attributes(endpoint_url, bucket, prepare(endpoint_url, bucket, rows))
            digests = {
                name: hashlib.sha256(s3.get_object(Bucket=bucket, Key=uri.split("/", 3)[3])["Body"].read()).hexdigest()
                for name, uri in sorted(result["written"].items())
            }
            print(json.dumps({"rows": rows, "peak_mib": result["peak_mib"], "seconds": result["seconds"], **digests}))


if __name__ == "__main__":
    main()
