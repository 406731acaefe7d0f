"""segment_statistics from blocks equals, bit for bit, what results.segment_profiles and traits.segment_traits
compute with numpy on the whole frames, however the rows are cut: counties without people (NaN shares), an
empty segment, counties in no listed segment, ties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from include.segmentation import results, segment_statistics, traits
from include.segmentation.census import FEATURES, KEY_NAME, POPULATION


def _census(rows: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    values = np.round(rng.gamma(2.0, 20.0, (rows, len(FEATURES))), 1)  # one decimal: ties
    features = pd.DataFrame(values, columns=list(FEATURES), index=pd.Index(map(str, range(rows)), name=KEY_NAME))
    features.loc[features.index[::97], POPULATION] = 0.0  # no people: their shares are NaN
    segment = rng.choice([2, 5, 9, 11], rows)  # 11 is not listed below; 7 gets no county
    segments = pd.DataFrame({KEY_NAME: features.index, "segment": segment, "distance": rng.random(rows).round(2)})
    return features, segments


IDS = [2, 5, 7, 9]


@pytest.mark.parametrize("block", [1_000, 8_192, 50_000])
def test_streamed_profiles_and_traits_equal_the_whole_frames(block, monkeypatch) -> None:
    monkeypatch.setattr(segment_statistics, "BLOCK_ROWS", block)
    features, segments = _census(20_000)
    segment, distance = segments["segment"].to_numpy(), segments["distance"].to_numpy()
    streamed = segment_statistics.segment_statistics(segment_statistics.in_blocks(features, segment, distance), IDS)
    pd.testing.assert_frame_equal(
        streamed.profiles, results.segment_profiles(features, segments, IDS), check_exact=True
    )
    whole = traits.segment_traits(features, segment, IDS)
    pd.testing.assert_frame_equal(streamed.traits.medians, whole.medians, check_exact=True)
    pd.testing.assert_frame_equal(streamed.traits.percentiles, whole.percentiles, check_exact=True)
    pd.testing.assert_series_equal(streamed.traits.overall, whole.overall, check_exact=True)
    assert streamed.sizes.tolist() == results.segment_sizes(segments, IDS).tolist()
    expected = [np.median(distance[segment == i]) if (segment == i).any() else np.nan for i in IDS]
    np.testing.assert_array_equal(streamed.distance_medians, expected)


def test_the_summary_document_gives_the_traits_back_bit_for_bit() -> None:
    import json

    features, segments = _census(3_000, seed=1)
    segment = segments["segment"].to_numpy()
    streamed = segment_statistics.segment_statistics(segment_statistics.in_blocks(features, segment), IDS)
    document = json.loads(json.dumps(streamed.summary_document()))
    back = traits.SegmentTraits.from_document(document["traits"])
    pd.testing.assert_frame_equal(back.medians, streamed.traits.medians, check_exact=True)
    pd.testing.assert_frame_equal(back.percentiles, streamed.traits.percentiles, check_exact=True)
    pd.testing.assert_series_equal(back.overall, streamed.traits.overall, check_exact=True)
    assert document["distance_medians"][IDS.index(7)] is None  # the empty segment's: NaN, written null
