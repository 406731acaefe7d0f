"""The report's county filter, run by Chromium on a rendered report: words in any order, without accents, and
FIPS codes; counts with a thousands separator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.synthetic_run import RunFrames, build_report, synthetic_run
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, sync_playwright_or_skip


@pytest.fixture(scope="module")
def results() -> RunFrames:
    return synthetic_run(1100, 4)  # 1,098 counties kept


@pytest.fixture(scope="module")
def page(results, tmp_path_factory) -> Iterator:
    """The report of the run, open in Chromium at 1280 px."""
    sync_playwright = sync_playwright_or_skip()
    html, _ = build_report(results)
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(html, encoding="utf-8")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(path.as_uri())
        yield page
        browser.close()


def _shown(page, typed: str) -> list[str]:
    """The State-County of every row the filter leaves visible once `typed` is in it."""
    page.fill("#filter", typed)
    return page.locator("#county-table tbody tr:visible td:first-child").all_inner_texts()


def test_the_count_of_shown_counties_has_a_thousands_separator(page) -> None:
    page.fill("#filter", "")
    assert page.locator("#shown").inner_text() == "1,098 of 1,098 counties"


def _accented(results) -> tuple[str, str, str]:
    """(State-County, State, County) of the first county whose name has an accent, e.g. "Alabama-Río 11"."""
    counties = results.counties
    key = next(key for key in counties.index if "í" in key)
    return key, counties.at[key, "State"], counties.at[key, "County"]


def test_state_and_county_words_match_in_any_order_without_accents(page, results) -> None:
    key, state, county = _accented(results)
    typed = f"{county.replace('í', 'i').lower()} {state.upper()}"  # e.g. "rio 11 ALABAMA": county first
    shown = _shown(page, typed)
    assert key in shown and all(other.startswith(key) for other in shown)  # "Río 11" also begins "Río 110"


def test_a_fips_code_finds_its_county(page, results) -> None:
    key = results.counties.index[0]
    assert _shown(page, results.counties.at[key, "CensusId"].zfill(5)) == [key]  # typed as published: "01007"


def test_a_word_that_no_county_has_shows_none(page) -> None:
    assert _shown(page, "alabama nowhere") == []
    assert page.locator("#shown").inner_text() == "0 of 1,098 counties"
