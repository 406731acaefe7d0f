"""The built-in K-Means (`kmeans:1`): hyperparameters, training and inference, free of HTTP.

Training follows the built-in's web-scale k-means: K = k × extra_center_factor centres are seeded
from the first mini-batch and moved toward each batch's points by the share of points they just
received; the K centres, weighted by how many points each absorbed, are then shrunk to k with local
Lloyd (best of `local_lloyd_num_trials`), and refined by Lloyd iterations on all the data.
Deterministic: the same data and hyperparameters give the same centroids.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from sklearn.cluster import KMeans, kmeans_plusplus

from include.aws_emulator.algorithms import hyperparameters as hp
from include.aws_emulator.algorithms.base import ClientError, ModelLoadError, TrainingOutput, TrainingStopped
from include.aws_emulator.algorithms.channels import check_data
from include.segmentation.artifacts import ArtifactError, read_kmeans_model, write_kmeans_model

_SCHEMA = {
    "feature_dim": hp.integer(1),
    "k": hp.integer(1),
    "mini_batch_size": hp.integer(1),
    "epochs": hp.integer(1),
    "init_method": hp.choice("random", "kmeans++"),
    "extra_center_factor": hp.integer(1, auto=True),
    "local_lloyd_init_method": hp.choice("random", "kmeans++"),
    "local_lloyd_max_iter": hp.integer(1),
    "local_lloyd_num_trials": hp.integer(1, auto=True),
    "local_lloyd_tol": hp.real(0.0, 1.0),
    "half_life_time_size": hp.integer(0),
    "eval_metrics": hp.json_list(("msd", "ssd")),
    "force_dense": hp.boolean,
}
_REQUIRED = ("feature_dim", "k")
_DEFAULTS = {
    "mini_batch_size": "5000",
    "epochs": "1",
    "init_method": "random",
    "extra_center_factor": "auto",
    "local_lloyd_init_method": "kmeans++",
    "local_lloyd_max_iter": "300",
    "local_lloyd_num_trials": "auto",
    "local_lloyd_tol": "0.0001",
    "half_life_time_size": "0",
    "eval_metrics": '["msd"]',
    "force_dense": "true",
}
_AUTO_CENTER_FACTOR = 10  # what the built-in logs for 'auto'
_AUTO_TRIALS = 10
_SEED = 0


@dataclass(frozen=True)
class KMeansConfig:
    feature_dim: int
    k: int
    mini_batch_size: int
    epochs: int
    init_method: str
    extra_center_factor: int | None
    local_lloyd_init_method: str
    local_lloyd_max_iter: int
    local_lloyd_num_trials: int | None
    local_lloyd_tol: float
    half_life_time_size: int
    eval_metrics: list[str]
    force_dense: bool


class KMeansAlgorithm:
    name = "kmeans"
    metric_definitions: ClassVar[list[dict[str, str]]] = [
        {"Name": "test:msd", "Regex": r"#quality_metric: host=\S+, test msd <loss>=(\S+)"},
        {"Name": "test:ssd", "Regex": r"#quality_metric: host=\S+, test ssd <loss>=(\S+)"},
    ]

    def validate(self, hyperparameters: dict[str, str]) -> KMeansConfig:
        return KMeansConfig(**hp.parse_all(hyperparameters, _SCHEMA, _REQUIRED, _DEFAULTS, "K-Means"))

    def train(
        self,
        config: KMeansConfig,
        train: np.ndarray,
        test: np.ndarray | None,
        log: Callable[[str], None],
        should_stop: Callable[[], bool],
    ) -> TrainingOutput:
        """train/test: (n_rows, feature_dim) float32. Returns the (k, feature_dim) centroids artifact."""
        log(f"[K-Means] Final configuration: {json.dumps(config.__dict__)}")
        check_data(train, config.feature_dim, "train")
        if config.k > len(train):
            raise ClientError(f"k={config.k} is larger than the number of training records ({len(train)})")
        started = time.time()
        factor = config.extra_center_factor
        if factor is None:
            factor = _AUTO_CENTER_FACTOR
            log(f"'extra_center_factor' was set to 'auto', evaluated to {factor}.")
        x = train.astype("float64")
        centers, weights = _web_scale(x, config, min(config.k * factor, len(x)), should_stop)
        log(f"shrinking {len(centers)} centers into {config.k}")
        centroids = _refine(x, _shrink(centers, weights, config, log), config)
        finished = time.time()
        train_msd = float(_nearest(x, centroids)[1].mean())
        log(f"#quality_metric: host=algo-1, train msd <loss>={train_msd}")
        log(_metrics_line(started, finished, len(train)))
        metrics: dict[str, float] = {}
        if test is not None:
            check_data(test, config.feature_dim, "test")
            squared = _nearest(test.astype("float64"), centroids)[1]
            scores = {"msd": float(squared.mean()), "ssd": float(squared.sum())}
            for name in config.eval_metrics:
                log(f"#quality_metric: host=algo-1, test {name} <loss>={scores[name]}")
                metrics[f"test:{name}"] = scores[name]
        return TrainingOutput(model_tar_gz=write_kmeans_model(centroids.astype("float32")), final_metrics=metrics)

    def load(self, model_tar_gz: bytes) -> KMeansPredictor:
        try:
            return KMeansPredictor(read_kmeans_model(model_tar_gz))
        except ArtifactError as exc:
            raise ModelLoadError(f"cannot load the K-Means model: {exc}") from exc


class KMeansPredictor:
    """Nearest centroid (0-based, as a float) and the Euclidean distance to it."""

    def __init__(self, centroids: np.ndarray) -> None:
        self.centroids = centroids.astype("float64")
        self.feature_dim = int(centroids.shape[1])

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        cluster, squared = _nearest(x.astype("float64"), self.centroids)
        return {
            "closest_cluster": cluster.astype("float32").reshape(-1, 1),
            "distance_to_cluster": np.sqrt(squared).astype("float32").reshape(-1, 1),
        }


def _nearest(x: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n,) index of the nearest centre and (n,) squared Euclidean distance to it."""
    squared = (
        np.einsum("ij,ij->i", x, x)[:, None] - 2.0 * x @ centers.T + np.einsum("ij,ij->i", centers, centers)[None, :]
    )
    index = squared.argmin(axis=1)
    return index, np.clip(squared[np.arange(len(x)), index], 0.0, None)


