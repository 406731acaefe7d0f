"""What sets a segment apart, as statements a reader can check against its counties.

A segment is described by its median county: per trait, the middle value over the segment's counties, set
against the median over all counties. One measure ranks and is shown: the percentile of the segment's median
county among all counties (mid-rank: the share of counties below it, ties counted half; 50 is the typical
county, 90 is above nine counties in ten). A label names the traits furthest from the 50th percentile, "high"
above it and "low" below; since the segment's median county is on that side of the overall median, at least
half of the segment's counties are too, whatever a few outliers (a prison, an army base) do to its mean.

Traits are rates, not sizes: head counts become shares of the county's people (Men, Citizen, Employed) or are
left out (TotalPop is a county's size, Women is 100 − the Men share); margins of error describe the survey,
not the county, and are left out too. Percentages, dollars and minutes are taken as the census gives them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from include.segmentation.census import FEATURES, KEY_NAME, MARGIN_OF_ERROR, POPULATION, UNITS
from include.segmentation.results import SegmentSlices

# Head counts as shares of TotalPop (in %): trait name -> the count it divides by TotalPop.
SHARES: dict[str, str] = {"Men share": "Men", "Citizen share": "Citizen", "Employed share": "Employed"}
# Head counts that are no trait: a county's size, and the complement of the Men share.
LEFT_OUT: tuple[str, ...] = ("TotalPop", "Women")
# Every trait, in the census's column order (a share where its count was).
TRAITS: tuple[str, ...] = tuple(
    next((share for share, count in SHARES.items() if count == feature), feature)
    for feature in FEATURES
    if feature not in LEFT_OUT + MARGIN_OF_ERROR
)
TRAIT_UNITS: dict[str, str] = {trait: "%" if trait in SHARES else UNITS[trait] for trait in TRAITS}
LABEL_TRAITS = 3  # traits named in a segment's label
NO_COUNTIES = "no counties"  # the label of an empty segment


def trait_values(features: pd.DataFrame, trait: str) -> np.ndarray:
    """(counties,) float64 values of one trait from (counties, 34) features in census units; a share of a
    county without people is NaN."""
    if trait not in SHARES:
        return features[trait].to_numpy(dtype="float64")
    people = features[POPULATION].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(people > 0, 100 * features[SHARES[trait]].to_numpy(dtype="float64") / people, np.nan)


@dataclass(frozen=True)
class SegmentTraits:
    """Per segment (rows, by segment ID) and trait (columns): its median county's value, where that value sits among all
    counties (percentile, 0–100), and per trait the median over all counties. An empty segment's row is NaN."""

    medians: pd.DataFrame  # (k, traits) in TRAIT_UNITS
    percentiles: pd.DataFrame  # (k, traits) 0–100
    overall: pd.Series  # (traits,) the median county of all, in TRAIT_UNITS

    def scores(self) -> pd.DataFrame:
        """(k, traits) percentile − 50: the signed distance from the typical county that ranks traits; 0 where
        the segment's median county equals the overall median (e.g. both 0 % Pacific), which no label names."""
        scores = self.percentiles - 50.0
        return scores.mask(self.medians.eq(self.overall, axis=1), 0.0)

    def to_document(self) -> dict:
        """A JSON document of the traits, every float as its shortest round-trip text (NaN as null): from_document
        gives back frames equal bit for bit."""

        def floats(values) -> list:
            return [None if np.isnan(value) else float(value) for value in np.asarray(values, dtype="float64")]

        return {
            "traits": list(self.medians.columns),
            "segments": [int(segment) for segment in self.medians.index],
            "medians": [floats(row) for row in self.medians.to_numpy()],
            "percentiles": [floats(row) for row in self.percentiles.to_numpy()],
            "overall": floats(self.overall.to_numpy()),
        }

    @classmethod
    def from_document(cls, document: dict) -> SegmentTraits:
        """to_document's document back as SegmentTraits."""
        index = pd.Index(np.asarray(document["segments"], dtype="int64"), name="segment")

        def frame(rows: list) -> pd.DataFrame:
            values = np.array(rows, dtype="float64").reshape(len(index), len(document["traits"]))
            return pd.DataFrame(values, index=index, columns=document["traits"])

        overall = pd.Series(np.array(document["overall"], dtype="float64"), index=document["traits"])
        return cls(frame(document["medians"]), frame(document["percentiles"]), overall)


