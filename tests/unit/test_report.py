"""The run report on a small synthetic run: every section, every image, one table row per county."""

from __future__ import annotations

import io
import re

import matplotlib.pyplot as plt
import numpy as np
import pytest
from sklearn.cluster import KMeans

from include.segmentation import analysis, pipeline, report
from include.segmentation.artifacts import PCAModel
from include.segmentation.census import FEATURES
from include.segmentation.synthetic import synthetic_census

K = 4


@pytest.fixture(scope="module")
def results() -> report.RunResults:
    prepared = pipeline.preprocess(synthetic_census(300).to_csv(index=False).encode(), "s3://b/census.csv", k=K)
    x = prepared.scaled.astype("float64")
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    model = PCAModel.from_largest_first(s[:33], vt[:33].T, mean)
    variance = analysis.summarise_variance(model.singular_values, 0.8)
    n = variance.n_components
    components = pipeline.components_frame(prepared.features.index, analysis.project(x, model, n))
    kmeans = KMeans(K, n_init=4, random_state=0).fit(components.to_numpy())
    distances = np.linalg.norm(components.to_numpy()[:, None] - kmeans.cluster_centers_[None], axis=2).min(axis=1)
    segments = pipeline.segments_frame(
        components, {"closest_cluster": kmeans.labels_[:, None], "distance_to_cluster": distances[:, None]}
    )
    sizes = pipeline.segment_sizes(segments, K)
    training = {
        "TrainingJobName": "job",
        "ModelArtifacts": {"S3ModelArtifacts": "s3://b/m"},
        "BillableTimeInSeconds": 3,
    }
    run = pipeline.run_document(
        params={"k": K}, run_id="manual__test", prepared={"rows_in": 300, "rows": 298, "features": 34,
        "input_sha256": "ab" * 32}, chosen={"n_components": n, "explained": variance.explained},
        trainings={"pca": training, "kmeans": training}, endpoints={"pca": "e1", "kmeans": "e2"},
        dropped=prepared.dropped, input_uri="s3://b/census.csv",
    )  # fmt: skip
    return report.RunResults(
        run=run,
        variance=variance.to_dict(),
        features=prepared.features,
        weights=analysis.component_weights(model, FEATURES, n).reset_index(),
        centroids=pipeline.centroids_frame(kmeans.cluster_centers_, sizes),
        profiles=pipeline.segment_profiles(kmeans.cluster_centers_, model, prepared.scaling, sizes),
        segments=segments,
    )


@pytest.fixture(scope="module")
def built(results) -> tuple[str, dict[str, bytes]]:
    return report.build_report(results)


def test_every_section_is_present(built) -> None:
    html, _ = built
    for section in ("data", "pca", "kmeans", "counties", "run"):
        assert f'<section id="{section}">' in html


def test_every_image_decodes_and_is_embedded(built) -> None:
    html, plots = built
    assert {f"plots/eda_{g}.png" for g in ("commuting", "employment_type", "race_ethnicity", "income_poverty")} <= set(
        plots
    )
    for data in plots.values():
        assert plt.imread(io.BytesIO(data), format="png").ndim == 3
    assert html.count('src="data:image/png;base64,') == len(plots)


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


def test_a_component_is_described_by_its_heaviest_signed_weights() -> None:
    import pandas as pd

    weights = pd.Series({"Drive": 0.6, "Transit": -0.5, "Walk": 0.05, "Carpool": 0.3}, name="c_1")
    assert report.describe_component(weights) == "+Drive, +Carpool vs −Transit"
