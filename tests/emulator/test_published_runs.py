"""Reading published runs from S3, as the Segmentation view does."""

from __future__ import annotations

import json
import time

from include.segmentation.published_runs import list_runs, read_run_file


def _publish(s3, bucket: str, run_id: str, rows: int) -> None:
    run = {"run_id": run_id, "rows": rows, "n_components": 7, "explained_variance": 0.8017, "params": {"k": 8}}
    s3.put_object(Bucket=bucket, Key=f"views/runs/{run_id}/run.json", Body=json.dumps(run).encode())
    s3.put_object(Bucket=bucket, Key=f"views/runs/{run_id}/report.html", Body=f"<p>{run_id}</p>".encode())


def test_runs_are_listed_newest_first_with_their_figures(s3, bucket) -> None:
    _publish(s3, bucket, "manual__older", 100)
    time.sleep(1.1)  # S3 LastModified has one-second resolution
    _publish(s3, bucket, "manual__newer", 3218)
    runs = list_runs(s3, bucket, "views")
    assert [r.run_id for r in runs] == ["manual__newer", "manual__older"]
    assert (runs[0].rows, runs[0].n_components, runs[0].k, runs[0].explained_variance) == (3218, 7, 8, 0.8017)


def test_a_runs_files_are_read_and_missing_ones_are_none(s3, bucket) -> None:
    _publish(s3, bucket, "manual__files", 10)
    assert read_run_file(s3, bucket, "views", "manual__files", "report.html") == b"<p>manual__files</p>"
    assert read_run_file(s3, bucket, "views", "manual__files", "plots/none.png") is None


def test_paths_outside_the_run_are_refused(s3, bucket) -> None:
    assert read_run_file(s3, bucket, "views", "manual__files", "../manual__older/run.json") is None
    assert read_run_file(s3, bucket, "views", "a/b", "report.html") is None
