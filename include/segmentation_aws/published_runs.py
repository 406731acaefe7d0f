"""What a recorded run is, for the Segmentation view: its summary, where its files are, and reading them safely.

The publish task (a run that trained) and the record_unchanged task (a run that found nothing changed) record
each run's summary (`run_summary`) on an Asset event; the view lists those events (no S3 listing) and reads a
run's report or plot from the location the summary names. A run is in one of STATES: published (its results
are the latest), held (published under runs/<run_id>/, but the churn gate kept latest.json where it was) or
unchanged (it trained nothing: the run it names in `unchanged_since` still stands, and it has no file to serve).
Everything read back is validated and typed here, since whoever can write the results bucket or post an Asset
event is not necessarily who opens the page. Takes a boto3 S3 client; no Airflow imports.

Only files the pipeline wrote are served: the summary records the sha256 of every file the view serves
(`SERVED`: report.html, segments.csv, segments.parquet, plots/*.png), in Airflow's database where a bucket writer
cannot reach it, and a file whose bytes in S3 have another digest, or have none recorded, is refused (`NotAsPublished`,
`NotPublished`) and never handed out. Runs published before digests were recorded have none: all their files
are refused, with a message to re-run (a digest computed now would vouch for whatever the bucket holds now).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from botocore.exceptions import ClientError

from include.segmentation.cost_text import cost_text
from include.segmentation_aws.layout import PLOTS, REPORT, SEGMENTS, SEGMENTS_PARQUET, report_uri, results_location

# Airflow's own default `[core] allowed_run_id_pattern`, anchored and bounded.
RUN_ID = re.compile(r"[A-Za-z0-9_.~:+\-]{1,250}")
# The report's plot files (`plots/<name>.png`) as the report module names them.
PLOT_NAME = re.compile(r"[a-z0-9][a-z0-9_\-]{0,100}\.png")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Largest files the view will serve: far above a real report (≈ 2 MB for 3,218 counties) and plot
# (≈ 100 kB), small enough that a planted object cannot exhaust the api-server's memory.
MAX_REPORT_BYTES = 64 << 20
MAX_PLOT_BYTES = 8 << 20
# segments.csv is ≈ 100 bytes a row (≈ 100 MB at a million rows), segments.parquet about half that: streamed in
# chunks, never held whole.
MAX_SEGMENTS_BYTES = 1 << 30
SEGMENTS_CHUNK = 1 << 20
# How each downloadable table starts: segments.csv with its header (results.segments_frame), then the components
# c_1…c_n; segments.parquet with Parquet's magic number.
SEGMENTS_HEADER = b"State-County,segment,distance,c_1"
TABLE_START = {SEGMENTS: SEGMENTS_HEADER, SEGMENTS_PARQUET: b"PAR1"}
# The files the view serves, by their name under runs/<run_id>/; publish records the sha256 of each.
SERVED = re.compile(
    rf"{re.escape(REPORT)}|{re.escape(SEGMENTS)}|{re.escape(SEGMENTS_PARQUET)}|{re.escape(PLOTS)}{PLOT_NAME.pattern}"
)
SHA256 = re.compile(r"[0-9a-f]{64}")
# Digests a summary may record: a report has 15–25 plots; the bound keeps a planted event's extra small to read.
MAX_DIGESTS = 200
# What a run did (run.json's "state"): summaries from before states were recorded are all "published".
PUBLISHED, HELD, UNCHANGED = "published", "held", "unchanged"
STATES = (PUBLISHED, HELD, UNCHANGED)
# The churn gate's refusal as a held run records it: a sentence or two naming the churn, the gate and how to
# accept the run (≈ 300 characters); the bound keeps a planted one from filling the page.
MAX_HELD_REASON = 2000
# The run's estimated cost in words (cost_text): a figure, or the price table's reasons for having none (a few
# hundred characters for a run whose types all lack a price); the bound keeps a planted one from filling the page.
MAX_COST_TEXT = 2000


class NotPublished(LookupError):
    """The run, or the file asked for, is not a published result the view may serve."""


class NotAsPublished(NotPublished):
    """The file in S3 is not the one the run published: its sha256 differs from the one publish recorded."""


class NoLongerInS3(NotPublished):
    """The run published the file, but S3 no longer has it where the summary says (deleted, or its bucket is gone,
    or the view may no longer read it): `uri` is where it was."""

    def __init__(self, message: str, uri: str) -> None:
        super().__init__(message)
        self.uri = uri


class TrainedNothing(NotPublished):
    """The run found nothing changed and published no file: the results of run `since` still stand."""

    def __init__(self, message: str, since: str) -> None:
        super().__init__(message)
        self.since = since


@dataclass(frozen=True)
class PublishedRun:
    """One recorded run: its figures, how it compares with the run before, and where its result files are
    (`s3://bucket/<prefix>/runs/<run_id>/`). An unchanged run's figures are those of `unchanged_since`, whose
    results still stand; it has no file of its own to serve (`sha256` is empty)."""

    run_id: str
    published: datetime
    rows: int
    n_components: int
    k: int
    explained_variance: float  # share 0–1
    bucket: str
    prefix: str  # key prefix of the run's files, ending in "/"
    # sha256 (hex) of each served file as published, by name (SERVED); empty for runs published before digests.
    sha256: Mapping[str, str] = field(default_factory=dict)
    input: str = ""  # the census file the run read, s3://…; "" for runs published before it was recorded
    input_is_bundled_sample: bool = False  # the bundled synthetic sample (made-up figures), recognised by digest
    state: str = PUBLISHED  # one of STATES
    previous_run: str | None = None  # the run its segments were matched to; None for a first run, or unchanged
    churn: float | None = None  # share 0–1 of shared counties whose segment changed since previous_run
    adjusted_rand: float | None = None  # adjusted Rand index against previous_run (1.0: the same partition)
    unchanged_since: str | None = None  # state "unchanged": the run whose results still stand
    held_reason: str | None = None  # state "held": the churn gate's refusal
    # The estimated cost (run.json's `cost`): USD when every line has a price; else the sum of those that do, and
    # the estimate in words (cost_text). cost_text None: recorded before costs were estimated.
    cost_total: float | None = None
    cost_priced: float | None = None
    cost_text: str | None = None

    @classmethod
    def from_summary(cls, summary: object, published: datetime) -> PublishedRun:
        """Validate a summary written by `run_summary`; raise NotPublished naming the first bad field."""
        if not isinstance(summary, dict):
            raise NotPublished("the event carries no run summary")
        run_id = _text(summary, "run_id")
        if not RUN_ID.fullmatch(run_id) or run_id in (".", ".."):
            raise NotPublished(f"run_id {run_id!r} is not an Airflow run id")
        location = results_location(_text(summary, "results"))
        if location is None or location[2] != run_id:
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
            bucket=location[0],
            prefix=location[1],
            sha256=_digests(summary),
            **_input(summary),
            **_continuity(summary, run_id),
            **_cost(summary),
        )


def run_summary(run: dict, results_uri: str, sha256: Mapping[str, str]) -> dict:
    """What the publish or record_unchanged task records on its Asset event, from the run's run.json: the run's
    figures, its state and churn, where its results are, and the sha256 (hex) of each file the view serves as
    it was published (`served_digests`).

    An unchanged run (state "unchanged") published only its run.json, with the figures copied from the run it
    is unchanged since: its summary serves nothing (sha256 {}, whatever is passed, and no report)."""
    state = run.get("state", PUBLISHED)
    unchanged = state == UNCHANGED
    continuity = run.get("continuity") or {}
    churn = continuity.get("churn") or {}
    return {
        "run_id": run["run_id"],
        "results": results_uri,
        "report": None if unchanged else report_uri(results_uri),
        "rows": int(run["rows"]),
        "n_components": int(run["n_components"]),
        "k": int((run.get("k_selection") or {}).get("chosen_k") or run["params"]["k"]),  # a sweep's choice
        "explained_variance": float(run["explained_variance"]),
        "input": run["input"],
        "input_is_bundled_sample": bool(run.get("input_is_bundled_sample", False)),
        "sha256": {} if unchanged else dict(sorted(sha256.items())),
        "state": state,
        "previous_run": continuity.get("previous_run"),
        "churn": _float_or_none(churn.get("changed_share")),
        "adjusted_rand": _float_or_none(churn.get("adjusted_rand")),
        "unchanged_since": run.get("unchanged_since") if unchanged else None,
        "held_reason": (run.get("gate") or {}).get("refusal") if state == HELD else None,
        "cost": _cost_summary(run.get("cost")),
    }


def _cost_summary(cost: dict | None) -> dict | None:
    """The run's estimated cost as the run list shows it; None for a run.json recorded before costs were."""
    if not cost:
        return None
    total, priced = _float_or_none(cost.get("total")), _float_or_none(cost.get("priced_total"))
    return {"total": total, "priced_total": priced, "text": cost_text(cost)}


