"""The SageMaker Python SDK v2 against the emulator, as the notebooks use it: the `KMeans` estimator's `fit`
shows the job's metric lines and its metrics come back from DescribeTrainingJob and `training_job_analytics`;
the `PCA` estimator's `transformer(...).transform(...)` and `.wait()` run a batch transform whose `.out`
files hold what the endpoint answers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aws_emulator.connection import ROLE_ARN
from tests.support.paths import PROJECT_ROOT
from tests.support.sagemaker_requests import PCA_IMAGE, deploy
from tests.support.sdk_v2 import run_with_sdk_v2
from tests.support.transform_jobs import endpoint_projection, jsonlines_projection

pytestmark = pytest.mark.slow

SCRIPT = PROJECT_ROOT / "tests" / "support" / "sdk_v2_kmeans.py"


@pytest.fixture(scope="module")
def sdk_run(emulator) -> tuple[list[str], dict]:
    """(the fit's output lines, the RESULT document) of one SDK v2 K-Means fit with a test channel."""
    output = run_with_sdk_v2(SCRIPT, emulator.endpoint_url, ROLE_ARN, "popseg-sdk-v2")
    lines = output.splitlines()
    result = json.loads(next(line for line in lines if line.startswith("RESULT "))[len("RESULT ") :])
    return lines, result


def test_fit_shows_the_jobs_metric_lines_as_on_aws(sdk_run) -> None:
    lines, _ = sdk_run
    for prefix in (
        "#quality_metric: host=algo-1, train msd <loss>=",
        "#quality_metric: host=algo-1, test msd <loss>=",
        "#quality_metric: host=algo-1, test ssd <loss>=",
    ):
        assert any(line.startswith(prefix) for line in lines), prefix
    assert any("Completed - Training job completed" in line for line in lines)


def test_describe_training_job_returns_the_metrics_the_fit_logged(sdk_run) -> None:
    lines, result = sdk_run
    logged = {
        f"{split}:{name}": float(line.split("<loss>=", 1)[1])
        for line in lines
        for split, name in (("train", "msd"), ("test", "msd"), ("test", "ssd"))
        if line.startswith(f"#quality_metric: host=algo-1, {split} {name} <loss>=")
    }
    assert {name: result["final"][name] for name in logged} == logged


def test_training_job_analytics_returns_the_final_metrics(sdk_run) -> None:
    _, result = sdk_run
    analytics = {row["metric_name"]: row["value"] for row in result["analytics"]}
    assert analytics == pytest.approx(result["final"])
    assert {"test:msd", "test:ssd", "train:msd"} <= set(analytics)


TRANSFORM_SCRIPT = PROJECT_ROOT / "tests" / "support" / "sdk_v2_transform.py"


@pytest.fixture(scope="module")
def sdk_transform(emulator) -> dict:
    """The RESULT document of one SDK v2 `pca.transformer(...).transform(...)` then `.wait()`."""
    output = run_with_sdk_v2(TRANSFORM_SCRIPT, emulator.endpoint_url, ROLE_ARN, "popseg-sdk-v2-transform")
    return json.loads(next(line for line in output.splitlines() if line.startswith("RESULT "))[len("RESULT ") :])


def test_transformer_wait_returns_on_a_completed_job(sdk_transform, sagemaker) -> None:
    described = sagemaker.describe_transform_job(TransformJobName=sdk_transform["transform_job"])
    assert described["TransformJobStatus"] == "Completed"
    assert described["TransformInput"]["SplitType"] == "Line"


def test_transformer_out_files_parse_as_the_endpoints_answers(sdk_transform, sagemaker, s3, runtime) -> None:
    bucket = sdk_transform["output_path"].split("/")[2]
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix="batch/output/")["Contents"]]
    assert keys == ["batch/output/part-0.csv.out", "batch/output/part-1.csv.out"]
    body = b"".join(s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys)
    artifact = sagemaker.describe_training_job(TrainingJobName=sdk_transform["training_job"])["ModelArtifacts"]
    endpoint = deploy(sagemaker, "sdk-v2-transform-oracle", PCA_IMAGE, artifact["S3ModelArtifacts"])
    rows = np.array(sdk_transform["rows"], dtype="float32")
    np.testing.assert_array_equal(jsonlines_projection(body), endpoint_projection(runtime, endpoint, rows))
