"""RecordIO-protobuf, as SageMaker's built-in algorithms read and write it.

A stream is a concatenation of dmlc RecordIO records: uint32 magic 0xCED7230A, uint32 length (low 29
bits; the top 3 are a continuation flag, always 0 here), the payload, zero padding to 4 bytes. Each
payload is an `aialgs.data.Record` protobuf (SDK v2 `record.proto`): `features` and `label` maps of
string -> Value, where Value holds a Float32Tensor (field 2), Float64Tensor (3) or Int32Tensor (7) with
packed `values` (1), `keys` (2) and `shape` (3).

Dense float matrices, the hot path, are encoded and decoded without a Python loop per record: every
record has the same bytes around its values, so a stream is an (n_records, record_length) byte matrix.

Decoding is bounded: a tensor's declared shape must be non-negative and hold at most MAX_RECORD_VALUES
values (a dense tensor no more than its payload carries), checked before the record's row is allocated;
and since sparse records can expand beyond their bytes, a stream decodes to at most
max(MAX_DECODED_VALUES, its length in bytes) values, checked row by row (for labels, over all their keys,
of which a record holds at most MAX_LABEL_KEYS). Each refusal is a RecordIOError naming the record and
its byte offset.
"""

from __future__ import annotations

import itertools
import math
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

# The ContentType of a channel or InvokeEndpoint body in this format.
RECORDIO_CONTENT_TYPE = "application/x-recordio-protobuf"
MAGIC = 0xCED7230A
_MAGIC_BYTES = struct.pack("<I", MAGIC)
_LENGTH_MASK = (1 << 29) - 1
FEATURES_KEY = "values"
# Bytes in one shard of a training channel (dense_shards): big enough that per-object overhead does
# not matter, small enough to hold one while encoding the next and to upload in one PutObject.
SHARD_BYTES = 32 << 20
# Values one record's tensor may declare (its shape's product): 4 MiB of float32, far above any row a
# built-in algorithm takes (the census has 34 features).
MAX_RECORD_VALUES = 1 << 20
# Values a whole stream may decode to once sparse records are made dense, unless the stream is longer in
# bytes (dense values never outnumber their bytes): 64 MiB of float32, held before a refusal.
MAX_DECODED_VALUES = 1 << 24
# Label keys in one record: the built-ins answer with one (PCA "projection") or two (K-Means); each key may
# hold a tensor of MAX_RECORD_VALUES, so without this a 2 KB answer of sparse labels decoded to 834 MiB.
MAX_LABEL_KEYS = 16

# Value oneof field numbers -> numpy dtype of the tensor's values.
_TENSOR_FIELDS: dict[int, str] = {2: "float32", 3: "float64", 7: "int32"}
_FIELD_FOR_DTYPE = {np.dtype("float32"): 2, np.dtype("float64"): 3}
_WIRE_VARINT, _WIRE_FIXED64, _WIRE_LENGTH, _WIRE_FIXED32 = 0, 1, 2, 5


class RecordIOError(ValueError):
    """A RecordIO-protobuf stream that cannot be read; the message names the record index and byte offset."""


# ---------------------------------------------------------------------------------------------- encode


def encode_dense(features: np.ndarray, labels: np.ndarray | None = None) -> bytes:
    """Encode `features` (n_rows, n_features) and optional `labels` (n_rows,) like SDK v2's
    `write_numpy_to_dense_tensor`: one record per row, features and label both under key "values".

    Types map as the SDK maps them: float32 -> Float32Tensor, float64 -> Float64Tensor, the platform
    int (int64) -> Int32Tensor; any other dtype is refused.
    """
    features = np.asarray(features)
    if features.ndim != 2:
        raise ValueError(f"features must be a matrix (n_rows, n_features), got shape {features.shape}")
    feature_field = _resolve_field(features.dtype, "features")
    label_field = None
    if labels is not None:
        labels = np.asarray(labels)
        if labels.ndim != 1:
            raise ValueError(f"labels must be a vector (n_rows,), got shape {labels.shape}")
        if labels.shape[0] != features.shape[0]:
            raise ValueError(f"{labels.shape[0]} labels for {features.shape[0]} rows of features")
        label_field = _resolve_field(labels.dtype, "labels")
    if feature_field == 7 or label_field == 7:
        # Int32 values are varints of varying width: no common record layout, so encode per record.
        return b"".join(
            _frame(_record(features[i], feature_field, None if labels is None else labels[i], label_field))
            for i in range(features.shape[0])
        )
    parts = [_fixed_width_entry(features, feature_field, 0x0A)]
    if labels is not None:
        parts.append(_fixed_width_entry(labels.reshape(-1, 1), label_field, 0x12))
    return _frame_matrix(parts)


