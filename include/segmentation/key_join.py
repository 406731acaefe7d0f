"""This run's counties joined to the previous published run's by State-County, on local temporary files, with
memory that does not grow with the rows.

Both sides come in blocks: this run's (key, raw cluster) in its row order, the previous run's (key, segment ID)
as its segments.csv has them. Each row goes to one of `partitions` files by a 64-bit hash of its key
(pd.util.hash_array, as census.streaming spills its key hashes), so that a key's rows on both sides meet in one
partition; each partition is then read back and joined alone. What the join keeps is a few numbers per segment
and the first keys of each list: the counties per (previous segment, raw cluster) over the shared keys (the contingency
continuity.match_table needs), the previous run's segment sizes, and the added and removed keys (counted, the
first few in key order kept). Each current row's previous segment (or MISSING) is written to its partition's
run file in row order; `Joined.previous_segments` merges those runs back into this run's row order, a block at a
time, for the matched segments and the moved counties.

What it holds: one partition of each side (at most PARTITION_ROWS rows: ~25 MiB of keys as Python strings and
pandas' hash tables over them), a block of each side as it is spread, and about MERGE_ROWS entries of the runs while
merging. Pure: numpy, pandas and pyarrow, no Airflow, no AWS.
"""

from __future__ import annotations

import contextlib
import heapq
import math
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc

# Rows of either side one partition is sized for: what the join holds at once whatever the census's rows. Joining a
# partition takes ~700 bytes a row (both sides' keys as Arrow and as Python strings, pandas' hash tables over them):
# ~25 MiB at 32,768 rows, and a partition holds between half that and that (rows / partitions), so that the peak
# moves by ~10 MiB from one row count to another. 10 M rows make 306 partitions.
PARTITION_ROWS = 32_768
# Partitions at most: their files are open at once while a side is spread (and the runs while merging), well under
# the usual limit of 1,024 open files. MAX_CENSUS_ROWS (20 M) rows make 512 partitions of ~39,000 rows.
MAX_PARTITIONS = 512
# Entries (row, previous segment) read from the partitions' run files at a time when merging the runs back into row
# order, shared by the partitions (at least MERGE_MIN_ROWS each): ~1-2 MiB held in all, whatever their number
# (306 partitions at 10 M rows: 214 entries each).
MERGE_ROWS = 65_536
MERGE_MIN_ROWS = 128
MISSING = np.iinfo(np.int64).min  # previous segment of a county the previous run did not have

_CURRENT = pa.schema([("row", pa.int64()), ("key", pa.string()), ("cluster", pa.int64())])
_PREVIOUS = pa.schema([("key", pa.string()), ("segment", pa.int64())])


def partition_count(rows: int) -> int:
    """Partitions for a join whose larger side has `rows` rows: each at most PARTITION_ROWS, up to MAX_PARTITIONS."""
    return min(MAX_PARTITIONS, max(1, math.ceil(rows / PARTITION_ROWS)))


class DuplicateKeyError(ValueError):
    """A key appears twice on one side: a run's counties are unique, so a file holding one twice is not a run's."""


@dataclass(frozen=True)
class Joined:
    """What the join of this run's counties (raw clusters 0…k-1) with the previous run's (segment IDs) found.

    table: (p, k) int64, shared counties per (previous segment previous_ids[i], raw cluster j); previous_ids (p,)
    int64 every segment ID the previous run has, sorted, and previous_sizes (p,) its counties per ID (all of them,
    shared or not); rows: this run's counties, cluster_sizes (k,) int64 of them per raw cluster; added / removed:
    counties only this run / only the previous run has, and the first `listed` of each in key order."""

    table: np.ndarray
    previous_ids: np.ndarray
    previous_sizes: np.ndarray
    rows: int
    cluster_sizes: np.ndarray
    added: int
    added_first: tuple[str, ...]
    removed: int
    removed_first: tuple[str, ...]
    _runs: tuple[str, ...] = ()

    @contextlib.contextmanager
    def previous_segments(self) -> Iterator[_InOrder]:
        """A reader of each current row's previous segment (MISSING for a county the previous run did not have),
        in this run's row order: `.take(count)` -> (count,) int64 for the next `count` rows."""
        with _InOrder(self._runs) as reader:
            yield reader


