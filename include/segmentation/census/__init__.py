"""The census: its data contract, and how a census file becomes what PCA trains on, one job per module.

- `contract`: the 37 columns of the ACS county file (`CensusId, State, County` and 34 numeric features),
  their units and groups, the `State-County` key, and CensusValidationError.
- `bounded_read`: a source's bytes (bytes, a path, a binary stream; gzip inflated), refused past each
  bound (size as stored and once inflated, rows, header columns, line length, binary data) before
  anything is parsed.
- `parsing`: those bytes into the contract's frame, typed by pyarrow, or read again as text to name
  each bad cell; the float64 block the rows fill is bounded before it is allocated.
- `validation`: the contract's rules on the parsed values (name lengths, control characters, ranges,
  unique keys).
- `loading`: `load_census`, the three above in order.
- `cleaning`: `clean` (the complete rows, keyed by `State-County`) and `prepare` (with their 0–1 scaling).
- `streaming`: the same in two passes over a stream, a chunk of lines at a time (`survey`, `clean_chunks`),
  for a census too large to hold; whatever it cannot vouch for it leaves to `load_census` and `prepare`.

Import from here: `from include.segmentation.census import load_census`. Each module imports only the
ones listed above it (tests/unit/test_census_layers.py). Every refusal is a CensusValidationError
naming the problem and, where known, the line, row, column or limit.
"""

from __future__ import annotations

from include.segmentation.census.bounded_read import (
    MAX_CENSUS_BYTES,
    MAX_CENSUS_ROWS,
    MAX_COLUMNS,
    MAX_LINE_BYTES,
    MAX_STREAMED_CENSUS_BYTES,
    CensusTooLarge,
    Source,
    check_census_size,
    check_streamed_census_size,
    read_census_bytes,
)
from include.segmentation.census.cleaning import CleanCensus, PreparedCensus, clean, prepare
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
)
from include.segmentation.census.loading import load_census
from include.segmentation.census.parsing import MAX_EXTRA_COLUMNS_LISTED, MAX_FEATURE_BLOCK_BYTES
from include.segmentation.census.streaming import (
    CHUNK_BYTES,
    KEY_HASH_BYTES,
    CleanChunk,
    NotStreamable,
    Survey,
    clean_chunks,
    survey,
)
from include.segmentation.census.validation import MAX_NAME_CHARS

__all__ = [
    "CHUNK_BYTES",
    "COLUMNS",
    "COUNT_COLUMNS",
    "FEATURES",
    "FEATURE_GROUPS",
    "ID_COLUMNS",
    "KEY_HASH_BYTES",
    "KEY_NAME",
    "MARGIN_OF_ERROR",
    "MAX_CENSUS_BYTES",
    "MAX_CENSUS_ROWS",
    "MAX_COLUMNS",
    "MAX_EXTRA_COLUMNS_LISTED",
    "MAX_FEATURE_BLOCK_BYTES",
    "MAX_LINE_BYTES",
    "MAX_NAME_CHARS",
    "MAX_STREAMED_CENSUS_BYTES",
    "PERCENT_COLUMNS",
    "POPULATION",
    "SUBSTANTIVE",
    "UNITS",
    "CensusTooLarge",
    "CensusValidationError",
    "CleanCensus",
    "CleanChunk",
    "NotStreamable",
    "PreparedCensus",
    "Source",
    "Survey",
    "check_census_size",
    "check_streamed_census_size",
    "clean",
    "clean_chunks",
    "load_census",
    "prepare",
    "read_census_bytes",
    "survey",
]
