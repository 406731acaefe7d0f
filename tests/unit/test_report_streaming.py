"""The report's aggregates of the rows, streamed a block at a time, against the whole-frame computations they
replace, on random data: histograms, the county section's extremes and sample, the map's counties (issue 25)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from include.segmentation import report, us_map
from include.segmentation.census import KEY_NAME
from include.segmentation.report import SAMPLE_HASH_KEY

ROWS = 20_000
BLOCKS = (97, 997, 4_096, ROWS)  # rows a block: blocks that do not divide the rows, and one block


def _blocks(frame: pd.DataFrame, rows: int) -> list[pd.DataFrame]:
    return [frame.iloc[start : start + rows] for start in range(0, len(frame), rows)]


def _features(rng: np.random.Generator) -> pd.DataFrame:
    """Columns of each kind the histograms draw: head counts over decades (log bins), a percentage (linear), a
    constant column and dollars with a zero (linear: no log of 0)."""
    return pd.DataFrame(
        {
            "TotalPop": np.exp(rng.uniform(3, 15, ROWS)).round(),
            "Transit": rng.uniform(0, 100, ROWS),
            "Pacific": np.zeros(ROWS),
            "Income": np.r_[0.0, rng.lognormal(10, 1, ROWS - 1)],
        }
    )


@pytest.mark.parametrize("rows", BLOCKS)
def test_streamed_histograms_equal_the_whole_columns(rows) -> None:
    features = _features(np.random.default_rng(1))
    tally = report.HistogramTally(report.feature_ranges(_blocks(features, rows)))
    for block in _blocks(features, rows):
        tally.add(block)
    for column, histogram in tally.result().items():
        whole = report.feature_histogram(features[column].to_numpy(), report.UNITS.get(column, ""))
        np.testing.assert_array_equal(histogram.counts, whole.counts)
        np.testing.assert_array_equal(histogram.edges, whole.edges)
        assert histogram.logarithmic == whole.logarithmic == (column == "TotalPop")


def _segments(rng: np.random.Generator, rows: int = ROWS) -> pd.DataFrame:
    """Segments with many tied distances (rounded to 2 decimals), so that the order of ties is tested."""
    keys = [f"State {i % 50}-County {i}" for i in range(rows)]
    return pd.DataFrame(
        {KEY_NAME: keys, "segment": rng.integers(0, 7, rows) * 3, "distance": rng.uniform(0, 1, rows).round(2)}
    )


def _tally(segments: pd.DataFrame, rows: int) -> report.CountyRows:
    tally = report.CountyRowsTally()
    census_ids = pd.Series([""] * len(segments))
    for block in _blocks(segments, rows):
        keys = block[KEY_NAME].to_numpy(dtype=object)
        tally.add(keys, census_ids[: len(block)], block["segment"].to_numpy(), block["distance"].to_numpy())
    return tally.result()


def _whole(segments: pd.DataFrame) -> dict[int, dict]:
    """Per segment its count and closest and farthest counties as the county section took them from the whole
    frame: a stable sort by segment, then distance."""
    segment, distance = segments["segment"].to_numpy(), segments["distance"].to_numpy()
    ordered = np.lexsort((distance, segment))
    keys = segments[KEY_NAME].to_numpy(dtype=object)
    result = {}
    for value in np.unique(segment).tolist():
        members = ordered[segment[ordered] == value]
        listed = {"closest": members[: report.EXTREMES], "farthest": members[::-1][: report.EXTREMES]}
        result[value] = {"counties": len(members)} | {
            name: [{KEY_NAME: keys[i], "distance": float(distance[i])} for i in rows] for name, rows in listed.items()
        }
    return result


@pytest.mark.parametrize("rows", BLOCKS)
def test_streamed_closest_and_farthest_counties_equal_the_whole_frames_with_ties_in_its_order(rows) -> None:
    segments = _segments(np.random.default_rng(2))
    streamed = _tally(segments, rows)
    assert streamed.rows == ROWS and streamed.every is None  # above TABLE_ROWS
    for value, expected in _whole(segments).items():
        assert {name: streamed.segments[value][name] for name in expected} == expected


def test_a_segments_sample_is_its_counties_with_the_smallest_seeded_hash_nearest_first() -> None:
    segments = _segments(np.random.default_rng(3))
    hashes = pd.util.hash_array(segments[KEY_NAME].to_numpy(dtype=object), hash_key=SAMPLE_HASH_KEY)
    streamed = _tally(segments, 997)
    for value, members in segments.assign(hash=hashes).groupby("segment"):
        sample = streamed.segments[value]["sample"]
        expected = members.nsmallest(report.SAMPLE, "hash")
        assert {c[KEY_NAME] for c in sample} == set(expected[KEY_NAME])
        assert [c["distance"] for c in sample] == sorted(expected["distance"])


def test_the_sample_is_the_same_whatever_the_blocks_and_the_order_of_the_rows() -> None:
    segments = _segments(np.random.default_rng(4))
    shuffled = segments.sample(frac=1, random_state=0).reset_index(drop=True)
    samples = [
        {value: {c[KEY_NAME] for c in listed["sample"]} for value, listed in _tally(frame, rows).segments.items()}
        for frame, rows in ((segments, 997), (segments, ROWS), (shuffled, 4_096))
    ]
    assert samples[0] == samples[1] == samples[2]


def test_up_to_the_table_rows_every_county_is_kept_in_row_order_and_above_none() -> None:
    segments = _segments(np.random.default_rng(5), rows=report.TABLE_ROWS)
    every = _tally(segments, 997).every
    assert [c[KEY_NAME] for c in every] == segments[KEY_NAME].tolist()
    assert [c["distance"] for c in every] == segments["distance"].tolist()
    assert _tally(_segments(np.random.default_rng(5), rows=report.TABLE_ROWS + 1), 997).every is None


def _map_rows(rng: np.random.Generator, rows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Counties whose codes are drawn from a few atlas counties (so repeated), a code the atlas has no shape
    for, and no code at all; with their segments."""
    codes = np.array([*list(us_map.load_atlas().counties)[:40], "99999", "", "abc"], dtype=object)
    segments = _segments(rng, rows)
    counties = pd.DataFrame(
        {"CensusId": rng.choice(codes, rows), "State": "S", "County": segments[KEY_NAME].to_numpy()},
        index=pd.Index(segments[KEY_NAME], name=KEY_NAME),
    )
    return counties, segments


