"""The Segmentation view: the DAG's runs (newest first) and each run's report, behind Airflow's auth manager.

Mounted by the api-server at /segmentation, linked from the nav ("Segments") and shown as a "Report" tab on
each run's page. Every route requires read access to the `population_segmentation` DAG's runs (401 without
credentials, 403 without that access), by bearer token or the UI's session cookie. Errors are JSON for API
clients and pages for a browser, which is sent to Airflow's login when it is not logged in (`error_page`).
The run list comes from the runs' Asset events (no S3 call) and reads as a trend: each run's figures, its churn
since the run before, and its state (published; held by the churn gate; unchanged, linking the run that stands).
A run's page frames its report and links its `segments.csv`; an unchanged run's page points to the run it is
unchanged since, and none of its addresses serves another run's files.
A report, plot or `segments.csv` is served only when its bytes have the sha256 the publish task recorded
(else 409 with the reason, never the bytes; see published_runs). They are read from S3, from where that
run published them, through the view's own AWS connection (`popseg_view_aws_conn_id`, by default the
DAG's). Read-only.
"""

from __future__ import annotations

import html
from typing import ClassVar
from urllib.parse import quote

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import requires_access_dag
from airflow.plugins_manager import AirflowPlugin
from botocore.exceptions import BotoCoreError, ClientError
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from include.airflow_popseg import settings
from include.airflow_popseg.published import published_run, published_runs
from include.segmentation.cost_text import usd
from include.segmentation_aws.layout import PLOTS, REPORT, SEGMENTS, SEGMENTS_PARQUET
from include.segmentation_aws.published_runs import (
    HELD,
    RUN_ID,
    UNCHANGED,
    NoLongerInS3,
    NotAsPublished,
    NotPublished,
    PublishedRun,
    TrainedNothing,
    open_segments,
    read_plot,
    read_report,
)

URL_PREFIX = settings.VIEW_URL_PREFIX

