"""The run report on a small synthetic run: every section, every image, one table row per county."""

from __future__ import annotations

import base64
import dataclasses
import io
import re

import matplotlib.pyplot as plt
import numpy as np
import pytest

from devtools.synthetic_run import RunFrames, build_report, synthetic_run
from include.segmentation import report, us_map
from include.segmentation_aws import cost
from tests.support.price_tables import SOURCE, price_table

K = 4


@pytest.fixture(scope="module")
def results() -> RunFrames:
    return synthetic_run(300, K)


@pytest.fixture(scope="module")
def built(results) -> tuple[str, dict[str, bytes]]:
    return build_report(results)


def test_every_section_is_present(built) -> None:
    html, _ = built
    for section in ("data", "pca", "kmeans", "map", "counties", "run"):
        assert f'<section id="{section}">' in html


def test_every_image_decodes_and_all_but_the_map_are_embedded(built) -> None:
    html, plots = built
    assert {f"plots/eda_{g}.png" for g in ("commuting", "employment_type", "race_ethnicity", "income_poverty")} <= set(
        plots
    )
    for data in plots.values():
        assert plt.imread(io.BytesIO(data), format="png").ndim == 3
    # The map's PNG is for plots/: the page draws the map as inline SVG, which shows each county on hover.
    assert "plots/segment_map.png" in plots
    assert html.count('src="data:image/png;base64,') == len(plots) - 1
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" id="segment-map"') == 1


def test_the_map_draws_every_county_with_a_shape_and_lists_the_others(built, results) -> None:
    html, _ = built
    atlas = us_map.load_atlas()
    assert html.count("<path data-fips=") == len(atlas.counties)  # every county shape: segmented or grey
    without_shape = us_map.county_map(results.segments, results.counties, atlas).without_shape
    assert html.count('" data-segment="') == len(results.segments) - len(without_shape)
    unknown = results.segments["State-County"].iloc[0]
    counties = results.counties.assign(CensusId=lambda c: c["CensusId"].mask(c.index == unknown, ""))
    html, _ = build_report(dataclasses.replace(results, counties=counties))
    assert html.count('" data-segment="') == len(results.segments) - len(without_shape) - 1
    assert f"{unknown} (no FIPS code)" in html.split('<details id="map-missing">', 1)[1]


def test_the_page_needs_no_network(built) -> None:
    html, _ = built
    assert not re.search(r'(src|href)="https?://', html)


