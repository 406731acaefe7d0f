"""The synthetic census: valid under the contract, structured like the real one, deterministic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans

from include.segmentation.census import COLUMNS, clean, load_census
from include.segmentation.scaling import MinMaxScaling
from include.segmentation.synthetic import county_types, synthetic_census


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return synthetic_census()


def test_has_the_contract_columns_and_passes_validation(sample) -> None:
    assert list(sample.columns) == list(COLUMNS)
    loaded = load_census(sample.to_csv(index=False).encode())
    assert len(loaded) == 3220


def test_two_rows_are_incomplete_like_the_real_file(sample) -> None:
    cleaned = clean(load_census(sample.to_csv(index=False).encode()))
    assert cleaned.features.shape == (3218, 34)
    assert len(cleaned.dropped) == 2


def test_men_and_women_add_up_to_the_total(sample) -> None:
    assert (sample["Men"] + sample["Women"] == sample["TotalPop"]).all()


@pytest.mark.parametrize(
    "group",
    [
        ["Hispanic", "White", "Black", "Native", "Asian", "Pacific"],
        ["Professional", "Service", "Office", "Construction", "Production"],
        ["Drive", "Carpool", "Transit", "Walk", "OtherTransp", "WorkAtHome"],
        ["PrivateWork", "PublicWork", "SelfEmployed", "FamilyWork"],
    ],
)
def test_percentage_groups_sum_to_about_100(sample, group) -> None:
    totals = sample[group].sum(axis=1)
    assert totals.between(99.0, 101.0).all()


def test_poverty_falls_as_income_rises(sample) -> None:
    assert sample["Income"].corr(sample["Poverty"], method="spearman") < -0.6


def test_same_seed_same_frame_and_other_seed_other_frame() -> None:
    pd.testing.assert_frame_equal(synthetic_census(200, seed=5), synthetic_census(200, seed=5))
    assert not synthetic_census(200, seed=5).equals(synthetic_census(200, seed=6))


def test_pca_keeps_80_percent_of_variance_in_a_few_components(sample) -> None:
    features = clean(load_census(sample.to_csv(index=False).encode())).features
    scaled = MinMaxScaling.fit(features).transform(features).to_numpy()
    s = np.linalg.svd(scaled - scaled.mean(axis=0), compute_uv=False)
    cumulative = np.cumsum(s**2) / np.sum(s**2)
    assert 4 <= np.searchsorted(cumulative, 0.8) + 1 <= 10


def test_kmeans_finds_unequal_segments_that_follow_the_latent_types(sample) -> None:
    complete = sample.dropna()
    features = complete.drop(columns=["CensusId", "State", "County"])
    scaled = MinMaxScaling.fit(features).transform(features).to_numpy()
    labels = KMeans(n_clusters=7, n_init=4, random_state=0).fit_predict(scaled)
    sizes = np.bincount(labels)
    assert sizes.max() > 2 * sizes.min()
    # Most counties of a segment share one latent type.
    types = county_types()[complete.index.to_numpy()]
    purity = sum(np.bincount(types[labels == c]).max() for c in range(7)) / len(labels)
    assert purity > 0.6


def test_counties_are_real_fips_codes_with_their_state(sample) -> None:
    from include.segmentation import us_map

    fips = us_map.fips_code(sample["CensusId"].astype(str))
    assert fips.is_unique and fips.notna().all()
    states = us_map.load_atlas().state_names
    named = sample.assign(code=fips.str[:2])
    assert (named["State"] == named["code"].map(states).fillna("Puerto Rico")).all()
    assert (named["code"] == "72").sum() == 78  # the real file's Puerto Rico municipios, past the atlas's 3,142


def test_more_counties_than_the_real_file_are_refused() -> None:
    with pytest.raises(ValueError, match="between 1 and 3220"):
        synthetic_census(3221)


def test_a_census_past_the_real_file_keeps_unique_keys_and_passes_validation() -> None:
    from include.segmentation.synthetic import MAX_COUNTIES, scaled_census

    frame = scaled_census(MAX_COUNTIES + 500, missing_rows=0)
    loaded = load_census(frame.to_csv(index=False).encode())
    assert len(loaded) == MAX_COUNTIES + 500
    assert not (loaded["State"] + "-" + loaded["County"]).duplicated().any()


def test_the_bundled_sample_is_recognised_by_its_digest() -> None:
    """inputs.BUNDLED_SAMPLE_SHA256 must follow the sample: a report of it then says it is the sample."""
    import hashlib

    from include.segmentation import inputs
    from include.segmentation.synthetic import bundled_sample_csv

    digest = hashlib.sha256(bundled_sample_csv()).hexdigest()
    assert inputs.is_bundled_sample(digest), f"update inputs.BUNDLED_SAMPLE_SHA256 to {digest}"
    assert "bundled synthetic sample" in inputs.describe("s3://popseg/census/x.csv", digest)
    assert inputs.describe("s3://popseg/census/x.csv", "0" * 64) == "s3://popseg/census/x.csv"
