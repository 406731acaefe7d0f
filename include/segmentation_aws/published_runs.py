"""What a published run is, for the Segmentation view: its summary, where its files are, and reading them safely.

The publish task records each run's summary (`run_summary`) on its Asset event; the view lists those events
(no S3 listing) and reads a run's report or plot from the location the summary names. Everything read back
is validated and typed here, since whoever can write the results bucket or post an Asset event is not
necessarily who opens the page. Takes a boto3 S3 client; no Airflow imports.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from botocore.exceptions import ClientError

# Airflow's own default `[core] allowed_run_id_pattern`, anchored and bounded.
RUN_ID = re.compile(r"[A-Za-z0-9_.~:+\-]{1,250}")
# The report's plot files (`plots/<name>.png`) as the report module names them.
PLOT_NAME = re.compile(r"[a-z0-9][a-z0-9_\-]{0,100}\.png")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Largest files the view will serve: far above a real report (≈ 2 MB for 3,218 counties) and plot
# (≈ 100 kB), small enough that a planted object cannot exhaust the api-server's memory.
MAX_REPORT_BYTES = 64 << 20
MAX_PLOT_BYTES = 8 << 20
# segments.csv is ≈ 100 bytes a row (≈ 100 MB at a million rows): streamed in chunks, never held whole.
MAX_SEGMENTS_BYTES = 1 << 30
SEGMENTS_CHUNK = 1 << 20
# The header every segments.csv starts with (results.segments_frame), then the components c_1…c_n.
SEGMENTS_HEADER = b"State-County,segment,distance,c_1"
_S3_URI = re.compile(r"s3://([a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])/((?:[^/]+/)*)runs/([^/]+)/")


class NotPublished(LookupError):
    """The run, or the file asked for, is not a published result the view may serve."""


@dataclass(frozen=True)
class PublishedRun:
    """One published run: its figures and where its result files are (`s3://bucket/<prefix>/runs/<run_id>/`)."""

    run_id: str
    published: datetime
    rows: int
    n_components: int
    k: int
    explained_variance: float  # share 0–1
    bucket: str
    prefix: str  # key prefix of the run's files, ending in "/"

    @classmethod
    def from_summary(cls, summary: object, published: datetime) -> PublishedRun:
        """Validate a summary written by `run_summary`; raise NotPublished naming the first bad field."""
        if not isinstance(summary, dict):
            raise NotPublished("the event carries no run summary")
        run_id = _text(summary, "run_id")
        if not RUN_ID.fullmatch(run_id) or run_id in (".", ".."):
            raise NotPublished(f"run_id {run_id!r} is not an Airflow run id")
        location = _S3_URI.fullmatch(_text(summary, "results"))
        if location is None or location.group(3) != run_id:
            raise NotPublished(f"results of run {run_id!r} are not at s3://<bucket>/<prefix>/runs/{run_id}/")
        variance = summary.get("explained_variance")
        if isinstance(variance, bool) or not isinstance(variance, int | float) or not 0 <= variance <= 1:
            raise NotPublished(f"explained_variance {variance!r} is not a share between 0 and 1")
        return cls(
            run_id=run_id,
            published=published,
            rows=_count(summary, "rows"),
            n_components=_count(summary, "n_components"),
            k=_count(summary, "k"),
            explained_variance=float(variance),
            bucket=location.group(1),
            prefix=f"{location.group(2)}runs/{run_id}/",
        )


def run_summary(run: dict, results_uri: str) -> dict:
    """What the publish task records on its Asset event: the run's figures and where its results are."""
    return {
        "run_id": run["run_id"],
        "results": results_uri,
        "report": f"{results_uri}report.html",
        "rows": int(run["rows"]),
        "n_components": int(run["n_components"]),
        "k": int(run["params"]["k"]),
        "explained_variance": float(run["explained_variance"]),
    }


def read_report(s3, run: PublishedRun) -> bytes:
    """The run's report.html (≤ MAX_REPORT_BYTES)."""
    return _read(s3, run, "report.html", MAX_REPORT_BYTES)


def read_plot(s3, run: PublishedRun, name: str) -> bytes:
    """A plot of the run, `plots/<name>`; refused unless the name is a plot name and the file is a PNG."""
    if not PLOT_NAME.fullmatch(name):
        raise NotPublished(f"{name!r} is not a plot name")
    data = _read(s3, run, f"plots/{name}", MAX_PLOT_BYTES)
    if not data.startswith(PNG_MAGIC):
        raise NotPublished(f"plots/{name} of run {run.run_id} is not a PNG image")
    return data


def open_segments(s3, run: PublishedRun) -> Iterator[bytes]:
    """The run's segments.csv (≤ MAX_SEGMENTS_BYTES) as chunks of ≤ SEGMENTS_CHUNK bytes. Refused (NotPublished)
    before the first chunk is handed out unless the file starts with SEGMENTS_HEADER; a body longer than its
    bound stops the stream with an error (the client sees a cut-off download, never more than the bound)."""
    name = "segments.csv"
    answer = _get(s3, run, name, MAX_SEGMENTS_BYTES)
    body = answer["Body"]
    try:
        first = body.read(SEGMENTS_CHUNK)
    except BaseException:
        body.close()
        raise
    if not first.startswith(SEGMENTS_HEADER):
        body.close()
        raise NotPublished(f"{name} of run {run.run_id} is not a segments table")

    def chunks() -> Iterator[bytes]:
        sent = len(first)
        try:
            yield first
            while chunk := body.read(SEGMENTS_CHUNK):
                sent += len(chunk)
                if sent > MAX_SEGMENTS_BYTES:  # a body whose length header was wrong
                    raise NotPublished(f"{name} of run {run.run_id} is larger than {MAX_SEGMENTS_BYTES:,} bytes")
                yield chunk
        finally:
            body.close()

    return chunks()


def _get(s3, run: PublishedRun, name: str, max_bytes: int) -> dict:
    """The get_object answer for the run's file `name`, refused when missing or above `max_bytes` by its length."""
    key = run.prefix + name
    try:
        answer = s3.get_object(Bucket=run.bucket, Key=key)
    except ClientError as error:
        # Without s3:ListBucket (the view's policy has none) S3 answers a missing key with 403.
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NoSuchBucket", "AccessDenied", "403"):
            raise NotPublished(f"no {name} for run {run.run_id}") from error
        raise
    if answer.get("ContentLength", 0) > max_bytes:
        answer["Body"].close()
        raise NotPublished(f"{name} of run {run.run_id} is {answer['ContentLength']:,} bytes, above {max_bytes:,}")
    return answer


def _read(s3, run: PublishedRun, name: str, max_bytes: int) -> bytes:
    body = _get(s3, run, name, max_bytes)["Body"]
    try:
        data = body.read(max_bytes + 1)  # also bounds a body whose length header was wrong
    finally:
        body.close()
    if len(data) > max_bytes:
        raise NotPublished(f"{name} of run {run.run_id} is larger than {max_bytes:,} bytes")
    return data


def _text(summary: dict, field: str) -> str:
    value = summary.get(field)
    if not isinstance(value, str):
        raise NotPublished(f"{field} {value!r} is not text")
    return value


def _count(summary: dict, field: str) -> int:
    value = summary.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise NotPublished(f"{field} {value!r} is not a count")
    return value