# The list page: no script at all. The Airflow UI shows external views in an iframe, hence frame-ancestors.
PAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)
# A run's page around its report: no script either; it frames only this origin (the report), which also keeps the
# report's frame from being navigated anywhere else (CSP checks a frame's navigations against its parent's frame-src).
REPORT_PAGE_POLICY = f"{PAGE_POLICY}; frame-src 'self'"
# A report is a self-contained page with inline script (sort, filter) and style and data: images. It is
# sandboxed (an opaque origin: no Airflow cookies, storage or same-origin API, no downloads, no popups, no
# navigating the page around it) and may not reach the network. Its segments.csv link is the run page's.
REPORT_POLICY = (
    "sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data:; connect-src 'none'; form-action 'none'; base-uri 'none'; frame-ancestors 'self'"
)
PLOT_POLICY = "default-src 'none'; sandbox"
# A file in S3 that is not the one the run published (NotAsPublished): refused as in conflict with the record.
CHANGED_STATUS = 409
# S3 could not be asked (no answer, or an error other than a missing or refused object).
S3_FAILED_STATUS = 502
# botocore's message for it (endpoint, operation, code) is a line; longer is not a message.
MAX_S3_ERROR = 300
# Airflow's colours (its UI theme's brand, gray and red scales) for the view's own pages.
STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;color:oklch(0.28 0.035 251);background:#fff}"
    "a{color:oklch(0.469 0.084 257.657)}code{font-family:ui-monospace,monospace;font-size:.9em}"
)
ERROR_STYLE = (
    "main{max-width:46rem;border:1px solid oklch(0.915 0.01 253);border-left:4px solid oklch(0.577 0.215 27);"
    "border-radius:.375rem;padding:1rem 1.5rem;background:oklch(0.985 0.004 253)}"
    "h1{font-size:1.25rem;margin:.25rem 0 .75rem}p{line-height:1.5}.detail{overflow-wrap:anywhere}"
    ".status{color:oklch(0.45 0.055 251);font-size:.85rem;margin:0}"
)
# A page that is not an error (an unchanged run's): the same box, Airflow's blue instead of its red.
NOTE_STYLE = "main{border-left-color:oklch(0.623 0.214 259.815)}"
# The run list. Numbers right-aligned in tabular figures; a state reads by its word first, its colour second.
# Cells are padded .3rem and a state is at least 8rem wide, so that the cost column fits beside the others.
# Every column fits in Airflow's frame at 1280 px but the results location, shown from RESULTS_COLUMN_MIN_WIDTH
# up (a run id is in it, and it does not wrap); narrower, it is the run cell's tooltip.
RESULTS_COLUMN_MIN_WIDTH = 1600
LIST_STYLE = (
    "table{font-size:.875rem}td,th{border:1px solid oklch(0.915 0.01 253);padding:.3rem;text-align:left;"
    "vertical-align:top}th{background:oklch(0.967 0.003 264.542);font-weight:600;vertical-align:bottom}"
    ".num{text-align:right;font-variant-numeric:tabular-nums}td.num{white-space:nowrap}"
    f"@media (max-width:{RESULTS_COLUMN_MIN_WIDTH - 1}px){{.results{{display:none}}}}"
    ".state-cell{min-width:8rem}table code{font-size:.85em}"
    ".sample{color:oklch(0.55 0.15 60);font-weight:600}.legacy,.why{color:oklch(0.45 0.055 251)}"
    # What has a tooltip says so: a dotted underline.
    ".hint{text-decoration:underline dotted oklch(0.6 0.02 253);text-underline-offset:.2em;cursor:help}"
    ".state{font-weight:600}.published{color:oklch(0.448 0.119 151.328)}.held{color:oklch(0.505 0.213 27.518)}"
    ".unchanged{color:oklch(0.45 0.055 251)}tr.held-run{background:oklch(0.971 0.013 17.38)}"
    # An unchanged run's figures repeat the standing run's: muted, so that the trend reads by the runs that trained.
    "tr.unchanged-run td{color:oklch(0.5 0.03 253)}"
    # A run id is read whole: it does not wrap, the table scrolls sideways when the frame is narrow.
    "table{border-collapse:collapse}.runs{overflow-x:auto}.run{white-space:nowrap}"
    "p.intro{max-width:60rem;line-height:1.5}"
)
# Where the login may send the browser back to: the page asked for, within bounds (Airflow checks it is ours).
MAX_NEXT_URL = 2000


