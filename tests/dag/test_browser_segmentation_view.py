"""A person's path, in headless Chromium: the Airflow UI's "Segments" entry, the runs, a report.

Needs Debian's chromium at /usr/bin/chromium (.ci/run installs it) and Playwright pointed at it; without
them the test skips, except under CI=true where it must run. Screenshots go to test-output/screenshots/.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

from include.segmentation import report
from include.segmentation import results as results_module
from include.segmentation_aws.published_runs import run_summary
from tests.conftest import PROJECT_ROOT
from tests.dag.conftest import api_token, record_publication, running_api_server
from tests.synthetic_run import synthetic_run

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = PROJECT_ROOT / "test-output" / "screenshots"
# Chromium as root in a sandbox without a network: no sandbox, no GPU, no background traffic.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _browser_or_skip():
    missing = [
        what for what, ok in (("chromium", Path(CHROMIUM).exists()), ("playwright", _has_playwright())) if not ok
    ]
    if missing:
        reason = f"browser test needs {' and '.join(missing)} ({CHROMIUM}, pip playwright)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    return sync_playwright


def _has_playwright() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture
def published_report(airflow_db, clients) -> tuple[str, int]:
    """One published run with a real report (synthetic data, as many counties as the real file): (run id, counties)."""
    s3 = clients["s3"]
    results = synthetic_run(3220, 4)
    html, plots = report.build_report(results)
    bucket, run_id = f"popseg-browser-{uuid.uuid4().hex[:8]}", "manual__2026-11-23T02:00:00+00:00"
    s3.create_bucket(Bucket=bucket)
    prefix = f"segmentation/runs/{run_id}/"
    s3.put_object(Bucket=bucket, Key=prefix + "report.html", Body=html.encode())
    for name, data in plots.items():
        s3.put_object(Bucket=bucket, Key=prefix + name, Body=data)
    s3.put_object(Bucket=bucket, Key=prefix + "segments.csv", Body=results_module.csv_bytes(results.segments))
    record_publication(run_summary({**results.run, "run_id": run_id}, f"s3://{bucket}/{prefix}"))
    return run_id, len(results.segments)


def _signed_in(browser, base: str, user: str = "viewer"):
    """A browser page carrying the Airflow UI's session cookie for `user` (not an admin)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
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

        page.get_by_role("link", name=run_id).click()
        page.locator("#kmeans").wait_for()
        images = page.locator("img")
        assert images.count() >= 10
        rendered = page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
        assert rendered, "every plot in the report is decoded and drawn"
        page.screenshot(path=SCREENSHOTS / "3-report-top.png")
        page.locator("#kmeans").scroll_into_view_if_needed()
        page.screenshot(path=SCREENSHOTS / "4-report-segments.png")

        assert page.locator("#shown").inner_text() == f"{counties:,} of {counties:,} counties"
        page.fill("#filter", "segment-that-does-not-exist")
        assert page.locator("#shown").inner_text() == f"0 of {counties:,} counties"
        page.fill("#filter", "")
        page.select_option("#segment-filter", "0")  # an exact segment, not every row with a 0 in it
        in_segment_0 = int(page.locator("#shown").inner_text().split()[0].replace(",", ""))
        assert 0 < in_segment_0 < counties
        page.select_option("#segment-filter", "")
        page.locator("#county-table th", has_text="distance").click()
        page.locator("#county-table th", has_text="distance").click()  # descending
        first, second = (
            float(page.locator("#county-table tbody tr").nth(i).locator("td").nth(2).inner_text()) for i in (0, 1)
        )
        assert first >= second
        page.locator("#counties").scroll_into_view_if_needed()
        page.screenshot(path=SCREENSHOTS / "5-report-counties-sorted.png")
        # The full data: the report's relative link, from inside its sandbox, downloads the run's segments.csv.
        with page.expect_download() as download:
            page.locator("#full-data").click()
        assert download.value.suggested_filename == "segments.csv"
        lines = Path(download.value.path()).read_text().splitlines()
        assert lines[0].startswith("State-County,segment,distance,c_1") and len(lines) == counties + 1

        counties_drawn = page.locator("#segment-map #map-counties path[data-segment]")
        # Puerto Rico's 78 municipios and three Virginia cities (a point at 1:10M) have no shape; the page says so.
        assert counties_drawn.count() == counties - 81
        assert "81 without a shape" in page.locator("#map").inner_text()
        page.locator("#map").scroll_into_view_if_needed()
        assert page.locator("#segment-map").bounding_box()["width"] > 900  # drawn at page width
        county = counties_drawn.nth(1000)
        county.hover()
        assert county.evaluate("p => getComputedStyle(p).stroke") == "rgb(0, 0, 0)"  # the hovered county stands out
        assert county.locator("title").text_content().count(" — ") == 2  # "County, State — segment N: … — distance d"
        page.screenshot(path=SCREENSHOTS / "6-report-map.png")
        browser.close()


# A report planted by whoever can write the results bucket: it tries to act as the Airflow user who opens it.
PLANTED_REPORT = """<!doctype html><html><body><pre id="out">script did not run</pre><script>
const out = document.getElementById("out");
const say = (line) => { out.textContent += "\\n" + line; };
out.textContent = "script ran";
try { say("cookie:" + document.cookie); } catch (e) { say("cookie blocked"); }
try { localStorage.setItem("x", "1"); say("storage open"); } catch (e) { say("storage blocked"); }
fetch("/api/v2/dags", {credentials: "include"}).then(r => say("api " + r.status), () => say("api blocked"));
const img = new Image(); img.src = "/api/v2/dags?via=img"; document.body.appendChild(img);
</script></body></html>"""


@pytest.fixture
def planted_report(airflow_db, clients) -> str:
    s3 = clients["s3"]
    bucket, run_id = f"popseg-planted-{uuid.uuid4().hex[:8]}", "manual__planted"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=f"segmentation/runs/{run_id}/report.html", Body=PLANTED_REPORT.encode())
    run = {"run_id": run_id, "rows": 3, "n_components": 1, "explained_variance": 0.9, "params": {"k": 2}}
    record_publication(run_summary(run, f"s3://{bucket}/segmentation/runs/{run_id}/"))
    return run_id


def test_a_planted_report_runs_sandboxed_and_cannot_call_the_airflow_api(
    airflow_db, aws_env, planted_report, tmp_path
) -> None:
    sync_playwright = _browser_or_skip()
    with running_api_server(aws_env, tmp_path) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = _signed_in(browser, base)
        reached, blocked = [], []  # requests to the Airflow API that got an answer, and those the browser stopped
        page.on("requestfinished", lambda request: "/api/" in request.url and reached.append(request.url))
        page.on("requestfailed", lambda request: "/api/" in request.url and blocked.append(request.failure))
        page.goto(f"{base}/segmentation/runs/{planted_report}/report")
        page.wait_for_function("document.getElementById('out').textContent.includes('api ')", timeout=20_000)
        outcome = page.locator("#out").inner_text().splitlines()
        browser.close()
    # The script ran (the report's own sorting and filtering need that), in an opaque origin off the network.
    assert outcome == ["script ran", "cookie blocked", "storage blocked", "api blocked"], outcome
    assert reached == [] and blocked == ["csp"], (reached, blocked)  # the <img> attempt, stopped by the CSP
