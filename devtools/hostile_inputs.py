"""Hostile inputs for the census loader, the model.tar.gz reader and the RecordIO decoder.

Shared by `tests/unit/test_hostile_inputs.py` and `bench/hostile_inputs.py`: `craft_all(directory)`
writes each input as a small file, and `measure(case)` refuses it in a fresh child process
(`python -m devtools.hostile_inputs LOADER PATH`), reporting the error and that child's peak RSS.

The bombs are concatenated gzip members: one member holds a block of repeated bytes and is written
many times, so a file of about 1–2 MB inflates to more than 1–2 GiB while crafting it takes a
fraction of a second. Inflating them is still real work: the refusals are what is measured.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_BLOCK = 16 << 20  # bytes of repeated content per gzip member of a bomb


@dataclass(frozen=True)
class Case:
    """One crafted input: `loader` is a key of LOADERS; `error` and `mentions` are what its refusal says."""

    name: str
    loader: str
    path: Path
    error: str
    mentions: str  # a regex the error message must match


@dataclass(frozen=True)
class Refusal:
    error: str  # exception class name, or "accepted"
    message: str
    peak_rss_mib: float  # the child's peak resident set: its launcher's RUSAGE_CHILDREN ru_maxrss
    ms: float  # wall time of the one call in the child, imports excluded


def _census_header() -> bytes:
    from include.segmentation.census import COLUMNS

    return (",".join(COLUMNS) + "\n").encode()


def _census_row(state: str = "Alabama", county: str = "Autauga") -> bytes:
    return (f"1001,{state},{county}," + ",".join(["1"] * 34) + "\n").encode()


def _repeated_gzip(path: Path, head: bytes, block: bytes, total: int, tail: bytes = b"") -> None:
    """gzip of head + block repeated until at least `total` bytes + tail, as concatenated members."""
    repeats = -(-_BLOCK // len(block))
    member = gzip.compress(block * repeats, compresslevel=9, mtime=0)
    with open(path, "wb") as out:
        out.write(gzip.compress(head, mtime=0))
        for _ in range(-(-(total - len(head)) // (len(block) * repeats))):
            out.write(member)
        if tail:
            out.write(gzip.compress(tail, mtime=0))


def census_gzip_bomb(directory: Path) -> Case:
    from include.segmentation.census import MAX_CENSUS_BYTES

    path = directory / "census_bomb.csv.gz"
    # Valid-looking short rows: only the size limit can refuse it, nothing in its content.
    _repeated_gzip(path, _census_header(), _census_row(), MAX_CENSUS_BYTES + (1 << 20))
    # CensusTooLarge: the CensusValidationError of a census past a size bound (a whole read's, here).
    return Case("census gzip bomb (>1 GiB inflated)", "census", path, "CensusTooLarge", "MAX_CENSUS_BYTES")


def census_long_field(directory: Path) -> Case:
    """The issue's 520 MB field, written in blocks (never held whole)."""
    path = directory / "census_long_field.csv"
    with path.open("wb") as handle:
        handle.write(_census_header() + _census_row() + b"1002,Alabama,")
        block = b"9" * (1 << 20)
        for _ in range(520):
            handle.write(block)
        handle.write(b"," + b",".join([b"1"] * 34) + b"\n")
    return Case("census row with a 520 MiB field", "census", path, "CensusValidationError", r"line 3 is longer")


def census_wide_header(directory: Path) -> Case:
    path = directory / "census_wide_header.csv"
    header = ",".join(f"c{i}" for i in range(1_000_000))
    path.write_bytes(header.encode() + b"\n" + b"1\n")
    return Case("census header of 10^6 columns", "census", path, "CensusValidationError", "1,000,000 columns")


def census_binary(directory: Path) -> Case:
    path = directory / "census_binary.csv"
    path.write_bytes(np.random.default_rng(8).integers(0, 256, 1 << 16, dtype=np.uint8).tobytes())
    return Case("census of random binary bytes", "census", path, "CensusValidationError", r"binary data.*NUL byte")


def census_ragged(directory: Path) -> Case:
    path = directory / "census_ragged.csv"
    path.write_bytes(_census_header() + _census_row() + _census_row().replace(b"\n", b",1,2,3\n"))
    return Case(
        "census row with 40 fields", "census", path, "CensusValidationError", r"line 3 has 40 fields, expected 37"
    )


def census_long_name(directory: Path) -> Case:
    path = directory / "census_long_name.csv"
    path.write_bytes(_census_header() + _census_row() + _census_row(state="S" * 1000))
    return Case("census State of 1,000 characters", "census", path, "CensusValidationError", r"'State'.*rows 2")