def _web_scale(
    x: np.ndarray, config: KMeansConfig, n_centers: int, should_stop: Callable[[], bool]
) -> tuple[np.ndarray, np.ndarray]:
    """Mini-batch k-means with `n_centers` centres: (n_centers, d) centres and their point counts."""
    rng = np.random.default_rng(_SEED)
    first = x[: max(config.mini_batch_size, n_centers)]
    if config.init_method == "kmeans++":
        centers, _ = kmeans_plusplus(first, n_centers, random_state=_SEED)
    else:
        centers = first[rng.choice(len(first), n_centers, replace=False)].copy()
    counts = np.zeros(n_centers)
    decay = 0.5 ** (config.mini_batch_size / config.half_life_time_size) if config.half_life_time_size else 1.0
    for _ in range(config.epochs):
        for start in range(0, len(x), config.mini_batch_size):
            if should_stop():
                raise TrainingStopped()
            batch = x[start : start + config.mini_batch_size]
            nearest, _ = _nearest(batch, centers)
            batch_counts = np.bincount(nearest, minlength=n_centers).astype("float64")
            sums = np.zeros_like(centers)
            np.add.at(sums, nearest, batch)
            counts = counts * decay + batch_counts
            moved = batch_counts > 0
            # Move each centre toward its new points' mean by the share of its points they are.
            rate = batch_counts[moved] / counts[moved]
            centers[moved] += rate[:, None] * (sums[moved] / batch_counts[moved, None] - centers[moved])
    return centers, counts


def _shrink(centers: np.ndarray, weights: np.ndarray, config: KMeansConfig, log: Callable[[str], None]) -> np.ndarray:
    """Weighted local Lloyd from the K centres down to k, best of the trials."""
    used = weights > 0
    centers, weights = centers[used], weights[used]
    if len(centers) < config.k:
        raise ClientError(f"only {len(centers)} distinct centres were found for k={config.k}")
    trials = config.local_lloyd_num_trials or _AUTO_TRIALS
    best: KMeans | None = None
    for attempt in range(trials):
        model = KMeans(
            n_clusters=config.k,
            init="k-means++" if config.local_lloyd_init_method == "kmeans++" else "random",
            n_init=1,
            max_iter=config.local_lloyd_max_iter,
            tol=config.local_lloyd_tol,
            random_state=_SEED + attempt,
        ).fit(centers, sample_weight=weights)
        log(f"local kmeans attempt #{attempt}. Current mean square distance {model.inertia_ / weights.sum():.6f}")
        if best is None or model.inertia_ < best.inertia_:
            best = model
    return best.cluster_centers_


def _refine(x: np.ndarray, centroids: np.ndarray, config: KMeansConfig) -> np.ndarray:
    """Lloyd iterations on all the data from the shrunk centroids: the web-scale pass leaves centres that lag
    their points by a learning-rate bias; a few full passes remove it (an addition to the built-in)."""
    model = KMeans(
        n_clusters=config.k, init=centroids, n_init=1, max_iter=config.local_lloyd_max_iter, tol=config.local_lloyd_tol
    )
    return model.fit(x).cluster_centers_


def _metrics_line(started: float, finished: float, records: int) -> str:
    metrics = {
        "StartTime": started,
        "EndTime": finished,
        "Dimensions": {"Algorithm": "AWS/KMeansWebscale", "Host": "algo-1", "Operation": "training"},
        "Metrics": {
            "totaltime": {"sum": (finished - started) * 1000, "count": 1, "min": 0, "max": 0},
            "Total Records Seen": {"sum": records, "count": 1, "min": records, "max": records},
        },
    }
    return "#metrics " + json.dumps(metrics)
