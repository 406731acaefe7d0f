"""Exact statistics of grouped float64 columns that arrive in blocks of rows, equal bit for bit to numpy's on the
whole column: what lets a task describe ten million rows holding one block of them.

- `PairwiseSums`: per group and column the sum of its values in row order, as `np.add.reduce` (so `np.sum`,
  `np.mean`) computes it on the group's contiguous (n,) float64 column: numpy's pairwise summation. Its tree
  over [0, n) is fixed by n (a node of more than LEAF values splits at n // 2 rounded down to a multiple of 8;
  a leaf adds its values in 8 lanes, 8 at a time, then folds the lanes ((0+1)+(2+3))+((4+5)+(6+7)) and adds the
  rest one by one; under 8 values it adds them one by one to -0.0). Given each group's n, its leaves are summed
  as their values come, leaves of one size vectorised, and their sums folded up the tree: what is held is one
  unfinished leaf per group (< LEAF rows) and the open nodes of its tree (log2 n).
- `GroupMedians`: per group and column the median as `np.median` gives it (the middle order statistic, or the
  two middle ones' mean), or `np.nanmedian`'s (NaN left out), in three passes over the same blocks: a seeded
  sample of SAMPLE_ROWS rows gives pivots; counting each group's values below, at and between them finds the
  interval (or the pivot) that holds each middle rank; the third pass keeps only the values inside that open
  interval, ≈ rows / SAMPLE_ROWS of them.
- `MidRanks`: per column how many values are below and equal to each of a few points, in one pass: the mid-rank
  percentile 100 × (below + equal / 2) / n.

Groups are positions 0…k−1; a row of group −1 is in none. Every class checks that each pass saw the rows the
first one did. A -0.0 and a 0.0 that tie at a median are one value here (numpy answers whichever its partition
puts there); census values have no -0.0.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

LEAF = 128  # numpy's pairwise summation adds at most this many values in one leaf (PW_BLOCKSIZE)
LANES = 8  # a leaf's accumulators
# Rows sampled for a column's pivots: the values kept for a median are those between two neighbouring pivots,
# ≈ rows / SAMPLE_ROWS of them (10,000 at 10 M rows: 80 KB); the counts are (groups, 2 · pivots + 1) int64 a
# column, 330 KB for 20 groups.
SAMPLE_ROWS = 1024


def leaf_sizes(n: int) -> Iterator[int]:
    """The sizes of the leaves of numpy's pairwise summation of n values, in order (none for n = 0)."""
    if n <= LEAF:
        if n:
            yield n
        return
    half = n // 2
    half -= half % LANES
    yield from leaf_sizes(half)
    yield from leaf_sizes(n - half)


def _folds(n: int):
    """A generator sent each leaf's sum in order; it returns (StopIteration.value) their pairwise total."""
    if n <= LEAF:
        return (yield)
    half = n // 2
    half -= half % LANES
    left = yield from _folds(half)
    right = yield from _folds(n - half)
    return left + right


def leaf_sums(leaves: np.ndarray) -> np.ndarray:
    """(c, size, width) float64 leaves -> (c, width) each leaf's sum as numpy's pairwise leaf adds it."""
    count, size, width = leaves.shape
    if size < LANES:
        total = np.full((count, width), -0.0)
        for i in range(size):
            total = total + leaves[:, i]
        return total
    lanes = leaves[:, :LANES].copy()
    whole = size - size % LANES
    for start in range(LANES, whole, LANES):
        lanes += leaves[:, start : start + LANES]
    r = [lanes[:, i] for i in range(LANES)]
    total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    for i in range(whole, size):
        total = total + leaves[:, i]
    return total


