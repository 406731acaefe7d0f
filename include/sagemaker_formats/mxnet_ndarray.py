"""MXNet NDArray files (`mx.nd.save` / `mx.nd.load`), the format of SageMaker's `model_algo-1`.

Layout (MXNet 1.x `src/ndarray/ndarray.cc`, all little-endian):
file = uint64 0x112 · uint64 0 · uint64 N · N arrays · uint64 M · M names (uint64 length · UTF-8),
with M = 0 for a list and M = N for a named dict. An array is one of

- V2 (`0xF993FAC9`, what MXNet 1.x writes) or V3 (`0xF993FACA`, numpy-shape mode): uint32 magic ·
  int32 storage type (0 dense) · int32 ndim · ndim × int64 dims · int32 dev_type · int32 dev_id ·
  int32 dtype flag · the values in C order;
- V1 (`0xF993FAC8`): uint32 magic · int32 ndim · ndim × int64 dims · context · dtype flag · values;
- legacy (before V1, `NDArray::LegacyLoad`): the first uint32 is ndim (read here when below 32),
  followed by ndim × uint32 dims · context · dtype flag · values.

Supported: dense storage and the dtype flags MXNet 1.9.1 writes (0–7; flags 8–12 are MXNet 2.x's int16,
uint16, uint32, uint64 and bfloat16). Refused: sparse storage (row_sparse, csr, whose storage shape
precedes the shape), MXNet's "none" arrays (ndim 0 or a 0 dimension outside numpy-shape mode, which
MXNet loads as an empty NDArray), and anything after the names. V3's 0-d arrays load as numpy scalars
(shape ()).

Bounded: an array's declared shape is checked against MAX_ELEMENTS and against the bytes left in the
file before anything is allocated for it, so a short file cannot declare a huge array.
"""

from __future__ import annotations

import math
import struct

import numpy as np

FILE_MAGIC = 0x112
V1_MAGIC, V2_MAGIC, V3_MAGIC = 0xF993FAC8, 0xF993FAC9, 0xF993FACA
_CPU = 1
# Elements in one array: 256 MiB of float32, as artifacts.MAX_MODEL_BYTES allows for the whole member.
MAX_ELEMENTS = 1 << 26

# mshadow type flags -> numpy dtypes.
DTYPES: dict[int, np.dtype] = {
    0: np.dtype("<f4"),
    1: np.dtype("<f8"),
    2: np.dtype("<f2"),
    3: np.dtype("u1"),
    4: np.dtype("<i4"),
    5: np.dtype("i1"),
    6: np.dtype("<i8"),
    7: np.dtype("?"),
}
_FLAGS = {dtype.newbyteorder("="): flag for flag, dtype in DTYPES.items()}
_STORAGE = {-1: "undefined (none array)", 1: "row_sparse", 2: "csr"}
# Context dev_type: cpu, gpu, cpu_pinned, cpu_shared. Values always load to host memory.
_DEVICES = {1, 2, 3, 5}


class NDArrayFormatError(ValueError):
    """A file that is not a readable dense MXNet NDArray file."""


def loads(data: bytes) -> list[np.ndarray] | dict[str, np.ndarray]:
    """Parse an NDArray file: a list when it holds no names, else a dict in file order.

    Arrays are owned, writable copies in native byte order.
    """
    reader = _Reader(bytes(data))
    magic, _reserved = reader.unpack("<QQ", "file header")
    if magic != FILE_MAGIC:
        raise NDArrayFormatError(f"not an MXNet NDArray file: magic 0x{magic:X} at byte 0, expected 0x112")
    (count,) = reader.unpack("<Q", "array count")
    if count > len(data):
        raise NDArrayFormatError(f"array count {count} at byte 16 is larger than the file")
    arrays = [_load_array(reader, index) for index in range(count)]
    (name_count,) = reader.unpack("<Q", "name count")
    if name_count == 0:
        names: list[str] = []
    elif name_count != count:
        where = reader.position - 8
        raise NDArrayFormatError(
            f"{name_count} names for {count} arrays (name count at byte {where}): expected 0 or {count}"
        )
    else:
        names = [_load_name(reader, index) for index in range(name_count)]
    if reader.position != len(data):
        raise NDArrayFormatError(
            f"{len(data) - reader.position} unexpected bytes after the names at byte {reader.position}"
        )
    if not names:
        return arrays
    if len(set(names)) != len(names):
        raise NDArrayFormatError(f"duplicate array names: {sorted({n for n in names if names.count(n) > 1})}")
    return dict(zip(names, arrays, strict=True))


def dumps(arrays: list[np.ndarray] | dict[str, np.ndarray]) -> bytes:
    """Serialise arrays as MXNet 1.9.1 `mx.nd.save` does: V2 headers, dense storage, cpu(0)."""
    if isinstance(arrays, dict):
        names, values = list(arrays), list(arrays.values())
        for name in names:
            if not isinstance(name, str):
                raise NDArrayFormatError(f"array name {name!r} is a {type(name).__name__}, expected str")
    else:
        names, values = [], list(arrays)
    parts = [struct.pack("<QQQ", FILE_MAGIC, 0, len(values))]
    for index, array in enumerate(values):
        parts.append(_dump_array(np.asarray(array), index))
    parts.append(struct.pack("<Q", len(names)))
    for name in names:
        encoded = name.encode("utf-8")
        parts.append(struct.pack("<Q", len(encoded)) + encoded)
    return b"".join(parts)