def census_rows_of_a(directory: Path) -> Case:
    """The issue's 20 MB census: a valid header, then 10^7 rows of one field `a` (pandas made 9.3 GiB of it)."""
    path = directory / "census_rows_of_a.csv"
    path.write_bytes(_census_header() + b"a\n" * 10_000_000)
    return Case(
        "census of 10^7 rows of `a`", "census", path, "CensusValidationError", r"line 2 has 1 fields, expected 37"
    )


def census_gzip_rows_of_a(directory: Path) -> Case:
    """About 1 MB of gzip inflating to just under MAX_CENSUS_BYTES of `a` rows: 537 M rows, past MAX_CENSUS_ROWS."""
    from include.segmentation.census import MAX_CENSUS_BYTES

    path = directory / "census_gzip_rows_of_a.csv.gz"
    _repeated_gzip(path, _census_header(), b"a\n", MAX_CENSUS_BYTES - _BLOCK)
    return Case("census gzip of `a` rows (<1 GiB inflated)", "census", path, "CensusValidationError", "MAX_CENSUS_ROWS")


def census_gzip_empty_cells(directory: Path) -> Case:
    """A few MB of gzip of rows of 37 empty fields under MAX_CENSUS_BYTES: 29 M rows of the right width."""
    from include.segmentation.census import COLUMNS, MAX_CENSUS_BYTES

    path = directory / "census_gzip_empty_cells.csv.gz"
    _repeated_gzip(path, _census_header(), b"," * (len(COLUMNS) - 1) + b"\n", MAX_CENSUS_BYTES - _BLOCK)
    return Case("census gzip of rows of empty cells", "census", path, "CensusValidationError", "MAX_CENSUS_ROWS")


def census_rows_over_limit(directory: Path) -> Case:
    """One row more than MAX_CENSUS_ROWS, uncompressed (40 MB): refused while the file is read."""
    from include.segmentation.census import MAX_CENSUS_ROWS

    path = directory / "census_rows_over_limit.csv"
    path.write_bytes(_census_header() + b"a\n" * (MAX_CENSUS_ROWS + 1))
    return Case(
        "census of MAX_CENSUS_ROWS + 1 rows", "census", path, "CensusValidationError", r"more than 20,000,000 rows"
    )


def census_quoted_newline(directory: Path) -> Case:
    """A county name with a quoted newline and a forged log line after it."""
    path = directory / "census_quoted_newline.csv"
    path.write_bytes(_census_header() + _census_row() + _census_row(county='"Doña\nINFO - Task succeeded"'))
    return Case("census name with a quoted newline", "census", path, "CensusValidationError", r"'County': control char")


