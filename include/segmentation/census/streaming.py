"""Streaming: a census read twice in chunks of whole lines, so that the memory it takes does not grow with its rows.

`survey` (pass 1) parses every chunk with the typed reader `load_census` uses and checks it against the same
rules, keeping only what the whole needs: the row counts, the incomplete rows' keys, each feature's minimum and
maximum over the complete rows, a 64-bit hash of each row's `State-County` key (for duplicates), and the sha256
and size of the stored bytes. `clean_chunks` (pass 2) reads the same bytes again and yields each chunk's complete
rows as `prepare` has them, with their 0–1 scaling: float64 minus the minimum, over the range, rounded once to
float32, as `MinMaxScaling.transform` does on the whole. Concatenated, the chunks are `prepare`'s result.

The streaming path vouches only for a census it reads without a doubt. Any refusal, anything the typed reader
does not read plainly (a bad number, a ragged row, a quoted newline, a repeated header name), chunks that would
decode differently from the whole file (UTF-8 beside Latin-1), no complete row, or fewer than `k`: each raises
NotStreamable. A census within the whole-file bound (MAX_CENSUS_BYTES) is then read whole by the caller, with
`load_census` and `prepare`, which refuse it with the problem named (file, row, column) exactly as they always
have, at the memory they always took. Above that bound (up to MAX_STREAMED_CENSUS_BYTES) there is no whole read:
NotStreamable's own problems are the refusal, in the whole file's words: rows and lines numbered in the file,
the column, the value and what was expected (`NotStreamable.refusal`). Two keys of one hash are looked up by a
third read of the file (`_duplicate_problems`): a duplicate is refused with its rows, a collision passes. A file
that passes costs about CHUNK_BYTES a few times over in memory, whatever its rows, and KEY_HASH_BYTES a row on
disk for the duration of pass 1.
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

import include.segmentation.census.bounded_read as bounded_read
from include.segmentation.census.bounded_read import (
    _SCAN,
    MAX_CENSUS_ROWS,
    MAX_LINE_BYTES,
    _check_header,
    _scan_lines,
    _too_many_rows,
)
from include.segmentation.census.cleaning import _kept_rows
from include.segmentation.census.contract import (
    _MAX_EXAMPLES,
    FEATURES,
    ID_COLUMNS,
    KEY_NAME,
    CensusValidationError,
    _join_limited,
)
from include.segmentation.census.parsing import _check_columns, _header_names, _read_text, _read_typed
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
# Repeated key hashes looked up by the third read that names duplicate keys: the refusal quotes _MAX_EXAMPLES of
# them, and past this many the rest cannot all be collisions (one pair in ~10^19), so the lookup stays small
# however many rows repeat a key. Rows kept per key likewise: the first _MAX_EXAMPLES, and a count of the rest.
MAX_REPEATS_LOOKED_UP = 64

_PARTITION_BITS = KEY_HASH_PARTITIONS.bit_length() - 1
_GZIP_MAGIC = b"\x1f\x8b"
_NOT_BLANK = re.compile(rb"[^\r\n]")  # a chunk of blank lines only has no row: the parsers skip them
_NON_ASCII = re.compile(rb"[\x80-\xff]")
_LINE = re.compile(r"\bline ([\d,]+)")  # a line number in a parser's refusal of a chunk

# A fresh binary stream of the census's stored bytes (an S3 body of the pinned version, a file), one per pass.
Opener = Callable[[], BinaryIO]


class NotStreamable(Exception):
    """The streaming path cannot vouch for the census: `problems` say why, in the whole file's words (rows and
    lines numbered in the file). `definite` when they are a refusal of the census itself (a bound, a bad cell, a
    duplicate key...), which a whole read would refuse too; not when only the streaming reader cannot read what a
    whole read may accept (UTF-8 beside Latin-1, quoting pyarrow does not read plainly). `text_bytes`: the census's
    text (inflated) bytes read when it was raised.

    The caller reads a census whole when it can (`whole_readable`), so that its refusal is the one it always was;
    above the whole-file bound, `refusal` is the census's refusal."""

    def __init__(self, problems: list[str], definite: bool = True) -> None:
        super().__init__("; ".join(problems))
        self.problems, self.definite = problems, definite
        self.text_bytes = 0
        self.stored_size = 0  # the census's size as stored, when the caller knows it

    def whole_readable(self, stored_bytes: int) -> bool:
        """Whether a census of `stored_bytes` may be read whole (MAX_CENSUS_BYTES, as stored and as far as it was
        inflated: a gzip census may still inflate past it, which the whole read refuses as CensusTooLarge)."""
        whole = bounded_read.MAX_CENSUS_BYTES
        return stored_bytes <= whole and self.text_bytes <= whole

    def refusal(self, name: str) -> CensusValidationError:
        """The census's refusal when it is not read whole: the problems, or for what only a whole read accepts,
        why it is not read at all."""
        if self.definite:
            return CensusValidationError(self.problems, name)
        return CensusValidationError(
            [
                f"{'; '.join(self.problems)}: only a whole read takes that, and the file is above the "
                f"{bounded_read.MAX_CENSUS_BYTES:,} bytes read whole (MAX_CENSUS_BYTES); save it as plain "
                "CSV in one encoding (UTF-8), quoting only the names that hold a comma"
            ],
            name,
        )


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

    Raises NotStreamable (see the module) rather than any refusal: the caller reads the file whole for it, or
    above the whole-file bound refuses it with its problems.
    """
    reading = _Reading(open_stream(), name)
    try:
        with _key_hashes() as hashes:
            return _survey(reading, open_stream, name, k, hashes)
    except NotStreamable as why:
        why.text_bytes = reading.text_bytes
        raise


def _survey(reading: _Reading, open_stream: Opener, name: str, k: int, hashes: _KeyHashes) -> Survey:
    rows_in, kept, dropped = 0, 0, []
    minimum = np.full(len(FEATURES), np.inf)
    maximum = np.full(len(FEATURES), -np.inf)
    encodings: dict[str, int] = {}  # "utf8", "latin1": the first line holding text of that encoding
    for chunk in reading.chunks():
        encoding, line = _encoding(chunk)
        encodings.setdefault(encoding, line)
        if {"utf8", "latin1"} <= encodings.keys():
            raise NotStreamable(
                [
                    f"UTF-8 and Latin-1 text in one file (UTF-8 on line {encodings['utf8']:,}, Latin-1 on line "
                    f"{encodings['latin1']:,}): read whole, it is decoded as Latin-1 throughout"
                ],
                definite=False,
            )
        if rows_in == 0:
            _refusable(chunk, _check_header, chunk.header.rstrip(b"\r\n"), name)
            _refusable(chunk, _check_columns, _header_names(chunk.header), name)  # warns of extra columns once
        frame, unparsable = _parsed(chunk, name, rows_in)
        if rows_in + len(frame) > MAX_CENSUS_ROWS:
            raise NotStreamable(_too_many_rows(chunk.last_line, name).problems)
        problems = _contract_problems(frame, unparsable)
        if problems:
            raise NotStreamable(problems)
        keys, complete = _complete(frame)
        present = keys.dropna()
        hashes.add(pd.util.hash_array(present.to_numpy(dtype=object)))
        dropped += [key if isinstance(key, str) else f"row {row}" for row, key in keys[~complete].items()]
        if complete.any():
            values = _kept_rows(frame.loc[:, list(FEATURES)].to_numpy(dtype="float64"), complete)
            np.minimum(minimum, values.min(axis=0), out=minimum)
            np.maximum(maximum, values.max(axis=0), out=maximum)
        rows_in, kept = rows_in + len(frame), kept + int(np.count_nonzero(complete))
    if rows_in == 0:
        raise NotStreamable(["the header has no rows below it" if reading.header_seen else "the file is empty"])
    repeated = hashes.repeated()
    if repeated.size:
        duplicates = _duplicate_problems(open_stream, name, repeated[:MAX_REPEATS_LOOKED_UP])
        if duplicates:
            raise NotStreamable(duplicates)
        if repeated.size > MAX_REPEATS_LOOKED_UP:  # not all collisions: never seen, but not vouched for
            raise NotStreamable([f"{repeated.size:,} {KEY_NAME} key hashes repeat"], definite=False)
    if kept == 0:
        raise NotStreamable([f"no complete row is left after dropping {len(dropped)} incomplete rows"])
    if k > kept:
        raise NotStreamable([f"k={k} segments asked for, but only {kept} complete rows remain"])
    if dropped:
        log.info("dropping %d incomplete rows: %s", len(dropped), printable(_join_limited(dropped)))
    scaling = MinMaxScaling(tuple(FEATURES), minimum, maximum)
    return Survey(rows_in, kept, dropped, scaling, reading.sha256.hexdigest(), reading.stored_bytes)


def _contract_problems(frame: pd.DataFrame, unparsable: list[str]) -> list[str]:
    """The contract's rules on a chunk's rows (indexed by their row in the file) and its `unparsable` cells, as
    `load_census` lists them, duplicate keys aside (they span chunks)."""
    return [
        *_name_length_problems(frame["State"], "State"),
        *_name_length_problems(frame["County"], "County"),
        *_control_character_problems(frame["State"], "State"),
        *_control_character_problems(frame["County"], "County"),
        *unparsable,
        *_range_problems(frame),
    ]


def _duplicate_problems(open_stream: Opener, name: str, repeated: np.ndarray) -> list[str]:
    """The census read once more for the rows whose key hashes to one of `repeated` ((m,) uint64): the duplicate
    keys among them, in `load_census`'s words (each key with its rows, in the order they first appear); [] when
    the repeats were collisions of different keys. Keeps _MAX_EXAMPLES rows per key, and a count of the rest."""
    reading = _Reading(open_stream(), name)
    rows: dict[str, list[int]] = {}
    more: dict[str, int] = {}
    rows_in = 0
    for chunk in reading.chunks():
        frame, _ = _parsed(chunk, name, rows_in)
        keys = _keys(frame).dropna()
        found = np.isin(pd.util.hash_array(keys.to_numpy(dtype=object)), repeated)
        for row, key in keys[found].items():
            listed = rows.setdefault(key, [])
            if len(listed) < _MAX_EXAMPLES:
                listed.append(row)
            else:
                more[key] = more.get(key, 0) + 1
        rows_in += len(frame)
    described = [
        f"'{key}' (rows {', '.join(str(r) for r in listed)}" + (f" and {more[key]:,} more" if key in more else "") + ")"
        for key, listed in rows.items()
        if len(listed) > 1
    ]
    return [f"duplicate {KEY_NAME} keys: {_join_limited(described)}"] if described else []


def clean_chunks(open_stream: Opener, name: str, surveyed: Survey) -> Iterator[CleanChunk]:
    """Pass 2: the census read again, each chunk's complete rows with their scaling, in file order.

    Raises ValueError when the bytes are not the ones `surveyed` read (another sha256): the census must not
    change between the passes (the caller reads one pinned object version).
    """
    reading, rows_in = _Reading(open_stream(), name), 0
    for chunk in reading.chunks():
        frame, _ = _parsed(chunk, name, rows_in)
        rows_in += len(frame)
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
    first_line: int  # the file's number of the first of `lines` (the header is line 1)
    last_line: int  # and of the last

    def in_file(self, problem: str) -> str:
        """A parser's problem with this chunk's text (header and lines) with its line numbers made the file's."""
        shift = self.first_line - 2  # line 2 of the chunk's text is its first line after the header
        # The first "line N" only: the parser's own, before any value it quotes (a name may read "line 5").
        return _LINE.sub(lambda found: f"line {int(found[1].replace(',', '')) + shift:,}", problem, count=1)


