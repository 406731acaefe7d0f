"""The built-in PCA as the emulator runs it: hyperparameters, exact and randomized modes, serving."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from aws_emulator.algorithms import ALGORITHMS, algorithm_for_image
from aws_emulator.algorithms.base import ClientError, ModelLoadError, TrainingStopped
from include.sagemaker_formats.artifacts import read_pca_model

PCA = ALGORITHMS["pca"]
REQUIRED = {"feature_dim": "5", "mini_batch_size": "100", "num_components": "3"}


def _train(x: np.ndarray, **hyperparameters: str):
    config = PCA.validate({**REQUIRED, "feature_dim": str(x.shape[1]), **hyperparameters})
    logs: list[str] = []
    output = PCA.train(config, x.astype("float32"), None, logs.append, lambda: False)
    return read_pca_model(output.model_tar_gz), logs


@pytest.fixture
def data() -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.normal(size=(400, 5)) * [5, 3, 2, 1, 0.5]).astype("float32")


def test_the_image_repository_chooses_the_algorithm() -> None:
    assert algorithm_for_image("382416733822.dkr.ecr.us-east-1.amazonaws.com/pca:1") is PCA
    assert algorithm_for_image("390948362332.dkr.ecr.cn-north-1.amazonaws.com.cn/pca@sha256:ab12") is PCA
    assert algorithm_for_image("localhost:5000/kmeans:1").name == "kmeans"


def test_an_unknown_image_is_a_client_error_naming_it() -> None:
    with pytest.raises(ClientError, match=r"'123.dkr.ecr.us-east-1.amazonaws.com/xgboost:1'.*pca, kmeans"):
        algorithm_for_image("123.dkr.ecr.us-east-1.amazonaws.com/xgboost:1")


def test_defaults_are_applied() -> None:
    config = PCA.validate(REQUIRED)
    assert (config.algorithm_mode, config.subtract_mean, config.extra_components) == ("regular", True, -1)


@pytest.mark.parametrize("missing", ["feature_dim", "mini_batch_size", "num_components"])
def test_required_hyperparameters_are_named_when_missing(missing) -> None:
    with pytest.raises(ClientError, match=f"Missing required hyperparameter.*{missing}"):
        PCA.validate({k: v for k, v in REQUIRED.items() if k != missing})


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("algorithm_mode", "fast", "one of 'regular', 'randomized'"),
        ("subtract_mean", "yes", "'true' or 'false'"),
        ("num_components", "0", r"an integer in \[1"),
        ("extra_components", "-2", r"an integer in \[-1"),
        ("mini_batch_size", "ten", "an integer"),
    ],
)
def test_bad_values_are_refused_naming_parameter_value_and_expectation(name, value, expected) -> None:
    with pytest.raises(ClientError, match=rf"{name}='{value}': expected {expected}"):
        PCA.validate({**REQUIRED, name: value})


def test_sdk_style_booleans_and_container_settings_are_accepted() -> None:
    config = PCA.validate({**REQUIRED, "subtract_mean": "True", "force_dense": "True", "_log_level": "info"})
    assert config.subtract_mean is True


def test_unknown_hyperparameters_are_refused() -> None:
    with pytest.raises(ClientError, match="Unknown hyperparameter.*num_comps"):
        PCA.validate({**REQUIRED, "num_comps": "2"})


def test_more_components_than_features_is_refused() -> None:
    with pytest.raises(ClientError, match="num_components=6: must not exceed feature_dim=5"):
        PCA.validate({**REQUIRED, "num_components": "6"})


def test_feature_dim_that_disagrees_with_the_data_fails_naming_both(data) -> None:
    config = PCA.validate({**REQUIRED, "feature_dim": "4"})
    with pytest.raises(ClientError, match="feature_dim=4 does not match the train data.*5 features"):
        PCA.train(config, data, None, print, lambda: False)


def test_regular_mode_is_the_exact_pca_of_the_centred_data(data) -> None:
    model, _ = _train(data)
    centred = data.astype("float64") - data.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    assert np.allclose(model.singular_values, s[:3], rtol=1e-5)
    assert np.allclose(np.abs(model.components), np.abs(vt[:3].T), atol=1e-5)
    assert np.allclose(model.mean, data.mean(axis=0), atol=1e-6)
    assert np.all(np.diff(model.s) >= 0)  # stored ascending


def test_subtract_mean_false_keeps_a_zero_mean(data) -> None:
    model, _ = _train(data + 10, subtract_mean="false")
    assert np.array_equal(model.mean, np.zeros((1, 5), dtype="float32"))


def test_subtract_mean_false_gives_the_singular_values_of_the_raw_data(data) -> None:
    model, _ = _train(data + 10, subtract_mean="false")
    s = np.linalg.svd(data.astype("float64") + 10, compute_uv=False)
    assert np.allclose(model.singular_values, s[:3], rtol=1e-5)


def test_each_axis_has_its_largest_weight_positive(data) -> None:
    model, _ = _train(-data)
    largest = model.v[np.abs(model.v).argmax(axis=0), np.arange(model.v.shape[1])]
    assert np.all(largest > 0)


def test_randomized_mode_approximates_exact_on_low_rank_data() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2000, 3)) @ rng.normal(size=(3, 20)) + 0.01 * rng.normal(size=(2000, 20))
    exact, _ = _train(x, num_components="3")
    randomized, _ = _train(x, num_components="3", algorithm_mode="randomized")
    assert np.allclose(randomized.singular_values, exact.singular_values, rtol=1e-3)


def test_randomized_mode_finds_the_exact_axes_on_low_rank_data() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3000, 4)) @ rng.normal(size=(4, 30)) + 0.001 * rng.normal(size=(3000, 30))
    exact, _ = _train(x, num_components="4")
    randomized, _ = _train(x, num_components="4", algorithm_mode="randomized", extra_components="0")
    assert np.allclose(np.abs(randomized.components.T @ exact.components), np.eye(4), atol=1e-4)
    assert np.allclose(randomized.mean, exact.mean, atol=1e-6)


@pytest.mark.parametrize("mode", ["regular", "randomized"])
def test_same_data_same_model(data, mode) -> None:
    first, _ = _train(data, algorithm_mode=mode)
    second, _ = _train(data, algorithm_mode=mode)
    assert np.array_equal(first.v, second.v) and np.array_equal(first.s, second.s)


def test_training_logs_like_the_container(data) -> None:
    _, logs = _train(data)
    assert any(line.startswith("#metrics {") for line in logs)
    assert "#progress_metric: host=algo-1, completed 100.0 % of epochs" in logs
    assert "Test data is not provided." in logs


def test_the_log_shows_defaults_the_jobs_hyperparameters_and_the_merged_configuration(data) -> None:
    config = PCA.validate({**REQUIRED, "_log_level": "debug"})
    logs: list[str] = []
    PCA.train(config, data, None, logs.append, lambda: False)
    assert logs[0].startswith("Reading default configuration from ") and "'algorithm_mode': 'regular'" in logs[0]
    assert logs[1] == (
        "Merging with provided configuration from /opt/ml/input/config/hyperparameters.json: "
        "{'feature_dim': '5', 'mini_batch_size': '100', 'num_components': '3', '_log_level': 'debug'}"
    )
    assert logs[2].startswith("Final configuration: ") and "'_log_level': 'debug'" in logs[2]
    assert "'subtract_mean': 'true'" in logs[2]


def test_every_metric_definition_captures_a_number_from_the_log(data) -> None:
    _, logs = _train(data)
    text = "\n".join(logs)
    for definition in PCA.metric_definitions:
        found = re.search(definition["Regex"], text)
        assert found, definition["Name"]
        float(found.group(1))


def test_a_test_channel_of_another_width_is_refused(data) -> None:
    config = PCA.validate(REQUIRED)
    with pytest.raises(ClientError, match="feature_dim=5 does not match the test data.*4 features"):
        PCA.train(config, data, data[:, :4], print, lambda: False)


def test_an_empty_train_channel_is_refused() -> None:
    config = PCA.validate(REQUIRED)
    with pytest.raises(ClientError, match="The train channel holds no records"):
        PCA.train(config, np.zeros((0, 5), dtype="float32"), None, print, lambda: False)


@pytest.mark.parametrize("mode", ["regular", "randomized"])
def test_a_stop_request_interrupts_training(data, mode) -> None:
    config = PCA.validate({**REQUIRED, "algorithm_mode": mode})
    with pytest.raises(TrainingStopped):
        PCA.train(config, data, None, print, lambda: True)


def test_served_projection_is_x_minus_mean_times_v_in_stored_order(data) -> None:
    config = PCA.validate(REQUIRED)
    output = PCA.train(config, data, None, lambda _: None, lambda: False)
    predictor = PCA.load(output.model_tar_gz)
    model = read_pca_model(output.model_tar_gz)
    projection = predictor.predict(data[:4])["projection"]
    assert projection.shape == (4, 3)
    assert np.allclose(projection, (data[:4] - model.mean) @ model.v, atol=1e-5)


def test_an_unloadable_artifact_is_a_model_load_error() -> None:
    with pytest.raises(ModelLoadError, match="cannot load the PCA model"):
        PCA.load(b"not a tarball")


def test_real_census_gives_the_notebook_singular_values(census_csv) -> None:
    frame = pd.read_csv(census_csv).dropna().drop(columns=["CensusId", "State", "County"])
    scaled = ((frame - frame.min()) / (frame.max() - frame.min())).to_numpy("float32")
    model, _ = _train(scaled, num_components="33", mini_batch_size="500")
    top = [19.592184, 13.035982, 11.718245, 10.180057, 7.991313, 7.695218, 6.392514]
    assert np.allclose(model.singular_values[:7], top, atol=1e-3)
    shares = model.singular_values**2 / np.sum(model.singular_values**2)
    assert shares[:7].sum() == pytest.approx(0.8017, abs=0.0005)