def of_segments(features: pd.DataFrame, segments: pd.DataFrame, ids: int | Iterable[int]) -> SegmentTraits:
    """segment_traits of segments.csv's rows (State-County, segment, …) for (counties, 34) features indexed by
    State-County, in whatever order the two come."""
    keys = pd.Index(segments[KEY_NAME])
    segment = segments["segment"].set_axis(keys)
    if not keys.equals(features.index):  # the pipeline's order needs no reindex (it hashes every key)
        segment = segment.reindex(features.index)
    if segment.isna().any():
        raise ValueError(f"{int(segment.isna().sum())} counties have no segment")
    return segment_traits(features, segment.to_numpy(dtype="int64"), ids)


def segment_traits(features: pd.DataFrame, segment: np.ndarray, ids: int | Iterable[int]) -> SegmentTraits:
    """Medians and percentiles of every trait for the segments of segment_ids(ids) (an int k: 0…k−1), from
    (counties,) int `segment` IDs in the rows' order of (counties, 34) `features`. A column at a time: no
    copy of the features."""
    groups = SegmentSlices(np.asarray(segment, dtype="int64"), ids)
    medians, percentiles, overall = {}, {}, {}
    for trait in TRAITS:
        values = trait_values(features, trait)
        missing = np.isnan(values)  # shares of counties without people
        known = values[~missing] if missing.any() else values
        median = np.nanmedian if missing.any() else np.median  # nanmedian copies: only where it must
        middle = np.array([median(part) if (~np.isnan(part)).any() else np.nan for part in groups.split(values)])
        medians[trait], overall[trait] = middle, float(np.median(known)) if len(known) else np.nan
        percentiles[trait] = _mid_rank_percentiles(known, middle)
    index = pd.Index(groups.ids, name="segment")
    return SegmentTraits(pd.DataFrame(medians, index=index), pd.DataFrame(percentiles, index=index), pd.Series(overall))


def _mid_rank_percentiles(values: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(points,) percentile of each point among (n,) values: 100 × (values below + ½ values equal) / n; NaN for
    a NaN point. A comparison pass per point: k passes of the column, no sort of it."""
    result = np.full(len(points), np.nan)
    for i, point in enumerate(points):
        if not np.isnan(point) and len(values):
            below, equal = np.count_nonzero(values < point), np.count_nonzero(values == point)
            result[i] = 100 * (below + equal / 2) / len(values)
    return result


def segment_labels(traits: SegmentTraits, top: int = LABEL_TRAITS) -> dict[int, str]:
    """A label per segment from its `top` traits furthest from the typical county, e.g. "high Transit · high
    Income · low Drive"; "no counties" for an empty segment."""
    labels = {}
    for segment, scores in traits.scores().iterrows():
        named = _furthest(scores, top)
        labels[int(segment)] = " · ".join(f"{'high' if s > 0 else 'low'} {t}" for t, s in named.items()) or NO_COUNTIES
    return labels


def distinguishing_traits(traits: SegmentTraits, top: int = 5) -> dict[int, list[dict]]:
    """Per segment its `top` traits furthest from the typical county: the trait, its median county's value and
    the overall median as people read them, and the percentile that ranked it."""
    result = {}
    for segment, scores in traits.scores().iterrows():
        result[int(segment)] = [
            {
                "feature": trait,
                "value": human(traits.medians.at[segment, trait], trait),
                "overall": human(traits.overall[trait], trait),
                "percentile": float(traits.percentiles.at[segment, trait]),
                "direction": "high" if score > 0 else "low",
            }
            for trait, score in _furthest(scores, top).items()
        ]
    return result


def _furthest(scores: pd.Series, top: int) -> pd.Series:
    """The `top` non-zero scores by |score|, largest first (ties keep the census's order)."""
    scores = scores[scores.notna() & scores.ne(0)]
    return scores.reindex(scores.abs().sort_values(ascending=False, kind="stable").index).head(top)


def ordinal(percentile: float) -> str:
    """A percentile as people say it: "97th", "1st", "52nd", "13th" (rounded to a whole one)."""
    whole = min(99, max(1, round(percentile)))  # "0th" and "100th" read oddly; a median county is neither
    suffix = "th" if 10 <= whole % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(whole % 10, "th")
    return f"{whole}{suffix}"


def human(value: float, trait: str) -> str:
    """A value in its unit, as people read it: 23.4 %, $52,300, 25.1 min, 12,345."""
    unit = TRAIT_UNITS.get(trait, UNITS.get(trait, ""))
    if unit == "%":
        return f"{value:.1f} %"
    if unit == "US$":
        return f"${value:,.0f}"
    if unit == "minutes":
        return f"{value:.1f} min"
    return f"{value:,.0f}"
