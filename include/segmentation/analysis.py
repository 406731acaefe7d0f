"""The segmentation maths on model attributes: explained variance, component choice and makeup,
projection as the PCA endpoint computes it, and centroids mapped back to features.

Components are numbered largest first throughout: component 1 (`c_1`) has the largest singular value.
Explained variance follows the classic notebook: a component's share is s² over the sum of s² of the
components the model holds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from include.sagemaker_formats.artifacts import PCAModel


def explained_variance(singular_values: np.ndarray) -> np.ndarray:
    """Share of variance per component, (n_components,) float64, for singular values largest first."""
    squared = np.square(np.asarray(singular_values, dtype="float64"))
    total = squared.sum()
    if total <= 0:
        raise ValueError("singular values are all zero: the data has no variance")
    return squared / total


def cumulative_explained_variance(singular_values: np.ndarray) -> np.ndarray:
    """Share of variance of the top 1, 2, … components, (n_components,) float64, non-decreasing."""
    return np.cumsum(explained_variance(singular_values))


def components_for_threshold(singular_values: np.ndarray, threshold: float) -> int:
    """The smallest n whose top-n components explain at least `threshold` (0 < threshold ≤ 1)."""
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    cumulative = cumulative_explained_variance(singular_values)
    # A tiny tolerance so that a threshold of 1.0 is reachable despite float rounding.
    return int(np.searchsorted(cumulative, threshold - 1e-12) + 1)


@dataclass(frozen=True)
class VarianceSummary:
    """The component choice: n kept, the threshold, and per-component and cumulative shares."""

    n_components: int
    threshold: float
    per_component: list[float]
    cumulative: list[float]

    @property
    def explained(self) -> float:
        return self.cumulative[self.n_components - 1]

    def to_dict(self) -> dict[str, object]:
        return {
            "n_components": self.n_components,
            "threshold": self.threshold,
            "explained": self.explained,
            "per_component": self.per_component,
            "cumulative": self.cumulative,
        }


def summarise_variance(singular_values: np.ndarray, threshold: float) -> VarianceSummary:
    """Choose n for `threshold` and record the shares of every component (largest first)."""
    return VarianceSummary(
        n_components=components_for_threshold(singular_values, threshold),
        threshold=threshold,
        per_component=explained_variance(singular_values).tolist(),
        cumulative=cumulative_explained_variance(singular_values).tolist(),
    )


def by_magnitude(values: pd.Series, top: int | None = None) -> pd.Series:
    """`values` ordered by |value|, largest first (ties keep their order); only the first `top` if given."""
    ordered = values.reindex(values.abs().sort_values(ascending=False, kind="stable").index)
    return ordered if top is None else ordered.head(top)


def z_scores(profiles: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """Each profile's features (columns of `features`) in population standard deviations from the population
    mean (ddof 0; a constant feature counts its spread as 1). profiles: (k, ≥ d) -> (k, d)."""
    names = list(features.columns)
    spread = features.std(ddof=0).replace(0, 1.0)
    return (profiles[names].astype(float) - features.mean()) / spread


def component_weights(model: PCAModel, feature_names: Sequence[str], n: int) -> pd.DataFrame:
    """(n_features, n) weights of the top n components, columns `c_1…c_n`, indexed by feature."""
    _check_n(model, n)
    return pd.DataFrame(
        model.components[:, :n],
        index=pd.Index(list(feature_names), name="feature"),
        columns=component_names(n),
    )


def project(x: np.ndarray, model: PCAModel, n: int) -> np.ndarray:
    """(n_rows, feature_dim) scaled rows -> (n_rows, n) float64 on the top n components, `c_1` first.

    The PCA endpoint computes (x − mean) · v; this gives the same numbers, reordered largest first.
    """
    _check_n(model, n)
    x = np.asarray(x, dtype="float64")
    if x.ndim != 2 or x.shape[1] != model.feature_dim:
        raise ValueError(f"expected (n_rows, {model.feature_dim}) rows, got shape {x.shape}")
    centred = x - model.mean.astype("float64").reshape(1, -1)
    return centred @ model.components[:, :n].astype("float64")


PROJECTION_TOLERANCE = 1e-4  # float32 endpoint vs float64 check, on 0–1 scaled data


class ProjectionMismatch(ValueError):
    """The PCA endpoint's answers disagree with (x − mean) · v from the model artifact."""


def checked_top_components(projection: np.ndarray, x: np.ndarray, model: PCAModel, n: int) -> np.ndarray:
    """The endpoint's projections (rows, num_components, ascending) -> the top n (`c_1` first), after checking
    them against `project(x, model, n)` from the model artifact; x: (rows, d) scaled rows."""
    projection = np.asarray(projection)
    if projection.shape != (len(x), model.num_components):
        raise ProjectionMismatch(
            f"PCA endpoint answered projections of shape {projection.shape}, expected {(len(x), model.num_components)}"
        )
    top = top_components_from_projection(projection, n)
    worst = max((_largest_difference(top[rows], x[rows], model, n) for rows in _row_blocks(len(x))), default=0.0)
    if worst > PROJECTION_TOLERANCE:
        raise ProjectionMismatch(
            f"PCA endpoint projections differ from (x − mean) · v of the model artifact by up to {worst:.3g} "
            f"(tolerance {PROJECTION_TOLERANCE})"
        )
    return top


_CHECK_ROWS = 1 << 16  # rows checked at a time: float64 temporaries of a few MiB, not of the whole file


def _row_blocks(n_rows: int) -> Iterator[slice]:
    return (slice(start, start + _CHECK_ROWS) for start in range(0, n_rows, _CHECK_ROWS))


def _largest_difference(top: np.ndarray, x: np.ndarray, model: PCAModel, n: int) -> float:
    return float(np.max(np.abs(top - project(x, model, n))))


def top_components_from_projection(projection: np.ndarray, n: int) -> np.ndarray:
    """Endpoint projections (n_rows, num_components) in SageMaker's ascending order -> top n, `c_1` first."""
    projection = np.asarray(projection)
    if projection.ndim != 2 or not 1 <= n <= projection.shape[1]:
        raise ValueError(f"cannot take {n} components from projections of shape {projection.shape}")
    return projection[:, ::-1][:, :n]


def _check_n(model: PCAModel, n: int) -> None:
    if not 1 <= n <= model.num_components:
        raise ValueError(f"n must be between 1 and {model.num_components} components, got {n}")


def component_names(n: int) -> list[str]:
    """`c_1 … c_n`, the column names of kept components."""
    return [f"c_{i}" for i in range(1, n + 1)]