class _InOrder:
    """The partitions' run files (row, previous segment), each sorted by row, merged back into row order a block
    at a time: every row is in exactly one run, so a block [start, stop) is the runs' entries below `stop`."""

    def __init__(self, paths: tuple[str, ...]) -> None:
        self._files = [open(path, "rb") for path in paths]  # noqa: SIM115 (closed by __exit__)
        self._held = [np.empty((0, 2), dtype=np.int64) for _ in paths]
        self._read = max(MERGE_MIN_ROWS, MERGE_ROWS // max(1, len(paths)))  # entries read from a run at a time
        self._start = 0

    def __enter__(self) -> _InOrder:
        return self

    def __exit__(self, *failed) -> None:
        for file in self._files:
            file.close()

    def take(self, count: int) -> np.ndarray:
        stop = self._start + count
        previous = np.full(count, MISSING, dtype=np.int64)
        filled = 0
        for number, file in enumerate(self._files):
            held = self._held[number]
            while not len(held) or held[-1, 0] < stop:  # the run's rows below `stop` may go on in the file
                more = np.fromfile(file, dtype=np.int64, count=2 * self._read).reshape(-1, 2)
                if not len(more):
                    break
                held = np.concatenate([held, more])
            below = int(np.searchsorted(held[:, 0], stop))
            previous[held[:below, 0] - self._start] = held[:below, 1]
            filled += below
            self._held[number] = held[below:]
        if filled != count:
            raise ValueError(f"rows {self._start}…{stop - 1}: the partitions' runs hold {filled} of them")
        self._start = stop
        return previous


def _partition_of(keys: np.ndarray, partitions: int) -> np.ndarray:
    """(n,) object keys -> (n,) partition numbers 0…partitions-1, by pd.util.hash_array."""
    return (pd.util.hash_array(keys) % np.uint64(partitions)).astype(np.int64)


def _spread(writers: list, schema: pa.Schema, columns: list[np.ndarray], partition: np.ndarray) -> None:
    """Append each row of `columns` to its partition's file, in the order the rows come: the block converted to
    Arrow once, ordered by partition (stable), and each partition's rows written as a slice of it."""
    order = np.argsort(partition, kind="stable")
    bounds = np.searchsorted(partition[order], np.arange(len(writers) + 1))
    arrays = [pa.array(column, type=field.type) for column, field in zip(columns, schema, strict=True)]
    ordered = pa.record_batch(arrays, schema=schema).take(pa.array(order))
    for number, writer in enumerate(writers):
        if bounds[number + 1] > bounds[number]:
            writer.write_batch(ordered.slice(bounds[number], bounds[number + 1] - bounds[number]))


def _smallest(first: tuple[str, ...], more: np.ndarray, listed: int) -> tuple[str, ...]:
    """The `listed` smallest keys of `first` (sorted) and `more`, sorted (Python's str order, as Index.difference)."""
    return tuple(heapq.nsmallest(listed, [*first, *heapq.nsmallest(listed, more.tolist())]))


def _duplicates(keys: pd.Index, side: str) -> None:
    if not keys.is_unique:
        repeated = keys[keys.duplicated()].unique()[:5].tolist()
        raise DuplicateKeyError(f"{side} has State-County {', '.join(map(repr, repeated))} more than once")


@contextlib.contextmanager
def join(
    current: Iterable[tuple[np.ndarray, np.ndarray]],
    previous: Iterable[tuple[np.ndarray, np.ndarray]],
    k: int,
    partitions: int,
    listed: int,
    previous_name: str = "the previous run's segments",
) -> Iterator[Joined]:
    """Join this run's blocks of ((m,) object keys, (m,) int raw clusters 0…k-1), in row order, with the previous
    run's blocks of ((m,) object keys, (m,) int64 segment IDs), over `partitions` partitions of temporary files
    (removed when the block ends), keeping the first `listed` added and removed keys (continuity.LISTED).
    DuplicateKeyError naming the key when either side has one twice (whole, as
    pandas' reindex refused them). `previous_name` names the previous side in errors."""
    with tempfile.TemporaryDirectory(prefix="popseg-join-") as folder:
        current_paths = [os.path.join(folder, f"current-{n}.arrow") for n in range(partitions)]
        previous_paths = [os.path.join(folder, f"previous-{n}.arrow") for n in range(partitions)]
        run_paths = tuple(os.path.join(folder, f"run-{n}.i64") for n in range(partitions))
        rows = 0
        cluster_sizes = np.zeros(k, dtype=np.int64)
        with contextlib.ExitStack() as files:
            writers = [files.enter_context(pa.ipc.new_stream(path, _CURRENT)) for path in current_paths]
            for keys, clusters in current:
                keys, clusters = np.asarray(keys, dtype=object), np.asarray(clusters, dtype=np.int64)
                outside = (clusters < 0) | (clusters >= k)
                if outside.any():
                    at = int(np.argmax(outside))
                    raise ValueError(
                        f"row {rows + at}: cluster {clusters[at]} is not one of the k = {k} clusters 0…{k - 1}"
                    )
                cluster_sizes += np.bincount(clusters, minlength=k)
                row = np.arange(rows, rows + len(keys), dtype=np.int64)
                _spread(writers, _CURRENT, [row, keys, clusters], _partition_of(keys, partitions))
                rows += len(keys)
        counts: dict[int, int] = {}
        with contextlib.ExitStack() as files:
            writers = [files.enter_context(pa.ipc.new_stream(path, _PREVIOUS)) for path in previous_paths]
            for keys, segments in previous:
                keys, segments = np.asarray(keys, dtype=object), np.asarray(segments, dtype=np.int64)
                ids, sizes = np.unique(segments, return_counts=True)
                for segment, size in zip(ids.tolist(), sizes.tolist(), strict=True):
                    counts[segment] = counts.get(segment, 0) + size
                _spread(writers, _PREVIOUS, [keys, segments], _partition_of(keys, partitions))
        previous_ids = np.array(sorted(counts), dtype=np.int64)
        table = np.zeros((len(previous_ids), k), dtype=np.int64)
        added = removed = 0
        added_first: tuple[str, ...] = ()
        removed_first: tuple[str, ...] = ()
        for number in range(partitions):
            mine = pa.ipc.open_stream(current_paths[number]).read_all()
            theirs = pa.ipc.open_stream(previous_paths[number]).read_all()
            os.remove(current_paths[number])
            os.remove(previous_paths[number])
            my_keys = pd.Index(mine.column("key").to_numpy(zero_copy_only=False))
            their_keys = pd.Index(theirs.column("key").to_numpy(zero_copy_only=False))
            _duplicates(my_keys, "this run's segments")
            _duplicates(their_keys, previous_name)
            position = their_keys.get_indexer(my_keys)  # −1: not in the previous run
            shared = position >= 0
            their_segments = theirs.column("segment").to_numpy()
            old = np.full(len(my_keys), MISSING, dtype=np.int64)
            old[shared] = their_segments[position[shared]]
            clusters = mine.column("cluster").to_numpy()
            codes = np.searchsorted(previous_ids, old[shared])
            table += np.bincount(codes * k + clusters[shared], minlength=table.size).reshape(table.shape)
            np.column_stack([mine.column("row").to_numpy(), old]).astype(np.int64).tofile(run_paths[number])
            new_keys = my_keys.to_numpy()[~shared]
            added, added_first = added + len(new_keys), _smallest(added_first, new_keys, listed)
            gone = np.ones(len(their_keys), dtype=bool)
            gone[position[shared]] = False
            gone_keys = their_keys.to_numpy()[gone]
            removed, removed_first = removed + len(gone_keys), _smallest(removed_first, gone_keys, listed)
            del mine, theirs, my_keys, their_keys
        yield Joined(
            table=table,
            previous_ids=previous_ids,
            previous_sizes=np.array([counts[i] for i in previous_ids.tolist()], dtype=np.int64),
            rows=rows,
            cluster_sizes=cluster_sizes,
            added=added,
            added_first=added_first,
            removed=removed,
            removed_first=removed_first,
            _runs=run_paths,
        )
