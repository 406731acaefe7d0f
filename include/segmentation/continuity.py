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

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from include.segmentation.key_join import Joined


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
    table, old_ids, new_ids = contingency(previous, clusters)
    return _matched(table, old_ids, new_ids, np.unique(previous.to_numpy(dtype=np.int64)), k, next_id)


def match_table(table: np.ndarray, previous_ids: np.ndarray, k: int, next_id: int) -> SegmentIds:
    """match_ids from the contingency a streamed join counted (key_join.Joined): table (p, k) int64 shared
    counties per (previous segment previous_ids[i], raw cluster j), previous_ids (p,) every ID the previous run
    has, sorted. The same IDs as match_ids on the rows: the assignment is solved on the same table (the segments
    and clusters with a shared county)."""
    rows, columns = np.flatnonzero(table.sum(axis=1)), np.flatnonzero(table.sum(axis=0))
    return _matched(table[np.ix_(rows, columns)], previous_ids[rows], columns, previous_ids, k, next_id)


def _matched(
    table: np.ndarray, old_ids: np.ndarray, new_ids: np.ndarray, previous_ids: np.ndarray, k: int, next_id: int
) -> SegmentIds:
    """table (p, c): shared counties per (segment old_ids[i], cluster new_ids[j]); previous_ids: every ID the
    previous run has (unique)."""
    from scipy.optimize import linear_sum_assignment  # task-time import: the DAG's parse stays light

    by_cluster: dict[int, int] = {}
    matched: dict[int, int] = {}
    if table.size:
        rows, columns = linear_sum_assignment(table, maximize=True)
        for row, column in zip(rows, columns, strict=True):
            if table[row, column] > 0:
                by_cluster[int(new_ids[column])] = int(old_ids[row])
                matched[int(old_ids[row])] = int(table[row, column])
    next_id = max(next_id, int(previous_ids.max()) + 1 if len(previous_ids) else 0)
    new: list[int] = []
    for cluster in range(k):
        if cluster not in by_cluster:
            by_cluster[cluster] = next_id
            new.append(next_id)
            next_id += 1
    retired = sorted(set(previous_ids.tolist()) - set(matched))
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
    segment in each run (all counties, not only shared ones); `added`/`removed` county keys in key order (all of
    them from `churn`, the first LISTED from `joined_churn`), `added_count`/`removed_count` how many there are."""

    shared: int
    changed: int
    changed_share: float
    adjusted_rand: float
    transitions: pd.DataFrame
    sizes: pd.DataFrame
    added: tuple[str, ...]
    removed: tuple[str, ...]
    added_count: int
    removed_count: int


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
    added = tuple(current.index.difference(previous.index).astype(str))
    removed = tuple(previous.index.difference(current.index).astype(str))
    return Churn(
        shared=len(shared),
        changed=changed,
        changed_share=changed / len(shared) if len(shared) else 0.0,
        adjusted_rand=float(adjusted_rand_score(old, new)) if len(shared) else 0.0,
        transitions=transitions,
        sizes=_sizes(previous.value_counts(), current.value_counts()),
        added=added,
        removed=removed,
        added_count=len(added),
        removed_count=len(removed),
    )


def _sizes(previous: pd.Series, current: pd.Series) -> pd.DataFrame:
    """Counties per segment ID in each run (value counts) -> Churn.sizes."""
    sizes = pd.concat({"previous": previous, "current": current}, axis=1).fillna(0).astype(np.int64)
    sizes.index = sizes.index.astype(np.int64)
    sizes = sizes.sort_index().rename_axis("segment")
    sizes["change"] = sizes["current"] - sizes["previous"]
    return sizes


def joined_churn(joined: Joined, ids: SegmentIds) -> Churn:
    """`churn` from what a streamed join counted (key_join.Joined) and this run's IDs: the same figures as `churn`
    on the rows (the adjusted Rand index from the same pair counts as scikit-learn's, in integers), the added and
    removed keys the first LISTED of them."""
    stable = np.asarray(ids.by_cluster, dtype=np.int64)
    rows, columns = np.flatnonzero(joined.table.sum(axis=1)), np.flatnonzero(joined.table.sum(axis=0))
    order = columns[np.argsort(stable[columns], kind="stable")]  # this run's segments in ID order
    table = joined.table[np.ix_(rows, order)]
    transitions = pd.DataFrame(
        table,
        index=pd.Index(joined.previous_ids[rows], name="previous_segment"),
        columns=pd.Index(stable[order], name="segment"),
    )
    shared = int(table.sum())
    kept = int(table[joined.previous_ids[rows][:, None] == stable[order][None, :]].sum())
    present = joined.cluster_sizes > 0
    current = pd.Series(joined.cluster_sizes[present], index=stable[present])
    return Churn(
        shared=shared,
        changed=shared - kept,
        changed_share=(shared - kept) / shared if shared else 0.0,
        adjusted_rand=adjusted_rand(table) if shared else 0.0,
        transitions=transitions,
        sizes=_sizes(pd.Series(joined.previous_sizes, index=joined.previous_ids), current),
        added=joined.added_first,
        removed=joined.removed_first,
        added_count=joined.added,
        removed_count=joined.removed,
    )


def adjusted_rand(table: np.ndarray) -> float:
    """The adjusted Rand index of two partitions from their contingency table (p, c) int64, computed as
    scikit-learn's adjusted_rand_score computes it from the labels (its pair_confusion_matrix in int64, the
    formula in Python integers), so that the two agree bit for bit."""
    n = np.int64(table.sum())
    n_c, n_k = table.sum(axis=1), table.sum(axis=0)
    sum_squares = (table[table > 0] ** 2).sum()
    tp = sum_squares - n
    fp = (table @ n_k).sum() - sum_squares
    fn = (table.T @ n_c).sum() - sum_squares
    tn = n**2 - fp - fn - sum_squares
    tn, fp, fn, tp = int(tn), int(fp), int(fn), int(tp)
    if fn == 0 and fp == 0:
        return 1.0
    return 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))


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
        "added": change.added_count,
        "removed": change.removed_count,
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


# Bytes of a previous segments.csv parsed at a time, in whole lines (~16,000 rows of a published segments.csv):
# what reading it holds, whatever its rows. Each block is parsed by pyarrow's read_csv with the header before it:
# pyarrow's streaming reader (open_csv) reads and decodes ahead of its consumer, up to the whole file (+90 MB of
# a 100 MB segments.csv held at its first batch, pyarrow 26).
PREVIOUS_BLOCK_BYTES = 4 << 20


def segment_blocks(segments_csv: BinaryIO) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """A published segments.csv, read PREVIOUS_BLOCK_BYTES at a time -> blocks of ((m,) object State-County keys,
    (m,) int64 segment IDs), in file order, with the values results.segment_assignments reads (its columns and
    types, keys with csv_bytes' leading `'` before a formula-like name taken off again). ValueError for a file
    without a header line."""
    import io

    import pyarrow
    import pyarrow.csv

    from include.segmentation.census import KEY_NAME

    options = {
        "read_options": pyarrow.csv.ReadOptions(use_threads=False),
        "convert_options": pyarrow.csv.ConvertOptions(
            include_columns=[KEY_NAME, "segment"],
            column_types={KEY_NAME: pyarrow.string(), "segment": pyarrow.int64()},
            strings_can_be_null=False,
        ),
    }
    header, carry = None, b""
    while True:
        block = segments_csv.read(PREVIOUS_BLOCK_BYTES)
        data = carry + block
        end = len(data) if not block else data.rfind(b"\n") + 1  # whole lines; at the end, what is left
        data, carry = data[:end], data[end:]
        if header is None and data:
            cut = data.find(b"\n") + 1 or len(data)
            header, data = data[:cut], data[cut:]
        if data.strip():
            table = pyarrow.csv.read_csv(io.BytesIO(header + data), **options)
            keys = _unquoted(pd.Series(table.column(KEY_NAME).to_pandas(), dtype=object))
            yield keys.to_numpy(dtype=object), table.column("segment").to_numpy()
        if not block:
            break
    if header is None:
        raise ValueError("the previous run's segments.csv is empty: expected a header line and a row per county")


def _unquoted(keys: pd.Series) -> pd.Series:
    """State-County keys as read from a segments.csv -> as the census had them: exactly what
    results.segment_assignments does to them (a key csv_bytes guarded has its leading `'` taken off)."""
    import re

    from include.segmentation.results import FORMULA_START, _runs_as_formula

    quoted = keys[keys.str.startswith("'")].str[1:]  # a few keys at most: checked one by one
    guarded = quoted[quoted.map(lambda key: re.match(FORMULA_START, key) is not None or _runs_as_formula(key))]
    keys[guarded.index] = guarded
    return keys


class MovedWriter:
    """segment_changes.csv and .parquet streamed from blocks of moved counties (moved_counties' frames, in row
    order), byte for byte what csv_bytes and parquet_bytes make of them all at once: the CSV's header once, the
    Parquet file's row groups of parquet_tables.ROW_GROUP_ROWS rows each (rows held as Arrow, ~40 bytes a row,
    until one fills). Keeps the first LISTED rows, for run.json."""

    def __init__(self, csv_sink: BinaryIO, parquet_sink: BinaryIO, table_name: str, run_id: str) -> None:
        self.csv_sink, self.parquet_sink, self.table_name, self.run_id = csv_sink, parquet_sink, table_name, run_id
        self.header: bytes | None = None
        self.held: list = []  # pyarrow Tables, parquet_tables.table's
        self.held_rows = 0
        self.writer = None
        self.first: pd.DataFrame | None = None

    def write(self, moved: pd.DataFrame) -> None:
        import pyarrow

        from include.segmentation.parquet_tables import ROW_GROUP_ROWS, table
        from include.segmentation.results import csv_bytes

        text = csv_bytes(moved)
        if self.header is None:
            self.header = text[: text.index(b"\n") + 1]
            self.csv_sink.write(text)
            self.first = moved.head(LISTED)
        else:
            self.csv_sink.write(text[len(self.header) :])
            if len(self.first) < LISTED and len(moved):
                self.first = pd.concat([self.first, moved]).head(LISTED).reset_index(drop=True)
        if len(moved):
            self.held.append(table(moved, self.table_name, self.run_id))
            self.held_rows += len(moved)
        while self.held_rows >= ROW_GROUP_ROWS:
            rows = pyarrow.concat_tables(self.held)
            self._row_group(rows.slice(0, ROW_GROUP_ROWS))
            self.held = [rows.slice(ROW_GROUP_ROWS).combine_chunks()]
            self.held_rows = self.held[0].num_rows

    def _row_group(self, rows) -> None:
        """Write `rows` (a pyarrow Table of at most ROW_GROUP_ROWS rows) as one row group, in one chunk as
        parquet_bytes writes them."""
        import pyarrow.parquet

        from include.segmentation.parquet_tables import ROW_GROUP_ROWS

        rows = rows.combine_chunks()
        if self.writer is None:
            self.writer = pyarrow.parquet.ParquetWriter(self.parquet_sink, rows.schema, compression="zstd")
        self.writer.write_table(rows, row_group_size=ROW_GROUP_ROWS)

    def close(self, empty: pd.DataFrame) -> pd.DataFrame:
        """Write what is held; `empty` is the frame of no moved county (its columns), for files with no row.
        Returns the first LISTED moved counties."""
        import pyarrow

        from include.segmentation.parquet_tables import parquet_bytes

        if self.header is None:
            self.write(empty)
        if self.held_rows:
            self._row_group(pyarrow.concat_tables(self.held))
        if self.writer is None:
            self.parquet_sink.write(parquet_bytes(empty, self.table_name, self.run_id))
        else:
            self.writer.close()
        return self.first
