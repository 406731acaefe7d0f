"""Cleaning: a validated census frame into what PCA trains on: its complete rows keyed by
`State-County` (`clean`), and with their 0–1 scaling fitted once `k` is known to fit them (`prepare`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from include.segmentation.census.bounded_read import Source
from include.segmentation.census.contract import FEATURES, ID_COLUMNS, KEY_NAME, CensusValidationError, _join_limited
from include.segmentation.census.loading import load_census
from include.segmentation.census.validation import _keys
from include.segmentation.printable import printable
from include.segmentation.scaling import MinMaxScaling

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CleanCensus:
    """features: (n_counties, 34) float64 indexed by `State-County`; dropped: keys of incomplete rows;
    counties: the same rows' `CensusId` (county FIPS code, as written), `State`, `County` strings."""

    features: pd.DataFrame
    dropped: list[str]
    counties: pd.DataFrame


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