def _s3():
    """An S3 client through the view's AWS connection (Variable `popseg_view_aws_conn_id`, else the DAG's), per
    request: give the view its own connection to apply iam/segmentation-view-policy.json to it."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=settings.view_conn_id(), config=settings.BOTOCORE_CONFIG).get_conn()


can_read_runs = requires_access_dag("GET", DagAccessEntity.RUN, param_dag_id=settings.DAG_ID)

app = FastAPI(
    title="popseg Segmentation view",
    # Nothing is served without access; the API docs are not served at all.
    dependencies=[Depends(can_read_runs)],
    docs_url=None,
    redoc_url=None,
    openapi_url=None,
)


@app.middleware("http")
async def security_headers(request: Request, call_next) -> Response:
    response = await call_next(request)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers.setdefault("Content-Security-Policy", PAGE_POLICY)
    return response


@app.get("/", response_class=HTMLResponse)
def runs() -> HTMLResponse:
    rows = "".join(_row(run) for run in published_runs())
    empty = f"<tr><td colspan={len(COLUMNS)}>No run yet.</td></tr>"
    header = "".join(f"<th class='{kind}'>{name}</th>" for name, kind in COLUMNS)
    return HTMLResponse(
        "<!doctype html><html><head><meta charset='utf-8'><title>Segmentation</title>"
        f"<style>{STYLE}{LIST_STYLE}</style></head><body><h1>Segmentation runs</h1>"
        "<p class='intro'>Every run of the <code>population_segmentation</code> DAG that recorded its results, "
        "newest first. <b>Churn</b> is the share of counties whose segment changed since the run before (hover it "
        "for the adjusted Rand index). <b>Cost</b> is the run's SageMaker cost estimated at on-demand prices (hover "
        "it for what has no price, and why). A run the churn gate <b>held</b> published its report here, but "
        "<code>latest.json</code> still names the run before it; an <b>unchanged</b> run found the same census "
        "file and params as the run it names, and trained nothing.</p>"
        f"<div class='runs'><table id='runs'><tr>{header}</tr>{rows or empty}</table></div>"
        "</body></html>"
    )


# The run list's columns: (heading, class of its cells).
COLUMNS = (
    ("run", ""),
    ("date (UTC)", ""),
    ("input", ""),
    ("counties", "num"),
    ("k", "num"),
    ("components", "num"),
    ("variance kept", "num"),
    ("churn", "num"),
    ("cost", "num"),
    ("state", "state-cell"),
    ("results", "results"),
)


def _row(run: PublishedRun) -> str:
    run_id = html.escape(run.run_id, quote=True)
    # A long location may break after a "/", not inside a name (nor inside the run id, at one of its hyphens).
    above = html.escape(f"s3://{run.bucket}/{run.prefix.removesuffix(f'{run.run_id}/')}", quote=True)
    results = f"{above.replace('/', '/<wbr>')}<span class='run'>{run_id}/</span>"
    if run.state == UNCHANGED:  # it has no report: its state links the run whose report stands
        name = f"<span class='run'>{run_id}</span>"
    elif run.sha256:
        name = f'<a class="run" href="{URL_PREFIX}/runs/{run_id}/report">{run_id}</a>'
    else:  # published before digests were recorded, it serves nothing (published_runs): no link, and why
        name = (
            f"<span class='run'>{run_id}</span><br><small class='legacy'>published before files were checked: "
            "re-run to view</small>"
        )
    marked = {HELD: " class='held-run'", UNCHANGED: " class='unchanged-run'"}.get(run.state, "")
    where = html.escape(f"results in s3://{run.bucket}/{run.prefix}", quote=True)
    return (
        f"<tr{marked}><td title='{where}'>{name}</td><td><span class='run'>{run.published:%Y-%m-%d}</span> "
        f"<span class='run'>{run.published:%H:%M}</span></td>"
        f"<td>{_input(run)}</td><td class='num'>{run.rows:,d}</td><td class='num'>{run.k:d}</td>"
        f"<td class='num'>{run.n_components:d}</td><td class='num'>{run.explained_variance:.4f}</td>"
        f"<td class='num'>{_churn(run)}</td><td class='num'>{_cost(run)}</td>"
        f"<td class='state-cell'>{_state(run)}</td>"
        f"<td class='results'><code>{results}</code></td></tr>"
    )


def _churn(run: PublishedRun) -> str:
    """The share of counties that changed segment since the previous run ("12.3 %"), its adjusted Rand index
    in the tooltip; "—" when there is no previous run to compare with, or it was not measured."""
    if run.churn is None:
        why = (
            "Nothing changed: this run trained nothing"
            if run.state == UNCHANGED
            else "No churn: the first run of its results prefix, or recorded before churn was measured"
        )
        return f"<span class='hint' title='{html.escape(why, quote=True)}'>—</span>"
    against = f" since run {run.previous_run}" if run.previous_run else ""
    ari = "" if run.adjusted_rand is None else f"; adjusted Rand index {run.adjusted_rand:.3f}"
    title = html.escape(f"{run.churn:.1%} of shared counties changed segment{against}{ari}", quote=True)
    return f"<span class='churn hint' title='{title}'>{run.churn * 100:.1f}&nbsp;%</span>"


def _cost(run: PublishedRun) -> str:
    """The run's estimated cost ("$0.0412"); "≥ $0.0300" when some of its lines have no price, "no price" when
    none has; the estimate in words (with what has no price, and why) in the tooltip; "—" for a run recorded
    before costs were estimated."""
    if run.cost_text is None:
        return "<span class='hint' title='Recorded before costs were estimated'>—</span>"
    if run.cost_total is not None:
        shown = usd(run.cost_total)
    elif run.cost_priced:
        shown = f"≥&nbsp;{usd(run.cost_priced)}"
    else:
        shown = "no&nbsp;price"
    title = html.escape(f"Estimated cost, on-demand: {run.cost_text}", quote=True)
    return f"<span class='cost hint' title='{title}'>{shown}</span>"


def _breakable(run_id: str) -> str:
    """A run id (escaped) that may break after its kind and before its time ("scheduled__ | 2026-12-01T | 02:00…"),
    never inside a date or a time, so that it fits a narrow cell."""
    kind, mark, stamp = run_id.rpartition("__")
    day, t, time = stamp.partition("T")
    parts = [part for part in (kind + mark, day + t, time) if part]
    return "<wbr>".join(f"<span class='run'>{html.escape(part, quote=True)}</span>" for part in parts)


def _state(run: PublishedRun) -> str:
    """What the run did: published; held by the churn gate (with the gate's reason); unchanged since a run."""
    if run.state == HELD:
        reason = html.escape(run.held_reason or "the churn is above max_churn", quote=True)
        return (
            f"<span class='state held hint' title='{reason}'>held</span>: churn above the gate — "
            "<code>latest.json</code> not moved"
        )
    if run.state == UNCHANGED:
        since = html.escape(run.unchanged_since or "", quote=True)
        return (
            "<span class='state unchanged'>unchanged</span> since "
            f"<a href='{URL_PREFIX}/runs/{since}/report'>{_breakable(run.unchanged_since or '')}</a>"
        )
    return "<span class='state published'>published</span>"


def _input(run: PublishedRun) -> str:
    """The census file the run read, and whether it was the bundled synthetic sample (made-up figures)."""
    if not run.input:
        return "—"  # published before inputs were recorded
    path = html.escape(run.input.removeprefix("s3://"), quote=True).replace("/", "/<wbr>")  # breaks after a "/"
    shown = f"<code>s3://{path}</code>"
    return shown + ("<br><small class='sample'>bundled synthetic sample</small>" if run.input_is_bundled_sample else "")


@app.get("/runs/{run_id}/report", response_class=HTMLResponse)
def report_page(run_id: str) -> HTMLResponse:
    """The run's page: a bar with the segments.csv download, around the report in a sandboxed frame. The report
    is checked here too, so that a refused one shows its reason (an error page) instead of the frame. An
    unchanged run has no report: its page points to the run whose report stands."""
    run = _serve(run_id, _checked)
    if run.state == UNCHANGED:
        return _unchanged_page(run)
    name = html.escape(run_id, quote=True)
    files = f"{URL_PREFIX}/runs/{name}"
    # sandbox as the report's own CSP says, should a proxy drop that header
    frame = f"<iframe id='report' title='Report of run {name}' src='{files}/{REPORT}' sandbox='allow-scripts'>"
    return HTMLResponse(
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Report of {name}</title><style>html,body{{height:100%;margin:0}}"
        "body{display:flex;flex-direction:column;font-family:system-ui,sans-serif;color:oklch(0.28 0.035 251)}"
        "a{color:oklch(0.469 0.084 257.657)}.nowrap{white-space:nowrap}"
        "nav{display:flex;flex-wrap:wrap;gap:.4rem 1.2rem;align-items:baseline;padding:.5rem 1rem;"
        "border-bottom:1px solid #ddd;font-size:.9rem}iframe{flex:1;border:0;width:100%}"
        # In the run page's details panel (≈ 340 px beside the graph) say how to get the report wider.
        "#narrow{display:none;flex-basis:100%;color:#555}@media (max-width:700px){#narrow{display:block}}"
        "#held{flex-basis:100%;color:oklch(0.505 0.213 27.518)}#held small{color:#555;margin-left:.4rem}</style>"
        f"</head><body><nav><a href='{URL_PREFIX}/'>All runs</a>"
        f"<span>Run <code class='nowrap'>{name}</code>, published "
        f"<span class='nowrap'>{run.published:%Y-%m-%d %H:%M:%S} UTC</span></span>{_held_note(run)}"
        f"<a id='segments-csv' href='{files}/{SEGMENTS}' download "
        f"title='Every county with its segment, distance and components'>Download {SEGMENTS}</a>"
        f"{_parquet_link(run, files)}"
        "<small id='narrow'>Too narrow? Drag the divider beside the graph to the left, switch the run to Grid "
        "view, or open the report from <b>Segments</b> in Airflow's menu.</small>"
        f"</nav>{frame}</iframe></body></html>",
        headers={"Content-Security-Policy": REPORT_PAGE_POLICY},
    )


def _parquet_link(run: PublishedRun, files: str) -> str:
    """The segments.parquet download, for a run that published one (runs before it did have only the CSV)."""
    if SEGMENTS_PARQUET not in run.sha256:
        return ""
    return (
        f"<a id='segments-parquet' href='{files}/{SEGMENTS_PARQUET}' download "
        "title='The same table, typed, for pandas, Spark and Athena'>Parquet</a>"
    )


def _held_note(run: PublishedRun) -> str:
    """On a held run's page: that its results are not the latest, and the gate's reason."""
    if run.state != HELD:
        return ""
    reason = html.escape(run.held_reason or "the churn is above max_churn")
    return (
        "<span id='held'><b>Held by the churn gate: latest.json not moved</b> "
        f"<small id='held-reason'>{reason}</small></span>"
    )


def _unchanged_page(run: PublishedRun) -> HTMLResponse:
    """An unchanged run's page: it trained nothing and has no report; the run it is unchanged since does."""
    name, since = (html.escape(value or "", quote=True) for value in (run.run_id, run.unchanged_since))
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>Run {name}: unchanged</title>"
        f"<style>{STYLE}{ERROR_STYLE}{NOTE_STYLE}</style></head><body><main id='unchanged'>"
        "<p class='status'>Segmentation · unchanged run</p><h1>Nothing changed: this run trained nothing</h1>"
        f"<p class='detail'>Run <code>{name}</code> ({run.published:%Y-%m-%d %H:%M:%S} UTC) found the same census "
        f"file and params as run <code>{since}</code>, so it created no SageMaker resource and published no "
        f"report of its own: the results of run <code>{since}</code> still stand.</p>"
        "<p>To retrain anyway, trigger the DAG with the param <code>force</code> set.</p>"
        f"<p><a id='standing' href='{URL_PREFIX}/runs/{since}/report'>Open the report of run {since}</a> · "
        f"<a href='{URL_PREFIX}/'>All runs</a></p></main></body></html>"
    )


