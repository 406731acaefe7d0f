"""Segments that keep their number from one run to the next, and how much the segmentation moved.

K-Means numbers its clusters arbitrarily, and SageMaker's K-Means cannot start from last run's centres
(`init_method` is `random` or `kmeans++` only), so continuity is restored after training: the new clusters
are matched to the previous run's segments by the counties they share, maximising the counties that keep
their segment (the assignment problem on the old × new contingency table, rectangular when k changed).

Segment IDs: a cluster matched to a previous segment takes its ID; any other gets an ID never used before
in the results prefix (`next_id` is carried from run to run); previous segments left unmatched are retired.
The first run keeps K-Means' numbering. Pure numpy/pandas/scipy: no Airflow, no AWS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class SegmentIds:
    """How this run's raw clusters became stable segment IDs.

    `by_cluster[c]` is raw cluster c's stable ID (length k); `matched` maps each inherited ID to the number
    of shared counties that kept it; `new` are IDs first used by this run; `retired` the previous run's IDs
    no cluster took; `next_id` the first ID no run of the prefix has used (carried into the next run)."""

    by_cluster: tuple[int, ...]
    matched: dict[int, int]
    new: tuple[int, ...]
    retired: tuple[int, ...]
    next_id: int

    def stable(self, clusters: np.ndarray) -> np.ndarray:
        """(rows,) raw cluster ids -> (rows,) stable segment IDs."""
        return np.asarray(self.by_cluster, dtype=np.int64)[np.asarray(clusters, dtype=np.int64)]


def first_ids(k: int) -> SegmentIds:
    """The first run of a prefix: segment ID = K-Means' cluster number."""
    return SegmentIds(by_cluster=tuple(range(k)), matched={}, new=tuple(range(k)), retired=(), next_id=k)


