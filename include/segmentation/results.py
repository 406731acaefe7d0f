"""The run's results as users read them: segments, centroids, profiles, component makeup and run.json.

Frames in, frames and documents out; where they are stored is `include.segmentation_aws`'s business.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.csv

from include.sagemaker_formats.artifacts import PCAModel
from include.segmentation import analysis
from include.segmentation.census import FEATURES, KEY_NAME, PERCENT_COLUMNS, POPULATION, UNITS

# A text cell starting with one of these is run as a formula by spreadsheet programs (OWASP "CSV injection").
FORMULA_START = r"^[=+\-@\t\r]"
# The attribute files extract_attributes publishes, in the order the report reads them.
ATTRIBUTE_FILES = ("centroids.csv", "segment_profiles.csv", "pca_components.csv")


def components_frame(keys: pd.Index, components: np.ndarray) -> pd.DataFrame:
    """(rows, n) components `c_1…c_n` indexed by State-County."""
    return pd.DataFrame(
        components, index=pd.Index(keys, name=KEY_NAME), columns=analysis.component_names(components.shape[1])
    )


def segments_frame(components: pd.DataFrame, assignment: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """`State-County, segment, distance, c_1…c_n`, one row per county, from the K-Means endpoint's labels."""
    segments = pd.DataFrame(
        {
            "segment": np.asarray(assignment["closest_cluster"]).ravel().astype(int),
            "distance": np.asarray(assignment["distance_to_cluster"]).ravel().astype(float),
        },
        index=components.index,
    )
    return segments.join(components).reset_index()


def segment_sizes(segments: pd.DataFrame, k: int) -> np.ndarray:
    """(k,) counties per segment."""
    return np.bincount(segments["segment"].to_numpy(), minlength=k)


def centroids_frame(centroids: np.ndarray, sizes: np.ndarray) -> pd.DataFrame:
    """(k, n) centroids in component space with each segment's size."""
    frame = pd.DataFrame(centroids, columns=analysis.component_names(centroids.shape[1]))
    frame.insert(0, "counties", sizes)
    frame.index.name = "segment"
    return frame.reset_index()


def profile_column(feature: str, statistic: str) -> str:
    """A segment_profiles.csv column: e.g. "Income mean [US$]", "Transit pop-weighted mean [%]"."""
    return f"{feature} {statistic} [{UNITS[feature]}]"


def segment_profiles(features: pd.DataFrame, segments: pd.DataFrame, k: int) -> pd.DataFrame:
    """Each segment described by its counties, in census units: counties, population and its share, then per
    feature the mean and median over the segment's counties and, for percentages, the population-weighted
    mean (a share of the segment's people rather than of its counties). features: (counties, 34) indexed by
    State-County; segments: segments_frame. One row per segment 0…k−1 (an empty one has NaN statistics)."""
    segment = segments.set_index(KEY_NAME)["segment"].reindex(features.index)
    if segment.isna().any():
        raise ValueError(f"{int(segment.isna().sum())} counties have no segment")
    # Selecting the columns copies every value; the cleaned features already are FEATURES, in order.
    values = features if list(features.columns) == list(FEATURES) else features[list(FEATURES)]
    grouped = values.groupby(segment.to_numpy())
    population = features[POPULATION]
    columns: dict[str, pd.Series] = {
        "counties": grouped.size(),
        "population": population.groupby(segment.to_numpy()).sum(),
    }
    columns["population_share"] = columns["population"] / population.sum()
    means, medians = grouped.mean(), grouped.median()
    weighted = features[list(PERCENT_COLUMNS)].mul(population, axis=0).groupby(segment.to_numpy()).sum()
    for feature in FEATURES:
        columns[profile_column(feature, "mean")] = means[feature]
        columns[profile_column(feature, "median")] = medians[feature]
        if feature in PERCENT_COLUMNS:
            columns[profile_column(feature, "pop-weighted mean")] = weighted[feature] / columns["population"]
    profiles = pd.DataFrame(columns).reindex(range(k))
    profiles[["counties", "population"]] = profiles[["counties", "population"]].fillna(0).astype(int)
    profiles["population_share"] = profiles["population_share"].fillna(0.0)
    profiles.index.name = "segment"
    return profiles.reset_index()


