"""choose_k's measures in one pass over blocks of components (k_choice.measure_blocks) are `measure`'s on the rows
at once, and the silhouette's sample keeps silhouette_score's rows up to SILHOUETTE_EXACT_ROWS rows."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from include.segmentation import k_choice


def _components(rows: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(0, 1, (rows, 4)) + rng.integers(0, 3, (rows, 1))


@pytest.mark.parametrize("block", [1_000, 4_099, 70_000])
def test_blocks_of_any_size_give_the_figures_of_the_rows_at_once(block) -> None:
    """Across the measuring blocks' edges (k = 3: 87,381 rows a block; k = 9: 29,127): within_ss bit for bit."""
    x = _components(100_000)
    centroids = [x[:3] + 0.1, x[10:19]]
    blocks = (x[start : start + block] for start in range(0, len(x), block))
    assert k_choice.measure_blocks(blocks, len(x), centroids) == [k_choice.measure(x, c) for c in centroids]


def test_up_to_the_threshold_the_sample_is_silhouette_scores() -> None:
    rows = 50_000
    expected = np.random.RandomState(k_choice.SEED).permutation(rows)[: k_choice.SILHOUETTE_SAMPLE]
    assert np.array_equal(k_choice.silhouette_rows(rows), expected)
    assert k_choice.SILHOUETTE_EXACT_ROWS >= 1_000_000  # every run up to a million rows keeps its silhouette


def test_above_the_threshold_the_sample_is_seeded_distinct_and_drawn_in_bounded_memory() -> None:
    rows = 20_000_000
    tracemalloc.start()
    sample = k_choice.silhouette_rows(rows)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 4 << 20, f"{peak:,} bytes to draw {len(sample)} rows of {rows:,}"  # a permutation: 160 MB
    assert len(np.unique(sample)) == k_choice.SILHOUETTE_SAMPLE and sample.min() >= 0 and sample.max() < rows
    assert np.array_equal(sample, k_choice.silhouette_rows(rows))


def test_blocks_holding_fewer_rows_than_announced_are_refused_with_both_counts() -> None:
    x = _components(1_000)
    with pytest.raises(ValueError, match="expected 1200 rows of components, got 1000"):
        k_choice.measure_blocks([x[:500], x[500:]], 1_200, [x[:3]])


@pytest.mark.parametrize(("rows", "described"), [(k_choice.SILHOUETTE_EXACT_ROWS, False), (10_000_000, True)])
def test_k_selection_describes_the_sample_only_where_it_is_not_silhouette_scores(rows, described) -> None:
    metrics = [
        k_choice.CandidateMetrics(
            k, f"job-{k}", None, None, None, 1.0 / k, 0.5 - k / 100, [rows - k + 1] + [1] * (k - 1)
        )
        for k in (2, 3)
    ]
    document = k_choice.selection_document(metrics, k_choice.choose(metrics, "silhouette"))
    assert ("silhouette_sampling" in document) is described
    if described:
        assert document["silhouette_sampling"].startswith("5000 of the 10,000,000 rows drawn without replacement")
