"""The Segmentation view: published runs (newest first) and each run's report, read from S3 through the
DAG's AWS connection. Read-only. Mounted by the api-server at /segmentation and linked from the nav."""

from __future__ import annotations

import html
from typing import ClassVar

from airflow.plugins_manager import AirflowPlugin
from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse, Response

from include.segmentation.published_runs import list_runs, read_run_file

URL_PREFIX = "/segmentation"


def _settings() -> tuple[object, str, str]:
    """(S3 client, bucket, output prefix) from the same Variables the DAG reads, read per request."""
    from airflow.models import Variable
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    conn_id = Variable.get("popseg_aws_conn_id", default_var="aws_default")
    bucket = Variable.get("popseg_results_bucket", default_var="popseg")
    prefix = Variable.get("popseg_output_prefix", default_var="segmentation")
    return S3Hook(aws_conn_id=conn_id).get_conn(), bucket, prefix


app = FastAPI(title="popseg Segmentation view")


@app.get("/", response_class=HTMLResponse)
def runs() -> str:
    s3, bucket, prefix = _settings()
    rows = "".join(
        f'<tr><td><a href="{URL_PREFIX}/runs/{html.escape(r.run_id)}/report">{html.escape(r.run_id)}</a></td>'
        f"<td>{r.published}</td><td>{r.rows:,}</td><td>{r.n_components}</td><td>{r.k}</td>"
        f"<td>{r.explained_variance:.4f}</td></tr>"
        for r in list_runs(s3, bucket, prefix)
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Segmentation</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2rem}td,th{border:1px solid #ddd;padding:.3rem .6rem}"
        "table{border-collapse:collapse}</style></head><body><h1>Segmentation runs</h1>"
        f"<p>Published under <code>s3://{html.escape(bucket)}/{html.escape(prefix)}/runs/</code>, newest first.</p>"
        "<table id='runs'><tr><th>run</th><th>published</th><th>counties</th><th>components</th><th>k</th>"
        f"<th>variance kept</th></tr>{rows or '<tr><td colspan=6>No published run yet.</td></tr>'}</table>"
        "</body></html>"
    )


@app.get("/runs/{run_id}/report", response_class=HTMLResponse)
def report(run_id: str) -> Response:
    return _file(run_id, "report.html", "text/html; charset=utf-8")


@app.get("/runs/{run_id}/plots/{name}")
def plot(run_id: str, name: str) -> Response:
    return _file(run_id, f"plots/{name}", "image/png")


def _file(run_id: str, name: str, media_type: str) -> Response:
    s3, bucket, prefix = _settings()
    data = read_run_file(s3, bucket, prefix, run_id, name)
    if data is None:
        raise HTTPException(status_code=404, detail=f"No {name} for run {run_id}")
    return Response(content=data, media_type=media_type)


class SegmentationPlugin(AirflowPlugin):
    name = "popseg_segmentation"
    fastapi_apps: ClassVar[list[dict]] = [{"app": app, "url_prefix": URL_PREFIX, "name": "Segmentation"}]
    external_views: ClassVar[list[dict]] = [
        {"name": "Segmentation", "href": f"{URL_PREFIX}/", "destination": "nav", "url_route": "segmentation"}
    ]