def profile_means(profiles: pd.DataFrame) -> pd.DataFrame:
    """`segment` and the mean of every feature over the segment's counties, columns named as the features."""
    means = profiles[[profile_column(feature, "mean") for feature in FEATURES]]
    means.columns = list(FEATURES)
    return pd.concat([profiles[["segment"]], means], axis=1)


def attribute_frames(
    model: PCAModel, centroids: np.ndarray, features: pd.DataFrame, segments: pd.DataFrame, k: int, n_components: int
) -> dict[str, pd.DataFrame]:
    """The results made readable, by ATTRIBUTE_FILES name: centroids with sizes, each segment's profile from
    its counties (census units), and the kept components' feature weights."""
    return {
        "centroids.csv": centroids_frame(centroids, segment_sizes(segments, k)),
        "segment_profiles.csv": segment_profiles(features, segments, k),
        "pca_components.csv": analysis.component_weights(model, FEATURES, n_components).reset_index(),
    }


def run_document(
    *,
    params: Mapping[str, object],
    run_id: str,
    prepared: Mapping[str, object],
    chosen: Mapping[str, object],
    trainings: Mapping[str, Mapping[str, object]],
    endpoints: Mapping[str, str],
    dropped: Sequence[str],
    input_uri: str,
) -> dict:
    """run.json: what ran, on what, with which resources, how long it took and what it cost in seconds.

    trainings: algorithm -> TrainingResult (job_name, model_artifact, hyperparameters, times, seconds,
    instance_count). `billable_seconds` is wall-clock, as SageMaker reports it; `billable_instance_seconds`
    is what is billed: BillableTimeInSeconds × InstanceCount, summed over the jobs.
    """
    jobs = {
        algorithm: {
            "training_job": job["job_name"],
            "model_artifact": job["model_artifact"],
            "training_start": job.get("start"),
            "training_end": job.get("end"),
            "training_seconds": job.get("training_seconds"),
            "billable_seconds": job.get("billable_seconds"),
            "instance_count": job.get("instance_count", 1),
            "hyperparameters": job.get("hyperparameters", {}),
        }
        for algorithm, job in trainings.items()
    }
    return {
        "run_id": run_id,
        "params": dict(params),
        "input": input_uri,
        "input_sha256": prepared.get("input_sha256"),
        "input_etag": prepared.get("input_etag"),
        "input_version_id": prepared.get("input_version_id"),
        "rows_in": prepared["rows_in"],
        "rows": prepared["rows"],
        "features": prepared["features"],
        "dropped": list(dropped),
        "n_components": chosen["kept_components"],
        "explained_variance": chosen["explained"],
        "training_jobs": jobs,
        "endpoints": dict(endpoints),
        "billable_seconds": sum(job["billable_seconds"] or 0 for job in jobs.values()),
        "billable_instance_seconds": sum(
            (job["billable_seconds"] or 0) * job["instance_count"] for job in jobs.values()
        ),
    }


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """CSV without the index, text quoted; text cells a spreadsheet would run as a formula get a leading `'`.

    Written by pyarrow's CSV writer: ≈ 9× faster than `DataFrame.to_csv` on a million rows of floats, with
    the same shortest round-trip numbers.
    """
    frame = frame.copy(deep=False)  # columns are replaced, never written to
    for column in frame.select_dtypes(include=["object", "string"]).columns:
        text = frame[column]
        frame[column] = text.mask(text.str.match(FORMULA_START, na=False), "'" + text.astype(str))
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(frame.columns)  # quoted only where needed, as pandas does
    buffer = io.BytesIO(header.getvalue().encode())
    buffer.seek(0, io.SEEK_END)
    table = pyarrow.Table.from_pandas(frame, preserve_index=False)
    pyarrow.csv.write_csv(table, buffer, pyarrow.csv.WriteOptions(include_header=False))
    return buffer.getvalue()