class _Reading:
    """One pass's read of a stream: its stored bytes hashed and counted, inflated when gzip, cut in chunks of
    whole lines of about CHUNK_BYTES, each numbered by its lines in the file. Every bound `bounded_read` checks
    on the bytes (size as stored and inflated, here MAX_STREAMED_CENSUS_BYTES; a line past MAX_LINE_BYTES; a NUL
    byte; corrupt gzip) raises NotStreamable as soon as it shows, in `bounded_read`'s words."""

    def __init__(self, stream: BinaryIO, name: str) -> None:
        self.stream, self.name = stream, name
        self.sha256 = hashlib.sha256()
        self.stored_bytes = 0
        self.text_bytes = 0  # the text read so far: as stored, or inflated
        self.header_seen = False  # whether a line that is not blank was read (a header)
        self._scratch = np.empty(_SCAN, dtype=bool)

    def _read_stored(self, size: int) -> bytes:
        data = self.stream.read(size)
        self.sha256.update(data)
        self.stored_bytes += len(data)
        limit = bounded_read.MAX_STREAMED_CENSUS_BYTES
        if self.stored_bytes > limit:
            raise NotStreamable([f"the file is more than {limit:,} bytes, above the limit (MAX_STREAMED_CENSUS_BYTES)"])
        return data

    def chunks(self) -> Iterator[_Chunk]:
        first = self._read_stored(CHUNK_BYTES)
        blocks = self._inflated(first) if first[:2] == _GZIP_MAGIC else self._plain(first)
        header, carry, line = None, b"", 1  # line: the file's number of the line `carry` starts
        for block in blocks:
            self.text_bytes += len(block)
            data = carry + block
            self._check_bytes(data, line)
            end = data.rfind(b"\n") + 1
            data, carry = data[:end], data[end:]
            if len(carry) > MAX_LINE_BYTES:
                raise NotStreamable([_too_long(line + data.count(b"\n"), len(carry), more=True)])
            newlines, longest, longest_at, _, _ = _scan_lines(data, 0, len(data), 0, self._scratch)
            if longest > MAX_LINE_BYTES:
                raise NotStreamable([_too_long(line + longest_at, longest)])
            first_line, line = line, line + newlines
            if header is None and data:
                cut = data.find(b"\n") + 1
                header, data, first_line = data[:cut], data[cut:], first_line + 1
            if data and _NOT_BLANK.search(data):
                yield _Chunk(header, data, first_line, line - 1)
        self.header_seen = header is not None or bool(_NOT_BLANK.search(carry))
        if carry and header is not None and _NOT_BLANK.search(carry):
            yield _Chunk(header, carry, line, line)

    def _check_bytes(self, data: bytes, line: int) -> None:
        """Refuse a NUL byte in `data`, text whose first line is the file's line `line`, as `bounded_read` does."""
        nul = data.find(b"\x00")
        if nul >= 0:
            at = self.text_bytes - len(data) + nul
            line += data.count(b"\n", 0, nul)
            raise NotStreamable([f"binary data, not CSV text: a NUL byte on line {line:,} (byte {at:,})"])

    def _plain(self, first: bytes) -> Iterator[bytes]:
        block = first
        while block:
            yield block
            block = self._read_stored(CHUNK_BYTES)

    def _inflated(self, first: bytes) -> Iterator[bytes]:
        stored = _StoredReader(self, first)
        inflated = 0
        limit = bounded_read.MAX_STREAMED_CENSUS_BYTES
        try:
            with gzip.GzipFile(fileobj=io.BufferedReader(stored, buffer_size=1 << 20)) as inflating:
                while block := inflating.read(CHUNK_BYTES):
                    inflated += len(block)
                    if inflated > limit:
                        raise NotStreamable(
                            [
                                f"the gzip data expands past {limit:,} bytes (MAX_STREAMED_CENSUS_BYTES); refused "
                                f"after {inflated:,} bytes from {self.stored_bytes:,} compressed"
                            ]
                        )
                    yield block
        except (OSError, EOFError, zlib.error) as error:  # OSError covers gzip.BadGzipFile
            raise NotStreamable([f"corrupt gzip data ({error})"]) from error
        while self._read_stored(CHUNK_BYTES):  # what follows the last member is hashed too
            pass