def _float_or_none(value) -> float | None:
    return None if value is None else float(value)


def served_digests(s3, bucket: str, keys: Mapping[str, str]) -> dict[str, str]:
    """The sha256 (hex) of each file the view serves (SERVED) among the run's result files (name -> key in
    `bucket`), read from S3 in SEGMENTS_CHUNK pieces (memory stays bounded whatever its size).

    Publish hashes the files its tasks wrote before it copies them under runs/<run_id>/: a file replaced
    after it was hashed is published with other bytes, and the view refuses it."""
    return {
        name: _hash_body(s3.get_object(Bucket=bucket, Key=key)["Body"])[0]
        for name, key in sorted(keys.items())
        if SERVED.fullmatch(name)
    }


def read_report(s3, run: PublishedRun) -> bytes:
    """The run's report.html (≤ MAX_REPORT_BYTES), refused unless it is the one the run published."""
    expected = _recorded(run, REPORT)
    return _verified(run, REPORT, _read(s3, run, REPORT, MAX_REPORT_BYTES), expected)


def read_plot(s3, run: PublishedRun, name: str) -> bytes:
    """A plot of the run, `plots/<name>`; refused unless the name is a plot name, the file is the one the run
    published and it is a PNG."""
    if not PLOT_NAME.fullmatch(name):
        raise NotPublished(f"{name!r} is not a plot name")
    plot = PLOTS + name
    expected = _recorded(run, plot)
    data = _verified(run, plot, _read(s3, run, plot, MAX_PLOT_BYTES), expected)
    if not data.startswith(PNG_MAGIC):
        raise NotPublished(f"{plot} of run {run.run_id} is not a PNG image")
    return data