def group_slices(group: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(m,) int group positions (−1: none) -> the rows' stable order by group, and (groups,) start and stop of
    each group's rows in that order."""
    order = np.argsort(group, kind="stable")
    ordered = group[order]
    positions = np.arange(groups)
    return order, np.searchsorted(ordered, positions, "left"), np.searchsorted(ordered, positions, "right")


class PairwiseSums:
    """Per group and column, the sum of the group's values in row order, bit-identical to np.add.reduce of its
    (n,) float64 column. sizes: (k,) the rows each group will get (known before: a counting pass, or the
    segments' sizes); add() blocks in row order; totals() once every row came."""

    def __init__(self, sizes: np.ndarray, width: int) -> None:
        self.sizes = np.asarray(sizes, dtype=np.int64)
        self.width = width
        groups = len(self.sizes)
        self._plans = [leaf_sizes(int(n)) for n in self.sizes]
        self._next: list[int | None] = [None] * groups
        self._held = [np.empty((0, width)) for _ in range(groups)]
        self._seen = np.zeros(groups, dtype=np.int64)
        self._totals = np.zeros((groups, width))  # np.sum of no values is 0.0
        self._folds = []
        for n in self.sizes:
            folds = _folds(int(n)) if n else None
            if folds is not None:
                next(folds)
            self._folds.append(folds)

    def add(self, group: np.ndarray, values: np.ndarray) -> None:
        """(m,) group positions and (m, width) float64 values of the next m rows."""
        values = np.asarray(values, dtype=np.float64).reshape(len(group), self.width)
        order, starts, stops = group_slices(np.asarray(group), len(self.sizes))
        for g in np.flatnonzero(stops > starts):
            self._take(int(g), values[order[starts[g] : stops[g]]])

    def _take(self, g: int, part: np.ndarray) -> None:
        self._seen[g] += len(part)
        if self._seen[g] > self.sizes[g]:
            raise ValueError(f"group {g} got more than its {self.sizes[g]} rows")
        data = np.concatenate([self._held[g], part]) if len(self._held[g]) else part
        sizes, used = [], 0
        while True:
            if self._next[g] is None:
                self._next[g] = next(self._plans[g], 0)
            size = self._next[g]
            if size == 0 or used + size > len(data):
                break
            sizes.append(size)
            used += size
            self._next[g] = None
        if sizes:
            starts = np.cumsum([0, *sizes[:-1]])
            sums = np.empty((len(sizes), self.width))
            lengths = np.asarray(sizes)
            for size in np.unique(lengths):  # leaves of one size at once
                which = np.flatnonzero(lengths == size)
                sums[which] = leaf_sums(data[starts[which, None] + np.arange(size)])
            for total in sums:
                try:
                    self._folds[g].send(total)
                except StopIteration as done:
                    self._totals[g] = done.value
        self._held[g] = data[used:].copy()

    def totals(self) -> np.ndarray:
        """(k, width) float64 sums; ValueError when a group got fewer rows than its size."""
        short = np.flatnonzero(self._seen != self.sizes)
        if short.size:
            g = int(short[0])
            raise ValueError(f"group {g} got {self._seen[g]} rows, expected {self.sizes[g]}")
        return self._totals.copy()

    def means(self) -> np.ndarray:
        """(k, width) float64 means as np.mean gives them (sum / n); NaN for an empty group."""
        totals = self.totals()
        with np.errstate(invalid="ignore", divide="ignore"):
            means = totals / self.sizes[:, None]
        means[self.sizes == 0] = np.nan
        return means


class GroupMedians:
    """Per group and column the exact median of (rows, width) float64 values streamed in blocks, in three passes
    over the same rows in the same order: sample(), then count(), then keep(), each over every block; then
    medians(). skip_nan: (width,) per column, np.nanmedian (NaN left out) or np.median (NaN if the group has one);
    a group without values gets NaN. overall: one more group, the last, of every row (group −1 too), counted
    from the same comparisons with the pivots."""

    def __init__(
        self, groups: int, width: int, skip_nan: bool | np.ndarray = False, seed: int = 0, overall: bool = False
    ) -> None:
        self.split, self.overall = groups, overall  # the groups rows are split into; the all-rows group after
        groups += overall
        self.groups, self.width = groups, width
        self.skip_nan = np.broadcast_to(np.asarray(skip_nan, dtype=bool), (width,))
        self.known = np.zeros((groups, width), dtype=np.int64)  # values that are not NaN
        self.missing = np.zeros((groups, width), dtype=np.int64)
        self._rng = np.random.default_rng(seed)
        self._sample, self._keys = np.empty((0, width)), np.empty(0)
        self._pivots: list[np.ndarray] = []
        self._counts: list[np.ndarray] = []
        self._targets: dict[tuple[int, int], list] = {}  # (group, column) -> per middle rank (value or interval)
        # (group, column, interval) -> its values, in an array sized from pass 2's count and filled by pass 3, and
        # how many are in so far. Sized once, before pass 3: appending each block's few values as arrays of their
        # own left thousands of small blocks among each block's transient copies, and the heap grew with the
        # blocks (extract_attributes at 10 M rows peaked at 714 MiB, 525 MiB once sized); the values themselves
        # are ≈ rows / 1,024 a median at most.
        self._kept: dict[tuple[int, int, int], np.ndarray] = {}
        self._filled: dict[tuple[int, int, int], int] = {}
        self._rows = [0, 0, 0]
        self._counting = self._planned = False

    def sample(self, group: np.ndarray, values: np.ndarray) -> None:
        """Pass 1: count each group's values and NaNs, and draw the pivots' sample."""
        group, values = np.asarray(group), np.asarray(values, dtype=np.float64).reshape(len(group), self.width)
        self._rows[0] += len(group)
        nan = np.isnan(values)
        for g, rows in self._each_group(group):
            missing = nan[rows].sum(axis=0)
            self.missing[g] += missing
            self.known[g] += len(nan[rows]) - missing
        keys = np.concatenate([self._keys, self._rng.random(len(group))])
        rows = np.concatenate([self._sample, values])
        if len(keys) > SAMPLE_ROWS:  # the rows with the SAMPLE_ROWS smallest keys: a uniform sample of all
            smallest = np.argpartition(keys, SAMPLE_ROWS)[:SAMPLE_ROWS]
            keys, rows = keys[smallest], rows[smallest]
        self._keys, self._sample = keys, rows

    def count(self, group: np.ndarray, values: np.ndarray) -> None:
        """Pass 2: per group the values below, at and between the pivots."""
        group, values = np.asarray(group), np.asarray(values, dtype=np.float64).reshape(len(group), self.width)
        if not self._counting:
            self._counting = True
            self._pivots = [np.unique(column[~np.isnan(column)]) for column in self._sample.T]
            self._counts = [np.zeros((self.groups, 2 * len(p) + 1), dtype=np.int64) for p in self._pivots]
            self._sample = self._keys = None
        self._rows[1] += len(group)
        for c, pivots in enumerate(self._pivots):
            column = values[:, c]
            known = ~np.isnan(column)
            bins, owner = self._bins(pivots, column[known]), group[known]
            inside = owner >= 0
            width = 2 * len(pivots) + 1
            self._counts[c][: self.split] += np.bincount(
                owner[inside] * width + bins[inside], minlength=self.split * width
            ).reshape(self.split, width)
            if self.overall:
                self._counts[c][-1] += np.bincount(bins, minlength=width)

    @staticmethod
    def _bins(pivots: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Bin 2j: strictly between pivots j−1 and j (below the first, above the last); bin 2j+1: equal to pivot j."""
        left = np.searchsorted(pivots, values, "left")
        if not len(pivots):
            return left
        return 2 * left + (pivots[np.minimum(left, len(pivots) - 1)] == values)

    def _each_group(self, group: np.ndarray) -> Iterator[tuple[int, np.ndarray | slice]]:
        """(group, its rows of the block) for each group with rows in it, the all-rows group last."""
        order, starts, stops = group_slices(group, self.split)
        for g in np.flatnonzero(stops > starts):
            yield int(g), order[starts[g] : stops[g]]
        if self.overall and len(group):
            yield self.groups - 1, slice(None)

    def _plan(self) -> None:
        self._planned = True
        for g in range(self.groups):
            for c, pivots in enumerate(self._pivots):
                n = int(self.known[g, c])
                if n == 0 or (self.missing[g, c] and not self.skip_nan[c]):
                    continue
                cumulative = np.cumsum(self._counts[c][g])
                wanted = []
                for rank in sorted({(n - 1) // 2, n // 2}):
                    b = int(np.searchsorted(cumulative, rank, "right"))
                    if b % 2:
                        wanted.append(("value", pivots[(b - 1) // 2]))
                    else:
                        before = int(cumulative[b - 1]) if b else 0
                        wanted.append(("interval", b // 2, rank - before))
                        if (g, c, b // 2) not in self._kept:
                            self._kept[g, c, b // 2] = np.empty(int(self._counts[c][g, b]))
                            self._filled[g, c, b // 2] = 0
                self._targets[g, c] = wanted

    def keep(self, group: np.ndarray, values: np.ndarray) -> None:
        """Pass 3: keep the values inside the intervals that hold a middle rank."""
        if not self._planned:
            self._plan()
        group, values = np.asarray(group), np.asarray(values, dtype=np.float64).reshape(len(group), self.width)
        self._rows[2] += len(group)
        rows_of = dict(self._each_group(group))
        for (g, c, j), kept in self._kept.items():
            if g not in rows_of:
                continue
            column = values[rows_of[g], c]
            pivots = self._pivots[c]
            inside = ~np.isnan(column)
            if j < len(pivots):
                inside &= column < pivots[j]
            if j > 0:
                inside &= column > pivots[j - 1]
            found = column[inside]
            start, end = self._filled[g, c, j], self._filled[g, c, j] + len(found)
            if end > len(kept):
                raise ValueError(f"group {g} column {c}: more values between pivots than pass 2 counted ({len(kept)})")
            kept[start:end] = found
            self._filled[g, c, j] = end

    def medians(self) -> np.ndarray:
        """(groups, width) float64 medians."""
        if len(set(self._rows)) != 1:
            raise ValueError(f"the passes saw {self._rows} rows: the blocks must be the same rows each pass")
        if not self._planned:
            self._plan()
        kept = {}
        for (g, c, j), values in self._kept.items():
            if self._filled[g, c, j] != len(values):
                raise ValueError(
                    f"group {g} column {c}: {self._filled[g, c, j]} values between pivots, counted {len(values)}"
                )
            kept[g, c, j] = np.sort(values)
        result = np.full((self.groups, self.width), np.nan)
        for (g, c), wanted in self._targets.items():
            middle = [item[1] if item[0] == "value" else kept[g, c, item[1]][item[2]] for item in wanted]
            if int(self.known[g, c]) % 2:
                result[g, c] = middle[0]
            else:  # np.median: the mean of the two middle values
                result[g, c] = np.mean(np.array([middle[0], middle[-1]], dtype=np.float64))
        return result


class MidRanks:
    """Per column, how many of its values (NaN left out) are below and equal to each of a few points, in one pass.
    points: (width, p) float64, NaN where a column has no point."""

    def __init__(self, points: np.ndarray) -> None:
        self.points = np.asarray(points, dtype=np.float64)
        self.below = np.zeros(self.points.shape, dtype=np.int64)
        self.equal = np.zeros(self.points.shape, dtype=np.int64)
        self.known = np.zeros(len(self.points), dtype=np.int64)

    def add(self, values: np.ndarray) -> None:
        """(m, width) float64 values of the next rows."""
        values = np.asarray(values, dtype=np.float64).reshape(-1, len(self.points))
        for c, points in enumerate(self.points):
            column = np.sort(values[:, c])  # NaN sorts last: never below nor equal to a point
            known = len(column) - int(np.isnan(column).sum())
            column = column[:known]
            left = np.searchsorted(column, points, "left")
            self.below[c] += left
            self.equal[c] += np.searchsorted(column, points, "right") - left
            self.known[c] += known

    def percentiles(self) -> np.ndarray:
        """(width, p) 100 × (below + equal / 2) / n, as traits' mid-rank percentile; NaN for a NaN point or a
        column without values."""
        result = np.full(self.points.shape, np.nan)
        for c, points in enumerate(self.points):
            n = int(self.known[c])
            for i, point in enumerate(points):
                if not np.isnan(point) and n:
                    below, equal = int(self.below[c, i]), int(self.equal[c, i])
                    result[c, i] = 100 * (below + equal / 2) / n
        return result
