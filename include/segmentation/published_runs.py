"""Reading what the DAG published, for the Segmentation view: runs newest first, and their files.

Takes a boto3 S3 client (the Airflow S3Hook gives one) and only reads; no Airflow imports.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from botocore.exceptions import ClientError


@dataclass(frozen=True)
class PublishedRun:
    run_id: str
    published: str  # ISO time run.json was written
    rows: int
    n_components: int
    k: int
    explained_variance: float


def list_runs(s3, bucket: str, output_prefix: str) -> list[PublishedRun]:
    """Every run with a run.json under `<prefix>/runs/`, newest first."""
    prefix = f"{output_prefix.strip('/')}/runs/"
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"].endswith("/run.json"):
                found.append((item["LastModified"], item["Key"]))
    runs = []
    for modified, key in sorted(found, reverse=True):
        document = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        runs.append(
            PublishedRun(
                run_id=document["run_id"],
                published=modified.isoformat(timespec="seconds"),
                rows=document["rows"],
                n_components=document["n_components"],
                k=document.get("params", {}).get("k", 0),
                explained_variance=document["explained_variance"],
            )
        )
    return runs


def read_run_file(s3, bucket: str, output_prefix: str, run_id: str, name: str) -> bytes | None:
    """A file of one run (`report.html`, `plots/x.png`, …), or None when there is none."""
    if ".." in name.split("/") or "/" in run_id:
        return None
    key = f"{output_prefix.strip('/')}/runs/{run_id}/{name}"
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NoSuchBucket"):
            return None
        raise
