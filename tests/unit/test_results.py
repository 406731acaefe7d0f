"""The run's results as users read them, without Airflow or AWS."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from include.segmentation import census, results
from include.segmentation.synthetic import synthetic_census


def test_segments_frame_has_the_published_columns() -> None:
    components = results.components_frame(pd.Index(["A-a", "B-b"]), np.array([[1.0, 2.0], [3.0, 4.0]]))
    assignment = {"closest_cluster": np.array([[1.0], [0.0]]), "distance_to_cluster": np.array([[0.5], [0.25]])}
    segments = results.segments_frame(components, assignment)
    assert list(segments.columns) == ["State-County", "segment", "distance", "c_1", "c_2"]
    assert segments["segment"].tolist() == [1, 0]


def test_csv_outputs_neutralise_cells_a_spreadsheet_would_run_as_formulas() -> None:
    frame = pd.DataFrame(
        {
            "State-County": ['=HYPERLINK("http://x")', "Texas-Ada", "+1", "-2+3", "@SUM(A1)", "\tcmd", None],
            "segment": [0, -1, 2, 3, 4, 5, 6],
            "distance": [-0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        }
    )
    written = pd.read_csv(io.BytesIO(results.csv_bytes(frame)), keep_default_na=False)
    assert written["State-County"].tolist() == [
        '\'=HYPERLINK("http://x")',
        "Texas-Ada",
        "'+1",
        "'-2+3",
        "'@SUM(A1)",
        "'\tcmd",
        "",
    ]
    # Numbers, negative ones included, stay numbers.
    assert written["segment"].tolist() == [0, -1, 2, 3, 4, 5, 6] and written["distance"].iloc[0] == -0.5


@pytest.mark.parametrize(
    "cell",
    [
        '＝HYPERLINK("http://x")',  # full-width equals: NFKC folds it to `=`
        "﹦1+1",  # small equals
        "＋1",  # full-width plus
        "\u200b=1+1",  # a zero-width space before the formula
        "\ufeff\u200d@SUM(A1)",  # a BOM and a zero-width joiner
        "\u202e-2+3",  # a right-to-left override
    ],
)
def test_csv_formula_guard_sees_through_unicode_forms_and_leading_format_characters(cell) -> None:
    frame = pd.DataFrame({"State-County": [cell, "Texas-Ada", "Doña Ana-Ｔexas"]})
    written = pd.read_csv(io.BytesIO(results.csv_bytes(frame)), keep_default_na=False)
    assert written["State-County"].tolist() == ["'" + cell, "Texas-Ada", "Doña Ana-Ｔexas"]  # the text kept as it was


def _segmented(features: pd.DataFrame, k: int) -> pd.DataFrame:
    labels = np.arange(len(features)) % k
    assignment = {"closest_cluster": labels, "distance_to_cluster": np.zeros(len(features))}
    return results.segments_frame(results.components_frame(features.index, np.zeros((len(features), 1))), assignment)


def test_each_profile_is_the_statistics_of_its_own_counties() -> None:
    features = census.prepare(synthetic_census(300).to_csv(index=False).encode(), "s", k=4).features
    segments = _segmented(features, 4)
    profiles = results.segment_profiles(features, segments, 4).set_index("segment")
    members = features[(np.arange(len(features)) % 4) == 2]
    row = profiles.loc[2]
    assert row["counties"] == len(members) and row["population"] == members["TotalPop"].sum()
    assert row["population_share"] == pytest.approx(members["TotalPop"].sum() / features["TotalPop"].sum())
    assert row["Income mean [US$]"] == pytest.approx(members["Income"].mean())
    assert row["MeanCommute median [minutes]"] == pytest.approx(members["MeanCommute"].median())
    weighted = (members["Transit"] * members["TotalPop"]).sum() / members["TotalPop"].sum()
    assert row["Transit pop-weighted mean [%]"] == pytest.approx(weighted)
    assert "Income pop-weighted mean [US$]" not in profiles.columns  # only shares are weighted by people
    assert profiles["population_share"].sum() == pytest.approx(1.0)


def test_an_empty_segment_has_a_row_with_no_counties() -> None:
    features = census.prepare(synthetic_census(50).to_csv(index=False).encode(), "s", k=2).features
    profiles = results.segment_profiles(features, _segmented(features, 2), 3)
    assert profiles["segment"].tolist() == [0, 1, 2] and profiles.loc[2, "counties"] == 0
    assert results.profile_means(profiles).columns.tolist()[1:4] == ["TotalPop", "Men", "Women"]


def test_stable_segment_ids_need_not_be_0_to_k_and_every_file_keeps_them() -> None:
    # After a retrain the IDs are last run's (include.segmentation.continuity): e.g. 0, 3, 7, 12.
    features = census.prepare(synthetic_census(200).to_csv(index=False).encode(), "s", k=4).features
    ids = np.array([12, 0, 7, 3])
    segments = _segmented(features, 4)
    segments["segment"] = ids[segments["segment"]]
    profiles = results.segment_profiles(features, segments, ids)
    assert profiles["segment"].tolist() == [0, 3, 7, 12]
    members = features[segments["segment"].to_numpy() == 7]
    assert profiles.set_index("segment").loc[7, "counties"] == len(members)
    assert profiles.set_index("segment").loc[7, "Income mean [US$]"] == pytest.approx(members["Income"].mean())
    centroids = np.arange(8.0).reshape(4, 2)  # row i: segment sorted(ids)[i]
    frame = results.centroids_frame(centroids, results.segment_sizes(segments, ids), ids)
    assert frame["segment"].tolist() == [0, 3, 7, 12] and frame.loc[2, "counties"] == len(members)
    labels = {0: "zero", 3: "three", 7: "seven", 12: "twelve"}
    counties = pd.DataFrame({"CensusId": np.arange(len(features)) + 1001}, index=features.index)
    published = results.published_segments(segments, counties, labels)
    assert (published["segment_label"].astype(str) == segments["segment"].map(labels)).all()


def test_segment_ids_refuse_negative_ids() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        results.segment_ids([3, -1])


def test_real_census_profiles_are_never_negative_and_are_their_counties_means(census_csv) -> None:
    from sklearn.cluster import KMeans

    prepared = census.prepare(census_csv.read_bytes(), "census", k=8)
    labels = KMeans(8, n_init=2, random_state=0).fit_predict(prepared.scaled)
    segments = results.segments_frame(
        results.components_frame(prepared.features.index, np.zeros((len(labels), 1))),
        {"closest_cluster": labels, "distance_to_cluster": np.zeros(len(labels))},
    )
    profiles = results.segment_profiles(prepared.features, segments, 8)
    statistics = profiles.drop(columns=["segment", "population_share"])
    assert (statistics >= 0).all().all() and profiles["counties"].sum() == 3218
    expected = prepared.features.groupby(labels)["TotalPop"].mean()
    assert np.allclose(profiles["TotalPop mean [people]"], expected.to_numpy())


def test_run_document_bills_each_jobs_wall_clock_seconds_once_per_instance() -> None:
    run = results.run_document(
        run_id="manual__test",
        params={"k": 3, "instance_count": 4},
        input_uri="s3://b/census.csv",
        input_sha256=None,
        input_etag=None,
        input_version_id=None,
        rows_in=10,
        rows=10,
        features=3,
        dropped=[],
        n_components=2,
        explained_variance=0.9,
        training_jobs={
            "pca": results.TrainingJob("p", "s3://b/p", billable_seconds=30, instance_count=4),
            "kmeans": results.TrainingJob("k", "s3://b/k", billable_seconds=20, instance_count=1),
        },
        endpoints={"pca": "e1", "kmeans": "e2"},
    )
    assert run["training_jobs"]["pca"]["instance_count"] == 4
    assert run["billable_seconds"] == 50 and run["billable_instance_seconds"] == 30 * 4 + 20


# In a child process, so that its peak RSS is its own: features of ROWS × 34 float64 built column by column (no
# transient copy), segments beside them; then the growth of the peak, in KiB, while `call` runs.
_PEAK_GROWTH = """
import resource, sys
import numpy as np, pandas as pd
from include.segmentation import results, traits
from include.segmentation.census import FEATURES, KEY_NAME
rows = int(sys.argv[1])
values = np.empty((rows, len(FEATURES)), order="F")
rng = np.random.default_rng(0)
for i in range(len(FEATURES)):
    rng.random(out=values[:, i])
