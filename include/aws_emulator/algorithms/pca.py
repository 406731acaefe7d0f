"""The built-in PCA (`pca:1`): hyperparameters, training and inference, free of HTTP.

Regular mode is the exact PCA the built-in computes: it accumulates XᵀX and Σx over mini-batches
(float64) and takes the top eigenvectors of the centred scatter matrix, so the singular values are
those of the mean-centred data matrix (not divided by √n). Randomized mode runs a randomized SVD.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from sklearn.utils.extmath import randomized_svd

from include.aws_emulator.algorithms import hyperparameters as hp
from include.aws_emulator.algorithms.base import ClientError, ModelLoadError, TrainingOutput, TrainingStopped
from include.aws_emulator.algorithms.channels import check_data
from include.segmentation.artifacts import ArtifactError, PCAModel, read_pca_model, write_pca_model

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
_SEED = 0  # randomized mode is deterministic per job, like a fixed container seed


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


class PCAAlgorithm:
    name = "pca"
    metric_definitions: ClassVar[list[dict[str, str]]] = [
        {
            "Name": "train:throughput",
            "Regex": r"#throughput_metric: host=\S+, train throughput=(\S+) records/second",
        },
        {"Name": "train:progress", "Regex": r"#progress_metric: host=\S+, completed (\S+) % of epochs"},
    ]

    def validate(self, hyperparameters: dict[str, str]) -> PCAConfig:
        values = hp.parse_all(hyperparameters, _SCHEMA, _REQUIRED, _DEFAULTS, "PCA")
        config = PCAConfig(**values)
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
        """train: (n_rows, feature_dim) float32. Returns the artifact with s ascending."""
        log(f"[PCA] Final configuration: {json.dumps(config.__dict__)}")
        check_data(train, config.feature_dim, "train")
        if len(train) < 2:
            raise ClientError(f"PCA needs at least 2 training records, got {len(train)}")
        started = time.time()
        if config.algorithm_mode == "regular":
            singular_values, components, mean = _exact(train, config, should_stop)
        else:
            singular_values, components, mean = _randomized(train, config)
        components = _fix_signs(components)
        finished = time.time()
        log("#progress_metric: host=algo-1, completed 100.0 % of epochs")
        log(_metrics_line(started, finished, len(train), config.mini_batch_size))
        throughput = len(train) / max(finished - started, 1e-6)
        log(f"#throughput_metric: host=algo-1, train throughput={throughput:.2f} records/second")
        if test is None:
            log("Test data is not provided.")
        else:
            check_data(test, config.feature_dim, "test")
        model = PCAModel.from_largest_first(singular_values, components, mean)
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
        self._mean = model.mean.astype("float32")

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return {"projection": (x.astype("float32", copy=False) - self._mean) @ self._v}


def _exact(
    x: np.ndarray, config: PCAConfig, should_stop: Callable[[], bool]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top `num_components` singular values and axes of the centred data, largest first."""
    d = x.shape[1]
    scatter = np.zeros((d, d))
    total = np.zeros(d)
    batch = max(config.mini_batch_size, 50_000)  # the sums are the same whatever the batch size
    for start in range(0, len(x), batch):
        if should_stop():
            raise TrainingStopped()
        chunk = x[start : start + batch].astype("float64")
        scatter += chunk.T @ chunk
        total += chunk.sum(axis=0)
    n = len(x)
    mean = total / n if config.subtract_mean else np.zeros(d)
    if config.subtract_mean:
        scatter -= n * np.outer(mean, mean)
    eigenvalues, eigenvectors = np.linalg.eigh(scatter)
    order = np.argsort(eigenvalues)[::-1][: config.num_components]
    singular_values = np.sqrt(np.clip(eigenvalues[order], 0.0, None))
    return singular_values, eigenvectors[:, order], mean


def _randomized(x: np.ndarray, config: PCAConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean = x.mean(axis=0, dtype="float64") if config.subtract_mean else np.zeros(x.shape[1])
    extra = max(10, config.num_components) if config.extra_components == -1 else config.extra_components
    _, singular_values, vt = randomized_svd(
        x.astype("float64") - mean, config.num_components, n_oversamples=extra, random_state=_SEED
    )
    return singular_values, vt.T, mean


def _fix_signs(components: np.ndarray) -> np.ndarray:
    """SVD signs are arbitrary; make each axis's largest-magnitude weight positive, so runs agree."""
    largest = np.abs(components).argmax(axis=0)
    signs = np.sign(components[largest, np.arange(components.shape[1])])
    return components * np.where(signs == 0, 1.0, signs)


def _metrics_line(started: float, finished: float, records: int, batch: int) -> str:
    metrics = {
        "StartTime": started,
        "EndTime": finished,
        "Dimensions": {"Algorithm": "PCA", "Host": "algo-1", "Operation": "training"},
        "Metrics": {
            "totaltime": {"sum": (finished - started) * 1000, "count": 1, "min": 0, "max": 0},
            "Total Records Seen": {"sum": records, "count": 1, "min": records, "max": records},
            "Total Batches Seen": {"sum": -(-records // batch), "count": 1, "min": 0, "max": 0},
        },
    }
    return "#metrics " + json.dumps(metrics)
