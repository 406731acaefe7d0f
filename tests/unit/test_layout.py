"""Where a run's files live: intermediates under work/<token>/, results under runs/<run_id>/."""

from __future__ import annotations

from include.segmentation_aws.layout import RunLayout, results_prefix, work_root


def test_a_run_layout_separates_work_from_results() -> None:
    layout = RunLayout("b", "seg/", "manual__2026", "tok")
    assert layout.training_file("pca") == "seg/work/tok/pca-train/part-00000.rec"
    assert layout.training_file("pca", 12) == "seg/work/tok/pca-train/part-00012.rec"
    assert layout.training_prefix("kmeans") == "seg/work/tok/kmeans-train/"
    assert layout.models_prefix == "seg/work/tok/models/" and layout.cleaned == "seg/work/tok/cleaned.parquet"
    assert layout.result("run.json") == "seg/runs/manual__2026/run.json"
    assert layout.latest == "seg/latest.json" and layout.uri("k") == "s3://b/k"


def test_readers_that_know_only_the_run_id_find_the_same_results() -> None:
    layout = RunLayout("b", "seg", "manual__2026", "tok")
    assert results_prefix("seg", "manual__2026") == layout.results_prefix == "seg/runs/manual__2026/"


def test_a_runs_work_prefix_holds_its_run_id_marker_for_the_sweeper() -> None:
    layout = RunLayout("b", "seg", "manual__2026", "tok")
    assert layout.run_id_marker == "seg/work/tok/run-id" and layout.run_id_marker.startswith(work_root("seg/"))
