"""steps.build_report reads counties.parquet and the matched segments side by side (steps._side_by_side, as
extract_attributes does): whatever the two files' row groups, the report is the same; counties out of the other
file's order, or a file that ends first, are refused naming the row (issue 25)."""

from __future__ import annotations

import pandas as pd
import pytest
from airflow.sdk.exceptions import AirflowFailException

from devtools.report_memory import build, write_run

ROWS = 3_220
SEGMENTS = "segments-matched.parquet"


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> tuple:
    root = tmp_path_factory.mktemp("report-run")
    return root, write_run(root, ROWS)


def _rewrite(root, name: str, frame: pd.DataFrame, row_group_rows: int) -> None:
    frame.to_parquet(root / name, row_group_size=row_group_rows)


def _report(root, handoffs) -> bytes:
    return (root / build(root, handoffs)["report.html"]).read_bytes()


def test_the_report_is_the_same_whatever_the_row_groups_of_the_two_files(work, tmp_path) -> None:
    root, handoffs = work
    expected = _report(root, handoffs)
    _copy(root, tmp_path)
    for name, rows in (("counties.parquet", 700), (SEGMENTS, 1_000)):  # groups that end at different rows
        _rewrite(tmp_path, name, pd.read_parquet(root / name), rows)
    assert _report(tmp_path, handoffs) == expected


def test_segments_out_of_the_counties_order_are_refused_naming_the_row(work, tmp_path) -> None:
    root, handoffs = work
    _copy(root, tmp_path)
    segments = pd.read_parquet(root / SEGMENTS)
    segments.iloc[[1_000, 1_001]] = segments.iloc[[1_001, 1_000]].to_numpy()
    _rewrite(tmp_path, SEGMENTS, segments, 40_000)
    with pytest.raises(AirflowFailException, match=rf"^row 1000: {SEGMENTS} has State-County '.+' where counties"):
        build(tmp_path, handoffs)


def test_segments_that_end_before_the_counties_are_refused_naming_the_row(work, tmp_path) -> None:
    root, handoffs = work
    _copy(root, tmp_path)
    segments = pd.read_parquet(root / SEGMENTS)
    _rewrite(tmp_path, SEGMENTS, segments.iloc[:-5], 40_000)
    with pytest.raises(AirflowFailException, match=rf"^{SEGMENTS} ends at row {len(segments) - 5}; counties"):
        build(tmp_path, handoffs)


def _copy(root, target) -> None:
    for path in root.iterdir():
        if path.is_file():
            (target / path.name).write_bytes(path.read_bytes())
