"""What the transform-job tests read back: the `.out` objects a job wrote, its log lines, and the answers
an endpoint gives for the same rows (the oracle: a batch transform answers as InvokeEndpoint does)."""

from __future__ import annotations

import json

import numpy as np

from include.sagemaker_formats.recordio import encode_dense

TRANSFORM_LOG_GROUP = "/aws/sagemaker/TransformJobs"


def out_objects(s3, bucket: str, prefix: str) -> dict[str, bytes]:
    """Every object under `prefix`: key -> bytes, in key order."""
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {item["Key"]: s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read() for item in listed}


def job_log_lines(logs, job_name: str) -> list[str]:
    """Every line the transform job wrote to `/aws/sagemaker/TransformJobs`, in order."""
    streams = logs.describe_log_streams(logGroupName=TRANSFORM_LOG_GROUP, logStreamNamePrefix=job_name)["logStreams"]
    lines: list[str] = []
    for stream in streams:
        events = logs.get_log_events(logGroupName=TRANSFORM_LOG_GROUP, logStreamName=stream["logStreamName"])
        lines += [event["message"] for event in events["events"]]
    return lines


def endpoint_projection(runtime, endpoint: str, rows: np.ndarray) -> np.ndarray:
    """(n, m) float32: the PCA endpoint's projection of `rows` (RecordIO in, JSON Lines out)."""
    body = runtime.invoke_endpoint(
        EndpointName=endpoint,
        Body=encode_dense(rows),
        ContentType="application/x-recordio-protobuf",
        Accept="application/jsonlines",
    )["Body"].read()
    return jsonlines_projection(body)


def endpoint_projection_each(runtime, endpoint: str, rows: np.ndarray) -> np.ndarray:
    """(n, m) float32: the PCA endpoint's projection of each of `rows` asked alone, a request a row, as a
    SingleRecord job asks. A row's float32 projection can differ in its last bit between a request of one row and
    one of many (BLAS takes other kernels for a (1, d) product on some CPUs: OpenBLAS's Haswell kernels do)."""
    return np.concatenate([endpoint_projection(runtime, endpoint, rows[i : i + 1]) for i in range(len(rows))])


def endpoint_clusters(runtime, endpoint: str, rows: np.ndarray) -> np.ndarray:
    """(n,) int: the K-Means endpoint's closest cluster of each of `rows`."""
    body = runtime.invoke_endpoint(
        EndpointName=endpoint,
        Body=encode_dense(rows),
        ContentType="application/x-recordio-protobuf",
        Accept="application/jsonlines",
    )["Body"].read()
    return np.array([json.loads(line)["closest_cluster"] for line in body.splitlines() if line.strip()], dtype=int)


def jsonlines_projection(body: bytes) -> np.ndarray:
    """(n, m) float32 from PCA JSON Lines: one `{"projection": [...]}` a line (blank lines skipped)."""
    return np.array([json.loads(line)["projection"] for line in body.splitlines() if line.strip()], dtype="float32")


def csv_rows(rows: np.ndarray) -> bytes:
    """`rows` as text/csv, one record a line, numbers as Python writes them (exact for float32)."""
    return "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows).encode()
