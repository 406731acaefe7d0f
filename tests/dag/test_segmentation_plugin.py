"""The Segmentation view: Airflow loads the plugin, and a real api-server serves it only to who may read the DAG."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from include.segmentation_aws.published_runs import PNG_MAGIC, run_summary
from tests.conftest import PROJECT_ROOT
from tests.dag.conftest import api_token, http_get, http_response, record_publication, running_api_server

pytestmark = pytest.mark.slow

RUN_ID = "manual__2026-11-23T02:00:00+00:00"
HOSTILE = "<script>alert(1)</script>"
SEGMENTS_CSV = b"State-County,segment,distance,c_1\nAlabama-Autauga,2,0.25,-0.5\n"


def _airflow_env(aws_env: dict, **extra: str) -> dict:
    return {**os.environ, **aws_env, "PYTHONPATH": str(PROJECT_ROOT), **extra}


def test_airflow_lists_the_plugin_with_its_view(airflow_db, aws_env) -> None:
    listed = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "plugins", "--output", "json"],
        check=True,
        capture_output=True,
        text=True,
        env=_airflow_env(aws_env),
    ).stdout
    plugin = next(p for p in json.loads(listed[listed.index("[") :]) if p["name"] == "popseg_segmentation")
    assert "/segmentation" in str(plugin["fastapi_apps"])
    views = {view["destination"]: view for view in plugin["external_views"]}
    # The nav entry: a name short enough not to be cut off, and its own icon (the nav loads it in an <img>).
    assert views["nav"]["name"] == "Segments" and views["nav"]["href"] == "/segmentation/"
    assert all(views["nav"][key].startswith("data:image/svg+xml,") for key in ("icon", "icon_dark_mode"))
    # Each run's page gets a "Report" tab; the UI fills in {RUN_ID}.
    assert views["dag_run"]["name"] == "Report"
    assert views["dag_run"]["href"] == "/segmentation/runs/{RUN_ID}/report"


@pytest.fixture
def published(airflow_db, clients) -> dict[str, str]:
    """Two published runs in two buckets/prefixes, and planted events a hostile writer could make."""
    s3 = clients["s3"]
    bucket, other = (f"popseg-view-{uuid.uuid4().hex[:8]}" for _ in range(2))
    runs = {RUN_ID: (bucket, "segmentation/"), f"{RUN_ID}-other": (other, "teams/a/")}
    for run_id, (name, prefix) in runs.items():
        s3.create_bucket(Bucket=name)
        results = f"s3://{name}/{prefix}runs/{run_id}/"
        run = {"run_id": run_id, "rows": 3218, "n_components": 7, "explained_variance": 0.8017, "params": {"k": 8}}
        record_publication(run_summary(run, results))
        key = f"{prefix}runs/{run_id}/"
        s3.put_object(Bucket=name, Key=key + "report.html", Body=f"<h1>report of {run_id}</h1>".encode())
        s3.put_object(Bucket=name, Key=key + "plots/segment_sizes.png", Body=PNG_MAGIC + b"image")
        # The other run's segments.csv is not a segments table: refused, not served as one.
        table = SEGMENTS_CSV if run_id == RUN_ID else HOSTILE.encode()
        s3.put_object(Bucket=name, Key=key + "segments.csv", Body=table)
        s3.put_object(Bucket=name, Key=key + "plots/not_an_image.png", Body=HOSTILE.encode())
    hostile = run_summary({**run, "run_id": "manual__hostile"}, f"s3://{bucket}/x/runs/manual__hostile/")
    record_publication({**hostile, "n_components": HOSTILE, "k": HOSTILE})  # refused: not counts
    record_publication(
        run_summary({**run, "run_id": "manual__posted"}, f"s3://{bucket}/x/runs/manual__posted/"),
        task_id="someone-else",
    )
    return {"bucket": bucket, "other": other}


def test_every_route_needs_read_access_to_the_dags_runs(aws_env, published, tmp_path) -> None:
    routes = [
        "/segmentation/",
        f"/segmentation/runs/{RUN_ID}/report",
        f"/segmentation/runs/{RUN_ID}/plots/segment_sizes.png",
        f"/segmentation/runs/{RUN_ID}/segments.csv",
    ]
    with running_api_server(aws_env, tmp_path) as base:
        viewer, nobody = api_token(base, "viewer"), api_token(base, "nobody")
        for route in routes:
            assert http_get(base + route)[0] == 401, route
            assert http_get(base + route, {"Authorization": f"Bearer {nobody}"})[0] == 403, route
            assert http_get(base + route, {"Cookie": f"_token={nobody}"})[0] == 403, route
            assert http_get(base + route, {"Authorization": "Bearer not-a-token"})[0] in (401, 403), route
        for headers in ({"Authorization": f"Bearer {viewer}"}, {"Cookie": f"_token={viewer}"}):
            assert http_get(f"{base}/segmentation/", headers)[0] == 200
            assert http_get(f"{base}/segmentation/runs/{RUN_ID}/report", headers)[0] == 200
        # The view's API docs are not served at all, to anyone.
        for route in ("/segmentation/docs", "/segmentation/redoc", "/segmentation/openapi.json"):
            assert http_get(base + route)[0] == 404, route
            assert http_get(base + route, {"Authorization": f"Bearer {viewer}"})[0] == 404, route


def test_a_viewer_sees_the_published_runs_and_their_reports_wherever_they_were_published(
    aws_env, published, tmp_path
) -> None:
    with running_api_server(aws_env, tmp_path) as base:
        auth = {"Authorization": f"Bearer {api_token(base, 'viewer')}"}
        status, headers, page = http_response(f"{base}/segmentation/", auth)
        assert status == 200, page
        text = page.decode()
        assert RUN_ID in text and f"{RUN_ID}-other" in text and "3,218" in text and "0.8017" in text
        assert f"s3://{published['other']}/teams/a/runs/" in text
        assert "<script" not in text and "manual__hostile" not in text and "manual__posted" not in text
        assert "script-src" not in headers["content-security-policy"] and headers["x-content-type-options"] == "nosniff"

        for run_id in (RUN_ID, f"{RUN_ID}-other"):
            status, headers, report = http_response(f"{base}/segmentation/runs/{run_id}/report", auth)
            assert (status, report) == (200, f"<h1>report of {run_id}</h1>".encode())
            policy = headers["content-security-policy"]
            assert policy.startswith("sandbox allow-scripts allow-downloads;") and "connect-src 'none'" in policy
            assert headers["x-content-type-options"] == "nosniff"

        status, headers, plot = http_response(f"{base}/segmentation/runs/{RUN_ID}/plots/segment_sizes.png", auth)
        assert (status, headers["content-type"], plot) == (200, "image/png", PNG_MAGIC + b"image")
        # The report's relative link to segments.csv resolves here: the run's published file, as a download.
        status, headers, table = http_response(f"{base}/segmentation/runs/{RUN_ID}/segments.csv", auth)
        assert (status, headers["content-type"], table) == (200, "text/csv; charset=utf-8", SEGMENTS_CSV)
        assert headers["content-disposition"] == 'attachment; filename="segments.csv"'
        assert headers["content-security-policy"] == "default-src 'none'; sandbox"
        refused = (
            f"/runs/{RUN_ID}-other/segments.csv",  # not a segments table
            "/runs/manual__hostile/segments.csv",
            f"/runs/{RUN_ID}/plots/not_an_image.png",
            f"/runs/{RUN_ID}/plots/missing.png",
            "/runs/manual__hostile/report",
            "/runs/manual__posted/report",
            "/runs/..%2F..%2Fx/report",
        )
        for missing in refused:
            assert http_get(f"{base}/segmentation{missing}", auth)[0] == 404, missing
