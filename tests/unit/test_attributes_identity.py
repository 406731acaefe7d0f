"""extract_attributes writes what it wrote before it streamed, byte for byte: every CSV and Parquet file
(tests/support/attribute_golden.json, digests of commit 113ad12's task, made by
`python -m tests.support.attribute_runs`), and segment_summary.json holds the traits and distance medians the
report takes, equal to numpy's on the whole columns."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from include.airflow_popseg import steps
from include.segmentation import parquet_tables, results, traits
from tests.support.attribute_runs import GOLDEN, GOLDEN_CASES, attribute_run


def _golden(case: str) -> dict:
    return json.loads(GOLDEN.read_text())[case]


def _published(written: dict) -> dict:
    return {name: digest for name, digest in written.items() if name != results.SEGMENT_SUMMARY}


@pytest.mark.parametrize("case", [case for case in GOLDEN_CASES if case != "real census"])
def test_every_file_is_byte_identical_to_before_it_streamed(case) -> None:
    assert _published(attribute_run(case)) == _golden(case)


def test_on_the_real_census_every_file_is_byte_identical_to_before_it_streamed() -> None:
    from tests.support.paths import shared_path

    shared_path("data/census/acs2015_county_data.csv")  # skips with its reason when ../shared is absent
    assert _published(attribute_run("real census")) == _golden("real census")


def test_read_in_small_blocks_with_small_row_groups_it_writes_what_the_whole_frames_give(monkeypatch) -> None:
    """Blocks of 777 rows (never aligned with the files' row groups) and Parquet row groups of 1,000: the CSVs
    come out as before, segments.parquet as parquet_bytes of the whole frame in its four row groups."""
    monkeypatch.setattr(steps, "READ_ROWS", 777)
    monkeypatch.setattr(parquet_tables, "ROW_GROUP_ROWS", 1000)

    def check(run, written, matched) -> None:
        store = run.store
        labels = traits.segment_labels(_summary(run, written)[0])
        segments = store.read_frame(run.layout.matched_segments)
        frame = results.published_segments(segments, store.read_frame(run.layout.counties), labels)
        assert store.read(written[SEGMENTS_PARQUET]) == parquet_tables.parquet_bytes(frame, SEGMENTS, run.run_id)
        assert pq.ParquetFile(io.BytesIO(store.read(written[SEGMENTS_PARQUET]))).num_row_groups == 4

    written = attribute_run("bundled sample", check)
    assert {name: written[name] for name in written if name.endswith(".csv")} == {
        name: digest for name, digest in _golden("bundled sample").items() if name.endswith(".csv")
    }


def _summary(run, written) -> tuple[traits.SegmentTraits, dict]:
    document = run.store.read_json(written[results.SEGMENT_SUMMARY])
    return traits.SegmentTraits.from_document(document["traits"]), document


def test_segment_summary_holds_the_traits_and_each_segments_median_distance() -> None:
    """What the report reads instead of the whole frames: traits.of_segments and np.median of each segment's
    distances on the whole frames, equal bit for bit (an empty segment's: NaN, written null)."""

    def check(run, written, matched) -> None:
        store = run.store
        segments = store.read_frame(run.layout.matched_segments)
        ids = matched["segment_ids"]
        empty = set(ids) - set(segments["segment"])
        assert len(empty) == 1  # the case has an empty segment
        expected = traits.of_segments(store.read_frame(run.layout.cleaned), segments, ids)
        described, document = _summary(run, written)
        for name in ("medians", "percentiles"):
            pd.testing.assert_frame_equal(getattr(described, name), getattr(expected, name), check_exact=True)
        pd.testing.assert_series_equal(described.overall, expected.overall, check_exact=True)
        distances = [np.median(segments["distance"][segments["segment"] == i]) if i not in empty else None for i in ids]
        assert document["segments"] == ids
        assert document["distance_medians"] == distances

    attribute_run("bundled sample", check)


def test_matched_segments_out_of_the_census_order_are_refused_naming_the_row() -> None:
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException, match=r"row 1000: .*matched.* has State-County '.*' where .*cleaned"):
        attribute_run("bundled sample", swapped=1000)


SEGMENTS, SEGMENTS_PARQUET = "segments.csv", "segments.parquet"
