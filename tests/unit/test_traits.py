"""What sets a segment apart: per-capita traits, the segment's median county against all counties, labels that
hold for most of the segment's counties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from devtools.synthetic_run import census_run
from include.segmentation import traits
from include.segmentation.census import FEATURES, KEY_NAME


def _features(**columns: list[float]) -> pd.DataFrame:
    """Counties with the given feature columns and every other feature 1.0 (TotalPop 100)."""
    rows = len(next(iter(columns.values())))
    frame = pd.DataFrame({f: np.full(rows, 100.0 if f == "TotalPop" else 1.0) for f in FEATURES})
    for name, values in columns.items():
        frame[name] = np.asarray(values, dtype="float64")
    return frame.set_axis(pd.Index([f"S-{i}" for i in range(rows)], name=KEY_NAME))


def test_head_counts_are_shares_of_people_or_left_out() -> None:
    assert {"TotalPop", "Women", "Men", "Citizen", "Employed", "IncomeErr", "IncomePerCapErr"}.isdisjoint(traits.TRAITS)
    assert {"Men share", "Citizen share", "Employed share", "Income", "Transit"} <= set(traits.TRAITS)
    features = _features(TotalPop=[200, 50, 0], Citizen=[150, 10, 0])
    np.testing.assert_array_equal(traits.trait_values(features, "Citizen share"), [75.0, 20.0, np.nan])


def test_traits_and_labels_are_keyed_by_stable_segment_ids() -> None:
    features = _features(Transit=[0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    described = traits.segment_traits(features, np.array([9, 9, 9, 9, 9, 4, 4, 4, 4, 4]), [4, 9])
    assert described.medians.index.tolist() == [4, 9]
    assert described.medians["Transit"].tolist() == [7.0, 2.0]
    assert set(traits.segment_labels(described)) == {4, 9}


def test_a_percentile_is_the_mid_rank_of_the_segments_median_county_among_all() -> None:
    features = _features(Transit=[0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    described = traits.segment_traits(features, np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1]), 2)
    assert described.medians["Transit"].tolist() == [2.0, 7.0]
    assert described.overall["Transit"] == 4.5
    assert described.percentiles["Transit"].tolist() == [25.0, 75.0]  # 2 below + half of 1 equal, of 10


def test_traits_are_ranked_by_their_distance_from_the_typical_county() -> None:
    features = _features(Transit=list(range(10)), Walk=[0, 0, 0, 0, 0, 0, 0, 0, 9, 9], Drive=[5] * 10)
    described = traits.segment_traits(features, np.array([0] * 7 + [1] * 3), 2)
    rows = traits.distinguishing_traits(described, top=5)[1]
    assert [r["feature"] for r in rows] == ["Walk", "Transit"]  # 90th, 85th; Drive equals everyone's
    assert [r["direction"] for r in rows] == ["high", "high"]
    assert (rows[0]["value"], rows[0]["overall"], rows[0]["percentile"]) == ("9.0 %", "0.0 %", 90.0)


def test_a_trait_at_the_overall_median_is_never_named() -> None:
    features = _features(Pacific=[0, 0, 0, 0, 0, 0, 0, 0, 3, 4])  # the median county has no Pacific islanders
    described = traits.segment_traits(features, np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1]), 2)
    assert described.percentiles.at[0, "Pacific"] == 40.0  # a tie's mid-rank, not a difference
    assert "Pacific" not in traits.segment_labels(described)[0]


def test_a_few_extreme_counties_do_not_label_a_segment() -> None:
    # Segment 1's mean Native share is 37 % (two reservations), its median county's 2 %, as low as most counties.
    native = [2.0] * 10 + [1.0, 1.0, 2.0, 90.0, 91.0]
    features = _features(Native=native)
    described = traits.segment_traits(features, np.array([0] * 10 + [1] * 5), 2)
    assert "high Native" not in traits.segment_labels(described)[1]


def test_an_empty_segment_is_labelled_as_having_no_counties() -> None:
    described = traits.segment_traits(_features(Transit=[1, 2, 3]), np.array([0, 0, 1]), 3)
    assert traits.segment_labels(described)[2] == traits.NO_COUNTIES


@pytest.mark.parametrize(
    ("percentile", "said"), [(97.2, "97th"), (1.0, "1st"), (52, "52nd"), (13, "13th"), (0.2, "1st")]
)
def test_percentiles_read_as_people_say_them(percentile, said) -> None:
    assert traits.ordinal(percentile) == said


@pytest.fixture
def real_run(census_csv):
    """The real census in 8 segments (numpy PCA, scikit-learn K-Means), as the pipeline would segment it."""
    return census_run(census_csv.read_bytes(), k=8)


def test_each_label_holds_for_the_median_county_of_its_segment_on_the_real_census(real_run) -> None:
    """Checked from the raw census columns: "high X" means the segment's median county has more X than the
    median of all counties, "low X" less; shares are of the county's people."""
    features = real_run.features
    segment = real_run.segments.set_index(KEY_NAME)["segment"].reindex(features.index).to_numpy()
    labels = traits.segment_labels(traits.of_segments(features, real_run.segments, 8))
    assert len(labels) == 8
    for number, label in labels.items():
        for part in label.split(" · "):
            direction, trait = part.split(" ", 1)
            if trait.endswith(" share"):
                values = 100 * features[trait.removesuffix(" share")] / features["TotalPop"]
            else:
                values = features[trait]
            inside, overall = values[segment == number].median(), values.median()
            assert inside > overall if direction == "high" else inside < overall, (number, part, inside, overall)