def test_the_county_table_has_one_row_per_county(built, results) -> None:
    html, _ = built
    table = html.split('<table id="county-table">', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr data-segment=") == len(results.segments) == 298


def test_one_component_section_per_kept_component(built, results) -> None:
    html, _ = built
    assert html.count("% of the variance):") == results.variance["n_components"]


def test_dropped_rows_and_the_input_checksum_are_shown(built, results) -> None:
    html, _ = built
    assert all(key in html for key in results.run["dropped"])
    assert "ab" * 32 in html


def test_a_run_on_the_bundled_sample_says_so_at_the_top(results) -> None:
    sample = dataclasses.replace(results, run={**results.run, "input_is_bundled_sample": True})
    html, _ = build_report(sample)
    top = html.split('<section id="data">', 1)[0]
    assert '<p id="sample-notice" class="notice">Input: the bundled synthetic sample' in top
    assert "say nothing about real counties" in top


def test_a_run_on_other_data_has_no_sample_notice(built) -> None:
    html, _ = built
    assert "sample-notice" not in html and "the bundled synthetic sample" not in html


def test_segment_labels_name_three_traits_each_high_or_low(built) -> None:
    html, _ = built
    labels = re.findall(r'<td class="label">(.*?)</td>', html.split('<table id="segment-table">', 1)[1])
    assert len(labels) == K
    for label in labels:
        parts = label.split(" · ")
        assert len(parts) == 3 and all(re.fullmatch(r"(high|low) \w+( share)?", part) for part in parts)
        assert "Err" not in label  # margins of error describe the survey, not the segment


def test_what_sets_a_segment_apart_shows_the_percentile_that_ranks_it(results, built) -> None:
    html, _ = built
    described = report.traits.of_segments(results.features, results.segments, K)
    for segment, rows in report.traits.distinguishing_traits(described, report.DISTINGUISHING).items():
        row = html.split('<table id="segment-table">', 1)[1].split(f"<tr><td>{segment}</td>", 1)[1].split("</tr>")[0]
        shown = re.findall(r'<span class="trait">([^<:]+): [^<]* vs [^<]* \((\d+)(?:st|nd|rd|th)\)</span>', row)
        assert [name for name, _ in shown] == [r["feature"] for r in rows]
        distances = [abs(int(p) - 50) for _, p in shown]
        assert distances == sorted(distances, reverse=True)  # ranked by the number shown


def test_the_page_states_the_measure_it_ranks_by(built) -> None:
    html, _ = built
    measure = html.split('<p id="measure">', 1)[1].split("</p>", 1)[0]
    assert "median county" in measure and "percentile" in measure


def test_a_segments_share_of_people_stays_on_the_line_of_its_count(built) -> None:
    html, _ = built
    table = html.split('<table id="segment-table">', 1)[1].split("</table>", 1)[0]
    assert re.search(r'<td class="num">[\d,]+ \(\d+\.\d&nbsp;%\)</td>', table)
    assert ".num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }" in html


def test_a_component_is_described_by_its_heaviest_signed_weights() -> None:
    import pandas as pd

    weights = pd.Series({"Drive": 0.6, "Transit": -0.5, "Walk": 0.05, "Carpool": 0.3}, name="c_1")
    assert report.describe_component(weights) == "+Drive, +Carpool vs −Transit"


def _county_section(html: str) -> str:
    return html.split('<section id="counties">', 1)[1].split("</section>", 1)[0]


def test_the_county_section_names_the_full_data_without_linking_it(built) -> None:
    html, _ = built
    # A link would be a download from inside the report's sandbox; the Segmentation view links it outside.
    assert f'<code id="full-data">{report.FULL_DATA}</code>' in _county_section(html)
    assert "<a " not in html
    assert report.FULL_DATA == "segments.csv"  # the name publish gives segments.csv under runs/<run_id>/


def test_above_the_row_limit_each_segment_is_summarised_by_its_closest_farthest_and_sampled_counties(
    results, monkeypatch
) -> None:
    monkeypatch.setattr(report, "TABLE_ROWS", 100)  # the 298-row run stands for a run above the limit
    section = _county_section(build_report(results)[0])
    assert 'id="county-table"' not in section and 'id="filter"' not in section
    assert f'<code id="full-data">{report.FULL_DATA}</code>' in section
    rows = section.split('<table id="county-summary"', 1)[1].split("<tbody>", 1)[1].split("</tr>")[:-1]
    segments = results.segments
    assert len(rows) == segments["segment"].nunique()
    for row, (_, counties) in zip(rows, segments.groupby("segment"), strict=True):
        closest, farthest, sample = (re.findall(r"<li>(.*?) <span", cell) for cell in row.split("<ol>")[1:])
        assert closest == counties.nsmallest(report.EXTREMES, "distance")["State-County"].tolist()
        assert farthest == counties.nlargest(report.EXTREMES, "distance")["State-County"].tolist()
        assert len(sample) == report.SAMPLE and set(sample) <= set(counties["State-County"])
        assert f">{len(counties):,}</td>" in row


def test_the_counties_not_on_the_map_are_counted_all_but_named_only_up_to_the_limit(results) -> None:
    no_codes = results.counties.assign(CensusId="")  # 298 rows without a county FIPS code
    html, _ = build_report(dataclasses.replace(results, counties=no_codes))
    listing = html.split('<details id="map-missing">', 1)[1].split("</details>", 1)[0]
    assert listing.count("(no FIPS code)") == us_map.LISTED
    assert f"and {len(results.segments) - us_map.LISTED:,} more" in listing
    assert f"<code>{report.FULL_DATA}</code>" in listing
    assert f"{len(results.segments):,} without a county FIPS code" in html


@pytest.mark.parametrize("unit", ["%", "people", "US$"])
def test_a_histogram_is_np_histogram_of_the_column(results, unit) -> None:
    values = results.features["TotalPop" if unit == "people" else "Income" if unit == "US$" else "Transit"]
    histogram = report.feature_histogram(values.to_numpy(), unit)
    counts, edges = np.histogram(values, bins=histogram.edges)
    np.testing.assert_array_equal(histogram.counts, counts)
    assert histogram.counts.sum() == len(values)
    assert histogram.logarithmic == (unit != "%")  # head counts and dollars: log-spaced bins
    if unit == "%":
        np.testing.assert_array_equal(edges, np.histogram_bin_edges(values, 30))


def test_figures_are_drawn_at_twice_the_size_they_are_shown(built) -> None:
    html, plots = built
    images = re.findall(r'<img alt="[^"]*" width="(\d+)" height="(\d+)" src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == len(plots) - 1  # all but the map, which the page draws as SVG
    for width, height, data in images:
        shown = plt.imread(io.BytesIO(base64.b64decode(data)), format="png").shape[:2]
        assert shown == (2 * int(height), 2 * int(width))
    assert max(int(width) for width, _, _ in images) <= 1100  # the page's column


def test_each_county_row_carries_its_fips_code_and_the_words_the_filter_searches(built, results) -> None:
    html, _ = built
    key, code = results.counties.index[0], results.counties["CensusId"].iloc[0]
    row = html.split('<table id="county-table">', 1)[1].split(f"<td>{key}</td>", 1)[0].rsplit("<tr ", 1)[1]
    assert f'data-search="{report.search_words(key, code.zfill(5))}"' in row


@pytest.mark.parametrize(
    ("key", "code", "words"),
    [
        ("New Mexico-Doña Ana", "35013", "new mexico dona ana 35013"),
        ("Texas-Travis", "48453", "texas travis 48453"),
        ("Louisiana-St. John the Baptist", None, "louisiana st john the baptist"),
    ],
)
def test_the_filter_searches_lower_case_words_without_accents(key, code, words) -> None:
    assert report.search_words(key, code) == words


def test_the_filter_counts_counties_with_a_thousands_separator(built) -> None:
    html, _ = built
    script = html.split("<script>", 1)[1]
    assert 'shown.toLocaleString("en-US") + " of " + rows.length.toLocaleString("en-US")' in script


def test_figures_keep_the_pages_white_background(built) -> None:
    _, plots = built
    for name, data in plots.items():
        corner = plt.imread(io.BytesIO(data), format="png")[2, 2, :3]
        assert corner.tolist() == [1.0, 1.0, 1.0], name  # an off-white figure shows as a grey box on the page


def test_the_input_path_has_a_line_of_its_own_so_its_underscores_stay_visible(results) -> None:
    # At 1× the checksum wrapped under the path, and its code background painted over the path's underscores.
    run = {**results.run, "input": "s3://popseg-data/census_2015/acs2015_county_data.csv"}
    html, _ = build_report(dataclasses.replace(results, run=run))
    assert "<tr><th>input</th><td><code>s3://popseg-data/census_2015/acs2015_county_data.csv</code></td></tr>" in html
    assert f"<tr><th>input sha256</th><td><code>{'ab' * 32}</code></td></tr>" in html
    assert "td { line-height: 1.4; }" in html


def test_the_run_section_shows_the_estimated_cost_line_by_line_and_where_its_prices_come_from(results) -> None:
    usages = [cost.Usage(cost.TRAINING, "popseg-pca-x", "ml.c5.xlarge", 2, 100.0),
              cost.Usage(cost.HOSTING, "popseg-pca-x", "ml.m5.large", 1, 600.0)]  # fmt: skip
    estimate = cost.estimate(usages, "us-east-1", price_table())
    html, _ = build_report(dataclasses.replace(results, run={**results.run, "cost": estimate}))
    missing = "the price table has no ml.m5.large in us-east-1"
    assert f'<td id="run-cost">at least $0.0200, no price for 1 of 2 lines ({missing})</td>' in html
    job = '<td class="nowrap"><code>popseg-pca-x</code></td><td class="nowrap">2 × ml.c5.xlarge</td>'
    assert f"<td>training job</td>{job}" in html
    assert '<td class="num">200</td><td class="num">$0.36</td><td>$0.0200</td>' in html
    assert f"<td>no price: {missing}</td>" in html
    assert f'read from <a href="{SOURCE}" rel="noopener noreferrer">{SOURCE}</a> on 2026-12-01' in html


def test_a_run_recorded_without_a_cost_says_it_was_not_estimated(built) -> None:
    html, _ = built
    assert '<td id="run-cost">not estimated</td>' in html and 'id="cost-items"' not in html


def _since(results: RunFrames, moved: int) -> dict:
    """run.json's continuity for this run against a previous one where `moved` counties were elsewhere."""
    import json

    import pandas as pd

    from include.segmentation import continuity

    current = pd.Series(results.segments["segment"].to_numpy(), index=pd.Index(results.segments["State-County"]))
    previous = current.copy()
    previous.iloc[:moved] = (previous.iloc[:moved] + 1) % K
    previous = pd.concat([previous.iloc[5:], pd.Series([0], index=pd.Index(["Gone-County"]))])
    change = continuity.churn(previous, current)
    ids = continuity.match_ids(previous, current, K, next_id=K)
    document = continuity.continuity_document(
        "scheduled__before", ids, change, continuity.moved_counties(previous, current)
    )
    return json.loads(json.dumps(document))  # as run.json holds it


def test_since_the_last_run_shows_churn_the_transition_table_and_the_counties_that_moved(results) -> None:
    run = {**results.run, "continuity": _since(results, moved=20)}
    html, _ = build_report(dataclasses.replace(results, run=run))
    section = html.split('<section id="since">', 1)[1].split("</section>", 1)[0]
    assert "<code>scheduled__before</code>" in section
    assert "15 (5.1 %) changed segment" in section  # the first 5 of the 20 moved are not in the previous run
    assert "5 counties are new in this census, 1 are no longer in it" in section
    rows = re.findall(r"<tr><th>(\d+)</th>(.*?)</tr>", section.split('id="transitions"', 1)[1])
    assert len(rows) == K
    total = sum(int(n.replace(",", "")) for _, cells in rows for n in re.findall(r">([\d,]+)</td>", cells))
    assert total == run["continuity"]["churn"]["shared"]
    moved = run["continuity"]["churn"]["moved_counties"][0]
    assert f"{moved['State-County']}: {moved['previous_segment']} → {moved['segment']}" in section
    assert "Gone-County" in section


def test_a_first_run_says_segment_numbers_are_k_means_own(results) -> None:
    from include.segmentation import continuity

    first = continuity.continuity_document(None, continuity.first_ids(K), None, None)
    html, _ = build_report(dataclasses.replace(results, run={**results.run, "continuity": first}))
    assert "The first published run of these results" in html.split('<section id="since">', 1)[1]


def test_a_run_the_churn_gate_holds_says_so_at_the_top(results) -> None:
    gate = {"max_churn": 0.1, "refusal": "1,000 of the 3,218 counties … changed segment: churn 31.1%, above max_churn"}
    html, _ = build_report(dataclasses.replace(results, run={**results.run, "state": "held", "gate": gate}))
    notice = html.split('<p id="held-notice" class="notice">', 1)[1].split("</p>", 1)[0]
    assert notice.startswith("Held by the churn gate: 1,000 of the 3,218 counties")
    assert '<p id="held-notice"' not in build_report(results)[0]


def test_a_run_sharing_no_county_with_the_last_one_says_so_rather_than_a_churn_of_zero(results) -> None:
    import pandas as pd

    from include.segmentation import continuity

    current = pd.Series(results.segments["segment"].to_numpy(), index=pd.Index(results.segments["State-County"]))
    previous = pd.Series(range(K), index=pd.Index([f"Elsewhere-{i}" for i in range(K)]))
    ids = continuity.match_ids(previous, current, K, next_id=K)
    document = continuity.continuity_document(
        "scheduled__before", ids, continuity.churn(previous, current), continuity.moved_counties(previous, current)
    )
    html, _ = build_report(dataclasses.replace(results, run={**results.run, "continuity": document}))
    section = html.split('<section id="since">', 1)[1].split("</section>", 1)[0]
    assert "no county is in both runs" in section and "changed segment" not in section
    assert f"segments are new\n({', '.join(str(i) for i in range(K, 2 * K))})" in section
