"""The built-in K-Means as the emulator runs it: hyperparameters, web-scale training, serving."""

from __future__ import annotations

import numpy as np
import pytest

from include.aws_emulator.algorithms import ALGORITHMS
from include.aws_emulator.algorithms.base import ClientError, TrainingStopped
from include.segmentation.artifacts import read_kmeans_model

KMEANS = ALGORITHMS["kmeans"]
CENTRES = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 0], [0, 0, 10]], dtype="float32")


@pytest.fixture
def blobs() -> np.ndarray:
    rng = np.random.default_rng(0)
    return (np.repeat(CENTRES, 250, axis=0) + rng.normal(scale=0.5, size=(1000, 3))).astype("float32")


def _train(x: np.ndarray, test: np.ndarray | None = None, **hyperparameters: str):
    config = KMEANS.validate({"feature_dim": str(x.shape[1]), "k": "4", **hyperparameters})
    logs: list[str] = []
    output = KMEANS.train(config, x, test, logs.append, lambda: False)
    return output, logs


def test_defaults_are_the_documented_ones() -> None:
    config = KMEANS.validate({"feature_dim": "3", "k": "4"})
    assert config.mini_batch_size == 5000 and config.epochs == 1 and config.init_method == "random"
    assert config.extra_center_factor is None and config.local_lloyd_num_trials is None  # "auto"
    assert config.local_lloyd_max_iter == 300 and config.local_lloyd_tol == 0.0001
    assert config.eval_metrics == ["msd"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("init_method", "forgy"),
        ("local_lloyd_tol", "2"),
        ("extra_center_factor", "0"),
        ("half_life_time_size", "-1"),
        ("eval_metrics", '["mse"]'),
        ("k", "zero"),
    ],
)
def test_bad_values_are_refused_naming_the_parameter(name, value) -> None:
    with pytest.raises(ClientError, match=f"Invalid hyperparameter {name}="):
        KMEANS.validate({"feature_dim": "3", "k": "4", name: value})


def test_k_is_required() -> None:
    with pytest.raises(ClientError, match="Missing required hyperparameter.*k"):
        KMEANS.validate({"feature_dim": "3"})


def test_sdk_forms_of_eval_metrics_are_accepted() -> None:
    assert KMEANS.validate({"feature_dim": "3", "k": "2", "eval_metrics": "['msd', 'ssd']"}).eval_metrics == [
        "msd",
        "ssd",
    ]


def test_k_larger_than_the_data_fails_the_job(blobs) -> None:
    with pytest.raises(ClientError, match="k=2000 is larger than the number of training records"):
        _train(blobs, k="2000")


@pytest.mark.parametrize("init_method", ["random", "kmeans++"])
def test_well_separated_blobs_are_recovered(blobs, init_method) -> None:
    output, _ = _train(blobs, init_method=init_method, mini_batch_size="200")
    centroids = read_kmeans_model(output.model_tar_gz)
    nearest = np.linalg.norm(centroids[:, None] - CENTRES[None], axis=2).min(axis=0)
    assert centroids.shape == (4, 3) and nearest.max() < 0.3


def test_training_is_deterministic(blobs) -> None:
    first, _ = _train(blobs)
    second, _ = _train(blobs)
    assert first.model_tar_gz == second.model_tar_gz


def test_test_channel_metrics_are_reported_as_sagemaker_names_them(blobs) -> None:
    output, logs = _train(blobs, test=blobs[:100], eval_metrics='["msd", "ssd"]')
    centroids = read_kmeans_model(output.model_tar_gz)
    squared = (np.linalg.norm(blobs[:100, None] - centroids[None], axis=2) ** 2).min(axis=1)
    assert output.final_metrics["test:msd"] == pytest.approx(squared.mean(), rel=1e-4)
    assert output.final_metrics["test:ssd"] == pytest.approx(squared.sum(), rel=1e-4)
    assert any(line.startswith("#quality_metric: host=algo-1, test msd <loss>=") for line in logs)


def test_without_a_test_channel_no_final_metrics(blobs) -> None:
    output, logs = _train(blobs)
    assert output.final_metrics == {}
    assert "'extra_center_factor' was set to 'auto', evaluated to 10." in logs
    assert "shrinking 40 centers into 4" in logs


def test_a_stop_request_interrupts_training(blobs) -> None:
    config = KMEANS.validate({"feature_dim": "3", "k": "4"})
    with pytest.raises(TrainingStopped):
        KMEANS.train(config, blobs, None, print, lambda: True)


def test_served_cluster_is_the_nearest_centroid_at_euclidean_distance(blobs) -> None:
    output, _ = _train(blobs)
    centroids = read_kmeans_model(output.model_tar_gz)
    answer = KMEANS.load(output.model_tar_gz).predict(blobs[:50])
    distances = np.linalg.norm(blobs[:50, None] - centroids[None], axis=2)
    assert np.array_equal(answer["closest_cluster"].ravel(), distances.argmin(axis=1).astype("float32"))
    assert np.allclose(answer["distance_to_cluster"].ravel(), distances.min(axis=1), atol=1e-4)
