"""MXNet NDArray files, proven against files the real MXNet 1.9.1 wrote."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from include.sagemaker_formats.mxnet_ndarray import MAX_ELEMENTS, V1_MAGIC, V3_MAGIC, NDArrayFormatError, dumps, loads
from tests.support.paths import shared_path

GOLDEN = ["pca_census_model_algo-1", "kmeans_k8_model_algo-1", "float64_and_int32_dict", "scalar_shapes_list"]


@pytest.fixture(scope="module")
def expected() -> dict:
    return json.loads(shared_path("fixtures/mxnet/expected.json").read_text())


def _golden(name: str) -> bytes:
    return shared_path(f"fixtures/mxnet/{name}").read_bytes()


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_files_load_to_their_values_dtypes_and_shapes(name, expected) -> None:
    spec = expected[name]
    loaded = loads(_golden(name))
    if spec["kind"] == "dict":
        assert isinstance(loaded, dict) and list(loaded) == list(spec["arrays"])
        pairs = [(loaded[key], spec["arrays"][key]) for key in spec["arrays"]]
    else:
        assert isinstance(loaded, list) and len(loaded) == len(spec["arrays"])
        pairs = list(zip(loaded, spec["arrays"], strict=True))
    for array, want in pairs:
        assert array.dtype == np.dtype(want["dtype"])
        assert list(array.shape) == want["shape"]
        assert np.array_equal(array, np.array(want["values"], dtype=want["dtype"]))


@pytest.mark.parametrize("name", GOLDEN)
def test_dumps_writes_what_mxnet_wrote_byte_for_byte(name) -> None:
    assert dumps(loads(_golden(name))) == _golden(name)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "uint8", "int32", "int8", "int64", "bool"])
def test_every_dense_dtype_round_trips(dtype) -> None:
    array = (np.arange(12).reshape(3, 4) % 3).astype(dtype)
    (loaded,) = loads(dumps([array]))
    assert loaded.dtype == np.dtype(dtype) and np.array_equal(loaded, array)


def test_loaded_arrays_are_writable_copies() -> None:
    (loaded,) = loads(dumps([np.ones(3, dtype="float32")]))
    loaded[0] = 5.0
    assert loaded[0] == 5.0


def _file(array_blobs: list[bytes]) -> bytes:
    return struct.pack("<QQQ", 0x112, 0, len(array_blobs)) + b"".join(array_blobs) + struct.pack("<Q", 0)


def test_v1_headers_load() -> None:
    values = np.array([[1.5, -2.0]], dtype="float32")
    blob = struct.pack("<II2qiii", V1_MAGIC, 2, 1, 2, 1, 0, 0) + values.tobytes()
    (loaded,) = loads(_file([blob]))
    assert np.array_equal(loaded, values)


def test_v3_numpy_shape_headers_load_including_scalars() -> None:
    blob = struct.pack("<IiIqiii", V3_MAGIC, 0, 1, 2, 1, 0, 1) + np.array([3.0, 4.0]).tobytes()
    scalar = struct.pack("<IiIiii", V3_MAGIC, 0, 0, 1, 0, 4) + np.array(7, dtype="int32").tobytes()
    first, second = loads(_file([blob, scalar]))
    assert first.tolist() == [3.0, 4.0]
    assert second.shape == () and second == 7


def test_legacy_headers_with_uint32_dims_load() -> None:
    blob = struct.pack("<I2Iiii", 2, 2, 1, 1, 0, 0) + np.array([[1.0], [2.0]], dtype="float32").tobytes()
    (loaded,) = loads(_file([blob]))
    assert loaded.shape == (2, 1)


def test_sparse_storage_is_refused_by_name() -> None:
    blob = struct.pack("<IiIqiii", 0xF993FAC9, 2, 1, 3, 1, 0, 0)
    with pytest.raises(NDArrayFormatError, match="array 0 at byte 24: csr storage is not supported"):
        loads(_file([blob]))


def test_bad_file_magic_is_refused() -> None:
    with pytest.raises(NDArrayFormatError, match="not an MXNet NDArray file"):
        loads(b"PK\x03\x04" + bytes(20))


def test_truncated_values_are_reported_with_the_array_and_offset() -> None:
    data = dumps([np.ones((2, 3), dtype="float32")])
    with pytest.raises(NDArrayFormatError, match="truncated file: array 0 values needs 24 bytes at byte 64, 6 left"):
        loads(data[:70])


def test_unknown_dtype_flag_is_refused() -> None:
    blob = struct.pack("<IiIqiii", 0xF993FAC9, 0, 1, 1, 1, 0, 42) + bytes(4)
    with pytest.raises(NDArrayFormatError, match="unknown dtype flag 42"):
        loads(_file([blob]))


def test_names_must_match_the_arrays() -> None:
    data = dumps({"a": np.ones(1, dtype="float32"), "b": np.ones(1, dtype="float32")})
    broken = data.replace(
        struct.pack("<Q", 2) + struct.pack("<Q", 1) + b"a", struct.pack("<Q", 1) + struct.pack("<Q", 1) + b"a"
    )
    with pytest.raises(NDArrayFormatError, match="1 names for 2 arrays"):
        loads(broken)


def test_duplicate_names_are_refused() -> None:
    data = dumps({"a": np.ones(1, dtype="float32"), "b": np.ones(1, dtype="float32")})
    with pytest.raises(NDArrayFormatError, match="duplicate array names"):
        loads(data[:-1] + b"a")


def test_dumps_refuses_what_mxnet_cannot_hold() -> None:
    with pytest.raises(NDArrayFormatError, match="0-d"):
        dumps([np.float32(1.0)])
    with pytest.raises(NDArrayFormatError, match="complex64"):
        dumps([np.ones(2, dtype="complex64")])


def test_big_endian_input_is_written_little_endian() -> None:
    native = np.array([1.5, -2.0, 3.25], dtype="<f8")
    assert dumps([native.astype(">f8")]) == dumps([native])


def test_unknown_array_magic_is_refused_with_what_was_expected() -> None:
    blob = struct.pack("<I", 0xDEADBEEF) + bytes(20)
    with pytest.raises(NDArrayFormatError, match="array 0 at byte 24: unknown array magic 0xDEADBEEF, expected"):
        loads(_file([blob]))


def test_none_array_outside_numpy_shape_mode_is_refused() -> None:
    blob = struct.pack("<IiIiii", 0xF993FAC9, 0, 0, 1, 0, 0)
    with pytest.raises(NDArrayFormatError, match=r"array 0 at byte 24: shape \(\) marks an empty \(none\) NDArray"):
        loads(_file([blob]))


def test_unknown_device_type_is_refused() -> None:
    blob = struct.pack("<IiIqiii", 0xF993FAC9, 0, 1, 1, 9, 0, 0) + bytes(4)
    with pytest.raises(NDArrayFormatError, match="unknown device type 9"):
        loads(_file([blob]))


def test_a_corrupt_huge_shape_is_refused_by_the_element_limit_not_overflow() -> None:
    blob = struct.pack("<IiI2qiii", 0xF993FAC9, 0, 2, 2**62, 2**62, 1, 0, 0)
    with pytest.raises(NDArrayFormatError, match=r"array 0 at byte 24: shape .* elements, above .*MAX_ELEMENTS"):
        loads(_file([blob]))


def test_a_shape_within_the_limit_but_beyond_the_file_is_truncation() -> None:
    blob = struct.pack("<IiI2qiii", 0xF993FAC9, 0, 2, 1, MAX_ELEMENTS, 1, 0, 0) + bytes(64)
    with pytest.raises(NDArrayFormatError, match=r"truncated file: array 0 values needs 268435456 bytes at byte 64"):
        loads(_file([blob]))


def test_a_file_shorter_than_its_header_is_truncated() -> None:
    with pytest.raises(NDArrayFormatError, match="truncated file: file header needs 16 bytes at byte 0, 4 left"):
        loads(b"\x12\x01\x00\x00")


def test_bytes_after_the_names_are_refused_with_their_offset() -> None:
    data = dumps([np.ones(1, dtype="float32")])
    with pytest.raises(NDArrayFormatError, match=f"3 unexpected bytes after the names at byte {len(data)}"):
        loads(data + b"xyz")


def test_a_name_that_is_not_utf8_is_refused() -> None:
    data = dumps({"a": np.ones(1, dtype="float32")})
    with pytest.raises(NDArrayFormatError, match=f"name 0 at byte {len(data) - 1} is not UTF-8"):
        loads(data[:-1] + b"\xff")


def test_names_are_utf8() -> None:
    data = dumps({"größe": np.ones(1, dtype="float32")})
    encoded = "größe".encode()
    assert data.endswith(struct.pack("<Q", len(encoded)) + encoded)
    assert list(loads(data)) == ["größe"]


def test_dumps_refuses_names_that_are_not_strings() -> None:
    with pytest.raises(NDArrayFormatError, match="array name 1 is a int, expected str"):
        dumps({1: np.ones(1, dtype="float32")})


def test_dumps_refuses_a_zero_dimension_mxnet_would_read_as_unknown() -> None:
    with pytest.raises(NDArrayFormatError, match=r"array 0: shape \(0, 3\) has a 0 dimension"):
        dumps([np.ones((0, 3), dtype="float32")])
