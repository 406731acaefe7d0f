"""The census data contract: the 37 columns of the ACS county file, loading, validation and cleaning.

One row per US county: `CensusId, State, County` and 34 numeric features. Rows are numbered as data
rows from 1 (the header is line 1 of the file, so row N is on line N + 1). The contract has no quoted
newlines: every record is one physical line, so the line limits below count physical lines.

Every input is bounded before it is parsed (see the MAX_* constants): the stored size, the size once
decompressed (gzip is inflated as a stream and refused as soon as it passes the limit, without keeping
what it inflated), the number of rows (counted on the bytes as they are read or inflated), the
header's column count, each line's length, and State/County lengths; the float64 block the rows fill
is sized from the rows counted and bounded before it is allocated. A row of more or fewer fields than
the header is refused as the parser reaches it (no parser is left to pad it). Binary or otherwise
unparsable input is a CensusValidationError naming the problem and, where known, the line.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from include.segmentation.census.bounded_read import (
    MAX_CENSUS_BYTES,
    MAX_CENSUS_ROWS,
    MAX_COLUMNS,
    MAX_LINE_BYTES,
    Source,
    _bounded_bytes,
    _check_lines,
    _count_bytes,
    _default_name,
    check_census_size,
    read_census_bytes,
)
from include.segmentation.census.contract import (
    _MAX_QUOTED_CHARS,
    COLUMNS,
    COUNT_COLUMNS,
    FEATURE_GROUPS,
    FEATURES,
    ID_COLUMNS,
    KEY_NAME,
    MARGIN_OF_ERROR,
    PERCENT_COLUMNS,
    POPULATION,
    SUBSTANTIVE,
    UNITS,
    CensusValidationError,
    _examples,
    _join_limited,
    _shorten,
)
from include.segmentation.census.validation import (
    MAX_NAME_CHARS,
    _control_character_problems,
    _duplicate_key_problems,
    _keys,
    _name_length_problems,
    _range_problems,
)
from include.segmentation.printable import printable
from include.segmentation.scaling import MinMaxScaling

log = logging.getLogger(__name__)

__all__ = [
    "COLUMNS",
    "COUNT_COLUMNS",
    "FEATURES",
    "FEATURE_GROUPS",
    "ID_COLUMNS",
    "KEY_NAME",
    "MARGIN_OF_ERROR",
    "MAX_CENSUS_BYTES",
    "MAX_CENSUS_ROWS",
    "MAX_COLUMNS",
    "MAX_EXTRA_COLUMNS_LISTED",
    "MAX_FEATURE_BLOCK_BYTES",
    "MAX_LINE_BYTES",
    "MAX_NAME_CHARS",
    "PERCENT_COLUMNS",
    "POPULATION",
    "SUBSTANTIVE",
    "UNITS",
    "CensusValidationError",
    "CleanCensus",
    "PreparedCensus",
    "Source",
    "check_census_size",
    "clean",
    "load_census",
    "prepare",
    "read_census_bytes",
]

# The float64 (rows, 34) block the typed read fills: sized from the rows counted above, and refused
# above this (MAX_CENSUS_ROWS rows of it, 5.1 GiB) before it is allocated.
MAX_FEATURE_BLOCK_BYTES = MAX_CENSUS_ROWS * len(FEATURES) * 8
# Extra column names the warning lists before "… and N more".
MAX_EXTRA_COLUMNS_LISTED = 10
# Bytes pyarrow parses per record batch: what the typed read holds beside its result.
_CSV_BLOCK = 1 << 20


@dataclass(frozen=True)
class CleanCensus:
    """features: (n_counties, 34) float64 indexed by `State-County`; dropped: keys of incomplete rows;
    counties: the same rows' `CensusId` (county FIPS code, as written), `State`, `County` strings."""

    features: pd.DataFrame
    dropped: list[str]
    counties: pd.DataFrame