def _dump_array(array: np.ndarray, index: int) -> bytes:
    flag = _FLAGS.get(array.dtype.newbyteorder("="))
    if flag is None:
        raise NDArrayFormatError(f"array {index}: dtype {array.dtype} has no MXNet type flag")
    if array.ndim == 0:
        # In MXNet 1.x's default (legacy) shape mode ndim 0 means "no shape"; scalars are shape (1,).
        raise NDArrayFormatError(f"array {index}: 0-d arrays cannot be saved; reshape to (1,)")
    if 0 in array.shape:
        # ... and a 0 dimension means "unknown": MXNet would load the array back as an empty NDArray.
        raise NDArrayFormatError(
            f"array {index}: shape {array.shape} has a 0 dimension, which MXNet 1.x reads as unknown"
        )
    header = struct.pack(f"<IiI{array.ndim}qiii", V2_MAGIC, 0, array.ndim, *array.shape, _CPU, 0, flag)
    return header + np.ascontiguousarray(array, dtype=DTYPES[flag]).tobytes()


def _load_array(reader: _Reader, index: int) -> np.ndarray:
    start = reader.position
    (magic,) = reader.unpack("<I", f"array {index} header")
    if magic in (V2_MAGIC, V3_MAGIC):
        (storage,) = reader.unpack("<i", f"array {index} storage type")
        if storage != 0:
            kind = _STORAGE.get(storage, f"storage type {storage}")
            raise NDArrayFormatError(f"array {index} at byte {start}: {kind} storage is not supported (dense only)")
        shape = _load_shape(reader, index, "<q")
    elif magic == V1_MAGIC:
        shape = _load_shape(reader, index, "<q")
    elif magic < 32:
        # Before V1 the array began with its ndim and uint32 dims.
        shape = _load_dims(reader, index, magic, "<I")
    else:
        raise NDArrayFormatError(
            f"array {index} at byte {start}: unknown array magic 0x{magic:08X}, expected "
            f"0x{V1_MAGIC:08X}, 0x{V2_MAGIC:08X}, 0x{V3_MAGIC:08X} or a legacy ndim below 32"
        )
    if magic != V3_MAGIC and (not shape or 0 in shape):
        raise NDArrayFormatError(
            f"array {index} at byte {start}: shape {shape} marks an empty (none) NDArray, which is not supported"
        )
    dev_type, _dev_id, flag = reader.unpack("<iii", f"array {index} context and dtype")
    if dev_type not in _DEVICES:
        raise NDArrayFormatError(
            f"array {index} at byte {start}: unknown device type {dev_type}, expected one of {sorted(_DEVICES)}"
        )
    dtype = DTYPES.get(flag)
    if dtype is None:
        raise NDArrayFormatError(f"array {index} at byte {start}: unknown dtype flag {flag}, expected 0–7")
    # Python ints: a corrupt shape must not overflow into a small or negative size.
    count = math.prod(shape)
    if count > MAX_ELEMENTS:
        raise NDArrayFormatError(
            f"array {index} at byte {start}: shape {shape} declares {count:,} elements, above the limit of "
            f"{MAX_ELEMENTS:,} (MAX_ELEMENTS)"
        )
    # `take` checks the bytes left before slicing: nothing is allocated for a shape the file cannot hold.
    raw = reader.take(count * dtype.itemsize, f"array {index} values")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="), copy=True)


def _load_shape(reader: _Reader, index: int, dim_format: str) -> tuple[int, ...]:
    (ndim,) = reader.unpack("<i", f"array {index} ndim")
    return _load_dims(reader, index, ndim, dim_format)


def _load_dims(reader: _Reader, index: int, ndim: int, dim_format: str) -> tuple[int, ...]:
    if not 0 <= ndim <= 32:
        raise NDArrayFormatError(f"array {index}: implausible ndim {ndim} at byte {reader.position - 4}, expected 0–32")
    where = reader.position
    dims = reader.unpack(dim_format[0] + dim_format[1] * ndim, f"array {index} shape")
    if any(d < 0 for d in dims):
        raise NDArrayFormatError(f"array {index}: unknown (negative) dimension in shape {dims} at byte {where}")
    return tuple(int(d) for d in dims)


def _load_name(reader: _Reader, index: int) -> str:
    (length,) = reader.unpack("<Q", f"name {index} length")
    where = reader.position
    raw = reader.take(length, f"name {index}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NDArrayFormatError(f"name {index} at byte {where} is not UTF-8: {exc.reason}") from exc


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.position = data, 0

    def take(self, size: int, what: str) -> bytes:
        if self.position + size > len(self.data):
            raise NDArrayFormatError(
                f"truncated file: {what} needs {size} bytes at byte {self.position}, "
                f"{len(self.data) - self.position} left"
            )
        chunk = self.data[self.position : self.position + size]
        self.position += size
        return chunk

    def unpack(self, layout: str, what: str) -> tuple:
        return struct.unpack(layout, self.take(struct.calcsize(layout), what))
