"""Streaming: a census read twice in chunks of whole lines, so that the memory it takes does not grow with its rows.

`survey` (pass 1) parses every chunk with the typed reader `load_census` uses and checks it against the same
rules, keeping only what the whole needs: the row counts, the incomplete rows' keys, each feature's minimum and
maximum over the complete rows, a 64-bit hash of each row's `State-County` key (for duplicates), and the sha256
and size of the stored bytes. `clean_chunks` (pass 2) reads the same bytes again and yields each chunk's complete
rows as `prepare` has them, with their 0–1 scaling: float64 minus the minimum, over the range, rounded once to
float32, as `MinMaxScaling.transform` does on the whole. Concatenated, the chunks are `prepare`'s result.

The streaming path vouches only for a census it reads without a doubt. Any refusal, anything the typed reader
does not read plainly (a bad number, a ragged row, a quoted newline, a repeated header name), two keys of one
hash, chunks that would decode differently from the whole file (UTF-8 beside Latin-1), no complete row, or
fewer than `k`: each raises NotStreamable, and the caller reads the file whole with `load_census` and `prepare`,
which refuse it with the problem named (file, row, column) exactly as they always have, at the memory they always
took (within the MAX_* bounds). A file that passes costs about CHUNK_BYTES a few times over in memory, whatever
its rows, and KEY_HASH_BYTES a row on disk for the duration of pass 1.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import logging
import re
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pandas as pd

from include.segmentation.census.bounded_read import MAX_CENSUS_BYTES, MAX_CENSUS_ROWS, MAX_LINE_BYTES
from include.segmentation.census.cleaning import _kept_rows
from include.segmentation.census.contract import FEATURES, ID_COLUMNS, KEY_NAME, CensusValidationError, _join_limited
from include.segmentation.census.parsing import _check_columns, _header_names, _read_typed
from include.segmentation.census.validation import (
    _control_character_problems,
    _keys,
    _name_length_problems,
    _range_problems,
)
from include.segmentation.printable import printable
from include.segmentation.scaling import MinMaxScaling

log = logging.getLogger(__name__)

# CSV bytes parsed at a time, in whole lines (about 38,000 county rows of ~220 bytes). A pass holds a few times
# this whatever the census's rows: the chunk and its copy with the header, pyarrow's batches, the (rows, 34)
# float64 block (~10 MiB), the complete rows' copy and their float32 scaling; about 100 MiB in all. Smaller
# chunks pay pyarrow's reader setup and a parquet row group per chunk more often for little memory saved.
CHUNK_BYTES = 8 << 20
# Bytes pass 1 writes per row to a temporary file: a 64-bit hash of its State-County key, for duplicates (80 MB at
# 10 M rows, 160 MB at MAX_CENSUS_ROWS, on disk). The keys themselves (~30 characters, ~80 bytes each as Python
# strings) would be ten times that, in memory.
KEY_HASH_BYTES = 8
# Files the key hashes are spread over by their top bits; each is read back and sorted alone at the end of pass 1,
# so that what that holds is 1/KEY_HASH_PARTITIONS of them: 2.5 MB at MAX_CENSUS_ROWS, against the ~100 MiB
# a chunk takes. 64 files open at once are far under any open-files limit.
KEY_HASH_PARTITIONS = 1 << 6

_PARTITION_BITS = KEY_HASH_PARTITIONS.bit_length() - 1
_GZIP_MAGIC = b"\x1f\x8b"
_NOT_BLANK = re.compile(rb"[^\r\n]")  # a chunk of blank lines only has no row: the parsers skip them

# A fresh binary stream of the census's stored bytes (an S3 body of the pinned version, a file), one per pass.
Opener = Callable[[], BinaryIO]


class NotStreamable(Exception):
    """The census must be read whole, by `load_census` and `prepare`: the message says why, for the log."""


@dataclass(frozen=True)
class Survey:
    """Pass 1's findings: rows_in rows read, `rows` of them complete (kept), the incomplete rows' keys ("row N"
    without a key) in file order, the complete rows' scaling, and the stored bytes' sha256 (hex) and size."""

    rows_in: int
    rows: int
    dropped: list[str]
    scaling: MinMaxScaling
    sha256: str
    stored_bytes: int


@dataclass(frozen=True)
class CleanChunk:
    """One chunk's complete rows, as `prepare`'s result has them. features: (m, 34) float64 census units indexed
    by State-County; counties: (m, 3) CensusId, State, County, the same index; scaled: (m, 34) float32 0–1."""

    features: pd.DataFrame
    counties: pd.DataFrame
    scaled: np.ndarray


def survey(open_stream: Opener, name: str, k: int) -> Survey:
    """Pass 1 over the census: every row parsed and checked, the counts, dropped keys and scaling kept.

    Raises NotStreamable (see the module) rather than any refusal: the caller reads the file whole for it.
    """
    with _key_hashes() as hashes:
        return _survey(open_stream, name, k, hashes)


def _survey(open_stream: Opener, name: str, k: int, hashes: _KeyHashes) -> Survey:
    reading = _Reading(open_stream(), name)
    rows_in, kept, dropped = 0, 0, []
    minimum = np.full(len(FEATURES), np.inf)
    maximum = np.full(len(FEATURES), -np.inf)
    encodings: set[str] = set()
    for chunk in reading.chunks():
        encodings.add(_encoding(chunk.lines))
        if {"utf8", "latin1"} <= encodings:
            raise NotStreamable("UTF-8 and Latin-1 text in one file: read whole, it is decoded as Latin-1 throughout")
        if rows_in == 0:
            _refusable(_check_columns, _header_names(chunk.header), name)  # warns of extra columns once
        frame = _parsed(chunk, name)
        problems = [
            *_name_length_problems(frame["State"], "State"),
            *_name_length_problems(frame["County"], "County"),
            *_control_character_problems(frame["State"], "State"),
            *_control_character_problems(frame["County"], "County"),
            *_range_problems(frame),
        ]
        if problems:
            raise NotStreamable(f"the chunk from row {rows_in + 1:,} on breaks the contract")
        keys, complete = _complete(frame)
        present = keys.dropna()
        hashes.add(pd.util.hash_array(present.to_numpy(dtype=object)))
        dropped += [key if isinstance(key, str) else f"row {rows_in + row}" for row, key in keys[~complete].items()]
        if complete.any():
            values = _kept_rows(frame.loc[:, list(FEATURES)].to_numpy(dtype="float64"), complete)
            np.minimum(minimum, values.min(axis=0), out=minimum)
            np.maximum(maximum, values.max(axis=0), out=maximum)
        rows_in, kept = rows_in + len(frame), kept + int(np.count_nonzero(complete))
        if rows_in > MAX_CENSUS_ROWS:
            raise NotStreamable(f"more than {MAX_CENSUS_ROWS:,} rows (MAX_CENSUS_ROWS)")
    if rows_in == 0:
        raise NotStreamable("no rows")
    if hashes.any_repeated():
        raise NotStreamable("two State-County keys of one hash")
    if kept == 0:
        raise NotStreamable("no complete row")
    if k > kept:
        raise NotStreamable(f"k={k} above the {kept:,} complete rows")
    if dropped:
        log.info("dropping %d incomplete rows: %s", len(dropped), printable(_join_limited(dropped)))
    scaling = MinMaxScaling(tuple(FEATURES), minimum, maximum)
    return Survey(rows_in, kept, dropped, scaling, reading.sha256.hexdigest(), reading.stored_bytes)


def clean_chunks(open_stream: Opener, name: str, surveyed: Survey) -> Iterator[CleanChunk]:
    """Pass 2: the census read again, each chunk's complete rows with their scaling, in file order.

    Raises ValueError when the bytes are not the ones `surveyed` read (another sha256): the census must not
    change between the passes (the caller reads one pinned object version).
    """
    reading = _Reading(open_stream(), name)
    for chunk in reading.chunks():
        frame = _parsed(chunk, name)
        keys, complete = _complete(frame)
        if not complete.any():
            continue
        index = pd.Index(keys.array[complete], name=KEY_NAME)
        values = _kept_rows(frame.loc[:, list(FEATURES)].to_numpy(dtype="float64"), complete)
        features = pd.DataFrame(values, columns=list(FEATURES), copy=False).set_axis(index)
        counties = frame.loc[complete, list(ID_COLUMNS)]
        if not (counties.dtypes == "str").all():
            counties = counties.astype(str)
        scaled = surveyed.scaling.transform(values, dtype="float32")
        yield CleanChunk(features, counties.set_axis(index), scaled)
    if reading.sha256.hexdigest() != surveyed.sha256:
        raise ValueError(
            f"{printable(name)} changed between its two reads (sha256 {surveyed.sha256}, then "
            f"{reading.sha256.hexdigest()}): it must be one object version"
        )


@dataclass(frozen=True)
class _Chunk:
    header: bytes  # line 1, its newline included
    lines: bytes  # whole lines after it, the last one's newline included (but at the end of the file)


class _Reading:
    """One pass's read of a stream: its stored bytes hashed and counted, inflated when gzip, cut in chunks of
    whole lines of about CHUNK_BYTES. Every bound `bounded_read` checks that this can see early (size as stored
    and inflated, a line past MAX_LINE_BYTES, corrupt gzip) raises NotStreamable as soon as it shows."""

    def __init__(self, stream: BinaryIO, name: str) -> None:
        self.stream, self.name = stream, name
        self.sha256 = hashlib.sha256()
        self.stored_bytes = 0

    def _read_stored(self, size: int) -> bytes:
        data = self.stream.read(size)
        self.sha256.update(data)
        self.stored_bytes += len(data)
        if self.stored_bytes > MAX_CENSUS_BYTES:
            raise NotStreamable(f"more than {MAX_CENSUS_BYTES:,} bytes (MAX_CENSUS_BYTES)")
        return data

    def chunks(self) -> Iterator[_Chunk]:
        first = self._read_stored(CHUNK_BYTES)
        blocks = self._inflated(first) if first[:2] == _GZIP_MAGIC else self._plain(first)
        header, carry = None, b""
        for block in blocks:
            data = carry + block
            end = data.rfind(b"\n") + 1
            data, carry = data[:end], data[end:]
            if len(carry) > MAX_LINE_BYTES:
                raise NotStreamable(f"a line longer than {MAX_LINE_BYTES:,} bytes (MAX_LINE_BYTES)")
            if header is None and data:
                cut = data.find(b"\n") + 1
                header, data = data[:cut], data[cut:]
            if data and _NOT_BLANK.search(data):
                yield _Chunk(header, data)
        if carry and header is not None and _NOT_BLANK.search(carry):
            yield _Chunk(header, carry)

    def _plain(self, first: bytes) -> Iterator[bytes]:
        block = first
        while block:
            yield block
            block = self._read_stored(CHUNK_BYTES)

    def _inflated(self, first: bytes) -> Iterator[bytes]:
        stored = _StoredReader(self, first)
        inflated = 0
        try:
            with gzip.GzipFile(fileobj=io.BufferedReader(stored, buffer_size=1 << 20)) as inflating:
                while block := inflating.read(CHUNK_BYTES):
                    inflated += len(block)
                    if inflated > MAX_CENSUS_BYTES:
                        raise NotStreamable(f"gzip data past {MAX_CENSUS_BYTES:,} bytes (MAX_CENSUS_BYTES)")
                    yield block
        except (OSError, EOFError, zlib.error) as error:  # OSError covers gzip.BadGzipFile
            raise NotStreamable(f"corrupt gzip data ({error})") from error
        while self._read_stored(CHUNK_BYTES):  # what follows the last member is hashed too
            pass


class _StoredReader(io.RawIOBase):
    """The stored bytes of a `_Reading` as a raw stream (for GzipFile): the first block, then the rest."""

    def __init__(self, reading: _Reading, first: bytes) -> None:
        super().__init__()
        self.reading, self.pending = reading, first

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self.pending:
            self.pending = self.reading._read_stored(len(buffer))
        size = min(len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        self.pending = self.pending[size:]
        return size


def _encoding(lines: bytes) -> str:
    """How the whole file's reader decodes these lines' names: "ascii" either way, else "utf8" when they are
    valid UTF-8, "latin1" when not (one such chunk and the whole file is read as Latin-1)."""
    if lines.isascii():
        return "ascii"
    try:
        lines.decode("utf-8")
    except UnicodeDecodeError:
        return "latin1"
    return "utf8"


def _parsed(chunk: _Chunk, name: str) -> pd.DataFrame:
    """The chunk's rows as `load_census` parses them (rows numbered from 1 within the chunk)."""
    frame = _refusable(_read_typed, chunk.header + chunk.lines, name, warn_extra=False)
    if frame is None:
        raise NotStreamable("a chunk the typed reader does not read plainly")
    return frame


