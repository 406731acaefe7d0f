"""The SageMaker Python SDK v2's `KMeans` estimator against the emulator, as the notebooks use it: its `fit`
shows the job's metric lines and its metrics come back from DescribeTrainingJob and `training_job_analytics`."""

from __future__ import annotations

import json

import pytest

from aws_emulator.connection import ROLE_ARN
from tests.support.paths import PROJECT_ROOT
from tests.support.sdk_v2 import run_with_sdk_v2

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
