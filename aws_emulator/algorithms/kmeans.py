"""The built-in K-Means (`kmeans:1`): hyperparameters, training and inference, free of HTTP.

Training follows the built-in's web-scale k-means: K = k × extra_center_factor centres are seeded
from the first mini-batch (by `init_method`) and moved toward each batch's points by the share of
points they just received (older points' weight halves every `half_life_time_size` points); the K
centres, weighted by how many points each absorbed, are then shrunk to k with local Lloyd (best of
`local_lloyd_num_trials`). Unlike the built-in, Lloyd iterations on all the data then refine the k
centroids: the web-scale pass leaves centres lagging their points, and the full passes remove that.

Deterministic: every random choice uses a fixed seed, so the same data and hyperparameters give the
same centroids.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import scipy.sparse
from sklearn.cluster import KMeans, kmeans_plusplus

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
from include.sagemaker_formats.artifacts import ArtifactError, read_kmeans_model, write_kmeans_model

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
    "init_method": "random",
    "mini_batch_size": "5000",
    "epochs": "1",
    "extra_center_factor": "auto",
    "local_lloyd_max_iter": "300",
    "local_lloyd_tol": "0.0001",
    "local_lloyd_init_method": "kmeans++",
    "local_lloyd_num_trials": "auto",
    "half_life_time_size": "0",
    "eval_metrics": '["msd"]',
    "force_dense": "true",
}
# default-input.json as the container logs it, container settings included.
_CONTAINER_DEFAULTS = {
    **_DEFAULTS,
    "_disable_wait_to_read": "false",
    "_enable_profiler": "false",
    "_kvstore": "auto",
    "_log_level": "info",
    "_num_gpus": "auto",
    "_num_kv_servers": "1",
    "_num_slices": "1",
    "_tuning_objective_metric": "",
}
_AUTO_CENTER_FACTOR = 10  # what the built-in logs for 'auto'
_AUTO_TRIALS = 10  # the built-in logs ten local kmeans attempts for 'auto'
_SEED = 0


@dataclass(frozen=True)
class KMeansConfig:
    feature_dim: int
    k: int
    mini_batch_size: int
    epochs: int
    init_method: str
    extra_center_factor: int | None  # None: 'auto'
    local_lloyd_init_method: str
    local_lloyd_max_iter: int
    local_lloyd_num_trials: int | None  # None: 'auto'
    local_lloyd_tol: float
    half_life_time_size: int
    eval_metrics: list[str]
    force_dense: bool
    provided: dict[str, str] = field(default_factory=dict, compare=False)  # as received, for the log


class KMeansAlgorithm:
    name = "kmeans"
    metric_definitions: ClassVar[list[dict[str, str]]] = [
        {"Name": "test:msd", "Regex": r"#quality_metric: host=\S+, test msd <loss>=(\S+)"},
        {"Name": "test:ssd", "Regex": r"#quality_metric: host=\S+, test ssd <loss>=(\S+)"},
        {"Name": "train:msd", "Regex": r"#quality_metric: host=\S+, train msd <loss>=(\S+)"},
        *PROGRESS_METRICS,
    ]

    def validate(self, hyperparameters: dict[str, str]) -> KMeansConfig:
        values = hp.parse_all(hyperparameters, _SCHEMA, _REQUIRED, _DEFAULTS, "K-Means")
        return KMeansConfig(**values, provided=dict(hyperparameters))

    def train(
        self,
        config: KMeansConfig,
        train: np.ndarray,
        test: np.ndarray | None,
        log: Callable[[str], None],
        should_stop: Callable[[], bool],
    ) -> TrainingOutput:
        """train/test: (n_rows, feature_dim) float32. Returns the (k, feature_dim) float32 centroids artifact.

        The metrics are log lines, as the built-in writes them: `train msd` (the shrinking's best attempt)
        and, with a test channel, `test msd` / `test ssd` as `eval_metrics` asks (mean and sum of the
        squared distances of the test rows to their nearest centroid); `metric_definitions` read them."""
        for line in hp.configuration_lines(_CONTAINER_DEFAULTS, config.provided, "default-input.json"):
            log(line)
        check_channels(train, test, config.feature_dim)
        if config.k > len(train):
            raise ClientError(f"k={config.k} is larger than the number of training records ({len(train)})")
        factor = config.extra_center_factor
        if factor is None:
            factor = _AUTO_CENTER_FACTOR
            log(f"'extra_center_factor' was set to 'auto', evaluated to {factor}.")
        if config.mini_batch_size > len(train):
            log(
                f"Batch size {config.mini_batch_size} is bigger than the first batch data. "
                f"Effective batch size used to initialize is {len(train)}"
            )
        started = time.time()
        x = train.astype("float64")
        centers, weights = _web_scale(x, config, min(config.k * factor, len(x)), should_stop)
        log(f"processed a total of {len(x) * config.epochs} examples")
        for line in progress_lines(len(x) * config.epochs, time.time() - started):
            log(line)
        if len(centers) > config.k:
            log(f"shrinking {len(centers)} centers into {config.k}")
            centroids, train_msd = _shrink(centers, weights, config, log)
        else:
            if factor == 1:
                log("No shrinking is required as extra_center_factor is 1.")
            centroids, train_msd = centers, None
        if should_stop():
            raise TrainingStopped()
        centroids = _refine(x, centroids, config)
        if train_msd is None:
            train_msd = float(_nearest(x, centroids)[1].mean())
        # As the container does, train msd is the best local attempt's (the K centres' weighted mean square
        # distance to the k), not the training records' distance to the final centroids.
        log(f"#quality_metric: host=algo-1, train msd <loss>={train_msd}")
        finished = time.time()
        if test is None:
            log("Test data is not provided.")
        else:
            # Scored with the centroids as the artifact stores them (float32), which is what serves.
            stored = centroids.astype("float32").astype("float64")
            squared = _nearest(test.astype("float64"), stored)[1]
            scores = {"msd": float(squared.mean()), "ssd": float(squared.sum())}
            for name in config.eval_metrics:
                log(f"#test_score (algo-1) : ({name!r}, {scores[name]})")
                log(f"#quality_metric: host=algo-1, test {name} <loss>={scores[name]}")
        log(_metrics_line(started, finished, len(x) * config.epochs, config.epochs))
        return TrainingOutput(model_tar_gz=write_kmeans_model(centroids.astype("float32")))

    def load(self, model_tar_gz: bytes) -> KMeansPredictor:
        try:
            return KMeansPredictor(read_kmeans_model(model_tar_gz))
        except ArtifactError as exc:
            raise ModelLoadError(f"cannot load the K-Means model: {exc}") from exc


class KMeansPredictor:
    """Nearest centroid (0-based, as a float) and the Euclidean (not squared) distance to it."""

    def __init__(self, centroids: np.ndarray) -> None:
        self.centroids = centroids.astype("float64")
        self.feature_dim = int(centroids.shape[1])

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """x: (n, feature_dim) -> {"closest_cluster": (n, 1), "distance_to_cluster": (n, 1)}, float32."""
        cluster, squared = _nearest(x.astype("float64"), self.centroids)
        return {
            "closest_cluster": cluster.astype("float32").reshape(-1, 1),
            "distance_to_cluster": np.sqrt(squared).astype("float32").reshape(-1, 1),
        }


def _nearest(x: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x: (n, d), centers: (K, d) -> (n,) index of the nearest centre, (n,) squared distance to it (≥ 0)."""
    # ||x||² − 2x·c + ||c||²: one matrix product instead of an (n, K, d) difference tensor.
    squared = -2.0 * (x @ centers.T)
    squared += np.einsum("ij,ij->i", centers, centers)[None, :]
    index = squared.argmin(axis=1)
    nearest = squared[np.arange(len(x)), index] + np.einsum("ij,ij->i", x, x)
    return index, np.clip(nearest, 0.0, None)


def _cluster_sums(nearest: np.ndarray, batch: np.ndarray, n_centers: int) -> np.ndarray:
    """(n_centers, d) sum of the batch rows assigned to each centre: a sparse one-hot product."""
    rows = len(batch)
    onehot = scipy.sparse.csr_matrix((np.ones(rows), (nearest, np.arange(rows))), shape=(n_centers, rows))
    return np.asarray(onehot @ batch)


def _web_scale(
    x: np.ndarray, config: KMeansConfig, n_centers: int, should_stop: Callable[[], bool]
) -> tuple[np.ndarray, np.ndarray]:
    """Mini-batch k-means on x (n, d) float64: (n_centers, d) centres and (n_centers,) decayed point counts."""
    rng = np.random.default_rng(_SEED)
    first = x[: max(config.mini_batch_size, n_centers)]
    if config.init_method == "kmeans++":
        centers, _ = kmeans_plusplus(first, n_centers, random_state=_SEED)
    else:
        centers = first[rng.choice(len(first), n_centers, replace=False)].copy()
    counts = np.zeros(n_centers)
    # A point's weight halves after half_life_time_size more points: per batch, that is this factor.
    decay = 0.5 ** (config.mini_batch_size / config.half_life_time_size) if config.half_life_time_size else 1.0
    for _ in range(config.epochs):
        for start in range(0, len(x), config.mini_batch_size):
            if should_stop():
                raise TrainingStopped()
            batch = x[start : start + config.mini_batch_size]
            nearest, _ = _nearest(batch, centers)
            batch_counts = np.bincount(nearest, minlength=n_centers).astype("float64")
            sums = _cluster_sums(nearest, batch, n_centers)
            counts = counts * decay + batch_counts
            moved = batch_counts > 0
            # Move each centre toward its new points' mean by the share of its points they are.
            rate = batch_counts[moved] / counts[moved]
            centers[moved] += rate[:, None] * (sums[moved] / batch_counts[moved, None] - centers[moved])
    return centers, counts


def _shrink(
    centers: np.ndarray, weights: np.ndarray, config: KMeansConfig, log: Callable[[str], None]
) -> tuple[np.ndarray, float]:
    """Weighted local Lloyd from the K centres (K, d) down to (k, d), best of the trials, and its mean
    square distance (weighted over the K centres)."""
    used = weights > 0
    centers, weights = centers[used], weights[used]
    if len(centers) < config.k:
        raise ClientError(
            f"only {len(centers)} distinct centres were found for k={config.k}: the data has too few distinct points"
        )
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
    # Verbatim, zero included: the built-in logs this line so after its attempts (the best one's
    # distance is the train msd quality metric that follows).
    log("finished shrinking process. Mean Square Distance = 0")
    return best.cluster_centers_, float(best.inertia_ / weights.sum())


def _refine(x: np.ndarray, centroids: np.ndarray, config: KMeansConfig) -> np.ndarray:
    """Lloyd iterations on all of x (n, d) from the shrunk (k, d) centroids (an addition to the built-in)."""
    model = KMeans(
        n_clusters=config.k, init=centroids, n_init=1, max_iter=config.local_lloyd_max_iter, tol=config.local_lloyd_tol
    )
    return model.fit(x).cluster_centers_


def _metrics_line(started: float, finished: float, records: int, epochs: int) -> str:
    """One `#metrics` line: the totals the container reports at the end of training (times in ms)."""
    elapsed = (finished - started) * 1000
    metrics = {
        "StartTime": started,
        "EndTime": finished,
        "Dimensions": {"Algorithm": "AWS/KMeansWebscale", "Host": "algo-1", "Operation": "training"},
        "Metrics": {
            "epochs": {"sum": float(epochs), "count": 1, "min": epochs, "max": epochs},
            "totaltime": {"sum": elapsed, "count": 1, "min": elapsed, "max": elapsed},
            "Total Records Seen": {"sum": float(records), "count": 1, "min": records, "max": records},
        },
    }
    return "#metrics " + json.dumps(metrics)