def _checked(s3, run: PublishedRun) -> PublishedRun:
    if run.state != UNCHANGED:  # it has no report to check: report_page says where the results are
        read_report(s3, run)
    return run


@app.get(f"/runs/{{run_id}}/{REPORT}")
def report(run_id: str) -> Response:
    """The report itself, sandboxed, as the run published it (the run's page frames it)."""
    data = _serve(run_id, read_report)
    return Response(data, media_type="text/html; charset=utf-8", headers={"Content-Security-Policy": REPORT_POLICY})


@app.get(f"/runs/{{run_id}}/{PLOTS}{{name}}")
def plot(run_id: str, name: str) -> Response:
    data = _serve(run_id, lambda s3, run: read_plot(s3, run, name))
    return Response(data, media_type="image/png", headers={"Content-Security-Policy": PLOT_POLICY})


@app.get(f"/runs/{{run_id}}/{SEGMENTS}")
def segments(run_id: str) -> StreamingResponse:
    """The run's segments.csv, linked from the run's page, streamed once it is checked (open_segments)."""
    chunks = _serve(run_id, open_segments)
    return StreamingResponse(
        chunks,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Security-Policy": PLOT_POLICY, "Content-Disposition": f'attachment; filename="{SEGMENTS}"'},
    )


@app.get(f"/runs/{{run_id}}/{SEGMENTS_PARQUET}")
def segments_parquet(run_id: str) -> StreamingResponse:
    """The run's segments.parquet, linked beside segments.csv, streamed once it is checked (open_segments)."""
    chunks = _serve(run_id, lambda s3, run: open_segments(s3, run, SEGMENTS_PARQUET))
    return StreamingResponse(
        chunks,
        media_type="application/vnd.apache.parquet",
        headers={
            "Content-Security-Policy": PLOT_POLICY,
            "Content-Disposition": f'attachment; filename="{SEGMENTS_PARQUET}"',
        },
    )


