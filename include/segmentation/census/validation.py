"""Validation: the contract's rules checked on a parsed census, each breach a problem naming its column and rows.

State and County names no longer than MAX_NAME_CHARS and free of control characters, counts not
negative, percentages within 0–100, `State-County` keys unique. Each check returns the problems it
found (none: an empty list), so that one refusal lists them all.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from include.segmentation.census.contract import (
    _MAX_EXAMPLES,
    COUNT_COLUMNS,
    KEY_NAME,
    PERCENT_COLUMNS,
    _examples,
    _join_limited,
)

# Characters in a State or County name after stripping (the longest real one has 33).
MAX_NAME_CHARS = 256
# Unicode category Cc (C0 and C1 controls, tab and newline among them) and the line and paragraph
# separators, as characters (the same pattern for pyarrow's RE2 and Python's re); NUL is refused as binary.
_CONTROL_CHARACTERS = "[\x01-\x1f\x7f-\x9f\u2028\u2029]"


def _name_length_problems(names: pd.Series, column: str) -> list[str]:
    long = names[names.str.len() > MAX_NAME_CHARS]
    if long.empty:
        return []
    rows = [f"{row} ({len(value):,} characters)" for row, value in long.head(_MAX_EXAMPLES).items()]
    rest = len(long) - len(rows)
    return [
        f"column '{column}': names longer than {MAX_NAME_CHARS} characters (MAX_NAME_CHARS) at rows "
        f"{', '.join(rows)}" + (f" and {rest} more" if rest else "")
    ]


def _control_character_problems(names: pd.Series, column: str) -> list[str]:
    """Names holding a control character (a quoted newline, a tab...): refused, as they would forge lines
    in logs and break the report's and the CSVs' rows."""
    bad = names.str.contains(_CONTROL_CHARACTERS, regex=True, na=False)
    if not bad.any():
        return []
    return [f"column '{column}': control characters (Unicode Cc, U+2028, U+2029) {_examples(names[bad])}"]


def _range_problems(frame: pd.DataFrame) -> list[str]:
    problems = []
    for column in COUNT_COLUMNS:
        negative = frame[column] < 0
        if negative.any():
            problems.append(f"column '{column}': negative counts {_examples(frame.loc[negative, column])}")
    for column in PERCENT_COLUMNS:
        outside = (frame[column] < 0) | (frame[column] > 100)
        if outside.any():
            problems.append(f"column '{column}': percentages outside 0–100 {_examples(frame.loc[outside, column])}")
    return problems


def _duplicate_key_problems(frame: pd.DataFrame) -> list[str]:
    keys = _keys(frame).dropna()
    duplicated = keys[keys.duplicated(keep=False)]
    if duplicated.empty:
        return []
    described = [
        f"'{key}' (rows {', '.join(str(r) for r in rows)})"
        for key, rows in duplicated.groupby(duplicated, sort=False).groups.items()
    ]
    return [f"duplicate {KEY_NAME} keys: {_join_limited(described)}"]


def _keys(frame: pd.DataFrame) -> pd.Series:
    """`State-County` per row; NaN where either part is empty."""
    state = frame["State"].replace("", np.nan)
    county = frame["County"].replace("", np.nan)
    return state + "-" + county
