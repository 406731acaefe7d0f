"""Where a run's files live: intermediates under work/<token>/, results under runs/<run_id>/."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from include.segmentation_aws.layout import (
    EXPLAINED_VARIANCE,
    LATEST,
    REPORT,
    RUN_DOCUMENT,
    SEGMENTS,
    RunLayout,
    report_uri,
    results_location,
    results_prefix,
    work_root,
)


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


def test_a_work_file_is_published_under_its_name_below_the_work_prefix() -> None:
    layout = RunLayout("b", "seg", "manual__2026", "tok")
    assert layout.published_name(layout.uri(layout.explained_variance)) == EXPLAINED_VARIANCE
    assert layout.published_name(layout.uri(layout.work("plots/segment_sizes.png"))) == "plots/segment_sizes.png"


@pytest.mark.parametrize(
    "uri", ["s3://b/seg/work/other/run.json", "s3://other/seg/work/tok/run.json", "s3://b/seg/work/tok/"]
)
def test_a_uri_that_is_not_a_file_of_the_runs_work_prefix_is_not_published(uri) -> None:
    layout = RunLayout("b", "seg", "manual__2026", "tok")
    with pytest.raises(
        ValueError, match=f"{uri} is not a file under run manual__2026's work prefix s3://b/seg/work/tok/"
    ):
        layout.published_name(uri)


def test_a_results_uri_names_its_bucket_key_prefix_and_run() -> None:
    layout = RunLayout("popseg", "seg/nightly", "scheduled__2026", "tok")
    results = layout.uri(layout.results_prefix)
    assert results_location(results) == ("popseg", layout.results_prefix, "scheduled__2026")
    assert report_uri(results) == layout.uri(layout.result(REPORT))


@pytest.mark.parametrize(
    "text", ["s3://popseg/seg/latest.json", "s3://popseg/seg/runs/x/report.html", "popseg/runs/x/"]
)
def test_text_that_is_not_a_results_uri_has_no_location(text) -> None:
    assert results_location(text) is None


def test_the_report_names_the_segments_file_publish_writes() -> None:
    from include.segmentation import report

    assert report.FULL_DATA == SEGMENTS


# Where S3 keys and served file names are used: these import layout.py (include/segmentation, the pure domain
# below it, names the frames and plots it makes and cannot import it).
KEY_USERS = ("include/airflow_popseg", "include/segmentation_aws", "dags", "plugins", "scripts")
ROOT = Path(__file__).resolve().parents[2]


def _file_names() -> set[str]:
    """Every file name of a run that layout.py names: its constants and the files below a run's work prefix."""
    layout = RunLayout("b", "seg", "manual__2026", "tok")
    keys = [getattr(layout, name) for name, value in vars(RunLayout).items() if isinstance(value, property)]
    below = {key.removeprefix(layout.work_prefix) for key in keys if key.startswith(layout.work_prefix)}
    named = {RUN_DOCUMENT, REPORT, SEGMENTS, EXPLAINED_VARIANCE, LATEST}
    return {name for name in below | named if "." in name}  # files, not folders (models/) or the marker


def _spelled(source: str, names: set[str]) -> list[str]:
    """The string literals of `source` that spell one of `names` as a key or path (docstrings, and text with
    spaces, which is written for people, are not keys)."""
    tree = ast.parse(source)
    documented = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    token = re.compile(rf"(?<![\w.\-])(?:{'|'.join(map(re.escape, sorted(names)))})(?![\w.\-])")
    return [
        f"line {node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in documented
        and not any(character.isspace() for character in node.value)
        and token.search(node.value)
    ]


def test_no_module_but_layout_spells_a_run_file_name() -> None:
    names = _file_names()
    modules = [path for folder in KEY_USERS for path in sorted((ROOT / folder).rglob("*.py"))]
    spelled = {
        str(path.relative_to(ROOT)): found
        for path in modules
        if path != ROOT / "include/segmentation_aws/layout.py" and (found := _spelled(path.read_text(), names))
    }
    assert len(modules) > 20 and spelled == {}


def test_a_file_name_spelled_in_a_key_is_found_and_one_in_a_sentence_is_not() -> None:
    source = '''
def publish(layout):
    """Copies run.json."""
    message = "publish moves latest.json last"
    return layout.work("run.json"), f"{layout.results_prefix}report.html", "segments.csv.bak"
'''
    assert _spelled(source, _file_names()) == ["line 5: 'run.json'", "line 5: 'report.html'"]