def _serve(run_id: str, read):
    """`read(s3, run)` for a published run; its refusal as an error with its reason, never the file."""
    if not RUN_ID.fullmatch(run_id):
        raise ViewError(404, "No such run", "There is no run by that name.", "Open a run from the list of runs.")
    try:
        return read(_s3(), published_run(run_id))
    except NotAsPublished as reason:
        raise ViewError(
            CHANGED_STATUS,
            "This file is not the one the run published",
            str(reason),
            "The view shows only what the pipeline wrote. Re-run the DAG to publish its results again, and check "
            "who else can write to the results bucket.",
        ) from None
    except TrainedNothing as reason:
        raise ViewError(
            404,
            "This run trained nothing",
            str(reason),
            "Nothing had changed since that run, so this one published no files: its results are that run's.",
            link=(f"{URL_PREFIX}/runs/{reason.since}/report", f"Open the report of run {reason.since}"),
        ) from None
    except NoLongerInS3 as reason:
        raise ViewError(
            404,
            "The results of this run are no longer in S3",
            str(reason),
            "The run is still listed, but its files are gone. Re-run the DAG to publish them again, or check that "
            "the bucket exists and that the view's AWS connection may read it.",
        ) from None
    except NotPublished as reason:
        raise ViewError(
            404,
            "Nothing published to show",
            str(reason),
            "Only runs that finished their publish task have results here (a failed run or a sweeper run has "
            "none). Open one from the list of runs.",
        ) from None
    except (BotoCoreError, ClientError) as error:
        raise ViewError(
            S3_FAILED_STATUS,
            "S3 did not answer",
            f"Reading run {run_id}'s files from S3 failed: {type(error).__name__}: {str(error)[:MAX_S3_ERROR]}",
            "Check that S3 (or the emulator under make airflow) is running and that the view's AWS connection "
            "is set up, then reload the page.",
        ) from None


