"""The built-in K-Means as the emulator runs it: hyperparameters, web-scale training, serving."""

from __future__ import annotations

import re

import numpy as np
import pytest

from aws_emulator.algorithms import ALGORITHMS
from aws_emulator.algorithms.base import ClientError, ModelLoadError, TrainingStopped
from aws_emulator.sagemaker.metrics import MetricScanner
from include.sagemaker_formats.artifacts import read_kmeans_model

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


def _final_metrics(logs: list[str]) -> dict[str, float]:
    """What FinalMetricDataList would list: the log read with the algorithm's metric definitions."""
    scanner = MetricScanner(KMEANS.metric_definitions)
    for line in logs:
        scanner.scan(line, 0.0)
    return {m["MetricName"]: m["Value"] for m in scanner.final_metric_data_list()}


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


def test_unknown_hyperparameters_are_refused_and_container_settings_accepted() -> None:
    with pytest.raises(ClientError, match="Unknown hyperparameter.*center_factor"):
        KMEANS.validate({"feature_dim": "3", "k": "4", "center_factor": "5"})
    assert KMEANS.validate({"feature_dim": "3", "k": "4", "_kvstore": "local", "force_dense": "True"}).force_dense


def test_feature_dim_that_disagrees_with_the_data_fails_naming_both(blobs) -> None:
    config = KMEANS.validate({"feature_dim": "5", "k": "4"})
    with pytest.raises(ClientError, match="feature_dim=5 does not match the train data.*3 features"):
        KMEANS.train(config, blobs, None, print, lambda: False)


def test_too_few_distinct_points_for_k_fails_the_job() -> None:
    with pytest.raises(ClientError, match="only 1 distinct centres were found for k=2"):
        _train(np.ones((50, 3), dtype="float32"), k="2")


def test_k_larger_than_the_data_fails_the_job(blobs) -> None:
    with pytest.raises(ClientError, match="k=2000 is larger than the number of training records"):
        _train(blobs, k="2000")


@pytest.mark.parametrize("init_method", ["random", "kmeans++"])
def test_well_separated_blobs_are_recovered(blobs, init_method) -> None:
    output, _ = _train(blobs, init_method=init_method, mini_batch_size="200")
    centroids = read_kmeans_model(output.model_tar_gz)
    nearest = np.linalg.norm(centroids[:, None] - CENTRES[None], axis=2).min(axis=0)
    assert centroids.shape == (4, 3) and nearest.max() < 0.3


@pytest.mark.parametrize(
    "hyperparameters",
    [
        {"half_life_time_size": "300"},
        {"epochs": "3"},
        {"extra_center_factor": "3", "local_lloyd_num_trials": "2", "local_lloyd_init_method": "random"},
    ],
)
def test_blobs_are_recovered_with_other_settings(blobs, hyperparameters) -> None:
    shuffled = blobs[np.random.default_rng(1).permutation(len(blobs))]
    output, _ = _train(shuffled, mini_batch_size="100", **hyperparameters)
    centroids = read_kmeans_model(output.model_tar_gz)
    assert np.linalg.norm(centroids[:, None] - CENTRES[None], axis=2).min(axis=0).max() < 0.3


def test_an_extra_center_factor_of_one_needs_no_shrinking(blobs) -> None:
    _, logs = _train(blobs, extra_center_factor="1", init_method="kmeans++")
    assert "No shrinking is required as extra_center_factor is 1." in logs
    assert not any(line.startswith("shrinking") for line in logs)


def test_training_is_deterministic(blobs) -> None:
    first, _ = _train(blobs)
    second, _ = _train(blobs)
    assert first.model_tar_gz == second.model_tar_gz


def test_test_channel_metrics_are_reported_as_sagemaker_names_them(blobs) -> None:
    output, logs = _train(blobs, test=blobs[:100], eval_metrics='["msd", "ssd"]')
    centroids = read_kmeans_model(output.model_tar_gz).astype("float64")
    squared = (np.linalg.norm(blobs[:100, None] - centroids[None], axis=2) ** 2).min(axis=1)
    metrics = _final_metrics(logs)
    assert metrics["test:msd"] == pytest.approx(squared.mean(), rel=1e-9)
    assert metrics["test:ssd"] == pytest.approx(squared.sum(), rel=1e-9)
    assert any(line.startswith("#quality_metric: host=algo-1, test msd <loss>=") for line in logs)
    assert any(line.startswith("#test_score (algo-1) : ('ssd', ") for line in logs)


def test_only_the_requested_eval_metrics_are_reported(blobs) -> None:
    _, logs = _train(blobs, test=blobs[:100], eval_metrics='["ssd"]')
    assert "test:ssd" in _final_metrics(logs) and "test:msd" not in _final_metrics(logs)
    assert not any("test msd" in line for line in logs)


def test_train_msd_is_the_best_shrinking_attempt_as_logged(blobs) -> None:
    _, logs = _train(blobs)
    attempts = [float(line.rsplit(" ", 1)[1]) for line in logs if line.startswith("local kmeans attempt #")]
    quality = logs.index(next(line for line in logs if line.startswith("#quality_metric: host=algo-1, train msd")))
    assert len(attempts) == 10
    assert logs[quality - 1] == "finished shrinking process. Mean Square Distance = 0"
    assert _final_metrics(logs)["train:msd"] == pytest.approx(min(attempts), abs=1e-6)


def test_the_shrinking_lines_come_in_the_built_ins_order(blobs) -> None:
    _, logs = _train(blobs)
    shrinking = logs.index("shrinking 40 centers into 4")
    assert logs[shrinking - 1].startswith("#throughput_metric: host=algo-1, train throughput=")
    assert logs[shrinking + 1].startswith("local kmeans attempt #0. Current mean square distance ")


def test_every_metric_definition_captures_a_number_from_the_log(blobs) -> None:
    _, logs = _train(blobs, test=blobs[:100], eval_metrics='["msd", "ssd"]')
    text = "\n".join(logs)
    for definition in KMEANS.metric_definitions:
        found = re.search(definition["Regex"], text)
        assert found, definition["Name"]
        float(found.group(1))


def test_the_log_shows_the_jobs_hyperparameters_and_the_merged_configuration(blobs) -> None:
    _, logs = _train(blobs)
    assert logs[1].endswith("hyperparameters.json: {'feature_dim': '3', 'k': '4'}")
    assert logs[2].startswith("Final configuration: {'init_method': 'random', 'mini_batch_size': '5000'")
    assert (
        "Batch size 5000 is bigger than the first batch data. Effective batch size used to initialize is 1000" in logs
    )


def test_without_a_test_channel_only_train_metrics_are_reported(blobs) -> None:
    _, logs = _train(blobs)
    assert set(_final_metrics(logs)) == {"train:msd", "train:progress", "train:throughput"}
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


def test_an_unloadable_artifact_is_a_model_load_error() -> None:
    with pytest.raises(ModelLoadError, match="cannot load the K-Means model"):
        KMEANS.load(b"not a tarball")


def test_train_msd_is_the_best_local_attempts_as_the_container_reports_it(blobs) -> None:
    _, logs = _train(blobs)
    attempts = [float(line.rsplit(" ", 1)[1]) for line in logs if line.startswith("local kmeans attempt #")]
    reported = next(line for line in logs if line.startswith("#quality_metric: host=algo-1, train msd <loss>="))
    assert len(attempts) == 10
    assert float(reported.rsplit("=", 1)[1]) == pytest.approx(min(attempts), abs=1e-6)
