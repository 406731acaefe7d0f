"""Bounded reading: a census source's bytes, every bound checked on the bytes before anything is parsed.

The bounds are the MAX_* constants: the stored size, the size once decompressed (gzip is inflated as a
stream and refused as soon as it passes the limit, without keeping what it inflated), the number of rows
(counted on the bytes as they are read or inflated), the header's column count and each line's length;
a NUL byte is refused as binary data. Each refusal is a CensusValidationError naming the bound and,
where known, the line. The bytes are scanned by numpy a window at a time, never decoded here.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import zlib
from typing import BinaryIO

import numpy as np

from include.segmentation.census.contract import CensusValidationError

# The largest census read whole (`load_census`), as stored and once decompressed: about 5 M county-like rows,
# and about 3 GiB of memory to parse them. Checked before the file is read (S3 HeadObject, file size) and while a
# gzip file is decompressed. The preprocess task streams a census instead (`streaming`, up to
# MAX_STREAMED_CENSUS_BYTES) and reads one whole only at or below this, to refuse it with the whole file's
# messages; above it the streaming path's refusals name the row and column themselves.
MAX_CENSUS_BYTES = 1 << 30
# The largest census the preprocess task streams, as stored and once decompressed. Streaming holds a chunk at a
# time (streaming.CHUNK_BYTES), so this bounds time, S3 bytes (read twice) and pass 1's key hashes on disk, not
# memory: 10 M county-like rows are about 2.1 GB, and 8 GiB leaves room for MAX_CENSUS_ROWS (twice that) of them
# with names up to about 190 bytes longer than a real county row's, or 10 M rows four times as long.
MAX_STREAMED_CENSUS_BYTES = 8 << 30
# Data rows (lines after the header that are not blank): twice the 10 M rows the project is meant to
# scale to. Counted on the bytes (as they are read, or inflated) before anything is parsed, so a file
# of short rows is refused before its rows cost memory. A real county row is about 210 bytes, so
# MAX_CENSUS_BYTES binds first at about 5 M of them; this bound is what refuses rows of a few bytes
# (1 GiB of `a` lines is 537 M rows, of rows of 36 empty cells 29 M).
MAX_CENSUS_ROWS = 20_000_000
# Columns in the header: the contract's 37 plus room for an export's extras. Checked on the header
# line alone (its commas), before the body is parsed.
MAX_COLUMNS = 256
# Bytes in one line, header included: a county row is about 300 bytes, a 256-column header under 8 KiB.
MAX_LINE_BYTES = 64 * 1024
_CHUNK = 16 << 20  # bytes read at a time: bounds the working memory of a read
# Bytes inflated at a time while a gzip file is measured: GzipFile holds a few times this while it
# fills a read, so 16 MiB took a bomb's refusal to ~195 MiB; 4 MiB keeps it near 160 MiB, as fast.
_INFLATE = 4 << 20
# Bytes scanned for newlines at a time: its temporaries (8-byte newline indices) stay at a few MiB even
# when every byte is a newline; faulted in once and reused.
_SCAN = 1 << 18

# What a census is read from: its bytes, a path, or a binary stream (an open file, an S3 body).
Source = bytes | bytearray | str | os.PathLike[str] | BinaryIO


class CensusTooLarge(CensusValidationError):
    """A census refused for its size alone (MAX_CENSUS_BYTES or MAX_STREAMED_CENSUS_BYTES, as stored or inflated),
    before its rows were checked."""


def check_census_size(size: int, name: str) -> None:
    """Refuse a census of `size` bytes (as stored, or once decompressed) above MAX_CENSUS_BYTES: to read whole."""
    if size > MAX_CENSUS_BYTES:
        raise CensusTooLarge(
            [f"the file is {size:,} bytes, above the limit of {MAX_CENSUS_BYTES:,} bytes (MAX_CENSUS_BYTES)"], name
        )


def check_streamed_census_size(size: int, name: str) -> None:
    """Refuse a census of `size` bytes as stored above MAX_STREAMED_CENSUS_BYTES: to stream."""
    if size > MAX_STREAMED_CENSUS_BYTES:
        raise CensusTooLarge(
            [
                f"the file is {size:,} bytes, above the limit of {MAX_STREAMED_CENSUS_BYTES:,} bytes "
                "(MAX_STREAMED_CENSUS_BYTES)"
            ],
            name,
        )


def _bounded_bytes(source: Source, label: str) -> tuple[bytes | bytearray, int]:
    """The bytes of `source`, inflated when they are gzip, with every bound checked; and their rows (lines
    after the header that are not blank, see `_check_lines`)."""
    raw = _read_bytes(source, label)
    if raw[:2] == b"\x1f\x8b":
        raw = _gunzip(raw, label)
    return raw, _check_lines(raw, label)


def _default_name(source: Source) -> str:
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    if isinstance(source, bytes | bytearray):
        return "census input"
    return str(getattr(source, "name", "census input"))


def _read_bytes(source: Source, label: str) -> bytes | bytearray:
    """The stored bytes, refused above MAX_CENSUS_BYTES before they are read (at most one byte past it)."""
    if isinstance(source, bytes | bytearray):
        check_census_size(len(source), label)
        return source  # read-only from here on: no copy
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                return read_census_bytes(handle, label)  # a pipe or device has no size to check first
            check_census_size(info.st_size, label)
            return read_census_bytes(handle, label, size=info.st_size)
    return read_census_bytes(source, label)


def read_census_bytes(stream: BinaryIO, name: str, size: int | None = None) -> bytearray:
    """Read a census from a binary stream (a file, an S3 body), _CHUNK bytes at a time.

    Returns the bytearray it read into, not a bytes copy of it: at 1 GiB a copy is 1 GiB more. Each
    chunk is read straight into that bytearray (readinto) and scanned for newlines _SCAN bytes at a
    time, so that no chunk-sized temporary is made per chunk. `size`, the length announced (a file's
    st_size, S3's ContentLength), only sizes the reads: the buffer then ends where the stream does,
    with no room made (and faulted in) past it. A stream longer or shorter is read whole all the same.

    Refuses, as soon as the bytes read show it, a stream past MAX_CENSUS_BYTES or, unless it is gzip
    (checked as it is inflated), a line past MAX_LINE_BYTES or more than MAX_CENSUS_ROWS rows: a
    hostile file costs one chunk of memory, not its size.
    """
    data = bytearray()
    done = 0  # bytes read so far; data holds room for at most one more read beyond them
    line_bytes, lines, rows = 0, 0, 0  # bytes since the last newline; newlines so far; lines not blank
    scratch = np.empty(_SCAN, dtype=bool)
    while True:
        want = min(_CHUNK, MAX_CENSUS_BYTES + 1 - done)  # never past the cap + 1
        if size is not None and done <= size:
            want = min(want, size - done) or 1  # the announced bytes, then 1 to find the end (or more)
        if done + want > len(data):
            data += bytes(done + want - len(data))  # bytearray over-allocates: amortised, as `+= chunk` was
        with memoryview(data) as view, view[done : done + want] as room:
            got = _read_into(stream, room)
        if not got:
            break
        start, done = done, done + got
        check_census_size(done, name)
        if data[:2] == b"\x1f\x8b":
            continue
        if lines == 0:  # the header: its column count is the more useful refusal
            header_end = data.find(b"\n", start, done)
            _check_header(bytes(data[: header_end if header_end >= 0 else done]), name)
        newlines, longest, longest_at, line_bytes, ended = _scan_lines(data, start, done, line_bytes, scratch)
        if longest > MAX_LINE_BYTES or line_bytes > MAX_LINE_BYTES:
            line = lines + (longest_at if longest > MAX_LINE_BYTES else newlines) + 1
            raise CensusValidationError(
                [f"line {line:,} is longer than the limit of {MAX_LINE_BYTES:,} bytes (MAX_LINE_BYTES)"], name
            )
        lines, rows = lines + newlines, rows + ended
        if rows > MAX_CENSUS_ROWS + 1:  # the header is a line too
            raise _too_many_rows(lines, name)
    del data[done:]
    return data


def _read_into(stream: BinaryIO, room: memoryview) -> int:
    """Read up to len(room) bytes from `stream` into `room`; the count read, 0 at the end."""
    readinto = getattr(stream, "readinto", None)
    if readinto is not None:
        return readinto(room) or 0
    chunk = stream.read(len(room))  # a stream with read() alone
    room[: len(chunk)] = chunk
    return len(chunk)


def _scan_lines(
    data: bytes | bytearray, start: int, end: int, line_bytes: int, scratch: np.ndarray, before: int = -1
) -> tuple[int, int, int, int, int]:
    """The newlines of data[start:end], scanned _SCAN bytes at a time into `scratch` ((_SCAN,) bool).

    `line_bytes` is the length of the line running into `start`; `before` the byte before `start` when
    `data` does not hold it (a chunk of a stream), -1 when none. Returns (newlines found, the longest
    line they end in bytes (-1 when none), its index among them (the first of equals), the length of
    the line running past `end`, how many of the lines they end are rows: not blank, see `_rows_in`).
    """
    newlines, longest, longest_at, rows = 0, -1, 0, 0
    for block in range(start, end, _SCAN):
        count = min(_SCAN, end - block)
        window = np.frombuffer(data, dtype=np.uint8, count=count, offset=block)
        ends = np.flatnonzero(np.equal(window, 0x0A, out=scratch[:count]))
        if not ends.size:
            line_bytes += count
            continue
        lengths = np.diff(ends, prepend=-1) - 1
        lengths[0] += line_bytes
        rows += _rows_in(window, ends, lengths, data[block - 1] if block > 0 else before)
        line_bytes = count - int(ends[-1]) - 1
        at = int(np.argmax(lengths))
        if lengths[at] > longest:
            longest, longest_at = int(lengths[at]), newlines + at
        newlines += ends.size
    return newlines, longest, longest_at, line_bytes, rows


def _rows_in(window: np.ndarray, ends: np.ndarray, lengths: np.ndarray, before: int) -> int:
    """How many of the lines ending at `ends` ((m,) int positions of their newlines in `window`, (n,)
    uint8) are rows: of `lengths` ((m,) int) above 0, and not a lone carriage return (a blank CRLF
    line), as the parsers skip both. `before` is the byte before the window (-1: none)."""
    lone = ends[lengths == 1]  # one byte before the newline: a row unless that byte is "\r"
    if not lone.size:
        return int(np.count_nonzero(lengths))
    previous = window[np.maximum(lone - 1, 0)].astype(np.int16)
    previous[lone == 0] = before
    return int(np.count_nonzero(lengths)) - int(np.count_nonzero(previous == 0x0D))


def _too_many_rows(line: int, label: str) -> CensusValidationError:
    return CensusValidationError(
        [f"more than {MAX_CENSUS_ROWS:,} rows, the limit (MAX_CENSUS_ROWS): refused by line {line:,}"], label
    )


def _gunzip(raw: bytes | bytearray, label: str) -> bytes:
    """Inflate gzip data (one or more members), refused once it expands past MAX_CENSUS_BYTES or past
    MAX_CENSUS_ROWS rows.

    A first pass inflates chunk by chunk and only counts bytes and rows, so a bomb is refused holding at
    most _INFLATE bytes of output; the data is kept only once its size is known to fit.
    """
    try:
        size, lines, rows, line_bytes, last = 0, 0, 0, 0, -1
        scratch = np.empty(_SCAN, dtype=bool)
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
            while chunk := stream.read(_INFLATE):
                size += len(chunk)
                if size > MAX_CENSUS_BYTES:
                    raise CensusTooLarge(
                        [
                            f"the gzip data expands past {MAX_CENSUS_BYTES:,} bytes (MAX_CENSUS_BYTES); "
                            f"refused after {size:,} bytes from {len(raw):,} compressed"
                        ],
                        label,
                    )
                newlines, _, _, line_bytes, ended = _scan_lines(chunk, 0, len(chunk), line_bytes, scratch, last)
                lines, rows, last = lines + newlines, rows + ended, chunk[-1]
                if rows > MAX_CENSUS_ROWS + 1:  # the header is a line too
                    raise _too_many_rows(lines, label)
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:  # OSError covers gzip.BadGzipFile
        raise CensusValidationError([f"corrupt gzip data ({exc})"], label) from exc


def _check_lines(raw: bytes | bytearray, label: str) -> int:
    """Refuse binary data, a header of too many columns, lines longer than MAX_LINE_BYTES and more than
    MAX_CENSUS_ROWS rows; return the number of rows (lines after the header that are not blank).

    Works on the bytes, before decoding and parsing: the header first, then a vectorised scan of the
    newline positions, _SCAN bytes at a time.
    """
    header_end = raw.find(b"\n")
    _check_header(raw if header_end < 0 else raw[:header_end], label)
    nul = raw.find(b"\x00")
    if nul >= 0:
        line = raw.count(b"\n", 0, nul) + 1
        raise CensusValidationError([f"binary data, not CSV text: a NUL byte on line {line:,} (byte {nul:,})"], label)
    previous = -1  # position of the last newline seen
    lines = 0  # lines not blank, header included
    scratch = np.empty(_SCAN, dtype=bool)
    for start in range(0, len(raw), _SCAN):
        count = min(_SCAN, len(raw) - start)
        window = np.frombuffer(raw, dtype=np.uint8, count=count, offset=start)
        ends = np.flatnonzero(np.equal(window, 0x0A, out=scratch[:count]))
        if len(raw) - start <= _SCAN:
            ends = np.append(ends, count)  # the last line, whether or not a newline ends it
        lengths = np.diff(ends, prepend=previous - start) - 1
        too_long = np.flatnonzero(lengths > MAX_LINE_BYTES)
        if too_long.size:
            first = int(too_long[0])
            line = raw.count(b"\n", 0, start) + first + 1
            raise CensusValidationError(
                [
                    f"line {line:,} is {int(lengths[first]):,} bytes long, above the limit of "
                    f"{MAX_LINE_BYTES:,} bytes (MAX_LINE_BYTES)"
                ],
                label,
            )
        lines += _rows_in(window, ends, lengths, raw[start - 1] if start else -1)
        if lines > MAX_CENSUS_ROWS + 1:
            raise _too_many_rows(raw.count(b"\n", 0, start + count) + 1, label)
        if ends.size:
            previous = start + int(ends[-1])
    return max(lines - 1, 0)


def _check_header(header: bytes, label: str) -> None:
    # Commas inside quotes count too: the contract's column names have none, so this only over-counts.
    columns = header.count(b",") + 1
    if columns > MAX_COLUMNS:
        raise CensusValidationError(
            [f"the header (line 1) has {columns:,} columns, above the limit of {MAX_COLUMNS} (MAX_COLUMNS)"], label
        )


def _count_bytes(raw: bytes | bytearray, *values: int) -> list[int]:
    """How often each byte value occurs in `raw`, counted by numpy _SCAN bytes at a time (bytes.count
    compares a byte at a time: 5x slower)."""
    counts = [0] * len(values)
    scratch = np.empty(min(_SCAN, len(raw)), dtype=bool)
    for start in range(0, len(raw), _SCAN):
        count = min(_SCAN, len(raw) - start)
        window = np.frombuffer(raw, dtype=np.uint8, count=count, offset=start)
        for i, value in enumerate(values):
            counts[i] += int(np.count_nonzero(np.equal(window, value, out=scratch[:count])))
    return counts
