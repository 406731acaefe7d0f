"""Parsing: a census's bytes, already bounded (`bounded_read`), into the contract's frame, typed.

A well-formed file is parsed once, typed, by pyarrow's multithreaded reader straight from its bytes
into one float64 block (`_read_typed`); anything that reader refuses (a bad number, a ragged row, a
stray quote) is parsed again as text (`_read_text`), so that each problem is reported with its rows and
values. Both refuse missing columns, and a row of more or fewer fields than the header as the parser
reaches it (no parser is left to pad it); extra columns are dropped with a warning. pyarrow is imported
inside the readers, when a census is read.
"""

from __future__ import annotations

import csv
import io
import logging

import numpy as np
import pandas as pd

from include.segmentation.census.bounded_read import MAX_CENSUS_ROWS, _check_lines, _count_bytes
from include.segmentation.census.contract import (
    _MAX_QUOTED_CHARS,
    COLUMNS,
    FEATURES,
    ID_COLUMNS,
    CensusValidationError,
    _examples,
    _shorten,
)
from include.segmentation.printable import printable

log = logging.getLogger(__name__)

# The float64 (rows, 34) block the typed read fills: sized from the rows `bounded_read` counted, and refused
# above this (MAX_CENSUS_ROWS rows of it, 5.1 GiB) before it is allocated.
MAX_FEATURE_BLOCK_BYTES = MAX_CENSUS_ROWS * len(FEATURES) * 8
# Extra column names the warning lists before "… and N more".
MAX_EXTRA_COLUMNS_LISTED = 10
# Bytes pyarrow parses per record batch: what the typed read holds beside its result.
_CSV_BLOCK = 1 << 20

_NEWLINE = b"\n"
_SPACED_QUOTE = b', "'  # a quoted field after a comma and a space: pandas (skipinitialspace) unquotes it
_MISSING_TOKENS = ("", "NA", "N/A", "NaN", "nan", "null", "NULL")  # empty cells, once stripped
# The same tokens as the typed reader sees them, unstripped: with a space either side, as exports pad.
_NULL_VALUES = sorted(
    {f"{lead}{token}{trail}" for token in _MISSING_TOKENS for lead in ("", " ") for trail in ("", " ")}
)


def _read_typed(
    raw: bytes | bytearray, label: str, counted: int | None = None, warn_extra: bool = True
) -> pd.DataFrame | None:
    """The fast path: the contract's columns parsed typed by pyarrow, straight from the bytes.

    Streams record batches of _CSV_BLOCK bytes into one column-major float64 block sized from the
    rows counted (`counted`, from `_check_lines`; counted here when None), so the parsed table is never
    held whole beside it: pandas takes the block without a copy. Returns None whenever the file is not
    plainly well formed (duplicate header names, a cell that is not a number or an NA token, a
    non-finite number, no rows), leaving `_read_text` to find and name each problem. Refuses missing
    columns from the header alone, a row of more or fewer fields than the header as soon as it is
    parsed, and a block above MAX_FEATURE_BLOCK_BYTES before it is allocated. Warns of extra columns
    unless `warn_extra` is False (a streamed census's chunks, whose header was checked once).
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    names = _header_names(raw)
    if warn_extra:
        _check_columns(names, label)
    else:
        _refuse_missing(names, label)
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


def _read_text(raw: bytes | bytearray, label: str, problems: list[str], first_row: int = 1) -> pd.DataFrame:
    """The exact path: every cell read as text so that a bad cell is reported with its value rather than
    coerced; appends each column's unparsable numbers to `problems`.

    pyarrow reads the text when the file is well formed CSV (a bad number, then, costs about what the
    typed read does); pandas reads what pyarrow cannot (ragged rows, a stray quote) and says why. Rows are
    numbered from `first_row` (a streamed chunk's rows by their number in the file).
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
    frame.index = pd.RangeIndex(first_row, first_row + len(frame), name="row")
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
