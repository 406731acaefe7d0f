"""choose_k and match_segments write what they wrote before they streamed: k_selection.json, continuity.json and
segment_changes.csv/.parquet byte for byte, the matched segments value for value, with and without a previous
published run (tests/support/match_golden.json, digests of commit 113ad12's tasks, made by
`python -m tests.support.match_runs`)."""

from __future__ import annotations

import json

import pytest

from include.airflow_popseg import steps
from include.segmentation import continuity, key_join
from tests.support.match_runs import GOLDEN, GOLDEN_CASES, match_digests


def _golden(case: str) -> dict:
    return json.loads(GOLDEN.read_text())[case]


@pytest.mark.parametrize("case", list(GOLDEN_CASES))
def test_choose_k_and_match_segments_write_what_they_wrote_before_they_streamed(case) -> None:
    assert match_digests(case) == _golden(case)


def test_in_many_partitions_and_small_blocks_they_write_the_same(monkeypatch) -> None:
    """The join in 40 partitions merged back 300 rows at a time, this run's segments read 777 rows at a time and the
    previous segments.csv 64 KiB at a time: rows cross every edge, and choose_k's measuring blocks span reads."""
    monkeypatch.setattr(key_join, "PARTITION_ROWS", 3_000)
    monkeypatch.setattr(key_join, "MERGE_ROWS", 300)
    monkeypatch.setattr(key_join, "MERGE_MIN_ROWS", 7)
    monkeypatch.setattr(steps, "READ_ROWS", 777)
    monkeypatch.setattr(continuity, "PREVIOUS_BLOCK_BYTES", 64 << 10)
    case = "120,000 rows, previous run"
    assert match_digests(case) == _golden(case)


def test_a_previous_segments_csv_with_a_county_twice_is_refused_naming_it() -> None:
    """As before it streamed (pandas refused to reindex on duplicate keys), now with the county and the file."""
    from tests.support.match_runs import duplicated_previous_digests

    with pytest.raises(key_join.DuplicateKeyError, match=r"segments\.csv has State-County '=SUM\(A1\)-County' more"):
        duplicated_previous_digests()
