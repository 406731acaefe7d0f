"""The preprocess task on a census in a moto S3 bucket, and digests of everything it writes.

`preprocess_golden.json` beside this module holds the digests of today's preprocess (commit 7db842c, before it
streamed) on the inputs of `GOLDEN_CASES`; `python -m tests.support.preprocess_runs` writes them again from the
code checked out, so that a change to what preprocess writes shows as a diff of that file.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

GOLDEN = Path(__file__).with_name("preprocess_golden.json")
BUCKET = "popseg-preprocess"
INPUT_KEY = "census/input.csv"


def _bundled() -> bytes:
    from include.segmentation.synthetic import bundled_sample_csv

    return bundled_sample_csv()


def _scaled(rows: int, seed: int, missing: int) -> Callable[[], bytes]:
    def make() -> bytes:
        from include.segmentation.synthetic import scaled_census

        return scaled_census(rows, seed=seed, missing_rows=missing).to_csv(index=False).encode()

    return make


def _real() -> bytes:
    from tests.support.paths import shared_path

    return shared_path("data/census/acs2015_county_data.csv").read_bytes()


# name -> (the census's bytes, the run's params beyond bucket and keys)
GOLDEN_CASES: dict[str, tuple[Callable[[], bytes], dict]] = {
    "bundled sample": (_bundled, {"k": 10}),
    "bundled sample, three instances": (_bundled, {"k": 10, "instance_count": 3}),
    "synthetic 60,000 rows, 57 incomplete, two instances": (_scaled(60_000, 7, 57), {"k": 8, "instance_count": 2}),
    "real census": (_real, {"k": 7}),
}


@contextmanager
def s3_bucket() -> Iterator:
    """A moto S3 client with BUCKET made, for the duration of the block; BUCKET goes at its end, every object
    version and upload with it.

    moto's backends are one per process, and a test worker runs the session's emulator in the same process:
    `mock_aws()`'s default reset on start and stop would wipe every bucket and job the emulator's tests made
    (it failed the emulator and fault tests that came after these in a worker). So moto starts and stops here
    without touching what is there, and takes away only what it made."""
    import boto3
    from moto import mock_aws

    mock = mock_aws()
    mock.start(reset=False)
    try:
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        try:
            yield client
        finally:
            _remove_bucket(client, BUCKET)
    finally:
        mock.stop(remove_data=False)


def _remove_bucket(client, bucket: str) -> None:
    for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for version in page.get("Versions", []) + page.get("DeleteMarkers", []):
            client.delete_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
    client.delete_bucket(Bucket=bucket)


def run_on(client, census: bytes, params: dict, run_id: str = "manual__golden") -> SimpleNamespace:
    """A run of the preprocess task's shape (layout, store, params, run id, input URI) over `census` uploaded
    to s3://BUCKET/INPUT_KEY."""
    from include.segmentation_aws.layout import RunLayout
    from include.segmentation_aws.names import RunNames
    from include.segmentation_aws.store import RunStore

    client.put_object(Bucket=BUCKET, Key=INPUT_KEY, Body=census)
    params = {"bucket": BUCKET, "input_key": INPUT_KEY, "output_prefix": "seg", **params}
    names = RunNames.for_run(run_id)
    return SimpleNamespace(
        params=params, run_id=run_id, layout=RunLayout(BUCKET, "seg", run_id, names.token), names=names,
        store=RunStore(client, BUCKET), input_uri=f"s3://{BUCKET}/{INPUT_KEY}",
    )  # fmt: skip


def frame_digest(data: bytes) -> str:
    """sha256 of a parquet frame as pandas reads it back: its dtypes, index, columns and every value's bits."""
    import pandas as pd

    frame = pd.read_parquet(io.BytesIO(data))
    digest = hashlib.sha256()
    digest.update(repr((frame.index.name, str(frame.index.dtype), list(frame.columns))).encode())
    digest.update(repr([str(dtype) for dtype in frame.dtypes]).encode())
    digest.update("\x1f".join(frame.index.astype(str)).encode())
    for column in frame.columns:
        values = frame[column]
        if values.dtype.kind == "f":
            digest.update(values.to_numpy().tobytes())
        else:
            digest.update("\x1f".join(values.astype(str)).encode())
    return digest.hexdigest()


def digests(run: SimpleNamespace, prepared: dict) -> dict:
    """What preprocess handed on and wrote: the Prepared counts, sha256 of each training shard, of scaling.json
    and dropped.json as bytes, and of the cleaned and counties frames as read back (`frame_digest`)."""
    store, layout = run.store, run.layout
    shards = store.list_keys(layout.training_prefix("pca"))
    return {
        "rows_in": prepared["rows_in"],
        "rows": prepared["rows"],
        "features": prepared["features"],
        "input_sha256": prepared["input_sha256"],
        "input_bytes": prepared["input_bytes"],
        "shards": {key.rsplit("/", 1)[-1]: hashlib.sha256(store.read(key)).hexdigest() for key in shards},
        "scaling.json": hashlib.sha256(store.read(prepared["scaling"])).hexdigest(),
        "dropped.json": hashlib.sha256(store.read(prepared["dropped"])).hexdigest(),
        "cleaned": frame_digest(store.read(prepared["cleaned"])),
        "counties": frame_digest(store.read(prepared["counties"])),
    }


def preprocess_digests(census: bytes, params: dict, task: Callable | None = None) -> dict:
    """`digests` of `task` (steps.preprocess, or one of its paths) on `census` in a fresh moto bucket."""
    from include.airflow_popseg import steps

    with s3_bucket() as client:
        run = run_on(client, census, params)
        return digests(run, (task or steps.preprocess)(run))


def main() -> None:
    golden = {name: preprocess_digests(make(), params) for name, (make, params) in GOLDEN_CASES.items()}
    GOLDEN.write_text(json.dumps(golden, indent=2) + "\n")


if __name__ == "__main__":
    main()