def dense_shards(features: np.ndarray, min_shards: int = 1, shard_bytes: int = SHARD_BYTES) -> Iterator[bytes]:
    """`encode_dense(features)` cut into consecutive shards of whole records, encoded one at a time.

    `features` (n_rows, n_features) float32 or float64. Yields max(min_shards, ⌈encoded size /
    shard_bytes⌉) shards of near-equal row counts, in row order: their concatenation is byte for byte
    `encode_dense(features)`, while only one shard is held at a time. A shard is empty only when there
    are fewer rows than `min_shards`. Files of a channel read with ShardedByS3Key are split this way,
    at least one per training instance.
    """
    features = np.asarray(features)
    if features.ndim != 2:
        raise ValueError(f"features must be a matrix (n_rows, n_features), got shape {features.shape}")
    bounds = shard_bounds(features.shape[0], features.shape[1], features.dtype, min_shards, shard_bytes)
    for start, end in itertools.pairwise(bounds):
        yield encode_dense(features[start:end])


def shard_bounds(
    n_rows: int, n_features: int, dtype: np.dtype | str, min_shards: int = 1, shard_bytes: int = SHARD_BYTES
) -> np.ndarray:
    """Where `dense_shards` cuts n_rows records of n_features `dtype` values: (shards + 1,) int row bounds,
    0 first and n_rows last, max(min_shards, ⌈encoded size / shard_bytes⌉) shards of near-equal row counts.
    Known from the counts alone, so that a channel can be cut before its rows are all at hand."""
    if min_shards < 1:
        raise ValueError(f"min_shards must be at least 1, got {min_shards}")
    if _resolve_field(np.dtype(dtype), "features") == 7:
        raise ValueError("dense_shards encodes float32 or float64 features; int64 records vary in length")
    record_bytes = len(encode_dense(np.zeros((1, n_features), dtype=dtype))) if n_rows else 0  # fixed width
    shards = max(min_shards, -(-n_rows * record_bytes // shard_bytes))
    return np.linspace(0, n_rows, shards + 1).round().astype(int)  # near-equal row counts


def dense_shard_parts(blocks: Iterable[np.ndarray], bounds: np.ndarray) -> Iterator[tuple[int, bytes]]:
    """The shards of `bounds` (`shard_bounds`) encoded from consecutive row blocks, as (shard, bytes) pieces.

    `blocks`: (m_i, n_features) float32 or float64 arrays whose rows, in order, are the channel's rows. A
    shard's pieces come in order and the shards in order; joined, shard s is what `dense_shards` yields for
    it (the records are fixed width, so a block cut anywhere encodes to the same bytes), while only a block
    is held at a time. An empty shard (fewer rows than shards) yields one empty piece, so that every shard
    is named. Refuses blocks holding more or fewer rows than the bounds.
    """
    ends = [int(end) for end in bounds[1:]]
    shard, row, named = 0, 0, False  # the shard being written, the rows given so far, whether it has a piece
    for block in blocks:
        at = 0
        while at < len(block):
            while shard < len(ends) and ends[shard] == row:  # full (or empty): on to the next
                if not named:
                    yield shard, b""
                shard, named = shard + 1, False
            if shard == len(ends):
                raise ValueError(f"more rows than the {row} the shards were planned for")
            take = min(len(block) - at, ends[shard] - row)
            yield shard, encode_dense(block[at : at + take])
            at, row, named = at + take, row + take, True
    if row != ends[-1]:
        raise ValueError(f"{row} rows given, {ends[-1]} planned")
    for rest in range(shard, len(ends)):
        if rest > shard or not named:
            yield rest, b""


def encode_labels(labels: dict[str, np.ndarray]) -> bytes:
    """Encode an endpoint response: one record per row, no features, label[key] = Float32Tensor(row).

    `labels`: key -> (n_records, width) array, in the order keys should appear in each record, as the
    PCA ("projection") and K-Means ("distance_to_cluster", "closest_cluster") built-ins answer.
    """
    if not labels:
        raise ValueError("encode_labels needs at least one label")
    arrays = {key: np.asarray(value, dtype="float32") for key, value in labels.items()}
    rows = {value.shape[0] for value in arrays.values()}
    if len(rows) != 1 or any(value.ndim != 2 for value in arrays.values()):
        shapes = {key: value.shape for key, value in arrays.items()}
        raise ValueError(f"labels must be (n_records, width) arrays of one length, got {shapes}")
    parts = [_fixed_width_entry(value, 2, 0x12, key) for key, value in arrays.items()]
    return _frame_matrix(parts)


@dataclass
class _Part:
    """A byte matrix (n_records, width) that is one map entry of every record."""

    prefix: bytes
    values: np.ndarray  # (n_records, value_bytes) uint8


def _fixed_width_entry(matrix: np.ndarray, field: int, map_tag: int, key: str = FEATURES_KEY) -> _Part:
    """A map entry `key -> Value{tensor{values}}` per row of a float matrix, as a byte matrix."""
    little = np.ascontiguousarray(matrix, dtype=matrix.dtype.newbyteorder("<"))
    n, width = little.shape
    raw = little.view(np.uint8).reshape(n, width * little.itemsize)
    size = raw.shape[1]
    tensor_header = _length_prefixed(0x0A, size)  # Tensor.values, packed
    value_header = _length_prefixed(field << 3 | _WIRE_LENGTH, len(tensor_header) + size)  # Value.<tensor>
    key_bytes = key.encode()
    value_size = len(value_header) + len(tensor_header) + size
    entry = bytes([0x0A]) + _varint(len(key_bytes)) + key_bytes + _length_prefixed(0x12, value_size)
    entry_size = len(entry) + value_size
    prefix = _length_prefixed(map_tag, entry_size) + entry + value_header + tensor_header
    return _Part(prefix=prefix, values=raw)


def _frame_matrix(parts: list[_Part]) -> bytes:
    """Lay out records of identical structure as one (n_records, record_length) byte matrix."""
    n = parts[0].values.shape[0]
    payload = sum(len(p.prefix) + p.values.shape[1] for p in parts)
    padding = -payload % 4
    header = _MAGIC_BYTES + struct.pack("<I", payload)
    out = np.empty((n, len(header) + payload + padding), dtype=np.uint8)
    out[:, out.shape[1] - padding :] = 0
    out[:, : len(header)] = np.frombuffer(header, dtype=np.uint8)
    column = len(header)
    for part in parts:
        out[:, column : column + len(part.prefix)] = np.frombuffer(part.prefix, dtype=np.uint8)
        column += len(part.prefix)
        out[:, column : column + part.values.shape[1]] = part.values
        column += part.values.shape[1]
    return out.tobytes()


def _record(features: np.ndarray, field: int, label: object, label_field: int | None) -> bytes:
    """One Record payload, built field by field (the general, per-record path)."""
    body = _map_entry(0x0A, FEATURES_KEY, field, _tensor_values(features, field))
    if label_field is not None:
        body += _map_entry(0x12, FEATURES_KEY, label_field, _tensor_values(np.asarray([label]), label_field))
    return body


def _map_entry(map_tag: int, key: str, field: int, values: bytes) -> bytes:
    tensor = _length_prefixed(0x0A, len(values)) + values
    value = _length_prefixed(field << 3 | _WIRE_LENGTH, len(tensor)) + tensor
    key_bytes = key.encode()
    entry = bytes([0x0A]) + _varint(len(key_bytes)) + key_bytes + _length_prefixed(0x12, len(value)) + value
    return _length_prefixed(map_tag, len(entry)) + entry


def _tensor_values(values: np.ndarray, field: int) -> bytes:
    if field == 7:
        if values.size and (values.min() < -(2**31) or values.max() >= 2**31):
            raise ValueError("integer values do not fit the Int32Tensor the SDK writes")
        # int32 varints: negatives are sign-extended to 64 bits, as protobuf writes them.
        return b"".join(_varint(int(v) & 0xFFFFFFFFFFFFFFFF) for v in values)
    return np.ascontiguousarray(values, dtype=_TENSOR_FIELDS[field]).astype(f"<{values.dtype.char}").tobytes()


def _frame(payload: bytes) -> bytes:
    return _MAGIC_BYTES + struct.pack("<I", len(payload)) + payload + bytes(-len(payload) % 4)


def _resolve_field(dtype: np.dtype, what: str) -> int:
    """The Value field SDK v2's `_resolve_type` picks for a dtype."""
    if dtype == np.dtype(int):
        return 7
    if dtype in _FIELD_FOR_DTYPE:
        return _FIELD_FOR_DTYPE[dtype]
    raise ValueError(f"unsupported dtype {dtype} for {what}: use float32, float64 or int64")


def _length_prefixed(tag: int, length: int) -> bytes:
    return bytes([tag]) + _varint(length)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


# ---------------------------------------------------------------------------------------------- decode


@dataclass
class _Tensor:
    dtype: str
    values: np.ndarray
    keys: np.ndarray | None
    shape: list[int]

    def dense(self, index: int, offset: int) -> np.ndarray:
        """The tensor as a dense vector; sparse tensors (keys + shape) are scattered into zeros."""
        width = self.declared_width(index, offset)
        if self.keys is None or (len(self.keys) == 0 and not self.shape):
            if width is not None and width > len(self.values):
                raise RecordIOError(
                    f"record {index} at byte {offset}: shape {self.shape} declares {width:,} values, "
                    f"the payload holds {len(self.values):,}"
                )
            return self.values
        if width is None:
            raise RecordIOError(f"record {index} at byte {offset}: sparse tensor without a shape")
        if len(self.keys) != len(self.values) or (len(self.keys) and self.keys.max() >= width):
            raise RecordIOError(
                f"record {index} at byte {offset}: sparse tensor keys do not fit its shape {self.shape}"
            )
        row = np.zeros(width, dtype=self.values.dtype)
        row[self.keys] = self.values
        return row

    def declared_width(self, index: int, offset: int) -> int | None:
        """The number of values the shape declares (None without a shape), refused when negative or huge."""
        if not self.shape:
            return None
        if any(d < 0 for d in self.shape):
            raise RecordIOError(f"record {index} at byte {offset}: negative dimension in tensor shape {self.shape}")
        width = math.prod(self.shape)  # Python ints: no overflow into a small or negative width
        if width > MAX_RECORD_VALUES:
            raise RecordIOError(
                f"record {index} at byte {offset}: tensor shape {self.shape} declares {width:,} values, above the "
                f"limit of {MAX_RECORD_VALUES:,} (MAX_RECORD_VALUES)"
            )
        return width


def _check_decoded(rows: list[np.ndarray], stream_bytes: int, index: int, offset: int) -> None:
    """Refuse a stream whose rows so far decode to more than max(MAX_DECODED_VALUES, stream_bytes) values."""
    limit = max(MAX_DECODED_VALUES, stream_bytes)
    if len(rows) * rows[0].shape[0] > limit:
        raise RecordIOError(
            f"record {index} at byte {offset}: the stream decodes to more than {limit:,} values "
            f"(MAX_DECODED_VALUES, or the stream's {stream_bytes:,} bytes)"
        )


def decode_features(data: bytes | bytearray | memoryview) -> np.ndarray:
    """Decode the "values" feature tensor of every record: (n_records, n_features) float32/float64/int32.

    Sparse records are made dense. An empty stream gives a (0, 0) float32 array.
    """
    buffer = memoryview(data).cast("B")
    if len(buffer) == 0:
        return np.zeros((0, 0), dtype="float32")
    uniform = _uniform_slots(buffer)
    if uniform is not None:
        records, slots = uniform
        for slot in slots:
            if (slot.field, slot.key) == (1, FEATURES_KEY):
                return _slot_values(records, slot)
    rows: list[np.ndarray] = []
    for index, offset, payload in _records(buffer):
        features, _ = _parse_record(payload, index, offset)
        if FEATURES_KEY not in features:
            found = ", ".join(sorted(features)) or "none"
            raise RecordIOError(
                f"record {index} at byte {offset}: no features[{FEATURES_KEY!r}] tensor (found: {found})"
            )
        rows.append(features[FEATURES_KEY].dense(index, offset))
        _check_decoded(rows, len(buffer), index, offset)
        if rows[-1].shape != rows[0].shape or rows[-1].dtype != rows[0].dtype:
            raise RecordIOError(
                f"record {index} at byte {offset}: {rows[-1].shape[0]} {rows[-1].dtype} values where "
                f"record 0 has {rows[0].shape[0]} {rows[0].dtype} (ragged rows)"
            )
    return np.stack(rows)


def decode_labels(data: bytes | bytearray | memoryview) -> dict[str, np.ndarray]:
    """Decode the label map of every record: key -> (n_records, width) array, e.g. "projection".

    Every record must carry the same keys with the same widths.
    """
    buffer = memoryview(data).cast("B")
    uniform = _uniform_slots(buffer)
    if uniform is not None:
        records, slots = uniform
        labels = [slot for slot in slots if slot.field == 2]
        if len(labels) > MAX_LABEL_KEYS:
            raise _too_many_labels(0, 0)
        return {slot.key: _slot_values(records, slot) for slot in labels}
    columns: dict[str, list[np.ndarray]] = {}
    decoded, limit = 0, max(MAX_DECODED_VALUES, len(buffer))
    for index, offset, payload in _records(buffer):
        _, labels = _parse_record(payload, index, offset)
        if index == 0:
            columns = {key: [] for key in labels}
        if set(labels) != set(columns):
            raise RecordIOError(
                f"record {index} at byte {offset}: label keys {sorted(labels)} differ from record 0's {sorted(columns)}"
            )
        for key, tensor in labels.items():
            row = tensor.dense(index, offset)
            if columns[key] and row.shape != columns[key][0].shape:
                raise RecordIOError(
                    f"record {index} at byte {offset}: label {key!r} has {row.shape[0]} values where "
                    f"record 0 has {columns[key][0].shape[0]} (ragged rows)"
                )
            columns[key].append(row)
            decoded += row.shape[0]
            if decoded > limit:
                raise RecordIOError(
                    f"record {index} at byte {offset}: the labels decode to more than {limit:,} values over all "
                    f"their keys (MAX_DECODED_VALUES, or the stream's {len(buffer):,} bytes)"
                )
    return {key: np.stack(rows) for key, rows in columns.items()}


@dataclass
class _Slot:
    """Where one dense float tensor's values sit in every record of a uniform stream."""

    field: int  # 1 features, 2 label
    key: str
    dtype: str
    start: int  # byte offset in the record, framing included
    count: int


def _uniform_slots(buffer: memoryview) -> tuple[np.ndarray, list[_Slot]] | None:
    """Fast path: records that all share record 0's length and every byte outside their float values.

    Returns the (n_records, stride) byte matrix and the value slots, or None whenever the stream is not
    of that shape, leaving the general path to decode it or to say exactly where it is broken.
    """
    raw = np.frombuffer(buffer, dtype=np.uint8)
    if len(raw) < 8 or bytes(raw[:4]) != _MAGIC_BYTES:
        return None
    length = int.from_bytes(bytes(raw[4:8]), "little")
    stride = 8 + length + (-length % 4)
    if length >> 29 or len(raw) % stride:
        return None
    slots = _slots(bytes(raw[8 : 8 + length]))
    if not slots:
        return None
    records = raw.reshape(-1, stride)
    # Compare the bytes between value slots, range by range, as views (no copy of the stream).
    edges = [0]
    for slot in slots:
        edges += [slot.start, slot.start + slot.count * np.dtype(slot.dtype).itemsize]
    edges.append(stride)
    for begin, end in zip(edges[::2], edges[1::2], strict=True):
        if end > begin and not (records[:, begin:end] == records[0, begin:end]).all():
            return None
    return records, slots


def _slots(payload: bytes) -> list[_Slot] | None:
    """The value slots of a payload made only of dense float map entries; None otherwise."""
    reader = _Reader(payload, 0, 0)
    slots = []
    try:
        while not reader.done():
            field, wire = reader.tag()
            if field not in (1, 2) or wire != _WIRE_LENGTH:
                return None
            entry_end = reader.length_delimited_end()
            if reader.varint() != 0x0A:
                return None
            key = bytes(reader.read(reader.varint())).decode()
            if reader.varint() != 0x12:
                return None
            reader.length_delimited_end()
            kind = reader.varint() >> 3
            if kind not in (2, 3):
                return None
            tensor_end = reader.length_delimited_end()
            if reader.varint() != 0x0A:
                return None
            values_end = reader.length_delimited_end()
            dtype = _TENSOR_FIELDS[kind]
            size = values_end - reader.position
            if values_end != tensor_end or tensor_end != entry_end or size % np.dtype(dtype).itemsize:
                return None  # keys or shape present (sparse), or something unexpected
            slots.append(_Slot(field, key, dtype, 8 + reader.position, size // np.dtype(dtype).itemsize))
            reader.position = values_end
    except (RecordIOError, UnicodeDecodeError):
        return None
    return slots


def _slot_values(records: np.ndarray, slot: _Slot) -> np.ndarray:
    width = slot.count * np.dtype(slot.dtype).itemsize
    values = np.ascontiguousarray(records[:, slot.start : slot.start + width])
    return values.view(np.dtype(slot.dtype).newbyteorder("<")).astype(slot.dtype, copy=False)


def _records(buffer: memoryview) -> Iterator[tuple[int, int, memoryview]]:
    """(record index, byte offset, payload) of every record, checking the framing."""
    offset, index, end = 0, 0, len(buffer)
    while offset < end:
        if end - offset < 8:
            raise RecordIOError(f"record {index} at byte {offset}: truncated header ({end - offset} of 8 bytes)")
        magic, word = struct.unpack_from("<II", buffer, offset)
        if magic != MAGIC:
            raise RecordIOError(f"record {index} at byte {offset}: bad magic 0x{magic:08X}, expected 0x{MAGIC:08X}")
        if word >> 29:
            raise RecordIOError(
                f"record {index} at byte {offset}: multi-part record (continuation flag {word >> 29}) is not supported"
            )
        length = word & _LENGTH_MASK
        padded = length + (-length % 4)
        if offset + 8 + padded > end:
            raise RecordIOError(
                f"record {index} at byte {offset}: truncated payload ({end - offset - 8} of {padded} bytes present)"
            )
        yield index, offset, buffer[offset + 8 : offset + 8 + length]
        offset += 8 + padded
        index += 1


def _parse_record(payload: memoryview, index: int, offset: int) -> tuple[dict[str, _Tensor], dict[str, _Tensor]]:
    """The features and label maps of one Record payload."""
    reader = _Reader(payload, index, offset)
    maps: dict[int, dict[str, _Tensor]] = {1: {}, 2: {}}
    while not reader.done():
        field, wire = reader.tag()
        if field in maps and wire == _WIRE_LENGTH:
            end = reader.length_delimited_end()
            key, tensor = _parse_map_entry(reader, end)
            maps[field][key] = tensor
            if field == 2 and len(maps[2]) > MAX_LABEL_KEYS:
                raise _too_many_labels(index, offset)
        else:
            reader.skip(wire)
    return maps[1], maps[2]


def _too_many_labels(index: int, offset: int) -> RecordIOError:
    return RecordIOError(f"record {index} at byte {offset}: more than {MAX_LABEL_KEYS} label keys (MAX_LABEL_KEYS)")


def _parse_map_entry(reader: _Reader, end: int) -> tuple[str, _Tensor]:
    key, tensor = "", None
    while reader.position < end:
        field, wire = reader.tag()
        if field == 1 and wire == _WIRE_LENGTH:
            key = bytes(reader.read(reader.varint())).decode("utf-8", errors="replace")
        elif field == 2 and wire == _WIRE_LENGTH:
            value_end = reader.length_delimited_end()
            while reader.position < value_end:
                kind, kind_wire = reader.tag()
                if kind in _TENSOR_FIELDS and kind_wire == _WIRE_LENGTH:
                    tensor = _parse_tensor(reader, reader.length_delimited_end(), _TENSOR_FIELDS[kind])
                else:
                    reader.skip(kind_wire)
        else:
            reader.skip(wire)
    if tensor is None:
        tensor = _Tensor("float32", np.zeros(0, dtype="float32"), None, [])
    return key, tensor


def _parse_tensor(reader: _Reader, end: int, dtype: str) -> _Tensor:
    values, keys, shape = np.zeros(0, dtype=dtype), None, []
    while reader.position < end:
        field, wire = reader.tag()
        if field == 1 and wire == _WIRE_LENGTH:
            chunk = reader.read(reader.varint())
            if dtype == "int32":
                values = np.array(_varints(chunk, reader), dtype=np.int64).astype(np.int32)
            else:
                values = np.frombuffer(chunk, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype)
        elif field == 2 and wire == _WIRE_LENGTH:
            where = reader.position
            raw_keys = _varints(reader.read(reader.varint()), reader)
            if any(k < 0 for k in raw_keys):
                raise RecordIOError(
                    f"record {reader.index} at byte {reader.offset}: negative sparse key at payload byte {where}"
                )
            keys = np.array(raw_keys, dtype=np.int64)
        elif field == 3 and wire == _WIRE_LENGTH:
            shape = _varints(reader.read(reader.varint()), reader)
        else:
            reader.skip(wire)
    return _Tensor(dtype, values, keys, shape)


def _varints(chunk: memoryview, reader: _Reader) -> list[int]:
    inner = _Reader(chunk, reader.index, reader.offset)
    out = []
    while not inner.done():
        value = inner.varint()
        out.append(value - (1 << 64) if value >= 1 << 63 else value)
    return out


class _Reader:
    """A cursor over one protobuf payload; errors name the record and its byte offset."""

    def __init__(self, data: bytes | memoryview, index: int, offset: int) -> None:
        self.data, self.position, self.index, self.offset = data, 0, index, offset

    def done(self) -> bool:
        return self.position >= len(self.data)

    def fail(self, what: str) -> RecordIOError:
        return RecordIOError(f"record {self.index} at byte {self.offset}: {what} at payload byte {self.position}")

    def varint(self) -> int:
        result, shift = 0, 0
        while True:
            if self.position >= len(self.data):
                raise self.fail("truncated varint")
            byte = self.data[self.position]
            self.position += 1
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                return result
            shift += 7
            if shift > 63:
                raise self.fail("varint longer than 10 bytes")

    def tag(self) -> tuple[int, int]:
        key = self.varint()
        return key >> 3, key & 7

    def read(self, size: int) -> memoryview:
        if self.position + size > len(self.data):
            raise self.fail(f"field of {size} bytes runs past the end of the record")
        chunk = memoryview(self.data)[self.position : self.position + size]
        self.position += size
        return chunk

    def length_delimited_end(self) -> int:
        size = self.varint()
        if self.position + size > len(self.data):
            raise self.fail(f"field of {size} bytes runs past the end of the record")
        return self.position + size

    def skip(self, wire: int) -> None:
        if wire == _WIRE_VARINT:
            self.varint()
        elif wire == _WIRE_FIXED64:
            self.read(8)
        elif wire == _WIRE_LENGTH:
            self.read(self.varint())
        elif wire == _WIRE_FIXED32:
            self.read(4)
        else:
            raise self.fail(f"unsupported protobuf wire type {wire}")
