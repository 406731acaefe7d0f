"""The built-in PCA (`pca:1`): hyperparameters, training and inference, free of HTTP.

Regular mode is the exact PCA the built-in computes: it accumulates XᵀX and Σx over mini-batches
(float64) and takes the top eigenvectors of the centred scatter matrix, so the singular values are
those of the mean-centred data matrix (not divided by √n).

Randomized mode is a streaming randomized SVD (Halko et al.): a Gaussian test matrix of
num_components + extra_components columns, power iterations that each take one pass over the
mini-batches (C·Q = Σ XᵢᵀXᵢQ − n·μ(μᵀQ), never forming C), then Rayleigh–Ritz on the small
projected matrix. Memory is O(feature_dim × columns); the seed is fixed, so a job is reproducible.

Each axis's sign is made deterministic: its largest-magnitude weight is positive.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from aws_emulator.algorithms import hyperparameters as hp
from aws_emulator.algorithms.base import (
    PROGRESS_METRICS,
    ClientError,
    ModelLoadError,
    TrainingOutput,
    TrainingStopped,
    progress_lines,
)
from aws_emulator.algorithms.channels import check_channels
from include.sagemaker_formats.artifacts import ArtifactError, PCAModel, read_pca_model, write_pca_model

_SCHEMA = {
    "feature_dim": hp.integer(1),
    "mini_batch_size": hp.integer(1),
    "num_components": hp.integer(1),
    "algorithm_mode": hp.choice("regular", "randomized"),
    "subtract_mean": hp.boolean,
    "extra_components": hp.integer(-1),
    "force_dense": hp.boolean,
    "epochs": hp.integer(1),
}
_REQUIRED = ("feature_dim", "mini_batch_size", "num_components")
_DEFAULTS = {
    "algorithm_mode": "regular",
    "subtract_mean": "true",
    "extra_components": "-1",
    "force_dense": "true",
    "epochs": "1",
}
# default-conf.json as the container logs it, container settings included.
_CONTAINER_DEFAULTS = {
    **_DEFAULTS,
    "epochs": 1,
    "_log_level": "info",
    "_kvstore": "dist_sync",
    "_num_kv_servers": "auto",
    "_num_gpus": "auto",
}
_SEED = 0  # randomized mode is deterministic per job, like a fixed container seed
_POWER_ITERATIONS = 2  # extra passes over the data; each sharpens the top of the spectrum
_MIN_BATCH = 50_000  # the sums do not depend on the batch size; big batches keep BLAS busy


@dataclass(frozen=True)
class PCAConfig:
    feature_dim: int
    mini_batch_size: int
    num_components: int
    algorithm_mode: str
    subtract_mean: bool
    extra_components: int
    force_dense: bool
    epochs: int
    provided: dict[str, str] = field(default_factory=dict, compare=False)  # as received, for the log


class PCAAlgorithm:
    name = "pca"
    metric_definitions: ClassVar[list[dict[str, str]]] = [*PROGRESS_METRICS]

    def validate(self, hyperparameters: dict[str, str]) -> PCAConfig:
        values = hp.parse_all(hyperparameters, _SCHEMA, _REQUIRED, _DEFAULTS, "PCA")
        config = PCAConfig(**values, provided=dict(hyperparameters))
        if config.num_components > config.feature_dim:
            raise ClientError(
                f"Invalid hyperparameter num_components={config.num_components}: "
                f"must not exceed feature_dim={config.feature_dim}"
            )
        return config

    def train(
        self,
        config: PCAConfig,
        train: np.ndarray,
        test: np.ndarray | None,
        log: Callable[[str], None],
        should_stop: Callable[[], bool],
    ) -> TrainingOutput:
        """train: (n_rows, feature_dim) float32. Returns the artifact: s ascending, v, mean."""
        for line in hp.configuration_lines(_CONTAINER_DEFAULTS, config.provided, "default-conf.json"):
            log(line)
        check_channels(train, test, config.feature_dim)
        if len(train) < 2:
            raise ClientError(f"PCA needs at least 2 training records, got {len(train)}")
        log(f"{config.feature_dim} feature(s) found in 'data'.")
        started = time.time()
        if config.algorithm_mode == "regular":
            singular_values, components, mean = _exact(train, config, should_stop)
        else:
            singular_values, components, mean = _randomized(train, config, should_stop)
        model = PCAModel.from_largest_first(singular_values, _fix_signs(components), mean)
        finished = time.time()
        for line in progress_lines(len(train), finished - started):
            log(line)
        if test is None:
            log("Test data is not provided.")
        log(_metrics_line(started, finished, len(train), config.mini_batch_size))
        return TrainingOutput(model_tar_gz=write_pca_model(model))

    def load(self, model_tar_gz: bytes) -> PCAPredictor:
        try:
            return PCAPredictor(read_pca_model(model_tar_gz))
        except ArtifactError as exc:
            raise ModelLoadError(f"cannot load the PCA model: {exc}") from exc


class PCAPredictor:
    """Serves (x − mean) · v, components in the stored ascending order (most important last)."""

    def __init__(self, model: PCAModel) -> None:
        self.model = model
        self.feature_dim = model.feature_dim
        self._v = model.v.astype("float32")
        self._mean = model.mean.astype("float32")  # zeros when the job had subtract_mean=false

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """x: (n, feature_dim) float32 -> {"projection": (n, num_components) float32}."""
        return {"projection": (x.astype("float32", copy=False) - self._mean) @ self._v}


def _batches(x: np.ndarray, size: int, should_stop: Callable[[], bool]) -> Iterator[np.ndarray]:
    """(b, d) float64 slices of x in order; a stop request ends training between two of them."""
    for start in range(0, len(x), size):
        if should_stop():
            raise TrainingStopped()
        yield x[start : start + size].astype("float64")


def _exact(
    x: np.ndarray, config: PCAConfig, should_stop: Callable[[], bool]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(num_components,) singular values, (d, num_components) axes largest first, (d,) mean; float64."""
    n, d = x.shape
    scatter, total = np.zeros((d, d)), np.zeros(d)
    for batch in _batches(x, max(config.mini_batch_size, _MIN_BATCH), should_stop):
        scatter += batch.T @ batch
        total += batch.sum(axis=0)
    mean = total / n if config.subtract_mean else np.zeros(d)
    scatter -= n * np.outer(mean, mean)
    eigenvalues, eigenvectors = np.linalg.eigh(scatter)
    order = np.argsort(eigenvalues)[::-1][: config.num_components]
    return np.sqrt(np.clip(eigenvalues[order], 0.0, None)), eigenvectors[:, order], mean


