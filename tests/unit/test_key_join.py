"""The external join by State-County (include/segmentation/key_join.py) finds what the in-memory continuity functions
find on the same rows: the same IDs (match_table vs match_ids), the same churn (joined_churn vs churn), each row's
previous segment in row order (vs moved_counties), on random keys that are shared, new, gone or formula-like."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from include.segmentation import continuity, key_join, parquet_tables, results

FORMULA_LIKE = ["=A1-County", "+B-County", "-C-County", "@D-County", "＝E-County", "'F-County"]


def _runs(seed: int, rows: int = 5_000, k: int = 6) -> tuple[pd.Series, pd.Series]:
    """(previous run's segment IDs, this run's raw clusters) by key: 80 % of the keys shared, the rest new or gone,
    formula-like keys among all three, previous IDs with gaps, shuffled orders."""
    rng = np.random.default_rng(seed)
    pool = np.array([f"K{i:06d}-{rng.integers(1e9)}" for i in range(rows)] + FORMULA_LIKE, dtype=object)
    pool = pool[rng.permutation(len(pool))]
    side = rng.choice(3, len(pool), p=[0.8, 0.1, 0.1])  # 0 shared, 1 this run only, 2 previous only
    current_keys, previous_keys = pool[side != 2], pool[side != 1]
    clusters = rng.integers(0, k, len(current_keys))
    ids = np.array([0, 2, 3, 5, 8, 9, 11])
    previous = pd.Series(ids[rng.integers(0, len(ids), len(previous_keys))], index=pd.Index(previous_keys))
    previous = previous.iloc[rng.permutation(len(previous))]
    return previous.rename_axis("State-County"), pd.Series(clusters, index=pd.Index(current_keys, name="State-County"))


def _blocks(series: pd.Series, size: int):
    for start in range(0, len(series), size):
        part = series.iloc[start : start + size]
        yield part.index.to_numpy(dtype=object), part.to_numpy(dtype=np.int64)


def _joined(previous: pd.Series, clusters: pd.Series, k: int, partitions: int):
    return key_join.join(_blocks(clusters, 333), _blocks(previous, 500), k, partitions, continuity.LISTED)


@pytest.mark.parametrize(("seed", "partitions"), [(1, 1), (2, 7), (3, 64)])
def test_the_join_matches_segments_as_the_in_memory_match(seed, partitions) -> None:
    previous, clusters = _runs(seed)
    with _joined(previous, clusters, 6, partitions) as joined:
        assert continuity.match_table(joined.table, joined.previous_ids, 6, 12) == continuity.match_ids(
            previous, clusters, 6, 12
        )


@pytest.mark.parametrize(("seed", "partitions"), [(4, 1), (5, 7), (6, 64)])
def test_the_join_counts_the_churn_of_the_in_memory_churn(seed, partitions) -> None:
    previous, clusters = _runs(seed)
    ids = continuity.match_ids(previous, clusters, 6, 12)
    expected = continuity.churn(previous, pd.Series(ids.stable(clusters.to_numpy()), index=clusters.index))
    with _joined(previous, clusters, 6, partitions) as joined:
        found = continuity.joined_churn(joined, ids)
    assert (found.shared, found.changed, found.changed_share) == (
        expected.shared,
        expected.changed,
        expected.changed_share,
    )
    assert found.adjusted_rand == expected.adjusted_rand  # bit for bit
    pd.testing.assert_frame_equal(found.transitions, expected.transitions, check_names=True)
    pd.testing.assert_frame_equal(found.sizes, expected.sizes)
    assert (found.added_count, found.removed_count) == (expected.added_count, expected.removed_count)
    assert found.added == expected.added[: continuity.LISTED] and found.removed == expected.removed[: continuity.LISTED]


@pytest.mark.parametrize(("seed", "partitions"), [(7, 1), (8, 13)])
def test_the_previous_segments_come_back_in_this_runs_row_order(seed, partitions) -> None:
    previous, clusters = _runs(seed)
    moved = continuity.moved_counties(previous, clusters)  # the raw clusters as "this run's segments"
    with _joined(previous, clusters, 6, partitions) as joined, joined.previous_segments() as reader:
        old = np.concatenate([reader.take(size) for size in (1, 999, 2_500, len(clusters) - 3_500)])
    shared = clusters.index.isin(previous.index)
    assert np.array_equal(old[~shared], np.full((~shared).sum(), key_join.MISSING))
    assert np.array_equal(old[shared], previous.reindex(clusters.index[shared]).to_numpy())
    changed = shared & (old != clusters.to_numpy())
    assert clusters.index[changed].tolist() == moved["State-County"].tolist()


def test_the_adjusted_rand_index_from_the_table_is_scikit_learns_bit_for_bit() -> None:
    rng = np.random.default_rng(9)
    old, new = rng.integers(0, 7, 20_000), rng.integers(0, 5, 20_000)
    new[:12_000] = old[:12_000] % 5
    table = pd.crosstab(old, new).to_numpy()
    assert continuity.adjusted_rand(table) == adjusted_rand_score(old, new)


def test_a_county_twice_on_either_side_is_refused_naming_it() -> None:
    previous, clusters = _runs(10, rows=200)
    twice = pd.concat([previous, previous.iloc[:1]])
    refused = pytest.raises(key_join.DuplicateKeyError, match=f"has State-County {previous.index[0]!r} more than once")
    with refused, _joined(twice, clusters, 6, 3):
        pass


def test_a_cluster_outside_0_to_k_is_refused_with_its_row() -> None:
    previous, clusters = _runs(11, rows=200)
    clusters.iloc[42] = 6
    refused = pytest.raises(ValueError, match="row 42: cluster 6 is not one of the k = 6 clusters 0…5")
    with refused, _joined(previous, clusters, 6, 3):
        pass


def test_the_previous_segments_csv_is_read_in_blocks_with_its_keys_unguarded_as_segment_assignments_does() -> None:
    previous, _ = _runs(12, rows=3_000)
    published = results.csv_bytes(previous.rename("segment").reset_index().assign(label='a, "quoted" label'))
    blocks = list(continuity.segment_blocks(io.BytesIO(published)))
    assert len(blocks) > 1 or len(published) < continuity.PREVIOUS_BLOCK_BYTES
    keys = np.concatenate([keys for keys, _ in blocks])
    expected = results.segment_assignments(published)
    assert keys.tolist() == expected.index.tolist()
    assert np.concatenate([segments for _, segments in blocks]).tolist() == expected.tolist()


def test_the_moved_counties_streamed_in_blocks_are_the_files_written_at_once(monkeypatch) -> None:
    """Row groups of 1,000 rows: the streamed Parquet file holds rows back to fill each, as write_table splits."""
    monkeypatch.setattr(parquet_tables, "ROW_GROUP_ROWS", 1_000)
    rng = np.random.default_rng(13)
    keys = np.array([f"County {i}" for i in range(4_321)] + FORMULA_LIKE, dtype=object)
    moved = pd.DataFrame({"State-County": keys, "previous_segment": rng.integers(0, 9, len(keys)),
                          "segment": rng.integers(0, 9, len(keys))})  # fmt: skip
    csv_sink, parquet_sink = io.BytesIO(), io.BytesIO()
    writer = continuity.MovedWriter(csv_sink, parquet_sink, "segment_changes.csv", "manual__1")
    bounds = [0, 0, 10, 10, 1_700, 2_999, 4_000, len(moved)]  # empty blocks among them, the first one too
    for start, stop in itertools.pairwise(bounds):
        writer.write(moved.iloc[start:stop])
    first = writer.close(moved.iloc[:0])
    assert csv_sink.getvalue() == results.csv_bytes(moved)
    assert parquet_sink.getvalue() == parquet_tables.parquet_bytes(moved, "segment_changes.csv", "manual__1")
    assert first.to_dict("records") == moved.head(continuity.LISTED).to_dict("records")


def test_no_moved_county_streams_the_files_of_an_empty_frame() -> None:
    empty = pd.DataFrame({"State-County": pd.Index([], dtype=object), "previous_segment": np.array([], np.int64),
                          "segment": np.array([], np.int64)})  # fmt: skip
    csv_sink, parquet_sink = io.BytesIO(), io.BytesIO()
    writer = continuity.MovedWriter(csv_sink, parquet_sink, "segment_changes.csv", "manual__1")
    writer.write(empty)
    writer.write(empty)
    assert writer.close(empty).empty
    assert csv_sink.getvalue() == results.csv_bytes(empty)
    assert parquet_sink.getvalue() == parquet_tables.parquet_bytes(empty, "segment_changes.csv", "manual__1")