def _too_long(line: int, length: int, more: bool = False) -> str:
    """`bounded_read`'s refusal of a line past MAX_LINE_BYTES (`more`: of which `length` bytes were read)."""
    size = f"more than {length:,}" if more else f"{length:,}"
    return f"line {line:,} is {size} bytes long, above the limit of {MAX_LINE_BYTES:,} bytes (MAX_LINE_BYTES)"


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


def _encoding(chunk: _Chunk) -> tuple[str, int]:
    """How the whole file's reader decodes these lines' names: "ascii" either way, else "utf8" when they are
    valid UTF-8, "latin1" when not (one such chunk and the whole file is read as Latin-1); and the file's line of
    the first byte that decides it (of the first non-ASCII byte, or of the first byte that is not UTF-8)."""
    lines = chunk.lines
    if lines.isascii():
        return "ascii", chunk.first_line
    try:
        lines.decode("utf-8")
    except UnicodeDecodeError as error:
        return "latin1", chunk.first_line + lines.count(b"\n", 0, error.start)
    return "utf8", chunk.first_line + lines.count(b"\n", 0, _NON_ASCII.search(lines).start())


def _parsed(chunk: _Chunk, name: str, before: int) -> tuple[pd.DataFrame, list[str]]:
    """The chunk's rows as `load_census` parses them, indexed by their row in the file (`before` rows precede
    the chunk), and the problems of its cells that are not numbers (column, rows, values).

    The typed reader first; when it does not read the chunk plainly, the text reader, which names the bad cells
    (or raises NotStreamable for a ragged row or a file pandas cannot read, with the file's line). A chunk that
    the text reader reads without a problem is still not vouched for (NotStreamable, not definite)."""
    text = chunk.header + chunk.lines
    frame = _refusable(chunk, _read_typed, text, name, warn_extra=False)
    if frame is not None:
        return frame.set_axis(pd.RangeIndex(before + 1, before + len(frame) + 1, name="row")), []
    unparsable: list[str] = []
    frame = _refusable(chunk, _read_text, text, name, unparsable, first_row=before + 1)
    if unparsable or _contract_problems(frame, []):
        return frame, unparsable
    raise NotStreamable(
        [
            f"lines {chunk.first_line:,} to {chunk.last_line:,} are not CSV that pyarrow reads plainly (a repeated "
            "column name, a quoted field after a comma and a space, a quoted newline)"
        ],
        definite=False,
    )


def _refusable(chunk: _Chunk, check, *args, **kwargs):
    """`check(*args, **kwargs)`, its CensusValidationError (which numbers the lines of the chunk's text) raised
    as NotStreamable with the file's line numbers."""
    try:
        return check(*args, **kwargs)
    except CensusValidationError as refused:
        raise NotStreamable([chunk.in_file(problem) for problem in refused.problems]) from refused


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
        return bool(self.repeated().size)

    def repeated(self) -> np.ndarray:
        """The hashes given more than once, (m,) uint64, each once."""
        found = []
        for file in self.files:
            file.seek(0)
            hashes = np.fromfile(file, dtype=np.uint64)
            hashes.sort()
            found.append(np.unique(hashes[1:][hashes[1:] == hashes[:-1]]))
        return np.concatenate(found)


@contextlib.contextmanager
def _key_hashes() -> Iterator[_KeyHashes]:
    """A `_KeyHashes` over temporary files, removed when the block ends."""
    with contextlib.ExitStack() as files:
        yield _KeyHashes([files.enter_context(tempfile.TemporaryFile()) for _ in range(KEY_HASH_PARTITIONS)])
