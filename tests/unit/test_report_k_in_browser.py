"""The report's "Choosing k" section as Chromium lays it out at 1280 px, at 1× and 2× device pixels: the two
charts side by side at the size they were drawn for, and the table of candidates within the page's column."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from devtools.synthetic_run import build_report, synthetic_run
from tests.support import k_sweep
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, sync_playwright_or_skip


@pytest.fixture(scope="module")
def html() -> str:
    results = synthetic_run(300, 4)
    selection = k_sweep.selection(results, [*range(2, 14)], "elbow")
    return build_report(dataclasses.replace(results, k_selection=selection))[0]


@pytest.fixture(scope="module", params=[1, 2], ids=["1x", "2x"])
def page(request, html, tmp_path_factory) -> Iterator:
    """The report of a 12-candidate sweep, open in Chromium at 1280 px and the device scale factor."""
    sync_playwright = sync_playwright_or_skip()
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(html, encoding="utf-8")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=request.param)
        page.goto(path.as_uri())
        yield page
        browser.close()


def test_the_two_charts_sit_side_by_side_at_their_drawn_size(page) -> None:
    charts = page.locator("#k img").all()
    assert len(charts) == 2
    elbow, silhouette = (chart.bounding_box() for chart in charts)
    assert elbow["y"] == silhouette["y"] and elbow["x"] + elbow["width"] <= silhouette["x"]
    for chart in charts:  # shown at the CSS size of their 1× pixels: neither squeezed nor blurred
        natural, shown = chart.evaluate("img => [img.naturalWidth, img.getBoundingClientRect().width]")
        assert natural == 2 * shown


def test_the_table_of_candidates_stays_within_the_pages_column(page) -> None:
    table = page.locator("#k-candidates").bounding_box()
    column = page.locator("#k").bounding_box()
    assert table["x"] + table["width"] <= column["x"] + column["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    assert page.locator("#k-candidates tr.chosen td").first.inner_text().endswith("(chosen)")
