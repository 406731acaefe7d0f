"""The report's "Choosing k" section on a small synthetic run: a sweep's charts, its table of candidates and why
this k; a fixed k says so and how to sweep; a run from before k_selection.json has no section."""

from __future__ import annotations

import base64
import dataclasses
import io
import re

import markupsafe
import matplotlib.pyplot as plt
import pytest

from devtools.synthetic_run import RunFrames, build_report, synthetic_run
from include.segmentation import k_choice, report
from tests.support import k_sweep

K_RANGE = list(range(2, 8))


@pytest.fixture(scope="module")
def results() -> RunFrames:
    return synthetic_run(300, 4)


@pytest.fixture(scope="module", params=k_choice.RULES)
def swept(request, results) -> tuple[dict, str, dict[str, bytes]]:
    """(k_selection.json of a sweep over K_RANGE by each rule, report.html, plots)."""
    selection = k_sweep.selection(results, K_RANGE, request.param)
    html, plots = build_report(dataclasses.replace(results, k_selection=selection))
    return selection, html, plots


@pytest.fixture(scope="module")
def fixed(results) -> tuple[dict, str, dict[str, bytes]]:
    selection = k_sweep.selection(results, [4], "silhouette")
    html, plots = build_report(dataclasses.replace(results, k_selection=selection))
    return selection, html, plots


def _section(html: str) -> str:
    """The section's markup, its line breaks as spaces (the template wraps its sentences)."""
    return html.split('<section id="k">', 1)[1].split("</section>", 1)[0].replace("\n", " ")


def _rows(section: str) -> list[str]:
    return section.split('<table id="k-candidates">', 1)[1].split("</table>", 1)[0].split("</tr>")[1:-1]


def test_the_section_comes_right_after_the_k_means_section(swept) -> None:
    _, html, _ = swept
    assert html.index('<section id="kmeans">') < html.index('<section id="k">') < html.index('<section id="map">')
    assert "<h2>Choosing k</h2>" in _section(html)


def test_a_sweep_draws_the_elbow_and_the_silhouette_charts_side_by_side(swept) -> None:
    _, html, plots = swept
    section = _section(html)
    images = re.findall(r'<img alt="[^"]*" width="(\d+)" height="(\d+)" src="data:image/png;base64,([^"]+)"', section)
    assert len(images) == 2 and '<div class="grid">' in section
    for (width, height, data), name in zip(images, ("plots/k_elbow.png", "plots/k_silhouette.png"), strict=True):
        assert base64.b64decode(data) == plots[name]
        assert plt.imread(io.BytesIO(plots[name]), format="png").shape[:2] == (2 * int(height), 2 * int(width))
        assert int(width) <= 550  # two in the page's 1,100 px column


def test_the_table_lists_every_candidate_with_its_metrics(swept) -> None:
    selection, html, _ = swept
    rows = _rows(_section(html))
    assert len(rows) == len(K_RANGE)
    for row, candidate in zip(rows, selection["candidates"], strict=True):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)
        assert cells[0].split(" ")[0] == str(candidate["k"])
        assert cells[1:5] == [
            report.significant(candidate["test_msd"]),
            report.significant(candidate["test_ssd"]),
            report.significant(candidate["within_ss"]),
            f"{candidate['silhouette']:.3f}",
        ]
        assert cells[5] == f"{min(candidate['sizes']):,}–{max(candidate['sizes']):,}"
        assert cells[6] == f"<code>{candidate['job_name']}</code>"


def test_only_the_chosen_candidate_is_marked(swept) -> None:
    selection, html, _ = swept
    marked = [row for row in _rows(_section(html)) if 'class="chosen"' in row]
    assert len(marked) == 1 and f'<td class="num">{selection["chosen_k"]} (chosen)</td>' in marked[0]


def test_the_reason_for_the_chosen_k_is_given_in_a_sentence_with_the_other_rules_pick(swept) -> None:
    selection, html, _ = swept
    reason = _section(html).split('<p id="k-reason">', 1)[1].split("</p>", 1)[0]
    ((other, k),) = ((rule, k) for rule, k in selection["by_rule"].items() if rule != selection["rule"])
    assert reason == (
        f"<strong>Chosen: k = {selection['chosen_k']}.</strong> {markupsafe.escape(selection['reason'])}. "
        f"The {other} rule would pick k = {k} from the same candidates."
    )


def test_the_rule_that_chose_is_explained(swept) -> None:
    selection, html, _ = swept
    rule = _section(html).split('<p id="k-rule">', 1)[1].split("</p>", 1)[0]
    assert rule.startswith(f"Rule: <strong>{selection['rule']}</strong>.")
    assert ("farthest below the straight line" in rule) == (selection["rule"] == "elbow")
    assert ("highest mean silhouette" in rule) == (selection["rule"] == "silhouette")


def test_the_summary_at_the_top_says_k_was_chosen_and_by_which_rule(swept) -> None:
    selection, html, _ = swept
    top = html.split('<section id="data">', 1)[0]
    assert f"(k chosen from 2…7 by the {selection['rule']} rule: see Choosing k)" in top


def test_a_silhouette_on_a_sample_says_how_many_counties_and_the_seed(results) -> None:
    selection = {**k_sweep.selection(results, K_RANGE, "silhouette"), "silhouette_sample": 100}
    section = _section(build_report(dataclasses.replace(results, k_selection=selection))[0])
    assert "on 100 counties drawn at random with seed 0" in section


def test_a_metric_sagemaker_did_not_report_shows_a_dash(results) -> None:
    selection = k_sweep.selection(results, K_RANGE, "silhouette")
    first = {**selection["candidates"][0], "test_msd": None, "test_ssd": None, "silhouette": None}
    selection = {**selection, "candidates": [first, *selection["candidates"][1:]]}
    row = _rows(_section(build_report(dataclasses.replace(results, k_selection=selection))[0]))[0]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)
    assert cells[1:5] == ["—", "—", report.significant(first["within_ss"]), "—"]


def test_a_fixed_k_says_it_was_the_number_of_segments_param_and_how_to_sweep(fixed) -> None:
    _, html, _ = fixed
    reason = _section(html).split('<p id="k-reason">', 1)[1].split("</p>", 1)[0]
    assert reason.startswith("k = 4 was fixed by the <em>Number of segments</em> param")
    assert "set <em>Smallest k</em> and <em>Largest k</em> in the trigger form" in reason


def test_a_fixed_k_shows_its_metrics_without_charts(fixed) -> None:
    selection, html, plots = fixed
    section = _section(html)
    assert "<img" not in section and "plots/k_elbow.png" not in plots and "plots/k_silhouette.png" not in plots
    (row,) = _rows(section)
    assert report.significant(selection["candidates"][0]["test_msd"]) in row and "(chosen)" not in row
    assert "k chosen from" not in html


def test_a_run_from_before_k_selection_has_no_section(results) -> None:
    html, plots = build_report(results)
    assert 'id="k"' not in html and not any(name.startswith("plots/k_") for name in plots)


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0.012345, "0.01235"), (0.5722, "0.5722"), (628.31, "628.3"), (12345.6, "12,346"), (0.0, "0"), (None, "—")],
)
def test_metrics_are_shown_with_four_significant_digits_and_no_exponent(value, shown) -> None:
    assert report.significant(value) == shown
