"""One emulator for the emulator tests, reached only over HTTP with boto3 and the provider's hooks."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import boto3
import numpy as np
import pytest

from aws_emulator.connection import credentials_env
from aws_emulator.server import Emulator
from include.sagemaker_formats.recordio import encode_dense
from tests.support.response_shapes import ResponseShapes
from tests.support.sagemaker_requests import PCA_IMAGE, REGION, deploy, training_request, wait_for_job


@pytest.fixture(scope="session", autouse=True)
def dummy_credentials() -> None:
    for key, value in credentials_env(REGION).items():
        os.environ.setdefault(key, value)


@pytest.fixture(scope="session", autouse=True)
def response_shapes_hook() -> Iterator[ResponseShapes]:
    """Installed before the shared fixtures (session-scoped) make their jobs and endpoints."""
    with ResponseShapes() as shapes:
        yield shapes


@pytest.fixture(scope="package", autouse=True)
def _response_shapes_hook_ends_with_this_package(response_shapes_hook) -> Iterator[None]:
    """The hook is for these tests: the suites that run after them get botocore as it is."""
    yield
    response_shapes_hook.uninstall()


@pytest.fixture(autouse=True)
def responses_fit_botocore_shapes(response_shapes_hook) -> Iterator[ResponseShapes]:
    """Every SageMaker answer fits botocore's output shape: checked after each test, with the answers of the
    shared fixtures it set up (pca_job, pca_endpoint...)."""
    yield response_shapes_hook
    try:
        response_shapes_hook.assert_fit()
    finally:
        response_shapes_hook.errors.clear()
        response_shapes_hook.calls.clear()


def _client(emulator: Emulator, service: str):
    return boto3.client(service, endpoint_url=emulator.endpoint_url, region_name=REGION)


@pytest.fixture(scope="session")
def sagemaker(emulator):
    return _client(emulator, "sagemaker")


@pytest.fixture(scope="session")
def runtime(emulator):
    return _client(emulator, "sagemaker-runtime")


@pytest.fixture(scope="session")
def s3(emulator):
    return _client(emulator, "s3")


@pytest.fixture(scope="session")
def logs(emulator):
    return _client(emulator, "logs")


@pytest.fixture(scope="session")
def bucket(s3) -> str:
    name = "popseg-emulator-tests"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Names no other test uses: `unique("pca")` -> `pca-1a2b3c4d`."""
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def pca_data(s3, bucket) -> tuple[np.ndarray, str]:
    """(rows (600, 6) float32, S3 prefix holding them as RecordIO-protobuf in two objects)."""
    rng = np.random.default_rng(7)
    rows = (rng.normal(size=(600, 6)) * [4, 3, 2, 1, 0.5, 0.1]).astype("float32")
    s3.put_object(Bucket=bucket, Key="pca/train/part-0.rec", Body=encode_dense(rows[:300]))
    s3.put_object(Bucket=bucket, Key="pca/train/part-1.rec", Body=encode_dense(rows[300:]))
    return rows, f"s3://{bucket}/pca/train/"


@pytest.fixture(scope="session")
def pca_job(sagemaker, pca_data, bucket) -> dict:
    """A completed PCA job on `pca_data` (3 components)."""
    name = f"pca-shared-{uuid.uuid4().hex[:6]}"
    hyperparameters = {"feature_dim": "6", "mini_batch_size": "100", "num_components": "3"}
    sagemaker.create_training_job(
        **training_request(name, PCA_IMAGE, hyperparameters, pca_data[1], f"s3://{bucket}/models/")
    )
    return wait_for_job(sagemaker, name)


@pytest.fixture(scope="session")
def pca_endpoint(sagemaker, pca_job) -> str:
    return deploy(
        sagemaker, f"pca-endpoint-{uuid.uuid4().hex[:6]}", PCA_IMAGE, pca_job["ModelArtifacts"]["S3ModelArtifacts"]
    )
