"""What extract_attributes and the report know of the segments, from blocks of rows: each segment's size,
its profile (segment_profiles.csv), its traits (traits.SegmentTraits) and its median K-Means distance, equal bit
for bit to what results.segment_profiles and traits.segment_traits compute on the whole frames, holding a block
at a time (the exact statistics are include.segmentation.streaming_stats')."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from include.segmentation import results, traits
from include.segmentation.census import FEATURES, PERCENT_COLUMNS, POPULATION
from include.segmentation.streaming_stats import GroupMedians, MidRanks, PairwiseSums

BLOCK_ROWS = 8_192  # rows of a frame in memory taken at a time by in_blocks: a block and its derived columns, ~3 MiB


def in_blocks(features: pd.DataFrame, segment: np.ndarray, distance: np.ndarray | None = None):
    """segment_statistics' `blocks` over frames in memory: BLOCK_ROWS rows at a time (views, not copies), so
    that its per-block columns stay small."""

    def blocks() -> Iterator[Block]:
        for start in range(0, len(features), BLOCK_ROWS):
            part = slice(start, start + BLOCK_ROWS)
            yield features.iloc[part], segment[part], None if distance is None else distance[part]

    return blocks


# One block of rows for segment_statistics: (m, 34) features in census units (FEATURES' columns), the rows'
# (m,) int64 segment IDs and their (m,) float64 K-Means distances (None: no distances, their medians are NaN).
Block = tuple[pd.DataFrame, np.ndarray, np.ndarray | None]


@dataclass(frozen=True)
class SegmentStatistics:
    """What extract_attributes and the report know of the segments of segment_ids(ids), from every county."""

    ids: np.ndarray  # (k,) int64 sorted segment IDs
    sizes: np.ndarray  # (k,) int64 counties per segment
    profiles: pd.DataFrame  # segment_profiles.csv
    traits: traits.SegmentTraits
    distance_medians: np.ndarray  # (k,) float64 np.median of each segment's K-Means distances; NaN when empty

    def summary_document(self) -> dict:
        """segment_summary.json: the traits (SegmentTraits.to_document) and the distance medians by segment; floats
        as JSON's shortest round-trip text, NaN as null."""
        return {
            "segments": [int(i) for i in self.ids],
            "distance_medians": [_json_float(value) for value in self.distance_medians],
            "traits": self.traits.to_document(),
        }


def distance_medians_of(summary: dict) -> dict[int, float]:
    """summary_document's median K-Means distance by segment ID, for the segments with counties (an empty one
    has none)."""
    medians = zip(summary["segments"], summary["distance_medians"], strict=True)
    return {int(segment): float(median) for segment, median in medians if median is not None}


def _json_float(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def segment_statistics(blocks: Callable[[], Iterable[Block]], ids: int | Iterable[int]) -> SegmentStatistics:
    """Segment sizes, segment_profiles, traits.SegmentTraits and each segment's median K-Means distance, from
    blocks of rows that `blocks()` gives, the same rows in the same order at each call (one call a pass, four
    passes). Equal bit for bit to numpy on the whole columns (include.segmentation.streaming_stats); what is
    held does not grow with the rows: a block, each segment's unfinished summation leaf, the medians' pivot
    counts ((k, 2049) int64 a column) and the values between two pivots (≈ rows / 1,024 a median). Rows whose
    segment is not in `ids` are in no segment (and in the overall statistics)."""
    ids = results.segment_ids(ids)
    k, n_features, shares = len(ids), len(FEATURES), list(traits.SHARES)
    percent = [i for i, feature in enumerate(FEATURES) if feature in PERCENT_COLUMNS]

    def columns(block: Block) -> tuple[np.ndarray, np.ndarray]:
        """The block's (m,) group positions (−1: in no segment of ids) and (m, 34 + shares + 1) values: the
        features, the traits that are shares (the other traits are features), the distances."""
        features, segment, distance = block
        segment = np.asarray(segment, dtype=np.int64)
        place = np.minimum(np.searchsorted(ids, segment), k - 1)
        group = np.where(ids[place] == segment, place, -1)
        values = np.empty((len(segment), n_features + len(shares) + 1))
        for i, feature in enumerate(FEATURES):
            values[:, i] = features[feature].to_numpy(dtype="float64")
        for j, trait in enumerate(shares):
            values[:, n_features + j] = traits.trait_values(features, trait)
        values[:, -1] = np.nan if distance is None else np.asarray(distance, dtype=np.float64)
        return group, values

    # Medians of every column per segment and, as the last group, over all rows: NaN left out, then put back
    # as np.median has it where a segment's features or distances hold one (traits are np.nanmedian's).
    medians = GroupMedians(k, n_features + len(shares) + 1, skip_nan=True, overall=True)
    sizes, rows = np.zeros(k, dtype=np.int64), 0
    for block in blocks():
        group, values = columns(block)
        medians.sample(group, values)
        sizes += np.bincount(group[group >= 0], minlength=k)
        rows += len(values)
    sums, total = PairwiseSums(sizes, 1 + n_features + len(percent)), PairwiseSums([rows], 1)
    for block in blocks():
        group, values = columns(block)
        medians.count(group, values)
        population = values[:, FEATURES.index(POPULATION)]
        x = values[:, :n_features]
        sums.add(group, np.column_stack([population, x, x[:, percent] * population[:, None]]))
        total.add(np.zeros(len(x), dtype=np.int64), population)
    for block in blocks():
        medians.keep(*columns(block))
    nanmedians = medians.medians()
    middle = np.where(medians.missing[:k] > 0, np.nan, nanmedians[:k])  # np.median: NaN if any
    # each trait's column: its share's, or its feature's
    trait_column = [
        n_features + shares.index(trait) if trait in shares else FEATURES.index(trait) for trait in traits.TRAITS
    ]
    trait_medians, typical = nanmedians[:k, trait_column], nanmedians[k, trait_column]
    ranks = MidRanks(trait_medians.T)
    for block in blocks():
        ranks.add(columns(block)[1][:, trait_column])
    totals, means = sums.totals(), sums.means()
    people = totals[:, 0]
    profile: dict[str, np.ndarray] = {
        "counties": sizes,
        "population": people.astype(int),
        "population_share": people / total.totals()[0, 0],
    }
    for i, feature in enumerate(FEATURES):
        profile[results.profile_column(feature, "mean")] = means[:, 1 + i]
        profile[results.profile_column(feature, "median")] = middle[:, i]
        if i in percent:
            weighted = totals[:, 1 + n_features + percent.index(i)].copy()
            weighted[sizes == 0] = np.nan  # an empty segment's: NaN, as its other statistics
            with np.errstate(invalid="ignore"):  # a segment without people: NaN, as for an empty one
                profile[results.profile_column(feature, "pop-weighted mean")] = weighted / people
    index = pd.Index(ids, name="segment")
    percentiles = ranks.percentiles()
    described = traits.SegmentTraits(
        pd.DataFrame({trait: trait_medians[:, j] for j, trait in enumerate(traits.TRAITS)}, index=index),
        pd.DataFrame({trait: percentiles[j] for j, trait in enumerate(traits.TRAITS)}, index=index),
        pd.Series({trait: float(typical[j]) for j, trait in enumerate(traits.TRAITS)}),
    )
    return SegmentStatistics(
        ids=ids,
        sizes=sizes,
        profiles=pd.DataFrame(profile, index=index).reset_index(),
        traits=described,
        distance_medians=middle[:, -1],
    )