def load_census(source: Source, name: str | None = None) -> pd.DataFrame:
    """Read and validate a census CSV from bytes, a path or a binary file.

    Accepts UTF-8 (with or without BOM, falling back to Latin-1) and gzip (detected by its magic
    bytes). Returns the 37 columns in contract order: features float64 (NaN where a cell is empty),
    `State`/`County` strings, indexed by data row from 1. Extra columns are dropped with a warning.
    Raises CensusValidationError listing every problem found; input past a MAX_* limit, binary data
    or unparsable CSV is refused first, before the body is parsed (see the module docstring).

    A well-formed file is parsed once, typed, by pyarrow's multithreaded reader; anything that reader
    refuses (a bad number, a ragged row, a stray quote) is parsed again as text, so that each problem
    is reported with its rows and values.
    """
    label = name or _default_name(source)
    raw, rows = _bounded_bytes(source, label)
    if _NON_SPACE.search(raw, 3 if raw.startswith(_BOM) else 0) is None:
        raise CensusValidationError(["the file is empty"], label)

    unparsable: list[str] = []
    result = _read_typed(raw, label, rows)
    if result is None:
        result = _read_text(raw, label, unparsable)
    problems = [
        *_name_length_problems(result["State"], "State"),
        *_name_length_problems(result["County"], "County"),
        *_control_character_problems(result["State"], "State"),
        *_control_character_problems(result["County"], "County"),
        *unparsable,
        *_range_problems(result),
        *_duplicate_key_problems(result),
    ]
    if problems:
        raise CensusValidationError(problems, label)
    return result


_BOM = b"\xef\xbb\xbf"
_NEWLINE = b"\n"
_SPACED_QUOTE = b', "'  # a quoted field after a comma and a space: pandas (skipinitialspace) unquotes it
_NON_SPACE = re.compile(rb"\S")
_MISSING_TOKENS = ("", "NA", "N/A", "NaN", "nan", "null", "NULL")  # empty cells, once stripped
# The same tokens as the typed reader sees them, unstripped: with a space either side, as exports pad.
_NULL_VALUES = sorted(
    {f"{lead}{token}{trail}" for token in _MISSING_TOKENS for lead in ("", " ") for trail in ("", " ")}
)


