"""The pipeline's domain steps, without Airflow or AWS."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from include.sagemaker_formats.artifacts import PCAModel
from include.sagemaker_formats.recordio import decode_features, encode_labels
from include.segmentation import pipeline
from include.segmentation.census import CensusValidationError
from include.segmentation.synthetic import synthetic_census


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def test_preprocess_cleans_scales_and_counts() -> None:
    prepared = pipeline.preprocess(_csv(synthetic_census(300)), "s3://b/in.csv", k=8)
    assert prepared.rows_in == 300 and len(prepared.features) == 298 and len(prepared.dropped) == 2
    assert prepared.scaled.dtype == np.float32 and prepared.scaled.min() == 0 and prepared.scaled.max() == 1


def test_preprocess_refuses_more_segments_than_rows() -> None:
    with pytest.raises(CensusValidationError, match=r"s3://b/in.csv: k=30 segments asked for, but only 20"):
        pipeline.preprocess(_csv(synthetic_census(20, missing_rows=0)), "s3://b/in.csv", k=30)


def test_batches_stay_under_the_payload_limit_and_cover_every_row() -> None:
    rows = np.random.default_rng(0).random((1000, 34), dtype=np.float32)
    blocks = list(pipeline.batches(rows, max_bytes=20_000))
    assert sum(len(b) for b in blocks) == 1000 and len(blocks) > 1
    assert all(len(pipeline.encode_dense(b)) <= 20_000 for b in blocks)


def test_transform_sends_recordio_and_joins_the_answers_in_order() -> None:
    rows = np.arange(60, dtype=np.float32).reshape(20, 3)
    calls = []

    def endpoint(body: bytes) -> bytes:
        x = decode_features(body)
        calls.append(len(x))
        return encode_labels({"projection": x * 2})

    answer = pipeline.transform(rows, endpoint, max_bytes=200)
    assert len(calls) > 1 and np.array_equal(answer["projection"], rows * 2)


@pytest.fixture
def model() -> PCAModel:
    axes, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(4, 3)))
    return PCAModel.from_largest_first(np.array([3.0, 2.0, 1.0]), axes, np.full(4, 0.5))


def test_top_components_reverse_the_endpoint_order_after_checking_it(model) -> None:
    x = np.random.default_rng(1).random((5, 4)).astype("float32")
    projection = (x - model.mean) @ model.v
    top = pipeline.top_components(projection, x, model, 2)
    assert np.allclose(top, projection[:, ::-1][:, :2])


def test_a_projection_that_disagrees_with_the_artifact_fails(model) -> None:
    x = np.random.default_rng(1).random((5, 4)).astype("float32")
    projection = (x - model.mean) @ model.v
    projection[2, 1] += 0.01
    with pytest.raises(pipeline.ProjectionMismatch, match="differ from \\(x − mean\\) · v"):
        pipeline.top_components(projection, x, model, 2)


def test_segments_frame_has_the_published_columns() -> None:
    components = pipeline.components_frame(pd.Index(["A-a", "B-b"]), np.array([[1.0, 2.0], [3.0, 4.0]]))
    assignment = {"closest_cluster": np.array([[1.0], [0.0]]), "distance_to_cluster": np.array([[0.5], [0.25]])}
    segments = pipeline.segments_frame(components, assignment)
    assert list(segments.columns) == ["State-County", "segment", "distance", "c_1", "c_2"]
    assert segments["segment"].tolist() == [1, 0]


def test_run_paths_separate_work_from_results() -> None:
    paths = pipeline.RunPaths("b", "seg/", "manual__2026", "tok")
    assert paths.work("x.rec") == "seg/work/tok/x.rec"
    assert paths.result("run.json") == "seg/runs/manual__2026/run.json"
    assert paths.latest == "seg/latest.json" and paths.uri("k") == "s3://b/k"


def test_csv_outputs_neutralise_cells_a_spreadsheet_would_run_as_formulas() -> None:
    frame = pd.DataFrame(
        {"State-County": ["=HYPERLINK(\"http://x\")", "Texas-Ada", "+1", "-2+3", "@SUM(A1)", "\tcmd", None],
         "segment": [0, -1, 2, 3, 4, 5, 6], "distance": [-0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]}
    )  # fmt: skip
    written = pd.read_csv(io.BytesIO(pipeline.csv_bytes(frame)), keep_default_na=False)
    assert written["State-County"].tolist() == [
        "'=HYPERLINK(\"http://x\")", "Texas-Ada", "'+1", "'-2+3", "'@SUM(A1)", "'\tcmd", ""
    ]  # fmt: skip
    # Numbers, negative ones included, stay numbers.
    assert written["segment"].tolist() == [0, -1, 2, 3, 4, 5, 6] and written["distance"].iloc[0] == -0.5