@pytest.mark.parametrize("rows", BLOCKS)
def test_the_streamed_map_draws_what_the_whole_frames_draw_and_names_the_first_of_each_kind(rows) -> None:
    counties, segments = _map_rows(np.random.default_rng(6), 5_000)
    atlas = us_map.load_atlas()
    whole = us_map.county_map(segments, counties, atlas)
    tally = us_map.CountyTally(atlas)
    for places, block in zip(_blocks(counties, rows), _blocks(segments, rows), strict=True):
        tally.add(us_map.joined_counties(block, places))
    streamed = tally.result()
    pd.testing.assert_frame_equal(streamed.drawn, whole.drawn)
    for kind in us_map.NOT_DRAWN:
        assert streamed.count(kind) == whole.count(kind) > us_map.LISTED
        assert getattr(streamed, kind) == getattr(whole, kind)[: us_map.LISTED]


def test_counties_and_segments_in_different_orders_are_refused_with_the_row() -> None:
    counties, segments = _map_rows(np.random.default_rng(7), 1_000)
    swapped = segments.iloc[[*range(700), 701, 700, *range(702, 1_000)]].reset_index(drop=True)
    features = pd.DataFrame({"Transit": np.arange(1_000.0)})
    with pytest.raises(ValueError, match="^row 700: the segments and counties.parquet disagree on the county"):
        report.summarise_frames(features, counties, swapped, block_rows=300)