def _read_typed(raw: bytes | bytearray, label: str, counted: int | None = None) -> pd.DataFrame | None:
    """The fast path: the contract's columns parsed typed by pyarrow, straight from the bytes.

    Streams record batches of _CSV_BLOCK bytes into one column-major float64 block sized from the
    rows counted (`counted`, from `_check_lines`; counted here when None), so the parsed table is never
    held whole beside it: pandas takes the block without a copy. Returns None whenever the file is not
    plainly well formed (duplicate header names, a cell that is not a number or an NA token, a
    non-finite number, no rows), leaving `_read_text` to find and name each problem. Refuses missing
    columns from the header alone, a row of more or fewer fields than the header as soon as it is
    parsed, and a block above MAX_FEATURE_BLOCK_BYTES before it is allocated.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    names = _header_names(raw)
    _check_columns(names, label)
    if len(set(names)) != len(names):
        return None
    types = {**{c: pa.string() for c in ID_COLUMNS}, **{c: pa.float64() for c in FEATURES}}
    convert = pacsv.ConvertOptions(
        column_types=types, include_columns=list(COLUMNS), null_values=_NULL_VALUES, strings_can_be_null=False
    )
    # Data rows are the lines after the header that are not blank (blank lines are skipped), and each
    # line that parses holds at least 36 commas: whichever bound is lower sizes the block, so a file of
    # short lines cannot claim more memory than its bytes.
    (commas,) = _count_bytes(raw, ord(","))
    if counted is None:
        counted = _check_lines(raw, label)
    capacity = max(min(counted, commas // (len(COLUMNS) - 1) - 1), 0)
    _check_feature_block(capacity, label)
    invalid = _InvalidRows()
    parse = pacsv.ParseOptions(invalid_row_handler=invalid)
    for encoding in ("utf8", "latin1"):  # latin1 only when a name is not UTF-8, as `_decode` falls back
        options = pacsv.ReadOptions(column_names=names, skip_rows=1, encoding=encoding, block_size=_CSV_BLOCK)
        values = np.empty((capacity, len(FEATURES)), dtype="float64", order="F")  # pages touched as filled
        ids, rows = [], 0
        nulls, non_finite = np.zeros(len(FEATURES), dtype=np.int64), np.zeros(len(FEATURES), dtype=np.int64)
        try:
            batches = pacsv.open_csv(
                pa.py_buffer(raw), read_options=options, parse_options=parse, convert_options=convert
            )
            for batch in batches:
                if rows + batch.num_rows > len(values):
                    return None  # more rows than lines: a quoted newline, which the contract has not
                for i, column in enumerate(FEATURES):
                    cells = batch.column(column)
                    nulls[i] += cells.null_count
                    filled = values[rows : rows + batch.num_rows, i]
                    filled[:] = cells.to_numpy(zero_copy_only=False)  # null: NaN
                    non_finite[i] += batch.num_rows - np.count_nonzero(np.isfinite(filled))  # counted while cached
                ids.append(batch.select(list(ID_COLUMNS)))
                rows += batch.num_rows
            break
        except pa.ArrowInvalid as exc:
            invalid.refuse(raw, encoding, label)
            if encoding == "latin1" or "UTF8" not in str(exc):
                return None
    if rows == 0:
        return None
    if rows < len(values):
        values = np.asfortranarray(values[:rows])  # blank lines were skipped
    if not np.array_equal(non_finite, nulls):  # each null is a NaN: anything more is an inf or a spelled NaN
        return None  # inf, or a NaN spelled other than an NA token: the text path names them
    table = pa.Table.from_batches(ids)
    pa.default_memory_pool().release_unused()  # the parsed batches' pages: back to the OS, not kept idle
    index = pd.RangeIndex(1, rows + 1, name="row")
    result = pd.DataFrame(values, index=index, columns=list(FEATURES), copy=False)
    for position, column in enumerate(ID_COLUMNS):
        result.insert(position, column, pc.utf8_trim_whitespace(table.column(column)).to_pandas().set_axis(index))
    return result


def _check_feature_block(rows: int, label: str) -> None:
    """Refuse a (rows, 34) float64 feature block above MAX_FEATURE_BLOCK_BYTES before it is allocated."""
    size = rows * len(FEATURES) * 8
    if size > MAX_FEATURE_BLOCK_BYTES:
        raise CensusValidationError(
            [
                f"{rows:,} rows need a feature block of {size:,} bytes, above the limit of "
                f"{MAX_FEATURE_BLOCK_BYTES:,} bytes (MAX_FEATURE_BLOCK_BYTES)"
            ],
            label,
        )


class _InvalidRows:
    """pyarrow's invalid_row_handler: keeps the first row of more or fewer fields than the header and
    stops the parse there (pyarrow would otherwise only say "Expected 37 columns", without the line)."""

    def __init__(self) -> None:
        self.first = None

    def __call__(self, row) -> str:  # row: pyarrow.csv.InvalidRow
        if self.first is None:
            self.first = row
        return "error"

    def refuse(self, raw: bytes | bytearray, encoding: str, label: str) -> None:
        """Raise CensusValidationError for the row kept, naming its line; nothing when none was, or when
        the file quotes after a comma and a space (pyarrow splits those quotes, pandas reads them)."""
        if self.first is None or raw.find(_SPACED_QUOTE) >= 0:
            return
        row, self.first = self.first, None
        text = row.text.encode("utf-8" if encoding == "utf8" else "latin-1")
        raise CensusValidationError(
            [
                f"line {_line_of(raw, text)} has {row.actual_columns} fields, expected {row.expected_columns} "
                f"as in the header: {_shorten(row.text, _MAX_QUOTED_CHARS)!r}"
            ],
            label,
        )


def _line_of(raw: bytes | bytearray, text: bytes) -> str:
    """The number of the first line after the header that is `text` (formatted), "?" when none is."""
    at = raw.find(b"\n")
    while at >= 0:
        at = raw.find(b"\n" + text, at)
        if at < 0:
            break
        end = at + 1 + len(text)
        if end == len(raw) or raw[end : end + 1] in (b"\n", b"\r"):
            return f"{raw.count(_NEWLINE, 0, at) + 2:,}"
        at += 1
    return "?"


def _read_text(raw: bytes | bytearray, label: str, problems: list[str]) -> pd.DataFrame:
    """The exact path: every cell read as text so that a bad cell is reported with its value rather than
    coerced; appends each column's unparsable numbers to `problems`.

    pyarrow reads the text when the file is well formed CSV (a bad number, then, costs about what the
    typed read does); pandas reads what pyarrow cannot (ragged rows, a stray quote) and says why.
    """
    frame = _read_strings(raw, label)
    if frame is None:
        text = _decode(raw)
        _check_field_counts(text, label)  # pandas would fill a short row with NaN, at ~470x its bytes
        try:
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise CensusValidationError([f"not a readable CSV: {_shorten(str(exc).strip(), 200)}"], label) from exc
        del text
        frame.columns = [str(c).strip() for c in frame.columns]
        _refuse_missing(list(frame.columns), label)  # as pandas read the header (a duplicate name is renamed)
    if frame.empty:
        raise CensusValidationError(["the header has no rows below it"], label)
    frame = frame.loc[:, list(COLUMNS)]
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    numeric = {column: _parse_numeric(frame[column], column, problems) for column in FEATURES}
    return pd.DataFrame({column: frame[column].str.strip() for column in ID_COLUMNS} | numeric)


def _check_field_counts(text: str, label: str) -> None:
    """Refuse the first line of more or fewer fields than the header, as pandas splits them (quotes after
    a comma and spaces included), one line at a time: what pandas is given has no ragged row left."""
    reader = csv.reader(io.StringIO(text), skipinitialspace=True)
    try:
        expected = len(next(reader, []))
        for fields in reader:
            if fields and len(fields) != expected:
                raise CensusValidationError(
                    [
                        f"line {reader.line_num:,} has {len(fields)} fields, expected {expected} as in the "
                        f"header: {_shorten(','.join(fields), _MAX_QUOTED_CHARS)!r}"
                    ],
                    label,
                )
    except csv.Error:
        return  # a quote left open: pandas names it


def _read_strings(raw: bytes | bytearray, label: str) -> pd.DataFrame | None:
    """The contract's columns as text, by pyarrow; None when the header repeats a name or pyarrow cannot
    parse the file. Refuses a row of more or fewer fields than the header."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = _header_names(raw)
    if len(set(names)) != len(names) or raw.find(_SPACED_QUOTE) >= 0:  # pandas skips the space, then unquotes
        return None
    convert = pacsv.ConvertOptions(
        column_types=dict.fromkeys(COLUMNS, pa.string()),
        include_columns=list(COLUMNS),
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    invalid = _InvalidRows()
    parse = pacsv.ParseOptions(invalid_row_handler=invalid)
    for encoding in ("utf8", "latin1"):
        options = pacsv.ReadOptions(column_names=names, skip_rows=1, encoding=encoding, block_size=_CSV_BLOCK)
        try:
            table = pacsv.read_csv(
                pa.py_buffer(raw), read_options=options, parse_options=parse, convert_options=convert
            )
            return table.to_pandas()
        except pa.ArrowInvalid as exc:
            invalid.refuse(raw, encoding, label)
            if "UTF8" not in str(exc):
                return None
    return None


def _header_names(raw: bytes | bytearray) -> list[str]:
    """The header's column names, stripped (a BOM too), as pandas reads them."""
    end = raw.find(b"\n")
    line = _decode(bytes(raw[: end if end >= 0 else len(raw)])).rstrip("\r")
    return [name.strip() for name in next(csv.reader([line], skipinitialspace=True), [])]


def _refuse_missing(names: list[str], label: str) -> None:
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise CensusValidationError([f"missing columns: {', '.join(missing)}"], label)


def _check_columns(names: list[str], label: str) -> None:
    """Refuse a header without the contract's columns; warn about (and so drop) the extra ones."""
    _refuse_missing(names, label)
    extra = [c for c in names if c not in COLUMNS]
    if extra:
        listed = ", ".join(_shorten(c, _MAX_QUOTED_CHARS) for c in extra[:MAX_EXTRA_COLUMNS_LISTED])
        rest = len(extra) - MAX_EXTRA_COLUMNS_LISTED
        more = f" … and {rest} more" if rest > 0 else ""
        log.warning("%s: ignoring %d extra columns: %s%s", printable(label), len(extra), printable(listed), more)


@dataclass(frozen=True)
class PreparedCensus:
    """What PCA trains on. features: (n, 34) census units indexed by State-County; scaled: the same 0–1, float32;
    counties: (n, 3) CensusId, State, County per State-County, for the map."""

    rows_in: int
    features: pd.DataFrame
    scaling: MinMaxScaling
    dropped: list[str]
    counties: pd.DataFrame

    @property
    def scaled(self) -> np.ndarray:
        """(n, 34) float32, C order: the features scaled 0–1 (an array in, an array out: no frame around it)."""
        return self.scaling.transform(self.features.to_numpy(), dtype="float32")


def prepare(source: Source | pd.DataFrame, name: str, k: int) -> PreparedCensus:
    """Load, validate and clean the census and fit its 0–1 scaling; refuse a `k` the data cannot support
    (all before any paid step). `source` may also be a frame `load_census` returned, so that a caller
    can let go of the census bytes before cleaning."""
    frame = source if isinstance(source, pd.DataFrame) else load_census(source, name=name)
    rows_in = len(frame)
    cleaned = clean(frame)
    del frame
    if k > len(cleaned.features):
        problem = f"k={k} segments asked for, but only {len(cleaned.features)} complete rows remain"
        raise CensusValidationError([problem], name)
    scaling = MinMaxScaling.fit(cleaned.features)
    return PreparedCensus(rows_in, cleaned.features, scaling, cleaned.dropped, cleaned.counties)


def clean(frame: pd.DataFrame) -> CleanCensus:
    """Drop incomplete rows, index by `State-County`, keep the 34 features (float64).

    Raises CensusValidationError when no complete row is left. Copies the kept rows' features once.
    """
    keys = _keys(frame)
    incomplete = keys.isna() | frame[list(FEATURES)].isna().any(axis=1)
    dropped = [key if isinstance(key, str) else f"row {row}" for row, key in keys[incomplete].items()]
    if dropped:
        log.info("dropping %d incomplete rows: %s", len(dropped), printable(_join_limited(dropped)))
    complete = ~incomplete.to_numpy()
    if not complete.any():
        raise CensusValidationError([f"no complete row is left after dropping {len(dropped)} incomplete rows"])
    index = pd.Index(keys.array[complete], name=KEY_NAME)  # from the array: from the Series costs 10x
    features = frame.loc[:, list(FEATURES)].astype("float64")  # no copy when nothing is dropped
    if not complete.all():
        features = pd.DataFrame(_kept_rows(features.to_numpy(), complete), columns=features.columns, copy=False)
    features = features.set_axis(index)
    counties = frame.loc[complete, list(ID_COLUMNS)]
    if not (counties.dtypes == "str").all():  # load_census's are str already: astype would copy them again
        counties = counties.astype(str)
    return CleanCensus(features=features, dropped=dropped, counties=counties.set_axis(index))


_MAX_RUNS = 4096  # runs of kept rows copied as slices; past this, a gather per column is cheaper


def _kept_rows(values: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """values (n, d) float64 → the rows where `kept` ((n,) bool) holds, as a column-major (m, d) block.

    A few incomplete rows (the usual case) leave a few runs of kept rows, each copied as one slice;
    many are gathered column by column (pandas' row take of the whole block was ~10x slower).
    """
    edges = np.flatnonzero(np.diff(kept, prepend=False, append=False))  # start, end of each run of kept rows
    result = np.empty((int(np.count_nonzero(kept)), values.shape[1]), dtype="float64", order="F")
    if len(edges) <= 2 * _MAX_RUNS:
        at = 0
        for start, end in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
            result[at : at + end - start] = values[start:end]
            at += end - start
    else:
        rows = np.flatnonzero(kept)
        for i in range(values.shape[1]):
            np.take(values[:, i], rows, out=result[:, i])
    return result


def _decode(raw: bytes | bytearray) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # County names such as "Doña Ana" come Latin-1 encoded from some exports.
        return raw.decode("latin-1")


def _parse_numeric(values: pd.Series, column: str, problems: list[str]) -> pd.Series:
    """Parse one feature column; empty cells and NA tokens become NaN, anything else must be finite."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = values.str.strip()
    missing = text.isin(_MISSING_TOKENS)
    candidates = text.where(~missing)
    try:  # pyarrow's parse, vectorised; pandas' element by element only for a column that holds a bad cell
        parsed = pd.Series(pc.cast(pa.array(candidates.array), pa.float64()).to_numpy(zero_copy_only=False))
        parsed.index = text.index
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        parsed = pd.to_numeric(candidates, errors="coerce").astype("float64")
    bad = ~missing & ~np.isfinite(parsed.to_numpy())
    if bad.any():
        kind = "non-numeric or non-finite values"
        problems.append(f"column '{column}': {kind} {_examples(text[bad])}")
    return parsed.where(~bad)
