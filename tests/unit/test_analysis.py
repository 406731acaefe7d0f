"""Analysis maths on model attributes, checked against the classic notebook's figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from include.sagemaker_formats.artifacts import PCAModel, read_pca_model
from include.segmentation import analysis
from include.segmentation.analysis import (
    by_magnitude,
    component_names,
    component_weights,
    components_for_threshold,
    cumulative_explained_variance,
    explained_variance,
    project,
    summarise_variance,
    top_components_from_projection,
    z_scores,
)
from include.segmentation.census import FEATURES, clean, load_census
from include.segmentation.scaling import MinMaxScaling
from tests.support.paths import shared_path

NOTEBOOK_SINGULAR_VALUES = [19.59, 13.04, 11.72, 10.18, 7.99, 7.70, 6.39]


@pytest.fixture(scope="module")
def census_model() -> PCAModel:
    """The PCA model the real SageMaker trained on the census (33 components)."""
    return read_pca_model(shared_path("fixtures/mxnet/pca_census_model.tar.gz").read_bytes())


@pytest.fixture
def full_rank_model() -> PCAModel:
    """A 4-feature model holding all 4 orthonormal axes, so projection is invertible."""
    rng = np.random.default_rng(0)
    axes, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    return PCAModel.from_largest_first(
        np.array([4.0, 3.0, 2.0, 1.0], dtype="float32"),
        axes.astype("float32"),
        np.array([[0.5, 0.4, 0.3, 0.2]], dtype="float32"),
    )


def test_shares_of_variance_sum_to_one_and_accumulate() -> None:
    s = np.array([3.0, 2.0, 1.0])
    assert np.allclose(explained_variance(s), [9 / 14, 4 / 14, 1 / 14])
    assert np.allclose(cumulative_explained_variance(s), [9 / 14, 13 / 14, 1.0])


def test_smallest_n_reaching_the_threshold_is_chosen() -> None:
    s = np.array([3.0, 2.0, 1.0])
    assert components_for_threshold(s, 0.5) == 1
    assert components_for_threshold(s, 9 / 14) == 1
    assert components_for_threshold(s, 0.65) == 2
    assert components_for_threshold(s, 1.0) == 3


def test_bad_thresholds_and_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="threshold"):
        components_for_threshold(np.array([1.0]), 0.0)
    with pytest.raises(ValueError, match="no variance"):
        explained_variance(np.zeros(3))


def test_census_model_gives_the_notebook_singular_values(census_model) -> None:
    assert np.allclose(census_model.singular_values[:7], NOTEBOOK_SINGULAR_VALUES, atol=0.01)


def test_census_needs_7_components_for_80_percent_explaining_0_8017(census_model) -> None:
    summary = summarise_variance(census_model.singular_values, 0.80)
    assert summary.n_components == 7
    assert summary.explained == pytest.approx(0.8017, abs=0.0005)
    assert summary.to_dict()["n_components"] == 7
    assert len(summary.per_component) == 33


def test_our_cleaning_and_scaling_of_the_real_census_matches_what_sagemaker_trained_on(
    census_csv, census_model
) -> None:
    features = clean(load_census(census_csv)).features
    scaled = MinMaxScaling.fit(features).transform(features).to_numpy()
    assert scaled.shape == (3218, 34)
    assert np.allclose(scaled.mean(axis=0), census_model.mean.ravel(), atol=1e-6)
    s = np.linalg.svd(scaled - scaled.mean(axis=0), compute_uv=False)
    assert np.allclose(s[:7], NOTEBOOK_SINGULAR_VALUES, atol=0.01)
    assert cumulative_explained_variance(s[:33])[6] == pytest.approx(0.8017, abs=0.0005)


def test_weights_by_magnitude_keep_their_signs_largest_first(census_model) -> None:
    weights = component_weights(census_model, FEATURES, 2)["c_1"]
    ordered = by_magnitude(weights)
    assert list(ordered.abs()) == sorted(weights.abs(), reverse=True) and ordered["Income"] == weights["Income"]
    assert list(by_magnitude(weights, 5).index) == list(ordered.index[:5])


def test_z_scores_count_population_standard_deviations_from_the_mean() -> None:
    features = pd.DataFrame({"a": [0.0, 2.0, 4.0], "same": [1.0, 1.0, 1.0]})
    profiles = pd.DataFrame({"segment": [0, 1], "a": [4.0, 2.0], "same": [1.0, 3.0]})
    z = z_scores(profiles, features)
    assert list(z.columns) == ["a", "same"]
    assert z["a"].tolist() == pytest.approx([2 / np.std([0, 2, 4]), 0.0]) and z["same"].tolist() == [0.0, 2.0]


def test_component_weights_are_the_top_n_columns_c1_first(census_model) -> None:
    weights = component_weights(census_model, FEATURES, 7)
    assert list(weights.columns) == component_names(7)
    assert np.allclose(weights["c_1"], census_model.v[:, -1])


def test_projection_equals_the_endpoint_formula_reversed(census_model) -> None:
    rng = np.random.default_rng(1)
    x = rng.random((5, 34))
    endpoint = (x - census_model.mean) @ census_model.v  # ascending, as SageMaker answers
    assert np.allclose(project(x, census_model, 7), top_components_from_projection(endpoint, 7), atol=1e-5)


def test_projection_refuses_rows_of_the_wrong_width(census_model) -> None:
    with pytest.raises(ValueError, match=r"\(n_rows, 34\)"):
        project(np.zeros((2, 5)), census_model, 7)


@pytest.fixture
def small_model() -> PCAModel:
    axes, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(4, 3)))
    return PCAModel.from_largest_first(np.array([3.0, 2.0, 1.0]), axes, np.full(4, 0.5))


def test_top_components_reverse_the_endpoint_order_after_checking_it(small_model) -> None:
    x = np.random.default_rng(1).random((5, 4)).astype("float32")
    projection = (x - small_model.mean) @ small_model.v
    top = analysis.checked_top_components(projection, x, small_model, 2)
    assert np.allclose(top, projection[:, ::-1][:, :2])


def test_a_projection_that_disagrees_with_the_artifact_fails(small_model) -> None:
    x = np.random.default_rng(1).random((5, 4)).astype("float32")
    projection = (x - small_model.mean) @ small_model.v
    projection[2, 1] += 0.01
    with pytest.raises(analysis.ProjectionMismatch, match="differ from \\(x − mean\\) · v"):
        analysis.checked_top_components(projection, x, small_model, 2)


def test_every_row_is_checked_also_past_the_first_block(small_model) -> None:
    """The check runs in blocks of rows; a wrong answer in the last row of a large file is still caught."""
    x = np.random.default_rng(2).random((200_001, 4)).astype("float32")
    projection = (x - small_model.mean) @ small_model.v
    assert analysis.checked_top_components(projection, x, small_model, 3).shape == (200_001, 3)
    projection[-1, 2] += 0.01
    with pytest.raises(analysis.ProjectionMismatch):
        analysis.checked_top_components(projection, x, small_model, 3)