class ViewError(HTTPException):
    """An error of the view: `detail` is what API clients get as JSON; a browser gets a page with `title` (what
    happened), `detail`, `advice` (what to do) and, when given, a `link` (href, text) to where to go instead."""

    def __init__(
        self, status_code: int, title: str, detail: str, advice: str, link: tuple[str, str] | None = None
    ) -> None:
        super().__init__(status_code=status_code, detail=detail)
        self.title = title
        self.advice = advice
        self.link = link


# Pages for the errors the view does not raise itself: the auth manager's (401, 403) and unknown routes (404).
GENERIC_ERRORS = {
    403: (
        "You may not see the segmentation results",
        "Your Airflow user has no read access to the runs of the population_segmentation DAG.",
        "Ask an Airflow admin for read access to that DAG's runs, or log in as another user.",
    ),
    404: ("Page not found", "The Segmentation view has no such page.", "Start from the list of runs."),
}


@app.exception_handler(StarletteHTTPException)
async def error_page(request: Request, error: StarletteHTTPException) -> Response:
    """JSON with the status for API clients (a bearer token, or no text/html in Accept); for a browser, the login
    when it is not logged in (or its session is no longer valid), else a page saying what happened and what to do."""
    browser = "text/html" in request.headers.get("accept", "") and not request.headers.get("authorization")
    if not browser:
        return await http_exception_handler(request, error)
    # Not logged in, or a session the auth manager no longer accepts (expired, or signed with another secret).
    if error.status_code == 401 or (error.status_code == 403 and error.detail == "Invalid JWT token"):
        return RedirectResponse(_login_url(request), status_code=303)
    link = None
    if isinstance(error, ViewError):
        title, detail, advice, link = error.title, error.detail, error.advice, error.link
    else:
        title, detail, advice = GENERIC_ERRORS.get(error.status_code, ("Something went wrong", str(error.detail), ""))
    return _error_page(request, error.status_code, title, detail, advice, link)