features = pd.DataFrame(values, columns=list(FEATURES), index=pd.RangeIndex(rows, name=KEY_NAME), copy=False)
segments = pd.DataFrame({KEY_NAME: np.arange(rows), "segment": np.arange(rows) % 6, "distance": 0.0})
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
{call}
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def _peak_growth_mib(call: str, rows: int) -> float:
    code = _PEAK_GROWTH.replace("{call}", call)
    root = Path(__file__).resolve().parents[2]  # the project: `include` imports from there
    out = subprocess.run([sys.executable, "-c", code, str(rows)], cwd=root, check=True, capture_output=True, text=True)
    return int(out.stdout.split()[-1]) / 1024


@pytest.mark.parametrize(
    "call",
    [
        pytest.param("results.segment_profiles(features, segments, 6)", id="segment_profiles"),
        pytest.param("traits.of_segments(features, segments, 6)", id="segment_traits"),
    ],
)
def test_per_segment_and_per_county_statistics_need_no_copy_of_the_features(call: str) -> None:
    """At a million counties the features are 272 MB: the statistics take them a column at a time."""
    rows = 400_000
    features_mib = rows * 34 * 8 / 2**20  # 104 MiB
    assert _peak_growth_mib(call, rows) < features_mib / 4


def test_published_segments_carry_the_fips_code_and_the_segment_label() -> None:
    keys = ["Alabama-Autauga", "Texas-Travis", "Area-Finer", "Nowhere-Blank"]
    components = results.components_frame(pd.Index(keys), np.zeros((4, 1)))
    assignment = {"closest_cluster": np.array([[0], [1], [1], [0]]), "distance_to_cluster": np.zeros((4, 1))}
    segments = results.segments_frame(components, assignment)
    counties = pd.DataFrame({"CensusId": ["1001", " 48453 ", "1234567", ""]}, index=pd.Index(keys, name="State-County"))
    labels = {0: "high Transit · low Drive", 1: "=HYPERLINK(1)"}
    published = results.published_segments(segments, counties, labels)
    table = pd.read_csv(io.BytesIO(results.csv_bytes(published)), dtype={"CensusId": str}, keep_default_na=False)
    assert list(table.columns) == ["State-County", "segment", "distance", "c_1", "CensusId", "segment_label"]
    assert table["CensusId"].tolist() == ["01001", "48453", "", ""]  # no county code: left empty, not invented
    # A label is text like any other: one that would run as a formula is neutralised.
    assert table["segment_label"].tolist() == [
        "high Transit · low Drive",
        "'=HYPERLINK(1)",
        "'=HYPERLINK(1)",
        "high Transit · low Drive",
    ]


def test_published_segments_start_with_the_header_the_segmentation_view_checks() -> None:
    from include.segmentation_aws.published_runs import SEGMENTS_HEADER

    components = results.components_frame(pd.Index(["A-a"]), np.zeros((1, 2)))
    segments = results.segments_frame(components, {"closest_cluster": [[0]], "distance_to_cluster": [[0.0]]})
    counties = pd.DataFrame({"CensusId": ["1001"]}, index=pd.Index(["A-a"], name="State-County"))
    assert results.csv_bytes(results.published_segments(segments, counties, {0: "high Walk"})).startswith(
        SEGMENTS_HEADER
    )
