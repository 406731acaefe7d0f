"""Min-max scaling to 0–1 and back."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from include.segmentation.census import clean, load_census
from include.segmentation.scaling import MinMaxScaling


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({"a": [1.0, 3.0, 5.0], "b": [10.0, 10.0, 10.0], "c": [-2.0, 0.0, 2.0]}, index=["x", "y", "z"])


def test_each_feature_is_scaled_to_0_1(frame) -> None:
    scaled = MinMaxScaling.fit(frame).transform(frame)
    assert scaled["a"].tolist() == [0.0, 0.5, 1.0]
    assert scaled["c"].tolist() == [0.0, 0.5, 1.0]
    assert list(scaled.index) == ["x", "y", "z"]


def test_a_constant_column_maps_to_zero_never_nan(frame) -> None:
    scaled = MinMaxScaling.fit(frame).transform(frame)
    assert scaled["b"].tolist() == [0.0, 0.0, 0.0]


def test_inverse_returns_original_units_including_constants(frame) -> None:
    scaling = MinMaxScaling.fit(frame)
    restored = scaling.inverse_transform(scaling.transform(frame))
    pd.testing.assert_frame_equal(restored, frame)


def test_arrays_are_accepted_as_well_as_frames(frame) -> None:
    scaling = MinMaxScaling.fit(frame)
    assert np.allclose(scaling.transform(frame.to_numpy()), scaling.transform(frame).to_numpy())


def test_json_round_trip_is_exact(frame) -> None:
    scaling = MinMaxScaling.fit(frame)
    assert MinMaxScaling.from_json(scaling.to_json()) == scaling


def test_json_with_wrong_kind_or_lengths_is_refused() -> None:
    with pytest.raises(ValueError, match="kind"):
        MinMaxScaling.from_json('{"kind": "zscore"}')
    with pytest.raises(ValueError, match="2 features but 1 minima"):
        MinMaxScaling.from_json('{"kind": "minmax", "features": ["a", "b"], "min": [0], "max": [1, 2]}')


def test_transform_refuses_other_columns_or_widths(frame) -> None:
    scaling = MinMaxScaling.fit(frame)
    with pytest.raises(ValueError, match="missing"):
        scaling.transform(frame.drop(columns=["a"]))
    with pytest.raises(ValueError, match=r"\(n_rows, 3\)"):
        scaling.transform(np.zeros((2, 2)))


def test_fit_refuses_missing_values(frame) -> None:
    frame.loc["y", "c"] = np.nan
    with pytest.raises(ValueError, match="'c'"):
        MinMaxScaling.fit(frame)


def test_scaled_real_census_spans_0_to_1_per_feature(census_csv) -> None:
    features = clean(load_census(census_csv)).features
    scaled = MinMaxScaling.fit(features).transform(features)
    assert np.allclose(scaled.min(), 0.0) and np.allclose(scaled.max(), 1.0)


def test_float32_output_is_the_float64_result_rounded_once(monkeypatch) -> None:
    monkeypatch.setattr("include.segmentation.scaling._BLOCK_ROWS", 7)  # blocks end mid-array
    values = np.asfortranarray(np.random.default_rng(3).normal(1e4, 3e3, size=(50, 5)))  # as the census is held
    scaling = MinMaxScaling.fit(pd.DataFrame(values))
    rounded = scaling.transform(values).astype("float32")
    assert np.array_equal(scaling.transform(values, dtype="float32").view(np.uint32), rounded.view(np.uint32))