def _login_url(request: Request) -> str:
    """Airflow's login page, sending the browser back to the page it asked for once logged in."""
    from airflow.api_fastapi.app import get_auth_manager

    back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return get_auth_manager().get_url_login(next_url=back[:MAX_NEXT_URL])


def _error_page(
    request: Request, status: int, title: str, detail: str, advice: str, link: tuple[str, str] | None = None
) -> HTMLResponse:
    links = f"<a href='{URL_PREFIX}/'>Back to the list of runs</a>"
    if link is not None:
        href, text = (html.escape(part, quote=True) for part in link)
        links = f"<a id='instead' href='{href}'>{text}</a> · {links}"
    if status == 403:
        links += f" · <a href='{html.escape(_login_url(request), quote=True)}'>Log in as another user</a>"
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}{ERROR_STYLE}</style></head><body><main id='error'>"
        f"<p class='status'>Segmentation · error {status:d}</p><h1>{html.escape(title)}</h1>"
        f"<p class='detail' id='detail'>{html.escape(detail)}</p><p id='advice'>{html.escape(advice)}</p>"
        f"<p>{links}</p></main></body></html>",
        status_code=status,
    )


def _icon(colour: str) -> str:
    """Three clusters of points (segments), as an SVG data: URL: the nav shows it in an <img>, which sends no
    credentials to a data: URL, so it loads where a route of this (authenticated) app would not."""
    dots = [(6, 7), (9, 4), (10, 9), (17, 6), (20, 9), (12, 18), (15, 20), (9, 20)]
    circles = "".join(f"<circle cx='{x}' cy='{y}' r='2.2' fill='{colour}'/>" for x, y in dots)
    svg = f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 24 24'>{circles}</svg>"
    return "data:image/svg+xml," + quote(svg)


class SegmentationPlugin(AirflowPlugin):
    name = "popseg_segmentation"
    fastapi_apps: ClassVar[list[dict]] = [{"app": app, "url_prefix": URL_PREFIX, "name": "Segmentation"}]
    external_views: ClassVar[list[dict]] = [
        # A short name: the nav truncates longer ones ("Segmenta…").
        {
            "name": "Segments",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "url_route": "segmentation",
            "icon": _icon("#334155"),
            "icon_dark_mode": _icon("#cbd5e1"),
        },
        # A "Report" tab on every run's page, beside its graph and logs. The UI puts the run id in {RUN_ID}; a run
        # that published nothing (a failed run, a sweeper run) gets the view's "not published" answer.
        {
            "name": "Report",
            "href": f"{URL_PREFIX}/runs/{{RUN_ID}}/report",
            "destination": "dag_run",
            "url_route": "segmentation-report",
            "icon": _icon("#334155"),
            "icon_dark_mode": _icon("#cbd5e1"),
        },
    ]
