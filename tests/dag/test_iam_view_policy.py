"""The Segmentation view's AWS calls, recorded while it serves its pages, are exactly what
iam/segmentation-view-policy.json allows: nothing refused, nothing granted unused."""

from __future__ import annotations

import importlib.util
import json
import uuid

import boto3
import pytest
from fastapi.testclient import TestClient

from include.segmentation_aws.published_runs import PNG_MAGIC, SEGMENTS_HEADER
from tests.support.airflow_db import record_publication
from tests.support.iam.aws_calls import record_calls, requests_for
from tests.support.iam.evaluator import arn_like, evaluate, statements
from tests.support.iam.policies import Deployment, load
from tests.support.paths import PROJECT_ROOT
from tests.support.published_files import publish_files

pytestmark = pytest.mark.slow


def _view_module():
    path = PROJECT_ROOT / "plugins" / "segmentation_view.py"
    spec = importlib.util.spec_from_file_location("segmentation_view", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_views_calls_are_exactly_what_its_policy_allows(airflow_db, emulator, aws_env, monkeypatch) -> None:
    deployment = Deployment(Bucket=f"popseg-view-{uuid.uuid4().hex[:8]}")
    run_id = f"manual__{uuid.uuid4().hex[:8]}"
    prefix = f"{deployment.OutputPrefix}/runs/{run_id}/"
    s3 = boto3.client("s3", endpoint_url=emulator.endpoint_url, region_name="us-east-1")
    s3.create_bucket(Bucket=deployment.Bucket)
    files = {
        "report.html": b"<h1>report</h1>",
        "plots/segment_sizes.png": PNG_MAGIC + b"png",
        "segments.csv": SEGMENTS_HEADER + b"\nAlabama-Autauga,2,0.25,-0.5\n",
    }
    run = {"run_id": run_id, "rows": 10, "n_components": 2, "explained_variance": 0.85, "params": {"k": 3},
           "input": "s3://popseg/census/c.csv"}  # fmt: skip
    record_publication(publish_files(s3, run, f"s3://{deployment.Bucket}/{prefix}", files))

    view = _view_module()
    view.app.dependency_overrides[view.can_read_runs] = lambda: None  # access itself: test_segmentation_plugin
    client = TestClient(view.app)
    calls = record_calls(monkeypatch)
    pages = ("/", "report", "report.html", "plots/segment_sizes.png", "segments.csv")
    for page in pages:
        assert client.get(page if page == "/" else f"/runs/{run_id}/{page}").status_code == 200, page
    monkeypatch.undo()

    # The list page reads no S3 at all; the run's page checks the report its frame then reads; segments.csv is
    # read twice (hashed, then streamed).
    assert [c.operation for c in calls] == ["GetObject"] * 5
    policy = load("view", deployment)
    requests = [request for call in calls for request in requests_for(call, deployment.Account)]
    decisions = [evaluate(policy, request) for request in requests]
    assert [r.action for r, d in zip(requests, decisions, strict=True) if not d.allowed] == []
    for statement in statements(policy):
        used = [r for r, d in zip(requests, decisions, strict=True) if statement["Sid"] in d.allowed_by]
        resources = [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]
        assert used and all(any(arn_like(p, r.resource) for r in used) for p in resources), statement["Sid"]


def _published_report(s3) -> str:
    """A run whose report the view can serve; its run id."""
    bucket, run_id = f"popseg-view-{uuid.uuid4().hex[:8]}", f"manual__{uuid.uuid4().hex[:8]}"
    prefix = f"segmentation/runs/{run_id}/"
    s3.create_bucket(Bucket=bucket)
    run = {"run_id": run_id, "rows": 10, "n_components": 2, "explained_variance": 0.85, "params": {"k": 3},
           "input": "s3://popseg/census/c.csv"}  # fmt: skip
    record_publication(publish_files(s3, run, f"s3://{bucket}/{prefix}", {"report.html": b"<h1>report</h1>"}))
    return run_id


# A connection nothing answers on (the discard port): S3 read through it fails, naming this endpoint.
UNREACHABLE = "http://127.0.0.1:9"


def _connection_to(aws_env: dict, endpoint_url: str) -> str:
    connection = json.loads(aws_env["AIRFLOW_CONN_AWS_DEFAULT"])
    return json.dumps({**connection, "extra": {**connection["extra"], "endpoint_url": endpoint_url}})


def test_the_view_reads_s3_through_its_own_connection_when_its_variable_is_set(
    airflow_db, emulator, aws_env, monkeypatch
) -> None:
    run_id = _published_report(boto3.client("s3", endpoint_url=emulator.endpoint_url, region_name="us-east-1"))
    monkeypatch.setenv("AIRFLOW_CONN_POPSEG_DAG", _connection_to(aws_env, UNREACHABLE))
    monkeypatch.setenv("AIRFLOW_VAR_POPSEG_AWS_CONN_ID", "popseg_dag")
    monkeypatch.setenv("AIRFLOW_CONN_POPSEG_VIEW", _connection_to(aws_env, emulator.endpoint_url))
    monkeypatch.setenv("AIRFLOW_VAR_POPSEG_VIEW_AWS_CONN_ID", "popseg_view")
    view = _view_module()
    view.app.dependency_overrides[view.can_read_runs] = lambda: None
    assert TestClient(view.app).get(f"/runs/{run_id}/report").status_code == 200


def test_without_its_own_connection_the_view_reads_through_the_dags(airflow_db, emulator, aws_env, monkeypatch) -> None:
    run_id = _published_report(boto3.client("s3", endpoint_url=emulator.endpoint_url, region_name="us-east-1"))
    monkeypatch.setenv("AIRFLOW_CONN_POPSEG_DAG", _connection_to(aws_env, UNREACHABLE))
    monkeypatch.setenv("AIRFLOW_VAR_POPSEG_AWS_CONN_ID", "popseg_dag")
    monkeypatch.delenv("AIRFLOW_VAR_POPSEG_VIEW_AWS_CONN_ID", raising=False)
    view = _view_module()
    view.app.dependency_overrides[view.can_read_runs] = lambda: None
    answer = TestClient(view.app).get(f"/runs/{run_id}/report")
    assert answer.status_code == 502 and "EndpointConnectionError" in answer.json()["detail"]
    assert "127.0.0.1:9" in answer.json()["detail"]
