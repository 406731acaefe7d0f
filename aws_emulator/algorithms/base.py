"""What a built-in algorithm gives the emulator: validation, training and inference, free of HTTP.

INTERFACE: the training runner and the runtime call only these names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


class ClientError(Exception):
    """The user's input is wrong (hyperparameters, data). The job fails with `ClientError: <message>`."""


class TrainingStopped(Exception):
    """Raised by `train` when `should_stop()` turned true (StopTrainingJob or MaxRuntimeInSeconds)."""


class ModelLoadError(Exception):
    """A model artifact the endpoint cannot serve; the endpoint goes `Failed` with this message."""


PROGRESS_METRICS: tuple[dict[str, str], ...] = (
    {"Name": "train:progress", "Regex": r"#progress_metric: host=\S+, completed (\S+) %"},
    {"Name": "train:throughput", "Regex": r"#throughput_metric: host=\S+, train throughput=(\S+) records/second"},
)
"""The metrics both built-ins report as training ends, as DescribeTrainingJob defines them; `progress_lines`
writes the log lines they read."""


def progress_lines(records: int, seconds: float) -> list[str]:
    """The container's closing progress and throughput lines, for `records` trained in `seconds`."""
    throughput = records / max(seconds, 1e-6)
    return [
        "#progress_metric: host=algo-1, completed 100.0 % of epochs",
        f"#throughput_metric: host=algo-1, train throughput={throughput} records/second",
    ]


@dataclass
class TrainingOutput:
    """model_tar_gz: the artifact in SageMaker's format. Metrics are not returned: the algorithm writes
    them to its log, and the training runner reads them with `metric_definitions`, as SageMaker does."""

    model_tar_gz: bytes


class Predictor(Protocol):
    feature_dim: int

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """x: (n_rows, feature_dim) float32 -> label key -> (n_rows, width) float32.

        PCA: {"projection": (n, num_components)}; K-Means: {"closest_cluster": (n, 1),
        "distance_to_cluster": (n, 1)}.
        """
        ...


class Algorithm(Protocol):
    name: str  # "pca" or "kmeans", the ECR repository name
    metric_definitions: list[dict[str, str]]  # as DescribeTrainingJob shows them for the built-in

    def validate(self, hyperparameters: dict[str, str]) -> Any:
        """Parse and check hyperparameters (strings) into a config; raise ClientError naming the bad one."""
        ...

    def train(
        self,
        config: Any,
        train: np.ndarray,
        test: np.ndarray | None,
        log: Callable[[str], None],
        should_stop: Callable[[], bool],
    ) -> TrainingOutput:
        """train/test: (n_rows, feature_dim) float32. `log` writes one container log line."""
        ...

    def load(self, model_tar_gz: bytes) -> Predictor:
        """Load an artifact for serving; raise ModelLoadError when it cannot be served."""
        ...