def open_segments(s3, run: PublishedRun, name: str = SEGMENTS) -> Iterator[bytes]:
    """The run's segments.csv, or segments.parquet (`name`, a TABLE_START key; ≤ MAX_SEGMENTS_BYTES), as chunks
    of ≤ SEGMENTS_CHUNK bytes, once it is known to be the file the run published.

    Verified before the first byte goes out, in bounded memory: a first pass hashes the object in chunks
    (NotAsPublished when its sha256 is not the recorded one), then the same object is streamed, asked for
    by the first pass's ETag (S3 answers 412 if it was replaced in between: NotAsPublished). The stream is
    hashed again as it goes and its last chunk is held back until that digest matches too, so a file S3
    swapped anyway ends as a cut-off download, never a whole one. Refused (NotPublished) before the first
    chunk unless the file starts as TABLE_START says; a body longer than its bound stops the stream."""
    if name not in TABLE_START:
        raise NotPublished(f"{name[:80]!r} is not a table the view serves")
    expected = _recorded(run, name)
    checked = _get(s3, run, name, MAX_SEGMENTS_BYTES)
    actual, size = _hash_body(checked["Body"], stop_after=MAX_SEGMENTS_BYTES)
    if size > MAX_SEGMENTS_BYTES:  # a body whose length header was wrong
        raise NotPublished(f"{name} of run {run.run_id} is larger than {MAX_SEGMENTS_BYTES:,} bytes")
    _verified_digest(run, name, actual, expected)
    answer = _get(s3, run, name, MAX_SEGMENTS_BYTES, IfMatch=checked["ETag"])
    body = answer["Body"]
    try:
        first = body.read(SEGMENTS_CHUNK)
    except BaseException:
        body.close()
        raise
    if not first.startswith(TABLE_START[name]):
        body.close()
        raise NotPublished(f"{name} of run {run.run_id} is not a segments table")

    def chunks() -> Iterator[bytes]:
        digest, held, sent = hashlib.sha256(first), first, len(first)
        try:
            while chunk := body.read(SEGMENTS_CHUNK):
                sent += len(chunk)
                if sent > MAX_SEGMENTS_BYTES:  # a body whose length header was wrong
                    raise NotPublished(f"{name} of run {run.run_id} is larger than {MAX_SEGMENTS_BYTES:,} bytes")
                digest.update(chunk)
                yield held
                held = chunk
            _verified_digest(run, name, digest.hexdigest(), expected)
            yield held
        finally:
            body.close()

    return chunks()