def contingency(previous: pd.Series, clusters: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counties per (previous segment, new cluster) over the counties both runs have.

    previous: stable segment ID per county key; clusters: raw cluster per county key (unique keys both).
    Returns (table (p, c) int64, the p previous IDs of its rows, the c cluster numbers of its columns): only
    segments and clusters with at least one shared county appear."""
    shared = previous.index.intersection(clusters.index, sort=False)
    old = previous.reindex(shared).to_numpy(dtype=np.int64)
    new = clusters.reindex(shared).to_numpy(dtype=np.int64)
    old_ids, old_codes = np.unique(old, return_inverse=True)
    new_ids, new_codes = np.unique(new, return_inverse=True)
    table = np.zeros((len(old_ids), len(new_ids)), dtype=np.int64)
    np.add.at(table, (old_codes, new_codes), 1)
    return table, old_ids, new_ids


def match_ids(previous: pd.Series, clusters: pd.Series, k: int, next_id: int) -> SegmentIds:
    """Stable IDs for this run's k raw clusters, matched to the previous run's segments.

    previous: the previous published run's stable segment ID per county key; clusters: this run's raw cluster
    (0…k-1) per county key; next_id: the first ID the prefix has never used (at least max(previous) + 1).
    A cluster and a segment are paired only when they share at least one county."""
    from scipy.optimize import linear_sum_assignment  # task-time import: the DAG's parse stays light

    table, old_ids, new_ids = contingency(previous, clusters)
    by_cluster: dict[int, int] = {}
    matched: dict[int, int] = {}
    if table.size:
        rows, columns = linear_sum_assignment(table, maximize=True)
        for row, column in zip(rows, columns, strict=True):
            if table[row, column] > 0:
                by_cluster[int(new_ids[column])] = int(old_ids[row])
                matched[int(old_ids[row])] = int(table[row, column])
    next_id = max(next_id, int(previous.max()) + 1 if len(previous) else 0)
    new: list[int] = []
    for cluster in range(k):
        if cluster not in by_cluster:
            by_cluster[cluster] = next_id
            new.append(next_id)
            next_id += 1
    retired = sorted(set(previous.unique().tolist()) - set(matched))
    return SegmentIds(
        by_cluster=tuple(by_cluster[c] for c in range(k)),
        matched=dict(sorted(matched.items())),
        new=tuple(new),
        retired=tuple(int(i) for i in retired),
        next_id=next_id,
    )


@dataclass(frozen=True)
class Churn:
    """How this run's segments differ from the previous published run's, both in stable IDs.

    `changed_share` is the share of shared counties whose segment changed (0…1); `adjusted_rand` the
    adjusted Rand index of the two partitions over the shared counties (1.0 = same partition, ~0 = unrelated);
    `transitions` counts shared counties per (previous segment, this run's segment); `sizes` counties per
    segment in each run (all counties, not only shared ones); `added`/`removed` county keys."""

    shared: int
    changed: int
    changed_share: float
    adjusted_rand: float
    transitions: pd.DataFrame
    sizes: pd.DataFrame
    added: tuple[str, ...]
    removed: tuple[str, ...]


def churn(previous: pd.Series, current: pd.Series) -> Churn:
    """Churn between two runs' stable segment IDs per county key (unique keys in both)."""
    from sklearn.metrics import adjusted_rand_score  # task-time import, as above

    shared = previous.index.intersection(current.index, sort=False)
    old = previous.reindex(shared).to_numpy(dtype=np.int64)
    new = current.reindex(shared).to_numpy(dtype=np.int64)
    changed = int(np.count_nonzero(old != new))
    transitions = pd.crosstab(pd.Series(old, name="previous_segment"), pd.Series(new, name="segment")).rename_axis(
        index="previous_segment", columns="segment"
    )
    sizes = (
        pd.concat({"previous": previous.value_counts(), "current": current.value_counts()}, axis=1)
        .fillna(0)
        .astype(np.int64)
    )
    sizes.index = sizes.index.astype(np.int64)
    sizes = sizes.sort_index().rename_axis("segment")
    sizes["change"] = sizes["current"] - sizes["previous"]
    return Churn(
        shared=len(shared),
        changed=changed,
        changed_share=changed / len(shared) if len(shared) else 0.0,
        adjusted_rand=float(adjusted_rand_score(old, new)) if len(shared) else 0.0,
        transitions=transitions,
        sizes=sizes,
        added=tuple(current.index.difference(previous.index).astype(str)),
        removed=tuple(previous.index.difference(current.index).astype(str)),
    )


LISTED = 100
"""Counties named per list (moved, added, removed) in run.json and the report; files have them all."""


def moved_counties(previous: pd.Series, current: pd.Series) -> pd.DataFrame:
    """`State-County, previous_segment, segment` of every shared county whose segment changed, in current order
    (segment_changes.csv). previous/current: stable segment ID per county key."""
    shared = current.index.intersection(previous.index, sort=False)
    old = previous.reindex(shared).to_numpy(dtype=np.int64)
    new = current.reindex(shared).to_numpy(dtype=np.int64)
    changed = old != new
    return pd.DataFrame(
        {
            current.index.name or "State-County": shared[changed],
            "previous_segment": old[changed],
            "segment": new[changed],
        }
    )


def next_id_of(run_document: dict) -> int:
    """The first segment ID a run's run.json says no run of its prefix had used (0 when it records none: an
    unchanged run, or one from before segment IDs)."""
    return int(((run_document.get("continuity") or {}).get("segment_ids") or {}).get("next_id", 0))


def continuity_document(
    previous_run: str | None, ids: SegmentIds, change: Churn | None, moved: pd.DataFrame | None
) -> dict:
    """run.json's `continuity`: the run it was matched to (None for a prefix's first run), how raw clusters
    became segment IDs, and the churn (None for a first run) with at most LISTED counties per list."""
    document: dict = {
        "previous_run": previous_run,
        "segment_ids": {
            "by_cluster": list(ids.by_cluster),
            "kept": sorted(ids.matched),
            "new": list(ids.new),
            "retired": list(ids.retired),
            "next_id": ids.next_id,
        },
        "churn": None,
    }
    if change is None or moved is None:
        return document
    transitions = change.transitions.stack()
    document["churn"] = {
        "shared": change.shared,
        "changed": change.changed,
        "changed_share": change.changed_share,
        "adjusted_rand": change.adjusted_rand,
        "added": len(change.added),
        "removed": len(change.removed),
        "added_counties": list(change.added[:LISTED]),
        "removed_counties": list(change.removed[:LISTED]),
        "sizes": [
            {"segment": int(segment), "previous": int(row.previous), "current": int(row.current)}
            for segment, row in change.sizes.iterrows()
        ],
        "transitions": [
            {"previous_segment": int(old), "segment": int(new), "counties": int(count)}
            for (old, new), count in transitions[transitions > 0].items()
        ],
        "moved_counties": moved.head(LISTED).to_dict("records"),
    }
    return document