def _tar_gz_bomb(path: Path, members: list[tuple[tarfile.TarInfo, int]]) -> None:
    """A tar.gz whose members are declared headers followed by that many zero bytes, as gzip members."""
    with open(path, "wb") as out:
        for info, _size in members:
            out.write(gzip.compress(info.tobuf(format=tarfile.PAX_FORMAT), mtime=0))
            zeros = gzip.compress(bytes(_BLOCK), compresslevel=9, mtime=0)
            size = info.size
            for _ in range(size // _BLOCK):
                out.write(zeros)
            out.write(gzip.compress(bytes(size % _BLOCK + (-size % 512)), mtime=0))
        out.write(gzip.compress(bytes(1024), mtime=0))  # the two zero blocks that end a tar


def model_gzip_bomb(directory: Path) -> Case:
    path = directory / "model_bomb.tar.gz"
    info = tarfile.TarInfo("model_algo-1")
    info.size = 2 << 30
    _tar_gz_bomb(path, [(info, info.size)])
    return Case("model.tar.gz member of 2 GiB", "kmeans", path, "ArtifactError", "MAX_MODEL_BYTES")


def model_pax_bomb(directory: Path) -> Case:
    path = directory / "model_pax_bomb.tar.gz"
    # A pax extended header declaring 1 GiB: tarfile would read it whole, before any member is seen.
    info = tarfile.TarInfo("././@PaxHeader")
    info.type, info.size = tarfile.XHDTYPE, 1 << 30
    _tar_gz_bomb(path, [(info, info.size)])
    return Case("model.tar.gz pax header of 1 GiB", "kmeans", path, "ArtifactError", "MAX_EXTENDED_HEADER_BYTES")


def model_many_members(directory: Path) -> Case:
    path = directory / "model_many_members.tar.gz"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for i in range(10_000):
            archive.addfile(tarfile.TarInfo(f"m{i}"))
    path.write_bytes(buffer.getvalue())
    return Case("model.tar.gz of 10,000 members", "kmeans", path, "ArtifactError", "MAX_ARCHIVE_MEMBERS")


def ndarray_huge_shape(directory: Path) -> Case:
    from include.sagemaker_formats.artifacts import _archive

    path = directory / "model_huge_shape.tar.gz"
    header = struct.pack("<QQQ", 0x112, 0, 1) + struct.pack("<IiI2qiii", 0xF993FAC9, 0, 2, 1, 1 << 28, 1, 0, 0)
    path.write_bytes(_archive(header + bytes(1 << 20) + struct.pack("<Q", 0)))
    return Case("NDArray (1, 268M) in 1 MiB", "kmeans", path, "ArtifactError", r"268,435,456 elements.*MAX_ELEMENTS")


def sparse_record(shape: list[int], keys: list[int] | None = None, labels: tuple[str, ...] = ()) -> bytes:
    """One RecordIO record: features["values"] = Float32Tensor(values=[], keys, shape); keys None: no keys field.

    labels: the same tensor under each of these label keys instead, and no features.
    """

    def varints(values: list[int]) -> bytes:
        out = bytearray()
        for value in values:
            value &= (1 << 64) - 1
            while value >= 0x80:
                out.append(value & 0x7F | 0x80)
                value >>= 7
            out.append(value)
        return bytes(out)

    def field(tag: int, body: bytes) -> bytes:
        return bytes([tag]) + varints([len(body)]) + body

    keys_field = b"" if keys is None else field(0x12, varints(keys))
    tensor = field(0x0A, b"") + keys_field + field(0x1A, varints(shape))

    def entry(key: str) -> bytes:
        return field(0x0A, key.encode()) + field(0x12, field(0x12, tensor))

    payload = b"".join(field(0x12, entry(key)) for key in labels) if labels else field(0x0A, entry("values"))
    return struct.pack("<II", 0xCED7230A, len(payload)) + payload + bytes(-len(payload) % 4)


def recordio_huge_shape(directory: Path) -> Case:
    path = directory / "sparse_huge_shape.rec"
    path.write_bytes(sparse_record([1 << 29], keys=[]))
    return Case("RecordIO sparse shape 2^29", "recordio", path, "RecordIOError", r"record 0 at byte 0.*MAX_RECORD_VAL")


def recordio_negative_shape(directory: Path) -> Case:
    path = directory / "sparse_negative_shape.rec"
    path.write_bytes(sparse_record([-3], keys=[0]))
    return Case("RecordIO negative shape", "recordio", path, "RecordIOError", r"record 0 at byte 0: negative dimension")


def recordio_expanding_stream(directory: Path) -> Case:
    from include.sagemaker_formats.recordio import MAX_DECODED_VALUES, MAX_RECORD_VALUES

    path = directory / "sparse_expanding.rec"
    path.write_bytes(sparse_record([MAX_RECORD_VALUES], keys=[]) * (MAX_DECODED_VALUES // MAX_RECORD_VALUES + 1))
    return Case("RecordIO 17 sparse records of 2^20", "recordio", path, "RecordIOError", "MAX_DECODED_VALUES")


# Issue 18: headers that Python's tarfile before 3.11.10 parses in quadratic time and memory, and label
# streams of many keys.


def raw_archive(*members: tuple[bytes, bytes, bytes]) -> bytes:
    """A model.tar.gz of raw (name, tar type, content) members, ustar headers written as they are, no checks."""
    raw = b""
    for name, kind, content in members:
        header = tarfile.TarInfo(name.decode())
        header.type, header.size = kind, len(content)
        raw += header.tobuf(format=tarfile.USTAR_FORMAT) + content + bytes(-len(content) % 512)
    return gzip.compress(raw + bytes(1024), mtime=0)


def pax_archive(records: bytes, member: bytes = b"") -> bytes:
    """A model.tar.gz of one pax extended header holding `records`, then model_algo-1 holding `member`."""
    return raw_archive((b"././@PaxHeader", tarfile.XHDTYPE, records), (b"model_algo-1", tarfile.REGTYPE, member))


def _centroids() -> bytes:
    """A valid K-Means model_algo-1 (two centroids of 3 features): only the header is hostile."""
    from include.sagemaker_formats.mxnet_ndarray import dumps

    return dumps([np.ones((2, 3), dtype="float32")])


def model_pax_repeated_twos(directory: Path) -> Case:
    """`2 2 2 … 2=`: tarfile < 3.11.10 reads a record of length 2 at every other byte, each keeping a keyword
    that runs to the `=`: 80 KB of header, 1.6 GiB of keywords (the issue's 360-byte file: 6.1 GiB)."""
    path = directory / "model_pax_twos.tar.gz"
    path.write_bytes(pax_archive(b"2 " * 40_000 + b"=\n", _centroids()))
    return Case("model.tar.gz pax header '2 2 2 …'", "kmeans", path, "ArtifactError", r"pax extended header at byte 0")


def model_pax_digits(directory: Path) -> Case:
    """40,000 digits: tarfile < 3.11.10 searches them for `\\d+ hdrcharset=`, in time square of their length."""
    path = directory / "model_pax_digits.tar.gz"
    path.write_bytes(pax_archive(b"7" * 40_000, _centroids()))
    return Case("model.tar.gz pax header of digits", "kmeans", path, "ArtifactError", r"pax extended header at byte 0")


def labels_many_keys(directory: Path) -> Case:
    """Records of many label keys, each a sparse tensor of 2^20 values: 2 KB that decoded to 834 MiB."""
    from include.sagemaker_formats.recordio import MAX_LABEL_KEYS

    path = directory / "labels_many_keys.rec"
    path.write_bytes(sparse_record([1 << 20], keys=[], labels=tuple(f"k{i}" for i in range(MAX_LABEL_KEYS + 1))))
    return Case(
        "RecordIO labels of many 2^20 keys", "labels", path, "RecordIOError", r"record 0 at byte 0.*MAX_LABEL_KEYS"
    )


def labels_expanding_keys(directory: Path) -> Case:
    """As many keys as allowed, each of 2^20 sparse values, in records repeated: the total decoded is the bound."""
    from include.sagemaker_formats.recordio import MAX_LABEL_KEYS

    path = directory / "labels_expanding_keys.rec"
    path.write_bytes(sparse_record([1 << 20], keys=[], labels=tuple(f"k{i}" for i in range(MAX_LABEL_KEYS))) * 4)
    return Case("RecordIO labels past the total", "labels", path, "RecordIOError", "MAX_DECODED_VALUES")


CRAFTERS = (
    census_gzip_bomb,
    census_long_field,
    census_wide_header,
    census_binary,
    census_ragged,
    census_long_name,
    census_rows_of_a,
    census_gzip_rows_of_a,
    census_gzip_empty_cells,
    census_rows_over_limit,
    census_quoted_newline,
    model_gzip_bomb,
    model_pax_bomb,
    model_many_members,
    ndarray_huge_shape,
    recordio_huge_shape,
    recordio_negative_shape,
    recordio_expanding_stream,
    model_pax_repeated_twos,
    model_pax_digits,
    labels_many_keys,
    labels_expanding_keys,
)


def craft_all(directory: Path) -> list[Case]:
    return [craft(directory) for craft in CRAFTERS]


def load(loader: str, path: str) -> None:
    """Call the loader on the file: the census loader reads the path itself, the others take bytes."""
    if loader == "census":
        from include.segmentation.census import load_census

        load_census(path)
    elif loader == "kmeans":
        from include.sagemaker_formats.artifacts import read_kmeans_model

        read_kmeans_model(Path(path).read_bytes())
    elif loader == "recordio":
        from include.sagemaker_formats.recordio import decode_features

        decode_features(Path(path).read_bytes())
    elif loader == "labels":
        from include.sagemaker_formats.recordio import decode_labels

        decode_labels(Path(path).read_bytes())
    elif loader != "baseline":
        raise SystemExit(f"unknown loader {loader!r}")


def _child(loader: str, path: str) -> None:
    # Import every module first so that the baseline and each refusal pay for the same imports.
    import include.sagemaker_formats.artifacts
    import include.sagemaker_formats.recordio
    import include.segmentation.census  # noqa: F401

    start = time.perf_counter()
    try:
        load(loader, path)
        error, message = "accepted", ""
    except Exception as exc:  # whatever escapes is reported: a raw ValueError is a finding too
        error, message = type(exc).__name__, str(exc)
    ms = (time.perf_counter() - start) * 1000
    print(json.dumps({"error": error, "message": message[:2000], "ms": ms}))


# Runs the child and reports its peak RSS. A child's ru_maxrss counts the memory of the process it was
# forked from (Linux records the forking process's high-water mark at exec), so the child is forked from
# this small launcher, not from a test or bench process that may have grown while crafting inputs.
_LAUNCHER = """
import json, resource, subprocess, sys
child = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, check=True)
result = json.loads(child.stdout)
result["peak_rss_kib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps(result))
"""


def measure(loader: str, path: Path | str = "") -> Refusal:
    """Run one load in a fresh child (`loader` "baseline" only imports) and report how it ended."""
    output = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, sys.executable, "-m", "devtools.hostile_inputs", loader, str(path)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        check=True,
    ).stdout
    result = json.loads(output)
    return Refusal(result["error"], result["message"], result["peak_rss_kib"] / 1024, result["ms"])


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "")
