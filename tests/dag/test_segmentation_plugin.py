"""The Segmentation view: Airflow loads the plugin, and a real api-server serves its pages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT
from tests.dag.conftest import http_get, running_api_server

pytestmark = pytest.mark.slow


def _airflow_env(aws_env: dict, **extra: str) -> dict:
    return {**os.environ, **aws_env, "PYTHONPATH": str(PROJECT_ROOT), **extra}


def test_airflow_lists_the_plugin_with_its_view(airflow_db, aws_env) -> None:
    listed = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "plugins", "--output", "json"],
        check=True, capture_output=True, text=True, env=_airflow_env(aws_env),
    ).stdout  # fmt: skip
    plugin = next(p for p in json.loads(listed[listed.index("[") :]) if p["name"] == "popseg_segmentation")
    assert "Segmentation" in str(plugin["external_views"]) and "/segmentation" in str(plugin["fastapi_apps"])


@pytest.fixture
def published(clients) -> tuple[str, str]:
    """A bucket with one published run (its run.json and report)."""
    s3 = clients["s3"]
    bucket, run_id = f"popseg-view-{uuid.uuid4().hex[:8]}", "manual__2026-11-23T02:00:00+00:00"
    s3.create_bucket(Bucket=bucket)
    run = {"run_id": run_id, "rows": 3218, "n_components": 7, "explained_variance": 0.8017, "params": {"k": 8}}
    s3.put_object(Bucket=bucket, Key=f"segmentation/runs/{run_id}/run.json", Body=json.dumps(run).encode())
    s3.put_object(Bucket=bucket, Key=f"segmentation/runs/{run_id}/report.html", Body=b"<h1>the report</h1>")
    return bucket, run_id


def test_the_api_server_serves_the_runs_and_each_report(airflow_db, aws_env, published, tmp_path) -> None:
    bucket, run_id = published
    with running_api_server(aws_env, tmp_path, AIRFLOW_VAR_POPSEG_RESULTS_BUCKET=bucket) as base:
        status, page = http_get(f"{base}/segmentation/")
        assert status == 200, page
        assert run_id.encode() in page and b"3,218" in page and b"0.8017" in page
        status, report = http_get(f"{base}/segmentation/runs/{run_id}/report")
        assert (status, report) == (200, b"<h1>the report</h1>")
        assert http_get(f"{base}/segmentation/runs/{run_id}/plots/missing.png")[0] == 404
