"""Loading: `load_census`, a census source to a validated frame in three steps, in this order: its
bytes read within bounds (`bounded_read`), parsed into the contract's columns (`parsing`), their values
checked against the contract's rules (`validation`). Nothing is parsed before its bounds are checked,
and one refusal lists every problem the parse and the checks found.
"""

from __future__ import annotations

import re

import pandas as pd

from include.segmentation.census.bounded_read import Source, _bounded_bytes, _default_name
from include.segmentation.census.contract import CensusValidationError
from include.segmentation.census.parsing import _read_text, _read_typed
from include.segmentation.census.validation import (
    _control_character_problems,
    _duplicate_key_problems,
    _name_length_problems,
    _range_problems,
)

_BOM = b"\xef\xbb\xbf"
_NON_SPACE = re.compile(rb"\S")


def load_census(source: Source, name: str | None = None) -> pd.DataFrame:
    """Read and validate a census CSV from bytes, a path or a binary file.

    Accepts UTF-8 (with or without BOM, falling back to Latin-1) and gzip (detected by its magic
    bytes). Returns the 37 columns in contract order: features float64 (NaN where a cell is empty),
    `State`/`County` strings, indexed by data row from 1. Extra columns are dropped with a warning.
    Raises CensusValidationError listing every problem found; input past a MAX_* limit, binary data
    or unparsable CSV is refused first, before the body is parsed (see `bounded_read`).

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
