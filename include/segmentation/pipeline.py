"""The pipeline's domain steps, one function per DAG task, on bytes, frames and small documents.

The DAG moves bytes between S3 and these functions; nothing here knows about Airflow or boto3.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from include.sagemaker_formats.artifacts import PCAModel
from include.sagemaker_formats.recordio import decode_labels, encode_dense
from include.segmentation import analysis
from include.segmentation.census import KEY_NAME, CensusValidationError, clean, load_census
from include.segmentation.scaling import MinMaxScaling

MAX_PAYLOAD_BYTES = 5_000_000  # under InvokeEndpoint's 6 MB cap with room to spare
PROJECTION_TOLERANCE = 1e-4  # float32 endpoint vs float64 check, on 0–1 scaled data


class ProjectionMismatch(ValueError):
    """The PCA endpoint's answers disagree with (x − mean) · v from the model artifact."""


@dataclass(frozen=True)
class RunPaths:
    """Where one run's files live: `work/<token>/` for intermediates, `runs/<run_id>/` for results."""

    bucket: str
    output_prefix: str
    run_id: str
    token: str

    def work(self, name: str) -> str:
        return f"{self.output_prefix.strip('/')}/work/{self.token}/{name}"

    def result(self, name: str) -> str:
        return f"{self.output_prefix.strip('/')}/runs/{self.run_id}/{name}"

    @property
    def latest(self) -> str:
        return f"{self.output_prefix.strip('/')}/latest.json"

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


@dataclass(frozen=True)
class Preprocessed:
    """features: (n, 34) original units indexed by State-County; scaled: the same 0–1, float32."""

    rows_in: int
    features: pd.DataFrame
    scaling: MinMaxScaling
    dropped: list[str]

    @property
    def scaled(self) -> np.ndarray:
        return np.asarray(self.scaling.transform(self.features), dtype="float32")


def preprocess(csv: bytes, source: str, k: int) -> Preprocessed:
    """Validate, clean and fit the scaling; refuse a `k` the data cannot support (before any paid step)."""
    frame = load_census(csv, name=source)
    cleaned = clean(frame)
    if k > len(cleaned.features):
        raise CensusValidationError(
            [f"k={k} segments asked for, but only {len(cleaned.features)} complete rows remain"], source
        )
    return Preprocessed(len(frame), cleaned.features, MinMaxScaling.fit(cleaned.features), cleaned.dropped)


def frame_to_parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


def frame_from_parquet(data: bytes) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(data))