def _refusable(check, *args, **kwargs):
    """`check(*args, **kwargs)`, its CensusValidationError (which names a line within a chunk, not the file)
    raised as NotStreamable."""
    try:
        return check(*args, **kwargs)
    except CensusValidationError as refused:
        raise NotStreamable(f"refused: {refused.problems[0][:200]}") from refused


def _complete(frame: pd.DataFrame) -> tuple[pd.Series, np.ndarray]:
    """Each row's State-County key (NaN where a part is empty) and whether the row is complete ((m,) bool), as
    `clean` decides."""
    keys = _keys(frame)
    incomplete = keys.isna() | frame[list(FEATURES)].isna().any(axis=1)
    return keys, ~incomplete.to_numpy()


class _KeyHashes:
    """Pass 1's 64-bit key hashes, on disk: spread over KEY_HASH_PARTITIONS temporary files by their top bits as
    they come, then each file read back and sorted alone to find a hash that repeats. A repeat is a duplicate key
    (read whole, it is named with its rows) or, once in ~10^19 pairs, a collision (read whole, it passes)."""

    def __init__(self, files: list) -> None:
        self.files = files  # KEY_HASH_PARTITIONS binary files open for writing and reading

    def add(self, hashes: np.ndarray) -> None:
        """Keep (n,) uint64 hashes."""
        partition = (hashes >> np.uint64(64 - _PARTITION_BITS)).astype(np.intp)  # the top bits
        order = np.argsort(partition, kind="stable")
        bounds = np.searchsorted(partition[order], np.arange(KEY_HASH_PARTITIONS + 1))
        ordered = hashes[order]
        for number, file in enumerate(self.files):
            if bounds[number + 1] > bounds[number]:
                file.write(ordered[bounds[number] : bounds[number + 1]].tobytes())

    def any_repeated(self) -> bool:
        for file in self.files:
            file.seek(0)
            hashes = np.fromfile(file, dtype=np.uint64)
            hashes.sort()
            if np.any(hashes[1:] == hashes[:-1]):
                return True
        return False


@contextlib.contextmanager
def _key_hashes() -> Iterator[_KeyHashes]:
    """A `_KeyHashes` over temporary files, removed when the block ends."""
    with contextlib.ExitStack() as files:
        yield _KeyHashes([files.enter_context(tempfile.TemporaryFile()) for _ in range(KEY_HASH_PARTITIONS)])