def _randomized(
    x: np.ndarray, config: PCAConfig, should_stop: Callable[[], bool]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """As `_exact`, approximated in the span of num_components + extra_components random directions."""
    n, d = x.shape
    extra = max(10, config.num_components) if config.extra_components == -1 else config.extra_components
    width = min(d, config.num_components + extra)
    basis, _ = np.linalg.qr(np.random.default_rng(_SEED).standard_normal((d, width)))
    for iteration in range(1 + _POWER_ITERATIONS):
        product, total = np.zeros((d, width)), np.zeros(d)
        for batch in _batches(x, max(config.mini_batch_size, _MIN_BATCH), should_stop):
            product += batch.T @ (batch @ basis)
            total += batch.sum(axis=0)
        mean = total / n if config.subtract_mean else np.zeros(d)
        product -= n * np.outer(mean, mean @ basis)  # now C·basis for the centred scatter C
        if iteration < _POWER_ITERATIONS:
            basis, _ = np.linalg.qr(product)
    projected = basis.T @ product  # Rayleigh–Ritz: C restricted to span(basis)
    eigenvalues, eigenvectors = np.linalg.eigh((projected + projected.T) / 2)
    order = np.argsort(eigenvalues)[::-1][: config.num_components]
    return np.sqrt(np.clip(eigenvalues[order], 0.0, None)), basis @ eigenvectors[:, order], mean


def _fix_signs(components: np.ndarray) -> np.ndarray:
    """SVD signs are arbitrary; make each axis's largest-magnitude weight positive, so runs agree."""
    largest = np.abs(components).argmax(axis=0)
    signs = np.sign(components[largest, np.arange(components.shape[1])])
    return components * np.where(signs == 0, 1.0, signs)


def _metrics_line(started: float, finished: float, records: int, batch: int) -> str:
    """One `#metrics` line: the totals the container reports at the end of training (times in ms)."""
    elapsed = (finished - started) * 1000
    batches = -(-records // batch)
    metrics = {
        "StartTime": started,
        "EndTime": finished,
        "Dimensions": {"Algorithm": "PCA", "Host": "algo-1", "Operation": "training"},
        "Metrics": {
            "epochs": {"sum": 1.0, "count": 1, "min": 1, "max": 1},
            "totaltime": {"sum": elapsed, "count": 1, "min": elapsed, "max": elapsed},
            "Total Records Seen": {"sum": float(records), "count": 1, "min": records, "max": records},
            "Total Batches Seen": {"sum": float(batches), "count": 1, "min": batches, "max": batches},
        },
    }
    return "#metrics " + json.dumps(metrics)
