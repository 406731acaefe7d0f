"""Stable segment IDs across runs and the churn between runs (include/segmentation/continuity.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from include.segmentation import continuity

KEYS = pd.Index([f"State-{i:04d}" for i in range(1200)], name="State-County")


def _series(values, keys=KEYS) -> pd.Series:
    return pd.Series(np.asarray(values, dtype=np.int64), index=keys)


def _clusters(k: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, k, len(KEYS))


def test_the_first_run_keeps_k_means_numbering() -> None:
    ids = continuity.first_ids(8)
    assert ids.by_cluster == tuple(range(8))
    assert ids.new == tuple(range(8)) and ids.retired == () and ids.next_id == 8


def test_the_same_partition_under_other_cluster_numbers_keeps_every_id() -> None:
    previous = _series(_clusters(8))
    relabel = np.array([5, 2, 7, 0, 1, 6, 3, 4])  # K-Means' arbitrary numbering on a retrain
    clusters = _series(relabel[previous.to_numpy()])
    ids = continuity.match_ids(previous, clusters, k=8, next_id=8)
    assert ids.new == () and ids.retired == ()
    stable = _series(ids.stable(clusters.to_numpy()))
    assert stable.equals(previous)
    change = continuity.churn(previous, stable)
    assert change.changed == 0 and change.changed_share == 0.0
    assert change.adjusted_rand == pytest.approx(1.0)


def test_a_ninth_cluster_keeps_eight_ids_and_takes_a_never_used_one() -> None:
    previous = _series(_clusters(8))
    clusters = previous.copy()
    clusters.iloc[:100] = 8  # a new cluster carved out of the old ones
    ids = continuity.match_ids(previous, clusters, k=9, next_id=11)  # IDs 8–10 were used by older runs
    assert ids.by_cluster[:8] == tuple(range(8))
    assert ids.new == (11,) and ids.by_cluster[8] == 11 and ids.next_id == 12
    assert ids.retired == ()


def test_fewer_clusters_retire_the_segments_no_cluster_took() -> None:
    segment = np.arange(len(KEYS)) % 6
    segment[:60], segment[60:120] = 6, 7  # two small segments …
    previous = _series(segment)
    clusters = previous.where(previous < 6, 0)  # … merged into segment 0's cluster
    ids = continuity.match_ids(previous, clusters, k=6, next_id=8)
    assert ids.by_cluster == tuple(range(6))
    assert ids.retired == (6, 7) and ids.new == ()


def test_a_cluster_sharing_no_county_with_any_segment_gets_a_new_id() -> None:
    previous = _series(np.zeros(len(KEYS)))
    clusters = _series(np.ones(len(KEYS)))
    ids = continuity.match_ids(previous, clusters, k=2, next_id=1)
    assert ids.by_cluster[1] == 0  # cluster 1 holds the counties of segment 0
    assert ids.by_cluster[0] == 1 and ids.new == (1,)


def test_churn_is_the_share_of_shared_counties_that_moved() -> None:
    previous = _series(np.arange(len(KEYS)) % 4)
    current = previous.copy()
    moved = previous.index[previous == 1][:90]  # 90 counties of segment 1 move to segment 2
    current[moved] = 2
    change = continuity.churn(previous, current)
    assert change.changed == 90
    assert change.changed_share == pytest.approx(90 / len(KEYS))
    assert change.transitions.loc[1, 2] == 90
    assert change.sizes.loc[1, "change"] == -90 and change.sizes.loc[2, "change"] == 90
    assert 0 < change.adjusted_rand < 1


def test_counties_added_and_removed_are_listed_and_churn_counts_only_shared_ones() -> None:
    previous = _series(np.arange(len(KEYS)) % 3)
    current = previous.iloc[10:].copy()
    extra = pd.Series([0, 1], index=pd.Index(["New-A", "New-B"], name="State-County"), dtype=np.int64)
    current = pd.concat([current, extra])
    change = continuity.churn(previous, current)
    assert change.removed == tuple(KEYS[:10])
    assert change.added == ("New-A", "New-B")
    assert change.shared == len(KEYS) - 10 and change.changed == 0


def test_matching_uses_only_counties_both_runs_have() -> None:
    previous = _series(np.arange(len(KEYS)) % 2)
    clusters = 1 - previous.iloc[: len(KEYS) // 2]  # half the counties, numbering swapped
    ids = continuity.match_ids(previous, clusters, k=2, next_id=2)
    assert ids.by_cluster == (1, 0)
