"""The report drawn from streamed aggregates is the report drawn from whole frames (issue 25): report.html and
every PNG byte-identical to the digests recorded before the report streamed (tests/support/report_golden.json),
at 3,220 rows (one per county: the page lists every county) and at 100,000 (above report.TABLE_ROWS: a summary
per segment), where the one difference allowed is each segment's sampled counties."""

from __future__ import annotations

import hashlib
import re

import pytest

from devtools.synthetic_run import build_report, synthetic_run
from include.segmentation import report
from tests.support.report_digests import digests, golden, sample_cells

K = 6  # as recorded


def test_the_report_of_a_county_file_is_byte_identical_to_the_whole_frames_one() -> None:
    html, plots = build_report(synthetic_run(3_220, K))
    assert '<table id="county-summary"' not in html  # every county listed, nothing sampled
    assert digests(html, plots) == golden()["3220"]


@pytest.fixture(scope="module")
def above_the_table_rows() -> tuple[str, dict[str, bytes]]:
    return build_report(synthetic_run(100_000, K))


def test_above_the_table_rows_all_but_the_sampled_counties_is_byte_identical(above_the_table_rows) -> None:
    html, plots = above_the_table_rows
    recorded = golden()["100000"]
    assert digests(html, plots, mask_sample=True) == {
        name: recorded[name] for name in recorded if name != "sample cells"
    }


def test_above_the_table_rows_the_sampled_counties_are_the_part_that_differs(above_the_table_rows) -> None:
    html, _ = above_the_table_rows
    cells = sample_cells(html)
    assert len(cells) == K
    assert hashlib.sha256("".join(cells).encode()).hexdigest() != golden()["100000"]["sample cells"]
    for cell in cells:  # still SAMPLE counties of the segment, nearest first
        distances = [float(d) for d in re.findall(r'<span class="distance">\((\d+\.\d+)\)</span>', cell)]
        assert len(distances) == report.SAMPLE and distances == sorted(distances)