def batches(rows: np.ndarray, max_bytes: int = MAX_PAYLOAD_BYTES) -> Iterator[np.ndarray]:
    """Consecutive row blocks whose RecordIO-protobuf encoding stays under `max_bytes`."""
    per_row = len(encode_dense(np.ascontiguousarray(rows[:1])))
    step = max(1, max_bytes // per_row)
    for start in range(0, len(rows), step):
        yield np.ascontiguousarray(rows[start : start + step])


def transform(rows: np.ndarray, invoke: Callable[[bytes], bytes], max_bytes: int = MAX_PAYLOAD_BYTES) -> dict:
    """Every row through an endpoint, RecordIO-protobuf both ways: label key -> (n_rows, width)."""
    answers = [decode_labels(invoke(encode_dense(block))) for block in batches(rows, max_bytes)]
    if not answers:
        raise ValueError("no rows to transform")
    return {key: np.concatenate([a[key] for a in answers]) for key in answers[0]}


def top_components(projection: np.ndarray, x: np.ndarray, model: PCAModel, n: int) -> np.ndarray:
    """The top n components (`c_1` first) of endpoint projections, checked against the artifact.

    projection: (rows, num_components) as the endpoint answers, ascending; x: (rows, d) scaled rows.
    """
    expected = (x.astype("float64") - model.mean.astype("float64")) @ model.v.astype("float64")
    worst = float(np.max(np.abs(projection - expected))) if len(x) else 0.0
    if projection.shape != expected.shape or worst > PROJECTION_TOLERANCE:
        raise ProjectionMismatch(
            f"PCA endpoint projections {projection.shape} differ from (x − mean) · v {expected.shape} of the "
            f"model artifact by up to {worst:.3g} (tolerance {PROJECTION_TOLERANCE})"
        )
    return analysis.top_components_from_projection(projection, n)


def components_frame(keys: pd.Index, components: np.ndarray) -> pd.DataFrame:
    """(rows, n) components `c_1…c_n` indexed by State-County."""
    return pd.DataFrame(
        components, index=pd.Index(keys, name=KEY_NAME), columns=analysis.component_names(components.shape[1])
    )


def segments_frame(components: pd.DataFrame, assignment: dict[str, np.ndarray]) -> pd.DataFrame:
    """`State-County, segment, distance, c_1…c_n`, one row per county."""
    segments = pd.DataFrame(
        {
            "segment": assignment["closest_cluster"].ravel().astype(int),
            "distance": assignment["distance_to_cluster"].ravel().astype(float),
        },
        index=components.index,
    )
    return segments.join(components).reset_index()


def centroids_frame(centroids: np.ndarray, sizes: np.ndarray) -> pd.DataFrame:
    """(k, n) centroids in component space with each segment's size."""
    frame = pd.DataFrame(centroids, columns=analysis.component_names(centroids.shape[1]))
    frame.insert(0, "counties", sizes)
    frame.index.name = "segment"
    return frame.reset_index()


def segment_profiles(centroids: np.ndarray, model: PCAModel, scaling: MinMaxScaling, sizes: np.ndarray) -> pd.DataFrame:
    """Each centroid in the census's own units (people, dollars, percent), with the segment's size."""
    profiles = analysis.centroids_to_original_units(centroids, model, scaling)
    profiles.insert(0, "counties", sizes)
    return profiles.reset_index()


def segment_sizes(segments: pd.DataFrame, k: int) -> np.ndarray:
    return np.bincount(segments["segment"].to_numpy(), minlength=k)


# A text cell starting with one of these is run as a formula by spreadsheet programs (OWASP "CSV injection").
FORMULA_START = r"^[=+\-@\t\r]"


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """CSV without the index; text cells that a spreadsheet would run as a formula get a leading `'`."""
    frame = frame.copy()
    for column in frame.select_dtypes(include=["object", "string"]).columns:
        text = frame[column]
        frame[column] = text.mask(text.str.match(FORMULA_START, na=False), "'" + text.astype(str))
    return frame.to_csv(index=False).encode()


def json_bytes(document: object) -> bytes:
    return json.dumps(document, indent=2, default=str).encode()


def frame_from_csv(data: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data))


def json_from_bytes(data: bytes) -> object:
    return json.loads(data)


def run_document(
    *,
    params: dict,
    run_id: str,
    prepared: dict,
    chosen: dict,
    trainings: dict[str, dict],
    endpoints: dict[str, str],
    dropped: object,
    input_uri: str,
) -> dict:
    """run.json: what ran, on what, with which resources, how long it took and what it cost in seconds."""
    jobs = {
        algorithm: {
            "training_job": job["TrainingJobName"],
            "model_artifact": job["ModelArtifacts"]["S3ModelArtifacts"],
            "training_start": job.get("TrainingStartTime"),
            "training_end": job.get("TrainingEndTime"),
            "training_seconds": job.get("TrainingTimeInSeconds"),
            "billable_seconds": job.get("BillableTimeInSeconds"),
            "hyperparameters": job.get("HyperParameters", {}),
        }
        for algorithm, job in trainings.items()
    }
    return {
        "run_id": run_id,
        "params": dict(params),
        "input": input_uri,
        "input_sha256": prepared.get("input_sha256"),
        "rows_in": prepared["rows_in"],
        "rows": prepared["rows"],
        "features": prepared["features"],
        "dropped": dropped,
        "n_components": chosen["n_components"],
        "explained_variance": chosen["explained"],
        "training_jobs": jobs,
        "endpoints": endpoints,
        "billable_seconds": sum(job["billable_seconds"] or 0 for job in jobs.values()),
    }
