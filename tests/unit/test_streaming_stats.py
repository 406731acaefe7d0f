"""The streamed statistics equal numpy's on the whole column bit for bit, however the rows are cut into blocks:
np.sum / np.mean (pairwise summation), np.median / np.nanmedian, and mid-rank counts."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from include.segmentation.streaming_stats import GroupMedians, MidRanks, PairwiseSums, leaf_sizes

SIZES = [0, 1, 2, 7, 8, 9, 127, 128, 129, 255, 256, 257, 1000, 4099, 100_003]
BLOCKS = [1, 7, 128, 1000, 65_536]  # rows a block: cuts that fall inside leaves, at their edges, across many


def _values(n: int, kind: str, rng) -> np.ndarray:
    """(n, 3) float64: spread normals, or heavy ties, or with NaN."""
    values = rng.standard_normal((n, 3)) * 1e3
    if kind == "ties":
        values = np.round(values / 300) + 0.0  # no -0.0: numpy answers a -0.0 or a 0.0 that tie as its partition falls
    if kind == "nan":
        values[rng.random(n) < 0.1, 1] = np.nan
    return values


def _blocks(n: int, size: int):
    return [slice(start, start + size) for start in range(0, n, size)] or [slice(0, 0)]


def _same(a, b) -> bool:
    """Equal bit for bit (NaN equal to NaN)."""
    return np.array_equal(
        np.asarray(a, dtype=np.float64).view(np.int64), np.asarray(b, dtype=np.float64).view(np.int64)
    )


def _grouped(n: int, groups: int, rng) -> np.ndarray:
    """(n,) group positions, −1 (in no group) for some rows, the last group left empty."""
    return rng.integers(-1, max(groups - 1, 1), n) if groups > 1 else np.zeros(n, dtype=np.int64)


@pytest.mark.parametrize("n", SIZES)
def test_leaves_cover_the_values_once_in_order(n) -> None:
    sizes = list(leaf_sizes(n))
    assert sum(sizes) == n and all(0 < size <= 128 for size in sizes)


@pytest.mark.parametrize("kind", ["spread", "ties", "nan"])
@pytest.mark.parametrize("n", SIZES)
def test_sums_and_means_equal_numpys_bit_for_bit_whatever_the_blocks(n, kind) -> None:
    rng = np.random.default_rng(n)
    values, group = _values(n, kind, rng), _grouped(n, 4, rng)
    parts = [np.ascontiguousarray(values[group == g]) for g in range(4)]
    sizes = [len(part) for part in parts]
    for block in BLOCKS if n < 5000 else BLOCKS[2:]:
        sums = PairwiseSums(sizes, 3)
        for rows in _blocks(n, block):
            sums.add(group[rows], values[rows])
        for g, part in enumerate(parts):
            expected_sum = [np.sum(np.ascontiguousarray(part[:, c])) for c in range(3)]
            expected_mean = [np.mean(np.ascontiguousarray(part[:, c])) if len(part) else np.nan for c in range(3)]
            assert _same(sums.totals()[g], expected_sum), (g, block)
            assert _same(sums.means()[g], expected_mean), (g, block)


def test_a_group_short_of_its_size_is_refused_with_both_counts() -> None:
    sums = PairwiseSums([3, 2], 1)
    sums.add(np.array([0, 0, 1]), np.ones((3, 1)))
    with pytest.raises(ValueError, match="group 0 got 2 rows, expected 3"):
        sums.totals()


def test_a_group_given_more_than_its_size_is_refused() -> None:
    sums = PairwiseSums([1], 1)
    with pytest.raises(ValueError, match="group 0 got more than its 1 rows"):
        sums.add(np.array([0, 0]), np.ones((2, 1)))


def _medians(group, values, groups, skip_nan, block) -> np.ndarray:
    medians = GroupMedians(groups, values.shape[1], skip_nan, seed=block, overall=True)
    for step in (medians.sample, medians.count, medians.keep):
        for rows in _blocks(len(values), block):
            step(group[rows], values[rows])
    return medians.medians()


@pytest.mark.parametrize("kind", ["spread", "ties", "nan"])
@pytest.mark.parametrize("n", SIZES)
def test_medians_equal_numpys_bit_for_bit_whatever_the_blocks(n, kind) -> None:
    rng = np.random.default_rng(n + 1)
    values, group = _values(n, kind, rng), _grouped(n, 4, rng)
    skip_nan = np.array([False, True, False])
    for block in BLOCKS if n < 5000 else BLOCKS[2:]:
        medians = _medians(group, values, 4, skip_nan, block)
        for g in range(5):  # the last: every row, those in no group too
            part = values[group == g] if g < 4 else values
            for c in range(3):
                column = part[:, c][~np.isnan(part[:, c])] if skip_nan[c] else part[:, c]
                expected = np.median(column) if len(column) else np.nan
                assert _same(medians[g, c], expected), (g, c, block)


def test_a_median_over_more_values_than_the_sample_keeps_only_those_between_two_pivots() -> None:
    """200,000 distinct values: the third pass keeps a few hundred for each median, not the group."""
    rng = np.random.default_rng(9)
    values, group = rng.standard_normal((200_000, 1)), np.zeros(200_000, dtype=np.int64)
    medians = GroupMedians(1, 1)
    for step in (medians.sample, medians.count, medians.keep):
        step(group, values)
    assert sum(len(kept) for kept in medians._kept.values()) < 5_000
    assert _same(medians.medians()[0, 0], np.median(values))


def test_what_the_third_pass_holds_does_not_grow_with_the_number_of_blocks() -> None:
    """The same 200,000 rows in 2 blocks and in 2,000: pass 3 holds the same bytes after it (each interval's
    values in one array sized from pass 2's count), where an array per block and interval held ~100 bytes more
    per block each, and the heap grew with the blocks (extract_attributes at 10 M rows: +190 MiB)."""
    import tracemalloc

    rng = np.random.default_rng(9)
    values, group = rng.standard_normal((200_000, 4)), rng.integers(0, 3, 200_000)

    def held_by_the_third_pass(blocks: int) -> int:
        medians = GroupMedians(3, 4, overall=True)
        bounds = np.linspace(0, len(group), blocks + 1).astype(int)
        for step in (medians.sample, medians.count):
            for start, end in itertools.pairwise(bounds):
                step(group[start:end], values[start:end])
        medians.keep(group[:0], values[:0])  # plans: the arrays are sized here
        tracemalloc.start()
        try:
            for start, end in itertools.pairwise(bounds):
                medians.keep(group[start:end], values[start:end])
            return tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()

    few, many = held_by_the_third_pass(2), held_by_the_third_pass(2_000)
    assert many - few < 16_384, f"bytes held after pass 3: {few:,} in 2 blocks, {many:,} in 2,000"


def test_a_third_pass_with_more_values_between_the_pivots_than_counted_is_refused() -> None:
    """Pass 3 writes into arrays sized from pass 2's counts: rows that differ there are refused, not written past."""
    rng = np.random.default_rng(9)
    values, group = rng.standard_normal((200_000, 1)), np.zeros(200_000, dtype=np.int64)
    medians = GroupMedians(1, 1)
    medians.sample(group, values)
    medians.count(group, values)
    medians.keep(group[:0], values[:0])  # plans the intervals to keep
    ((_, column, j),) = medians._kept
    pivots = medians._pivots[column]
    inside = np.full((len(group), 1), (pivots[j - 1] + pivots[j]) / 2)  # every row between those two pivots
    with pytest.raises(ValueError, match=r"more values between pivots than pass 2 counted"):
        medians.keep(group, inside)


def test_passes_that_saw_different_rows_are_refused() -> None:
    medians = GroupMedians(1, 1)
    medians.sample(np.zeros(3, dtype=np.int64), np.ones((3, 1)))
    medians.count(np.zeros(3, dtype=np.int64), np.ones((3, 1)))
    medians.keep(np.zeros(2, dtype=np.int64), np.ones((2, 1)))
    with pytest.raises(ValueError, match=r"the passes saw \[3, 3, 2\] rows"):
        medians.medians()


@pytest.mark.parametrize("block", [1, 7, 1000])
def test_mid_rank_counts_equal_a_comparison_with_every_value(block) -> None:
    rng = np.random.default_rng(block)
    values = np.round(rng.standard_normal((3000, 2)) * 3)
    values[::7, 1] = np.nan
    points = np.array([[0.0, 2.0, np.nan, 100.0], [-1.0, 0.0, 3.0, -100.0]])
    ranks = MidRanks(points)
    for rows in _blocks(len(values), block):
        ranks.add(values[rows])
    percentiles = ranks.percentiles()
    for c in range(2):
        known = values[:, c][~np.isnan(values[:, c])]
        for i, point in enumerate(points[c]):
            below, equal = np.count_nonzero(known < point), np.count_nonzero(known == point)
            expected = np.nan if np.isnan(point) else 100 * (below + equal / 2) / len(known)
            assert _same(percentiles[c, i], expected)
