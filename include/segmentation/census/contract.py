"""The census data contract: the 37 columns of the ACS county file, their units and groups, the row key,
and the error that reports a breach of the contract (with how it quotes the offending rows).

One row per US county: `CensusId, State, County` and 34 numeric features. Rows are numbered as data
rows from 1 (the header is line 1 of the file, so row N is on line N + 1). The contract has no quoted
newlines: every record is one physical line, so the line limits of `bounded_read` count physical lines.

The standard library only (pandas for type hints): every other census module builds on this one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from include.segmentation.printable import printable

if TYPE_CHECKING:
    import pandas as pd

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

# The unit of each feature, as the ACS publishes it.
UNITS: dict[str, str] = {
    **{column: "%" for column in PERCENT_COLUMNS},
    **{column: "people" for column in ("TotalPop", "Men", "Women", "Citizen", "Employed")},
    **{column: "US$" for column in ("Income", "IncomeErr", "IncomePerCap", "IncomePerCapErr")},
    "MeanCommute": "minutes",
}
POPULATION = "TotalPop"  # what population-weighted means weigh by
# Margins of error of other columns: they describe the survey, not the county, so labels leave them out.
MARGIN_OF_ERROR: tuple[str, ...] = ("IncomeErr", "IncomePerCapErr")
SUBSTANTIVE: tuple[str, ...] = tuple(c for c in FEATURES if c not in MARGIN_OF_ERROR)

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

_MAX_EXAMPLES = 5  # offending rows quoted per problem; enough to find them, short enough to read
_MAX_QUOTED_CHARS = 40  # characters of an offending value quoted in a message


class CensusValidationError(ValueError):
    """The census input breaks the data contract. `problems` lists each one; the message joins them, after
    the source's name with its control characters escaped (an S3 key may hold a newline)."""

    def __init__(self, problems: list[str], source: str = "census input") -> None:
        self.problems = problems
        self.source = source
        super().__init__(f"{printable(source)}: " + "; ".join(problems))


def _examples(values: pd.Series) -> str:
    """'at rows 3 ('abc'), 9 ('x')' for the first offending rows, with a count of the rest."""
    quoted = [f"{row} ({_shorten(value, _MAX_QUOTED_CHARS)!r})" for row, value in values.head(_MAX_EXAMPLES).items()]
    rest = len(values) - len(quoted)
    more = f" and {rest} more" if rest else ""
    return f"at rows {', '.join(quoted)}{more}"


def _join_limited(items: Iterable[str]) -> str:
    items = list(items)
    shown = ", ".join(items[:_MAX_EXAMPLES])
    return shown + (f" and {len(items) - _MAX_EXAMPLES} more" if len(items) > _MAX_EXAMPLES else "")


def _shorten(value: object, limit: int) -> object:
    """A long string cut to `limit` characters with an ellipsis; anything else unchanged."""
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + "…"
    return value
