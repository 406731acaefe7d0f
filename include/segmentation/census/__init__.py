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
    _default_name,
    check_census_size,
    read_census_bytes,
)
from include.segmentation.census.contract import (
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
    _join_limited,
)
from include.segmentation.census.parsing import (
    MAX_EXTRA_COLUMNS_LISTED,
    MAX_FEATURE_BLOCK_BYTES,
    _read_text,
    _read_typed,
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
_NON_SPACE = re.compile(rb"\S")


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
