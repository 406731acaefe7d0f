"""Published runs as the Segmentation view reads them: validated summaries and bounded, typed file reads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from include.segmentation_aws import published_runs
from include.segmentation_aws.published_runs import NotPublished, PublishedRun, read_plot, read_report, run_summary

WHEN = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
RUN = {
    "run_id": "manual__2026-11-23T02:00:00+00:00",
    "rows": 3218,
    "n_components": 7,
    "params": {"k": 8},
    "explained_variance": 0.8017,
}


def _summary(bucket: str = "popseg-emulator-tests", prefix: str = "views/") -> dict:
    return run_summary(RUN, f"s3://{bucket}/{prefix}runs/{RUN['run_id']}/")


def _published(s3, bucket: str, files: dict[str, bytes]) -> PublishedRun:
    run = PublishedRun.from_summary(_summary(bucket), WHEN)
    for name, data in files.items():
        s3.put_object(Bucket=bucket, Key=run.prefix + name, Body=data)
    return run


def test_a_summary_gives_the_runs_figures_and_where_its_files_are() -> None:
    run = PublishedRun.from_summary(_summary("other-bucket", "teams/a/"), WHEN)
    assert (run.rows, run.n_components, run.k, run.explained_variance) == (3218, 7, 8, 0.8017)
    assert (run.bucket, run.prefix) == ("other-bucket", f"teams/a/runs/{RUN['run_id']}/")


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
    ],
)
def test_a_summary_with_a_wrong_or_hostile_field_is_refused_naming_it(field, value, named) -> None:
    with pytest.raises(NotPublished, match=named):
        PublishedRun.from_summary({**_summary(), field: value}, WHEN)


def test_a_report_is_read_from_where_the_run_published_it(s3, bucket) -> None:
    run = _published(s3, bucket, {"report.html": b"<h1>the report</h1>"})
    assert read_report(s3, run) == b"<h1>the report</h1>"


def test_missing_files_are_not_published(s3, bucket) -> None:
    run = PublishedRun.from_summary(_summary(bucket, "nothing-here/"), WHEN)
    with pytest.raises(NotPublished, match="no report.html"):
        read_report(s3, run)


def test_a_plot_is_served_only_when_it_is_a_png_with_a_plot_name(s3, bucket) -> None:
    png = published_runs.PNG_MAGIC + b"rest of a png"
    run = _published(s3, bucket, {"plots/segment_sizes.png": png, "plots/fake.png": b"<svg onload=alert(1)>"})
    assert read_plot(s3, run, "segment_sizes.png") == png
    with pytest.raises(NotPublished, match="not a PNG"):
        read_plot(s3, run, "fake.png")
    for name in ("../report.html", "x.svg", "Upper.png", ".png"):
        with pytest.raises(NotPublished, match="not a plot name"):
            read_plot(s3, run, name)


def test_an_oversized_file_is_refused_without_reading_it_whole(s3, bucket, monkeypatch) -> None:
    monkeypatch.setattr(published_runs, "MAX_REPORT_BYTES", 1000)
    run = _published(s3, bucket, {"report.html": b"x" * 1001})
    with pytest.raises(NotPublished, match="above 1,000"):
        read_report(s3, run)


def test_segments_csv_streams_in_bounded_chunks_and_only_when_it_is_a_segments_table(s3, bucket, monkeypatch) -> None:
    monkeypatch.setattr(published_runs, "SEGMENTS_CHUNK", 64)
    table = b"State-County,segment,distance,c_1\n" + b"".join(b"Texas-Travis %d,1,0.5,0.25\n" % i for i in range(50))
    run = _published(s3, bucket, {"segments.csv": table})
    chunks = list(published_runs.open_segments(s3, run))
    assert b"".join(chunks) == table and max(map(len, chunks)) == 64
    _published(s3, bucket, {"segments.csv": b"<html><script>alert(1)</script>"})
    with pytest.raises(NotPublished, match="not a segments table"):
        published_runs.open_segments(s3, run)


def test_an_oversized_segments_csv_is_refused_before_its_first_chunk(s3, bucket, monkeypatch) -> None:
    monkeypatch.setattr(published_runs, "MAX_SEGMENTS_BYTES", 100)
    run = _published(s3, bucket, {"segments.csv": published_runs.SEGMENTS_HEADER + b"\n" + b"x" * 100})
    with pytest.raises(NotPublished, match="above 100"):
        published_runs.open_segments(s3, run)
