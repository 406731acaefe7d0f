"""The built-in algorithms the emulator trains and serves, chosen by the image's ECR repository."""

from __future__ import annotations

import re

from aws_emulator.algorithms.base import Algorithm, ClientError, ModelLoadError, TrainingStopped
from aws_emulator.algorithms.kmeans import KMeansAlgorithm
from aws_emulator.algorithms.pca import PCAAlgorithm

ALGORITHMS: dict[str, Algorithm] = {"pca": PCAAlgorithm(), "kmeans": KMeansAlgorithm()}

# <registry>/<repository>:<tag> or <registry>/<repository>@sha256:<digest>
_IMAGE = re.compile(r"^(?:[^/]+/)*(?P<repository>[a-z0-9._-]+)(?::[\w.-]+|@sha256:[0-9a-f]+)?$")

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "ClientError",
    "ModelLoadError",
    "TrainingStopped",
    "algorithm_for_image",
]


def algorithm_for_image(image: str) -> Algorithm:
    """The built-in behind an image URI such as `382416733822.dkr.ecr.us-east-1.amazonaws.com/pca:1`."""
    match = _IMAGE.match(image.strip())
    algorithm = ALGORITHMS.get(match.group("repository")) if match else None
    if algorithm is None:
        raise ClientError(
            f"Image {image!r} is not a built-in algorithm this emulator runs (supported repositories: pca, kmeans)"
        )
    return algorithm
