"""The census data contract: the 37 columns of the ACS county file, loading, validation and cleaning.

One row per US county: `CensusId, State, County` and 34 numeric features. Rows are numbered as data
rows from 1 (the header is line 1 of the file, so row N is on line N + 1).
"""

from __future__ import annotations

import gzip
import io
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

ID_COLUMNS: tuple[str, ...] = ("CensusId", "State", "County")

FEATURES: tuple[str, ...] = (
    "TotalPop", "Men", "Women",
    "Hispanic", "White", "Black", "Native", "Asian", "Pacific",
    "Citizen", "Income", "IncomeErr", "IncomePerCap", "IncomePerCapErr",
    "Poverty", "ChildPoverty",
    "Professional", "Service", "Office", "Construction", "Production",
    "Drive", "Carpool", "Transit", "Walk", "OtherTransp", "WorkAtHome", "MeanCommute",
    "Employed", "PrivateWork", "PublicWork", "SelfEmployed", "FamilyWork", "Unemployment",
)  # fmt: skip

COLUMNS: tuple[str, ...] = ID_COLUMNS + FEATURES

# Head counts, dollars and minutes: never negative.
COUNT_COLUMNS: tuple[str, ...] = (
    "TotalPop", "Men", "Women", "Citizen", "Income", "IncomeErr", "IncomePerCap",
    "IncomePerCapErr", "Employed", "MeanCommute",
)  # fmt: skip

# Shares of a population in percent: 0–100.
PERCENT_COLUMNS: tuple[str, ...] = tuple(c for c in FEATURES if c not in COUNT_COLUMNS)

# Feature groups the report and the notebook's EDA look at together.
FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "population": ("TotalPop", "Men", "Women", "Citizen"),
    "race/ethnicity": ("Hispanic", "White", "Black", "Native", "Asian", "Pacific"),
    "income/poverty": ("Income", "IncomeErr", "IncomePerCap", "IncomePerCapErr", "Poverty", "ChildPoverty"),
    "occupation": ("Professional", "Service", "Office", "Construction", "Production"),
    "commuting": ("Drive", "Carpool", "Transit", "Walk", "OtherTransp", "WorkAtHome", "MeanCommute"),
    "employment type": (
        "Employed",
        "PrivateWork",
        "PublicWork",
        "SelfEmployed",
        "FamilyWork",
        "Unemployment",
    ),
}

KEY_NAME = "State-County"
# The largest census accepted, as stored and once decompressed: about 5 M county-like rows. Checked
# before the file is read (S3 HeadObject, file size) and while a gzip file is decompressed.
MAX_CENSUS_BYTES = 1 << 30
_MAX_EXAMPLES = 5  # offending rows quoted per problem; enough to find them, short enough to read

Source = bytes | bytearray | str | os.PathLike[str] | BinaryIO


class CensusValidationError(ValueError):
    """The census input breaks the data contract. `problems` lists each one; the message joins them."""

    def __init__(self, problems: list[str], source: str = "census input") -> None:
        self.problems = problems
        self.source = source
        super().__init__(f"{source}: " + "; ".join(problems))


@dataclass(frozen=True)
class CleanCensus:
    """features: (n_counties, 34) float64 indexed by `State-County`; dropped: keys of incomplete rows."""

    features: pd.DataFrame
    dropped: list[str]


def check_census_size(size: int, name: str) -> None:
    """Refuse a census of `size` bytes (as stored, or once decompressed) above MAX_CENSUS_BYTES."""
    if size > MAX_CENSUS_BYTES:
        raise CensusValidationError(
            [f"the file is {size:,} bytes, above the limit of {MAX_CENSUS_BYTES:,} bytes (MAX_CENSUS_BYTES)"], name
        )


