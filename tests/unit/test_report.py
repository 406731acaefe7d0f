"""The run report on a small synthetic run: every section, every image, one table row per county."""

from __future__ import annotations

import dataclasses
import io
import re

import matplotlib.pyplot as plt
import pytest

from include.segmentation import report, us_map
from tests.synthetic_run import synthetic_run

K = 4


@pytest.fixture(scope="module")
def results() -> report.RunResults:
    return synthetic_run(300, K)


@pytest.fixture(scope="module")
def built(results) -> tuple[str, dict[str, bytes]]:
    return report.build_report(results)


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
    html, _ = report.build_report(dataclasses.replace(results, counties=counties))
    assert html.count('" data-segment="') == len(results.segments) - len(without_shape) - 1
    assert f"{unknown} (no FIPS code)" in html.split('<details id="map-missing">', 1)[1]


def test_the_page_needs_no_network(built) -> None:
    html, _ = built
    assert not re.search(r'(src|href)="https?://', html)


def test_the_county_table_has_one_row_per_county(built, results) -> None:
    html, _ = built
    table = html.split('<table id="county-table">', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr><td>") == len(results.segments) == 298


def test_one_component_section_per_kept_component(built, results) -> None:
    html, _ = built
    assert html.count("% of the variance):") == results.variance["n_components"]


def test_dropped_rows_and_the_input_checksum_are_shown(built, results) -> None:
    html, _ = built
    assert all(key in html for key in results.run["dropped"])
    assert "ab" * 32 in html


def test_segment_labels_name_what_sets_each_segment_apart(results) -> None:
    labels = report.segment_labels(results.profiles, results.features)
    assert set(labels) == set(range(K))
    for label in labels.values():
        parts = label.split(" · ")
        assert len(parts) == 3 and all(re.fullmatch(r"(high|low) \w+", part) for part in parts)
        assert "Err" not in label  # margins of error describe the survey, not the segment


def test_a_component_is_described_by_its_heaviest_signed_weights() -> None:
    import pandas as pd

    weights = pd.Series({"Drive": 0.6, "Transit": -0.5, "Walk": 0.05, "Carpool": 0.3}, name="c_1")
    assert report.describe_component(weights) == "+Drive, +Carpool vs −Transit"
