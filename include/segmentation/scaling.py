"""Min-max scaling of the census features to 0–1, with a JSON form that travels through S3."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

_BLOCK_ROWS = 1 << 12  # rows scaled at a time: a 1.1 MiB float64 scratch at 34 features, reused


@dataclass(frozen=True)
class MinMaxScaling:
    """Per-feature minimum and maximum in original units, both (n_features,) float64.

    Scaled = (x − min) / (max − min); a constant feature (max == min) maps to 0, as scikit-learn's
    MinMaxScaler does, never to NaN.
    """

    feature_names: tuple[str, ...]
    minimum: np.ndarray
    maximum: np.ndarray

    @classmethod
    def fit(cls, features: pd.DataFrame) -> MinMaxScaling:
        """Fit on (n_rows, n_features) original units; NaN is not allowed (clean first)."""
        values = features.to_numpy(dtype="float64")
        if values.size == 0:
            raise ValueError("cannot fit a scaling on no rows")
        if np.isnan(values).any():
            column = features.columns[np.isnan(values).any(axis=0)][0]
            raise ValueError(f"cannot fit a scaling on missing values (column '{column}')")
        return cls(tuple(str(c) for c in features.columns), values.min(axis=0), values.max(axis=0))

    @property
    def _range(self) -> np.ndarray:
        span = self.maximum - self.minimum
        return np.where(span == 0, 1.0, span)

    def transform(self, features: pd.DataFrame | np.ndarray, dtype: str = "float64") -> pd.DataFrame | np.ndarray:
        """Original units -> 0–1 (for the fitted rows) as `dtype`. Keeps a DataFrame's index and columns.

        Computed in float64 a block of rows at a time in one reused scratch block, the division cast
        into the result, so float32 output is the float64 result rounded once, with no (n_rows,
        n_features) float64 temporary beside it.
        """
        values = self._checked(features)
        span = self._range
        scaled = np.empty(values.shape, dtype=dtype)
        scratch = np.empty((min(_BLOCK_ROWS, len(values)), values.shape[1]), dtype="float64")
        for start in range(0, len(values), _BLOCK_ROWS):
            rows = slice(start, start + _BLOCK_ROWS)
            block = np.subtract(values[rows], self.minimum, out=scratch[: min(_BLOCK_ROWS, len(values) - start)])
            np.divide(block, span, out=scaled[rows], casting="same_kind")
        return self._like(features, scaled)

    def inverse_transform(self, scaled: pd.DataFrame | np.ndarray) -> pd.DataFrame | np.ndarray:
        """0–1 -> original units; a constant feature comes back as its constant."""
        values = self._checked(scaled)
        original = values * self._range + self.minimum
        return self._like(scaled, original)

    def to_json(self) -> str:
        return json.dumps(
            {
                "kind": "minmax",
                "features": list(self.feature_names),
                "min": self.minimum.tolist(),
                "max": self.maximum.tolist(),
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> MinMaxScaling:
        data = json.loads(text)
        if data.get("kind") != "minmax":
            raise ValueError(f"not a min-max scaling document (kind={data.get('kind')!r})")
        names, low, high = data["features"], data["min"], data["max"]
        if not len(names) == len(low) == len(high):
            raise ValueError(f"scaling document has {len(names)} features but {len(low)} minima and {len(high)} maxima")
        return cls(tuple(names), np.asarray(low, dtype="float64"), np.asarray(high, dtype="float64"))

    def _checked(self, features: pd.DataFrame | np.ndarray) -> np.ndarray:
        if isinstance(features, pd.DataFrame):
            names = tuple(str(c) for c in features.columns)
            if names != self.feature_names:
                missing = sorted(set(self.feature_names) - set(names))
                raise ValueError(f"columns differ from the fitted features (missing: {missing or 'none'})")
            return features.to_numpy(dtype="float64")
        values = np.asarray(features, dtype="float64")
        if values.ndim != 2 or values.shape[1] != len(self.feature_names):
            raise ValueError(f"expected (n_rows, {len(self.feature_names)}) values, got shape {values.shape}")
        return values

    @staticmethod
    def _like(template: pd.DataFrame | np.ndarray, values: np.ndarray) -> pd.DataFrame | np.ndarray:
        if isinstance(template, pd.DataFrame):
            return pd.DataFrame(values, index=template.index, columns=template.columns)
        return values

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, MinMaxScaling)
            and self.feature_names == other.feature_names
            and np.array_equal(self.minimum, other.minimum)
            and np.array_equal(self.maximum, other.maximum)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable arrays inside