def load_census(source: Source, name: str | None = None) -> pd.DataFrame:
    """Read and validate a census CSV from bytes, a path or a binary file.

    Accepts UTF-8 (with or without BOM, falling back to Latin-1) and gzip (detected by its magic
    bytes). Returns the 37 columns in contract order: features float64 (NaN where a cell is empty),
    `State`/`County` strings. Extra columns are dropped with a warning. Raises CensusValidationError
    listing every problem found.
    """
    raw, label = _read_bytes(source)
    label = name or label
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise CensusValidationError([f"corrupt gzip data ({exc})"], label) from exc
    text = _decode(raw)
    if not text.strip():
        raise CensusValidationError(["the file is empty"], label)

    # Everything as text first so that a bad cell is reported with its value rather than coerced.
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    frame.columns = [str(c).strip() for c in frame.columns]

    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise CensusValidationError([f"missing columns: {', '.join(missing)}"], label)
    extra = [c for c in frame.columns if c not in COLUMNS]
    if extra:
        log.warning("%s: ignoring extra columns: %s", label, ", ".join(extra))
    if frame.empty:
        raise CensusValidationError(["the header has no rows below it"], label)

    frame = frame.loc[:, list(COLUMNS)]
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    problems: list[str] = []
    numeric = {column: _parse_numeric(frame[column], column, problems) for column in FEATURES}
    result = pd.DataFrame(
        {
            "CensusId": frame["CensusId"].str.strip(),
            "State": frame["State"].str.strip(),
            "County": frame["County"].str.strip(),
            **numeric,
        },
    )
    problems += _range_problems(result)
    problems += _duplicate_key_problems(result)
    if problems:
        raise CensusValidationError(problems, label)
    return result


def clean(frame: pd.DataFrame) -> CleanCensus:
    """Drop incomplete rows, index by `State-County`, keep the 34 features (float64).

    Raises CensusValidationError when no complete row is left.
    """
    ids = frame[["State", "County"]].replace("", np.nan)
    incomplete = ids.isna().any(axis=1) | frame[list(FEATURES)].isna().any(axis=1)
    keys = _keys(frame)
    dropped = [key if isinstance(key, str) else f"row {row}" for row, key in keys[incomplete].items()]
    if dropped:
        log.info("dropping %d incomplete rows: %s", len(dropped), ", ".join(dropped))
    kept = frame.loc[~incomplete]
    if kept.empty:
        raise CensusValidationError([f"no complete row is left after dropping {len(dropped)} incomplete rows"])
    features = kept.loc[:, list(FEATURES)].astype("float64")
    features.index = pd.Index(keys[~incomplete].to_numpy(), name=KEY_NAME)
    return CleanCensus(features=features, dropped=dropped)


def _read_bytes(source: Source) -> tuple[bytes, str]:
    if isinstance(source, bytes | bytearray):
        return bytes(source), "census input"
    if isinstance(source, str | os.PathLike):
        path = os.fspath(source)
        with open(path, "rb") as handle:
            return handle.read(), path
    return source.read(), getattr(source, "name", "census input")


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # County names such as "Doña Ana" come Latin-1 encoded from some exports.
        return raw.decode("latin-1")


def _parse_numeric(values: pd.Series, column: str, problems: list[str]) -> pd.Series:
    """Parse one feature column; empty cells and NA tokens become NaN, anything else must be finite."""
    text = values.str.strip()
    missing = text.isin(("", "NA", "N/A", "NaN", "nan", "null", "NULL"))
    parsed = pd.to_numeric(text.where(~missing), errors="coerce").astype("float64")
    bad = ~missing & ~np.isfinite(parsed.to_numpy())
    if bad.any():
        kind = "non-numeric or non-finite values"
        problems.append(f"column '{column}': {kind} {_examples(text[bad])}")
    return parsed.where(~bad)


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


def _examples(values: pd.Series) -> str:
    """'at rows 3 ('abc'), 9 ('x')' for the first offending rows, with a count of the rest."""
    quoted = [f"{row} ({value!r})" for row, value in values.head(_MAX_EXAMPLES).items()]
    rest = len(values) - len(quoted)
    more = f" and {rest} more" if rest else ""
    return f"at rows {', '.join(quoted)}{more}"


def _join_limited(items: Iterable[str]) -> str:
    items = list(items)
    shown = ", ".join(items[:_MAX_EXAMPLES])
    return shown + (f" and {len(items) - _MAX_EXAMPLES} more" if len(items) > _MAX_EXAMPLES else "")