def _digests(summary: dict) -> dict[str, str]:
    """The summary's `sha256` map, checked; {} for a run published before digests were recorded."""
    recorded = summary.get("sha256")
    if recorded is None:
        return {}
    if not isinstance(recorded, dict) or len(recorded) > MAX_DIGESTS:
        raise NotPublished(f"sha256 is not a map of at most {MAX_DIGESTS} file names to digests")
    for name, digest in recorded.items():
        if not isinstance(name, str) or not SERVED.fullmatch(name):
            raise NotPublished(f"sha256 names {str(name)[:80]!r}, which is not a file the view serves")
        if not isinstance(digest, str) or not SHA256.fullmatch(digest):
            raise NotPublished(f"sha256 of {name} is not 64 lowercase hex digits")
    return dict(recorded)


def _recorded(run: PublishedRun, name: str) -> str:
    """The sha256 publish recorded for the run's file `name`; NotPublished when it recorded none."""
    if run.state == UNCHANGED:
        raise TrainedNothing(
            f"run {run.run_id} trained nothing and published no {name}: its input and params were unchanged since "
            f"run {run.unchanged_since}, whose results still stand: open that run's report",
            since=run.unchanged_since,
        )
    if not run.sha256:
        raise NotPublished(
            f"run {run.run_id} was published before the view checked files against their sha256 (its summary "
            "records none), so none of its files is served: re-run it to view its report"
        )
    if name not in run.sha256:
        raise NotPublished(f"run {run.run_id} published no {name} (its summary records no sha256 for it)")
    return run.sha256[name]


def _verified(run: PublishedRun, name: str, data: bytes, expected: str) -> bytes:
    _verified_digest(run, name, hashlib.sha256(data).hexdigest(), expected)
    return data


def _verified_digest(run: PublishedRun, name: str, actual: str, expected: str) -> None:
    if actual != expected:
        raise NotAsPublished(
            f"{name} of run {run.run_id} is not the file the run published: its sha256 is {actual[:16]}…, "
            f"publish recorded {expected[:16]}… (the object was changed in S3 after publishing)"
        )


def _hash_body(body, stop_after: int | None = None) -> tuple[str, int]:
    """(sha256 hex, bytes read) of a get_object body, read in SEGMENTS_CHUNK pieces and closed; reading stops
    once more than `stop_after` bytes were read."""
    digest, read = hashlib.sha256(), 0
    try:
        while chunk := body.read(SEGMENTS_CHUNK):
            read += len(chunk)
            digest.update(chunk)
            if stop_after is not None and read > stop_after:
                break
    finally:
        body.close()
    return digest.hexdigest(), read


def _get(s3, run: PublishedRun, name: str, max_bytes: int, **conditions: str) -> dict:
    """The get_object answer for the run's file `name`, refused when missing or above `max_bytes` by its length;
    `conditions` such as IfMatch=etag, refused (NotAsPublished) when the object no longer meets them."""
    key = run.prefix + name
    try:
        answer = s3.get_object(Bucket=run.bucket, Key=key, **conditions)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        # Without s3:ListBucket (the view's policy has none) S3 answers a missing key with 403.
        if code in ("NoSuchKey", "404", "NoSuchBucket", "AccessDenied", "403"):
            uri = f"s3://{run.bucket}/{key}"
            gone = (
                "its bucket no longer exists" if code == "NoSuchBucket" else "S3 has no object there the view may read"
            )
            raise NoLongerInS3(f"{name} of run {run.run_id} is no longer at {uri}: {gone}", uri) from error
        if code in ("PreconditionFailed", "412"):
            raise NotAsPublished(f"{name} of run {run.run_id} was replaced in S3 while it was being checked") from error
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


