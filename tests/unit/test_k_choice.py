"""Choosing k: the candidates a sweep trains (and the sweeps refused), each candidate's metrics from its
centroids, the two rules on constructed curves, and k_selection.json."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.metrics import silhouette_score

from include.segmentation import k_choice
from include.segmentation.k_choice import CandidateMetrics, Selection


def _candidate(k: int, *, msd: float | None = None, silhouette: float | None = 0.1, **fields) -> CandidateMetrics:
    """A candidate with the metrics a test sets (test:msd and test:ssd of 100 rows)."""
    values = {
        "job_name": f"popseg-kmeans-k{k}-abc",
        "test_msd": msd,
        "test_ssd": None if msd is None else 100 * msd,
        "train_msd": msd,
        "within_ss": 100 * (msd if msd is not None else 1.0),
        "silhouette": silhouette,
        "sizes": [100 // k] * (k - 1) + [100 - (100 // k) * (k - 1)],
    }
    return CandidateMetrics(k=k, **(values | fields))


# candidates: what is trained


def test_without_a_sweep_the_one_candidate_is_k() -> None:
    assert k_choice.candidates(8, None, None, "silhouette", rows=3218) == [8]


def test_a_sweep_trains_every_k_from_k_min_to_k_max() -> None:
    assert k_choice.candidates(8, 4, 10, "elbow", rows=3218) == [4, 5, 6, 7, 8, 9, 10]


@pytest.mark.parametrize(("k_min", "k_max", "named"), [(4, None, "k_min is set but k_max is not"),
                                                        (None, 10, "k_max is set but k_min is not")])  # fmt: skip
def test_a_sweep_with_only_one_bound_is_refused_naming_both(k_min, k_max, named) -> None:
    with pytest.raises(ValueError, match=named):
        k_choice.candidates(8, k_min, k_max, "silhouette", rows=3218)


def test_k_min_above_k_max_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^k_min = 9 is above k_max = 5"):
        k_choice.candidates(8, 9, 5, "silhouette", rows=3218)


def test_more_than_max_candidates_is_refused_with_a_range_that_fits() -> None:
    with pytest.raises(ValueError, match=r"k_min = 2 to k_max = 14 is 13 candidates, more than 12 .* k_max = 13$"):
        k_choice.candidates(8, 2, 14, "silhouette", rows=3218)
    assert len(k_choice.candidates(8, 2, 13, "silhouette", rows=3218)) == k_choice.MAX_CANDIDATES


def test_a_sweep_below_two_segments_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^k_min = 1 is below 2"):
        k_choice.candidates(8, 1, 5, "silhouette", rows=3218)


def test_a_k_max_above_the_counties_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^k_max = 10 segments is more than the 9 counties the census kept"):
        k_choice.candidates(8, 4, 10, "silhouette", rows=9)


def test_a_fixed_k_above_the_counties_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^k = 8 segments is more than the 5 counties the census kept"):
        k_choice.candidates(8, None, None, "silhouette", rows=5)


def test_the_elbow_rule_with_fewer_than_three_candidates_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^k_rule = 'elbow' needs at least 3 candidates.*k_max = 5 is 2"):
        k_choice.candidates(8, 4, 5, "elbow", rows=3218)
    assert k_choice.candidates(8, 4, 5, "silhouette", rows=3218) == [4, 5]


def test_an_unknown_rule_is_refused_naming_the_rules() -> None:
    with pytest.raises(ValueError, match=r"^k_rule = 'gap' is not a rule: expected one of silhouette, elbow"):
        k_choice.candidates(8, 4, 10, "gap", rows=3218)


# measure: ours, from the artifact's centroids


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    """(6,000, 3) rows around 4 centres (more rows than SILHOUETTE_SAMPLE), and 4 centroids near them."""
    rng = np.random.default_rng(7)
    centres = rng.uniform(-5, 5, size=(4, 3))
    rows = centres[rng.integers(0, 4, 6000)] + rng.normal(scale=0.8, size=(6000, 3))
    return rows.astype("float32"), (centres + 0.1).astype("float32")


def _nearest(rows: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    squared = ((rows[:, None, :].astype("float64") - centroids[None, :, :].astype("float64")) ** 2).sum(axis=2)
    return squared.argmin(axis=1), squared.min(axis=1)


def test_within_ss_is_the_sum_of_squared_distances_of_every_row_to_its_nearest_centroid(blobs, monkeypatch) -> None:
    rows, centroids = blobs
    monkeypatch.setattr(k_choice, "_BLOCK_ELEMENTS", 1000)  # many blocks: the last one partial
    within_ss, _, _ = k_choice.measure(rows, centroids)
    assert within_ss == pytest.approx(_nearest(rows, centroids)[1].sum(), rel=1e-12)


def test_sizes_count_the_rows_nearest_each_centroid_with_empty_ones_zero(blobs) -> None:
    rows, centroids = blobs
    far = np.vstack([centroids, [[1e6, 1e6, 1e6]]])  # a fifth centroid no row is near
    _, _, sizes = k_choice.measure(rows, far)
    assert sizes == [*np.bincount(_nearest(rows, centroids)[0], minlength=4).tolist(), 0]


def test_silhouette_equals_sklearns_on_the_same_seeded_sample(blobs) -> None:
    rows, centroids = blobs
    labels, _ = _nearest(rows, centroids)
    _, silhouette, _ = k_choice.measure(rows, centroids)
    expected = silhouette_score(
        rows.astype("float64"), labels, sample_size=k_choice.SILHOUETTE_SAMPLE, random_state=k_choice.SEED
    )
    assert silhouette == pytest.approx(expected, rel=1e-12)
    assert silhouette != pytest.approx(silhouette_score(rows.astype("float64"), labels), rel=1e-9)  # a sample


def test_silhouette_of_fewer_rows_than_the_sample_is_over_every_row(blobs) -> None:
    rows, centroids = blobs
    rows = rows[:500]
    _, silhouette, _ = k_choice.measure(rows, centroids)
    assert silhouette == pytest.approx(silhouette_score(rows.astype("float64"), _nearest(rows, centroids)[0]))


def test_silhouette_is_none_when_every_row_is_nearest_one_centroid(blobs) -> None:
    rows, centroids = blobs
    lonely = np.vstack([centroids[:1], [[1e6, 1e6, 1e6]]])
    _, silhouette, sizes = k_choice.measure(rows, lonely)
    assert silhouette is None and sizes == [len(rows), 0]


def test_components_and_centroids_of_other_widths_are_refused() -> None:
    with pytest.raises(ValueError, match=r"got shapes \(5, 3\) and \(2, 4\)"):
        k_choice.measure(np.zeros((5, 3)), np.zeros((2, 4)))


# choose: the rules


def test_one_candidate_is_fixed_by_the_number_of_segments_param() -> None:
    selection = k_choice.choose([_candidate(8, msd=1.0)], "elbow")
    assert (selection.k, selection.rule) == (8, "fixed")
    assert "fixed by the Number of segments param" in selection.reason and "Smallest k" in selection.reason


def test_silhouette_picks_the_highest() -> None:
    scores = {4: 0.21, 5: 0.25, 6: 0.31, 7: 0.28}
    selection = k_choice.choose([_candidate(k, silhouette=s) for k, s in scores.items()], "silhouette")
    assert selection == Selection(6, "silhouette", selection.reason)
    assert selection.reason.startswith("k = 6 has the highest silhouette of the 4 candidates k = 4…7 (0.310)")


def test_silhouette_ties_go_to_the_smaller_k() -> None:
    scores = {4: 0.2, 5: 0.3, 6: 0.1, 7: 0.3}
    selection = k_choice.choose([_candidate(k, silhouette=s) for k, s in scores.items()], "silhouette")
    assert selection.k == 5 and "k = 7 tie with it; the smaller k is kept" in selection.reason


def test_silhouette_passes_over_candidates_without_one() -> None:
    scores = {4: None, 5: 0.1, 6: float("nan")}
    assert k_choice.choose([_candidate(k, silhouette=s) for k, s in scores.items()], "silhouette").k == 5


def test_silhouette_without_any_score_is_refused() -> None:
    with pytest.raises(ValueError, match="no silhouette among the 2 candidates k = 4…5"):
        k_choice.choose([_candidate(4, silhouette=None), _candidate(5, silhouette=None)], "silhouette")


def test_elbow_picks_the_knee_of_the_msd_curve() -> None:
    msd = {4: 10.0, 5: 6.0, 6: 3.0, 7: 2.6, 8: 2.3, 9: 2.1, 10: 2.0}  # steep to 6, then nearly flat
    selection = k_choice.choose([_candidate(k, msd=m) for k, m in msd.items()], "elbow")
    assert (selection.k, selection.rule) == (6, "elbow")
    assert "SageMaker's test:msd" in selection.reason and "from k = 4 to k = 10" in selection.reason


def test_the_knee_distance_is_how_far_the_scaled_curve_lies_below_the_chord() -> None:
    # Scaled to [0, 1]: msd (1, 1/3, 1/9, 1/18, 0) against the chord (1, 3/4, 1/2, 1/4, 0) from k = 4 to k = 8.
    ks, msd = np.array([4.0, 5, 6, 7, 8]), np.array([10.0, 4.0, 2.0, 1.5, 1.0])
    np.testing.assert_allclose(k_choice.knee_distances(ks, msd), [0, 5 / 12, 7 / 18, 7 / 36, 0], atol=1e-15)
    assert k_choice.choose([_candidate(int(k), msd=m) for k, m in zip(ks, msd, strict=True)], "elbow").k == 5


def test_a_flat_msd_curve_is_nowhere_below_its_chord() -> None:
    np.testing.assert_array_equal(k_choice.knee_distances(np.array([4.0, 5, 6]), np.full(3, 2.5)), [0, 0, 0])


def test_elbow_ties_go_to_the_smaller_k() -> None:
    msd = {2: 4.0, 3: 2.0, 4: 2.0, 5: 0.0}  # k = 3 and k = 4 both 1/3 below the chord
    assert k_choice.choose([_candidate(k, msd=m) for k, m in msd.items()], "elbow").k == 3


def test_a_straight_msd_line_has_no_knee_and_keeps_the_smallest_k() -> None:
    selection = k_choice.choose([_candidate(k, msd=10.0 - k) for k in range(4, 9)], "elbow")
    assert selection.k == 4 and "has no knee" in selection.reason


def test_elbow_reads_within_ss_per_row_when_a_job_reported_no_test_msd() -> None:
    # SageMaker's curve would put the knee at 6; the artifacts' at 5: the curve is one source, never mixed.
    msd = {4: 10.0, 5: 6.0, 6: 2.0, 7: 1.8, 8: 1.7}
    within = {4: 1000.0, 5: 300.0, 6: 250.0, 7: 200.0, 8: 150.0}
    metrics = [_candidate(k, msd=None if k == 8 else m, within_ss=within[k]) for k, m in msd.items()]
    selection = k_choice.choose(metrics, "elbow")
    assert selection.k == 5 and "within-cluster SS per county" in selection.reason
    assert k_choice.elbow_curve(metrics)[1] == k_choice.MSD_FROM_ARTIFACT


def test_the_choice_does_not_depend_on_the_order_of_the_candidates() -> None:
    metrics = [_candidate(k, msd=20.0 / k, silhouette=round(1 / (1 + abs(k - 7)), 3)) for k in range(4, 11)]
    for rule in k_choice.RULES:
        chosen = {k_choice.choose(order, rule) for order in (metrics, metrics[::-1], metrics[3:] + metrics[:3])}
        assert len(chosen) == 1, rule


def test_a_k_given_twice_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^k = 5 appears more than once"):
        k_choice.choose([_candidate(5), _candidate(5), _candidate(6)], "silhouette")


# selection_document: k_selection.json


def test_the_document_lists_every_candidate_in_k_order_and_marks_the_chosen_one() -> None:
    metrics = [_candidate(k, msd=20.0 / k, silhouette=0.1 * (k == 6)) for k in (7, 5, 6)]
    selection = k_choice.choose(metrics, "silhouette")
    document = k_choice.selection_document(metrics, selection)
    assert {key: document[key] for key in ("rule", "chosen_k", "reason", "silhouette_sample", "seed")} == {
        "rule": "silhouette",
        "chosen_k": 6,
        "reason": selection.reason,
        "silhouette_sample": 5000,
        "seed": 0,
    }
    assert document["msd_source"] == "SageMaker test:msd (the test channel is the training rows)"
    assert [(c["k"], c["chosen"]) for c in document["candidates"]] == [(5, False), (6, True), (7, False)]
    assert document["candidates"][1] == {
        "k": 6,
        "job_name": "popseg-kmeans-k6-abc",
        "test_msd": 20.0 / 6,
        "test_ssd": 100 * (20.0 / 6),
        "train_msd": 20.0 / 6,
        "within_ss": 100 * (20.0 / 6),
        "silhouette": 0.1,
        "sizes": [16, 16, 16, 16, 16, 20],
        "chosen": True,
    }


def test_the_document_records_what_each_rule_picks_from_the_same_candidates() -> None:
    # msd bends at k = 5 (the elbow); the silhouette peaks at k = 7.
    metrics = [_candidate(k, msd=m, silhouette=s) for k, m, s in ((4, 10.0, 0.2), (5, 3.0, 0.3), (6, 2.5, 0.1),
                                                                  (7, 2.0, 0.5))]  # fmt: skip
    document = k_choice.selection_document(metrics, k_choice.choose(metrics, "silhouette"))
    assert document["by_rule"] == {"silhouette": 7, "elbow": 5} and document["chosen_k"] == 7
    assert k_choice.selection_document(metrics[:2], k_choice.choose(metrics[:2], "silhouette"))["by_rule"] == {
        "silhouette": 5, "elbow": None,  # two candidates have no knee
    }  # fmt: skip
    assert k_choice.selection_document(metrics[:1], k_choice.choose(metrics[:1], "silhouette"))["by_rule"] == {}


def test_the_document_is_strict_json_with_missing_and_nan_metrics_as_null() -> None:
    metrics = [_candidate(4, msd=None, silhouette=float("nan")), _candidate(5, silhouette=0.2, train_msd=math.inf)]
    document = k_choice.selection_document(metrics, k_choice.choose(metrics, "silhouette"))
    parsed = json.loads(json.dumps(document, allow_nan=False))
    assert parsed["candidates"][0]["test_msd"] is None and parsed["candidates"][0]["silhouette"] is None
    assert parsed["candidates"][1]["train_msd"] is None


def test_a_selection_of_a_k_not_trained_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^chosen k = 9 is not among the 2 candidates k = 4…5"):
        k_choice.selection_document([_candidate(4), _candidate(5)], Selection(9, "silhouette", "because"))
