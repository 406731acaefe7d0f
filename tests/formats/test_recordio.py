"""RecordIO-protobuf, proven byte for byte against files the real SDK v2 and real endpoints wrote."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from devtools.hostile_inputs import sparse_record
from include.sagemaker_formats.recordio import (
    MAX_DECODED_VALUES,
    MAX_LABEL_KEYS,
    MAX_RECORD_VALUES,
    RecordIOError,
    decode_features,
    decode_labels,
    dense_shard_parts,
    dense_shards,
    encode_dense,
    encode_labels,
    shard_bounds,
)
from tests.support.paths import shared_path


def _golden(name: str) -> bytes:
    return shared_path(f"fixtures/recordio/{name}").read_bytes()


@pytest.fixture(scope="module")
def expected() -> dict:
    return json.loads(shared_path("fixtures/recordio/expected.json").read_text())


DENSE = [
    "census_scaled_head10_float32.rec",
    "float32_with_labels.rec",
    "float64_features.rec",
    "int_features_as_int32_tensor.rec",
]


@pytest.mark.parametrize("name", DENSE)
def test_golden_dense_files_decode_to_their_values(name, expected) -> None:
    spec = expected[name]
    features = decode_features(_golden(name))
    assert np.array_equal(features, np.array(spec["features"], dtype=spec["features_dtype"]))


@pytest.mark.parametrize("name", DENSE)
def test_encoding_the_values_gives_the_sdk_bytes_exactly(name, expected) -> None:
    spec = expected[name]
    features = np.array(spec["features"], dtype=spec["features_dtype"])
    labels = None if spec["labels"] is None else np.array(spec["labels"], dtype="float32")
    assert encode_dense(features, labels) == _golden(name)


def test_dtypes_map_as_the_sdk_maps_them(expected) -> None:
    assert decode_features(_golden("float64_features.rec")).dtype == np.float64
    assert decode_features(_golden("int_features_as_int32_tensor.rec")).dtype == np.int32
    assert decode_features(_golden("census_scaled_head10_float32.rec")).dtype == np.float32


def test_labels_of_a_training_file_decode_under_values(expected) -> None:
    labels = decode_labels(_golden("float32_with_labels.rec"))
    assert labels["values"].ravel().tolist() == expected["float32_with_labels.rec"]["labels"]


def testsparse_records_are_made_dense(expected) -> None:
    dense = decode_features(_golden("sparse_float32.rec"))
    assert np.allclose(dense, expected["sparse_float32.rec"]["dense_equivalent"])


def _label_arrays(records: list[dict], keys: list[str]) -> dict[str, np.ndarray]:
    return {key: np.array([np.atleast_1d(r[key]) for r in records], dtype="float32") for key in keys}


def test_pca_endpoint_response_decodes_and_reencodes_byte_for_byte(expected) -> None:
    records = expected["pca_projection_response.rec"]["labels"]
    labels = _label_arrays(records, ["projection"])
    assert np.array_equal(decode_labels(_golden("pca_projection_response.rec"))["projection"], labels["projection"])
    assert encode_labels(labels) == _golden("pca_projection_response.rec")


def test_kmeans_endpoint_response_decodes_and_reencodes_byte_for_byte(expected) -> None:
    records = expected["kmeans_response.rec"]["labels"]
    # The real endpoint writes distance_to_cluster before closest_cluster.
    labels = _label_arrays(records, ["distance_to_cluster", "closest_cluster"])
    decoded = decode_labels(_golden("kmeans_response.rec"))
    for key, values in labels.items():
        assert np.array_equal(decoded[key], values)
    assert encode_labels(labels) == _golden("kmeans_response.rec")


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_round_trip_per_dtype(dtype) -> None:
    rng = np.random.default_rng(0)
    features = (rng.normal(size=(50, 7)) * 1000).astype(dtype)
    decoded = decode_features(encode_dense(features))
    assert np.array_equal(decoded, features)


def test_round_trip_of_widths_whose_lengths_need_two_byte_varints() -> None:
    features = np.arange(300 * 40, dtype="float32").reshape(300, 40)  # 160-byte tensors
    assert np.array_equal(decode_features(encode_dense(features)), features)


def test_empty_stream_decodes_to_an_empty_matrix() -> None:
    assert decode_features(b"").shape == (0, 0)


def test_unsupported_dtype_and_wrong_dimensions_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported dtype int16"):
        encode_dense(np.zeros((2, 2), dtype="int16"))
    with pytest.raises(ValueError, match="matrix"):
        encode_dense(np.zeros(3, dtype="float32"))
    with pytest.raises(ValueError, match="3 labels for 2 rows"):
        encode_dense(np.zeros((2, 2), dtype="float32"), np.zeros(3, dtype="float32"))


def test_integers_beyond_int32_are_refused() -> None:
    with pytest.raises(ValueError, match="Int32Tensor"):
        encode_dense(np.array([[2**40]], dtype="int64"))


def _two_records() -> bytes:
    return encode_dense(np.ones((2, 3), dtype="float32"))


def test_bad_magic_names_record_and_offset() -> None:
    data = bytearray(_two_records())
    stride = len(data) // 2
    data[stride] ^= 0xFF
    with pytest.raises(RecordIOError, match=rf"record 1 at byte {stride}: bad magic"):
        decode_features(bytes(data))


def test_truncated_header_is_reported() -> None:
    data = _two_records()
    with pytest.raises(RecordIOError, match=r"record 2 at byte \d+: truncated header"):
        decode_features(data + data[:5])


def test_truncated_payload_is_reported() -> None:
    data = _two_records()
    with pytest.raises(RecordIOError, match=r"record 1 at byte \d+: truncated payload"):
        decode_features(data[:-3])


def test_ragged_rows_are_refused() -> None:
    data = encode_dense(np.ones((1, 3), dtype="float32")) + encode_dense(np.ones((1, 4), dtype="float32"))
    with pytest.raises(RecordIOError, match=r"record 1 at byte 36: 4 float32 values where record 0 has 3"):
        decode_features(data)


def test_a_record_without_the_values_feature_is_refused() -> None:
    data = encode_labels({"projection": np.ones((2, 3), dtype="float32")})
    with pytest.raises(RecordIOError, match=r"record 0 at byte 0: no features\['values'\]"):
        decode_features(data)


def test_a_corrupt_payload_names_its_record() -> None:
    payload = b"\x0a\x40\x0a"  # features entry claiming 64 bytes it does not have
    data = struct.pack("<II", 0xCED7230A, len(payload)) + payload + b"\x00"
    with pytest.raises(RecordIOError, match=r"record 0 at byte 0: .*runs past the end"):
        decode_features(data)


def test_label_keys_must_agree_across_records() -> None:
    data = encode_labels({"a": np.ones((1, 1))}) + encode_labels({"b": np.ones((1, 1))})
    with pytest.raises(RecordIOError, match="record 1"):
        decode_labels(data)


def test_records_of_equal_length_but_other_keys_are_not_taken_for_uniform() -> None:
    data = encode_labels({"aa": np.ones((1, 2))}) + encode_labels({"bb": np.ones((1, 2))})
    with pytest.raises(RecordIOError, match="record 1 at byte 28: label keys"):
        decode_labels(data)


def test_large_uniform_label_streams_decode_to_their_values() -> None:
    values = np.random.default_rng(2).random((5000, 33), dtype=np.float32)
    assert np.array_equal(decode_labels(encode_labels({"projection": values}))["projection"], values)


def test_sparse_shape_at_the_value_limit_decodes_and_one_more_is_refused() -> None:
    assert decode_features(sparse_record([MAX_RECORD_VALUES], keys=[])).shape == (1, MAX_RECORD_VALUES)
    first = sparse_record([1], keys=[])
    refusal = rf"record 1 at byte {len(first)}: tensor shape \[1048577\] declares 1,048,577 values"
    with pytest.raises(RecordIOError, match=refusal):
        decode_features(first + sparse_record([MAX_RECORD_VALUES + 1], keys=[]))


def test_shape_whose_product_overflows_int64_is_refused_not_wrapped() -> None:
    with pytest.raises(RecordIOError, match="MAX_RECORD_VALUES"):
        decode_features(sparse_record([1 << 32, 1 << 32], keys=[]))


def test_negative_sparse_key_is_refused() -> None:
    with pytest.raises(RecordIOError, match="record 0 at byte 0: negative sparse key"):
        decode_features(sparse_record([4], keys=[-1]))


def test_labels_of_the_key_limit_decode_and_one_more_key_is_refused() -> None:
    keys = tuple(f"k{i}" for i in range(MAX_LABEL_KEYS))
    assert len(decode_labels(sparse_record([2], keys=[], labels=keys))) == MAX_LABEL_KEYS
    first = sparse_record([2], keys=[], labels=keys)
    with pytest.raises(
        RecordIOError, match=rf"record 1 at byte {len(first)}: more than 16 label keys \(MAX_LABEL_KEYS\)"
    ):
        decode_labels(first + sparse_record([2], keys=[], labels=(*keys, "one-more")))


def test_dense_labels_of_more_keys_than_the_limit_are_refused() -> None:
    many = {f"k{i}": np.ones((2, 1)) for i in range(MAX_LABEL_KEYS + 1)}
    with pytest.raises(RecordIOError, match=r"record 0 at byte 0: more than 16 label keys"):
        decode_labels(encode_labels(many))


def test_labels_decoding_past_the_total_over_all_keys_are_refused() -> None:
    # Each key stays within the per-stream total; together they pass it in the second record.
    keys = tuple(f"k{i}" for i in range(MAX_DECODED_VALUES // MAX_RECORD_VALUES // 2 + 1))
    record = sparse_record([MAX_RECORD_VALUES], keys=[], labels=keys)
    with pytest.raises(RecordIOError, match=rf"record 1 at byte {len(record)}: the labels decode to more than "):
        decode_labels(record * 2)


def test_dense_tensor_declaring_more_values_than_it_holds_is_refused() -> None:
    with pytest.raises(RecordIOError, match="record 0 at byte 0: shape \\[3\\] declares 3 values, the payload holds 0"):
        decode_features(sparse_record([3]))


def _rows(n: int, dtype: str = "float32") -> np.ndarray:
    return np.random.default_rng(1).random((n, 34)).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_shards_concatenate_to_the_whole_stream_byte_for_byte(dtype) -> None:
    features = _rows(1001, dtype)
    assert b"".join(dense_shards(features, min_shards=3, shard_bytes=10_000)) == encode_dense(features)


def test_shards_keep_the_rows_in_order() -> None:
    features = _rows(1001)
    decoded = [decode_features(shard) for shard in dense_shards(features, shard_bytes=10_000)]
    assert np.array_equal(np.concatenate(decoded), features)


@pytest.mark.parametrize("min_shards", [1, 2, 7])
def test_there_are_at_least_min_shards_of_near_equal_rows(min_shards) -> None:
    counts = [len(decode_features(shard)) for shard in dense_shards(_rows(100), min_shards=min_shards)]
    assert len(counts) == min_shards and sum(counts) == 100
    assert max(counts) - min(counts) <= 1


def test_shards_stay_within_the_shard_size() -> None:
    record = len(encode_dense(_rows(1)))
    shards = list(dense_shards(_rows(1000), shard_bytes=50 * record))
    assert len(shards) == 20 and all(len(shard) <= 50 * record for shard in shards)


def test_shards_refuse_what_they_cannot_cut() -> None:
    with pytest.raises(ValueError, match="min_shards must be at least 1"):
        list(dense_shards(_rows(10), min_shards=0))
    with pytest.raises(ValueError, match="float32 or float64"):
        list(dense_shards(np.arange(10).reshape(5, 2)))


@pytest.mark.parametrize(
    ("rows", "min_shards", "cuts"),
    [(500, 1, [500]), (500, 3, [7, 100, 393]), (500, 4, [1, 1, 498]), (2, 5, [1, 1]), (0, 2, [])],
    ids=["one block", "blocks across shards", "blocks of one row", "fewer rows than shards", "no rows"],
)
def test_shards_encoded_block_by_block_are_the_shards_of_the_whole(rows, min_shards, cuts) -> None:
    features = np.random.default_rng(1).random((rows, 34), dtype=np.float32)
    blocks = np.split(features, np.cumsum(cuts)[:-1]) if cuts else []
    pieces: dict[int, list[bytes]] = {}
    for shard, piece in dense_shard_parts(blocks, shard_bounds(rows, 34, "float32", min_shards, shard_bytes=4096)):
        assert shard >= max(pieces, default=0)  # in order
        pieces.setdefault(shard, []).append(piece)
    whole = list(dense_shards(features, min_shards=min_shards, shard_bytes=4096))
    assert [b"".join(pieces[shard]) for shard in sorted(pieces)] == whole
    assert sorted(pieces) == list(range(len(whole)))


def test_shard_parts_refuse_more_rows_than_planned() -> None:
    with pytest.raises(ValueError, match="more rows than the 3"):
        list(dense_shard_parts([np.zeros((4, 2), np.float32)], shard_bounds(3, 2, "float32")))