# The input's URI as a summary may record it: s3:// + a bucket name (≤ 63) + a key (≤ 1,024 bytes).
MAX_INPUT_URI = 1100


def _input(summary: dict) -> dict:
    """The input fields of a summary; none for runs published before they were recorded."""
    if "input" not in summary:
        return {}
    uri, sample = _text(summary, "input"), summary.get("input_is_bundled_sample", False)
    if not uri.startswith("s3://") or len(uri) > MAX_INPUT_URI:
        raise NotPublished(f"input {uri[:80]!r} is not an s3:// URI of at most {MAX_INPUT_URI} characters")
    if not isinstance(sample, bool):
        raise NotPublished(f"input_is_bundled_sample {sample!r} is not true or false")
    return {"input": uri, "input_is_bundled_sample": sample}


def _continuity(summary: dict, run_id: str) -> dict:
    """The state and churn fields of a summary; the defaults (published, no churn) for runs recorded before."""
    state = summary.get("state", PUBLISHED)
    if state not in STATES:
        raise NotPublished(f"state {str(state)[:80]!r} is not one of {', '.join(STATES)}")
    since = _run_id_or_none(summary, "unchanged_since")
    if state == UNCHANGED and since is None:
        raise NotPublished("unchanged_since is missing: an unchanged run names the run whose results still stand")
    if state != UNCHANGED and since is not None:
        raise NotPublished(
            f"unchanged_since {since!r} is set on a run in state {state!r} (only unchanged runs name one)"
        )
    if since == run_id:
        raise NotPublished(f"unchanged_since names the run itself ({run_id!r})")
    if state == UNCHANGED and summary.get("sha256"):
        raise NotPublished("sha256 is recorded for an unchanged run, which published no file the view serves")
    reason = summary.get("held_reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_HELD_REASON):
        raise NotPublished(f"held_reason is not text of at most {MAX_HELD_REASON} characters")
    return {
        "state": state,
        "previous_run": _run_id_or_none(summary, "previous_run"),
        "churn": _share_or_none(summary, "churn", 0.0),
        "adjusted_rand": _share_or_none(summary, "adjusted_rand", -1.0),
        "unchanged_since": since,
        "held_reason": reason,
    }


def _cost(summary: dict) -> dict:
    """The cost fields of a summary; none for runs recorded before costs were estimated."""
    recorded = summary.get("cost")
    if recorded is None:
        return {}
    if not isinstance(recorded, dict):
        raise NotPublished("cost is not an object of total, priced_total and text")
    amounts = {}
    for name in ("total", "priced_total"):
        value = recorded.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0):
            raise NotPublished(f"cost {name} {str(value)[:80]!r} is not an amount of US dollars")
        amounts[name] = None if value is None else float(value)
    text = recorded.get("text")
    if not isinstance(text, str) or len(text) > MAX_COST_TEXT:
        raise NotPublished(f"cost text is not text of at most {MAX_COST_TEXT} characters")
    return {"cost_total": amounts["total"], "cost_priced": amounts["priced_total"], "cost_text": text}


def _run_id_or_none(summary: dict, field: str) -> str | None:
    value = summary.get(field)
    if value is not None and (not isinstance(value, str) or not RUN_ID.fullmatch(value) or value in (".", "..")):
        raise NotPublished(f"{field} {str(value)[:80]!r} is not an Airflow run id")
    return value


def _share_or_none(summary: dict, field: str, lowest: float) -> float | None:
    """A number from `lowest` to 1 (NaN refused), or None. The adjusted Rand index goes below 0 (down to -0.5
    for two partitions that disagree more than chance would); a share does not."""
    value = summary.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not lowest <= value <= 1:
        raise NotPublished(f"{field} {value!r} is not a number from {lowest:g} to 1")
    return float(value)


def _count(summary: dict, field: str) -> int:
    value = summary.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise NotPublished(f"{field} {value!r} is not a count")
    return value
