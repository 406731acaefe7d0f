"""The run's results as users read them: segments, centroids, profiles, component makeup and run.json.

Frames in, frames and documents out; where they are stored is `include.segmentation_aws`'s business.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.compute
import pyarrow.csv

from include.sagemaker_formats.artifacts import PCAModel
from include.segmentation import analysis, inputs
from include.segmentation.census import FEATURES, KEY_NAME, PERCENT_COLUMNS, POPULATION, UNITS

# A text cell starting with one of these is run as a formula by spreadsheet programs (OWASP "CSV injection"),
# also once NFKC-normalised (full-width `＝`, small `﹦`) and past leading format characters (zero-width
# space, joiners, BOM, bidi marks: category Cf), which a spreadsheet may fold or skip.
FORMULA_START = r"^[=+\-@\t\r]"
_NON_ASCII_START = r"^[^\x00-\x7f]"  # the cells whose first character could normalise or be skipped
# The attribute files extract_attributes publishes, in the order the report reads them.
CENTROIDS, PROFILES, WEIGHTS = "centroids.csv", "segment_profiles.csv", "pca_components.csv"
ATTRIBUTE_FILES = (CENTROIDS, PROFILES, WEIGHTS)
# The work file beside them with the traits and each segment's median distance, for the report; not published.
SEGMENT_SUMMARY = "segment_summary.json"


def components_frame(keys: pd.Index, components: np.ndarray) -> pd.DataFrame:
    """(rows, n) components `c_1…c_n` indexed by State-County."""
    return pd.DataFrame(
        components, index=pd.Index(keys, name=KEY_NAME), columns=analysis.component_names(components.shape[1])
    )


def segments_frame(components: pd.DataFrame, assignment: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """`State-County, segment, distance, c_1…c_n`, one row per county, from the K-Means endpoint's labels."""
    segments = components.reset_index()  # not a join: the labels come in the components' row order
    segments.insert(1, "segment", np.asarray(assignment["closest_cluster"]).ravel().astype(int))
    segments.insert(2, "distance", np.asarray(assignment["distance_to_cluster"]).ravel().astype(float))
    return segments


def segment_ids(segments: int | Iterable[int]) -> np.ndarray:
    """A run's segment IDs, sorted, (k,) int64. The ID is the segment's stable number across runs
    (include.segmentation.continuity); an int k stands for K-Means' own numbering 0…k−1, a prefix's first run."""
    if isinstance(segments, int | np.integer):
        return np.arange(int(segments), dtype=np.int64)
    ids = np.unique(np.fromiter(segments, dtype=np.int64))
    if ids.size == 0 or ids[0] < 0:
        raise ValueError(f"segment IDs must be non-negative integers, got {ids.tolist()}")
    return ids


CLUSTER = "cluster"  # segments.csv's column with the county's K-Means cluster, as the endpoint numbered it
FIPS = "CensusId"  # segments.csv's join key beside State-County: the county FIPS code, 5 digits
LABEL = "segment_label"  # segments.csv's column with the label the report gives the county's segment


def published_segments(segments: pd.DataFrame, counties: pd.DataFrame, labels: Mapping[int, str]) -> pd.DataFrame:
    """segments.csv: segments_frame's columns, then each county's FIPS code (`CensusId`, 5 digits with leading
    zeros, 1001 -> "01001"; empty where the input has no county code: not 4 or 5 digits) and its segment's
    label, so that the file joins on FIPS as well as on State-County. counties: CensusId per State-County
    (census.prepare's counties); labels: segment -> label for every segment in `segments`."""
    keys = pd.Index(segments[KEY_NAME])
    # The pipeline writes both in the same order: then no reindex (hashing a million keys costs ~0.5 s).
    ids = counties[FIPS] if counties.index.equals(keys) else counties[FIPS].reindex(keys)
    fips = fips_codes(ids)
    # The label as a categorical: a million rows share k texts (the CSV writer writes each as text).
    ids = segment_ids(labels)
    names, position = np.unique([labels[int(s)] for s in ids], return_inverse=True)
    segment = np.searchsorted(ids, segments["segment"].to_numpy())  # each county's segment's place in ids
    published = segments.copy(deep=False)
    published[FIPS] = pd.Series(pd.arrays.ArrowStringArray(fips), index=segments.index)
    published[LABEL] = pd.Categorical.from_codes(position[segment], names)
    if CLUSTER in published:  # K-Means' own number last: the columns before it keep their places
        published[CLUSTER] = published.pop(CLUSTER)
    return published


def fips_codes(census_ids: pd.Series) -> pyarrow.Array:
    """(rows,) CensusId texts -> (rows,) county FIPS codes, 5 digits with leading zeros (1001 -> "01001"), null
    where the text (trimmed) is not 4 or 5 digits, as the map reads them. By pyarrow: a million rows in ≈ 0.1 s."""
    text = pyarrow.compute.utf8_trim_whitespace(pyarrow.array(census_ids).cast(pyarrow.string()))
    county_code = pyarrow.compute.match_substring_regex(text, r"^[0-9]{4,5}$")
    return pyarrow.compute.if_else(county_code, pyarrow.compute.utf8_lpad(text, 5, "0"), None)


def segment_sizes(segments: pd.DataFrame, ids: int | Iterable[int]) -> np.ndarray:
    """(k,) counties per segment, in segment_ids(ids) order."""
    return SegmentSlices(segments["segment"].to_numpy(dtype="int64"), ids).sizes


def centroids_frame(centroids: np.ndarray, sizes: np.ndarray, ids: int | Iterable[int] | None = None) -> pd.DataFrame:
    """(k, n) centroids in component space with each segment's size; row i is segment segment_ids(ids)[i]
    (default: segments 0…k−1, K-Means' order)."""
    frame = pd.DataFrame(centroids, columns=analysis.component_names(centroids.shape[1]))
    frame.insert(0, "counties", sizes)
    frame.index = pd.Index(segment_ids(len(centroids) if ids is None else ids), name="segment")
    return frame.reset_index()


def profile_column(feature: str, statistic: str) -> str:
    """A segment_profiles.csv column: e.g. "Income mean [US$]", "Transit pop-weighted mean [%]"."""
    return f"{feature} {statistic} [{UNITS[feature]}]"


def segment_profiles(features: pd.DataFrame, segments: pd.DataFrame, ids: int | Iterable[int]) -> pd.DataFrame:
    """Each segment described by its counties, in census units: counties, population and its share, then per
    feature the mean and median over the segment's counties and, for percentages, the population-weighted
    mean (a share of the segment's people rather than of its counties). features: (counties, 34) indexed by
    State-County; segments: segments_frame. One row per segment of segment_ids(ids) (an empty one has NaN
    statistics)."""
    segment = segments.set_index(KEY_NAME)["segment"].reindex(features.index)
    if segment.isna().any():
        raise ValueError(f"{int(segment.isna().sum())} counties have no segment")
    population = features[POPULATION].to_numpy(dtype="float64")
    groups = SegmentSlices(segment.to_numpy(dtype="int64"), ids)
    people = _each(groups.split(population), np.sum, empty=0.0)
    columns: dict[str, np.ndarray] = {
        "counties": groups.sizes,
        "population": people.astype(int),
        "population_share": people / population.sum(),
    }
    for feature in FEATURES:
        values = features[feature].to_numpy(dtype="float64")
        parts = groups.split(values)
        columns[profile_column(feature, "mean")] = _each(parts, np.mean)
        columns[profile_column(feature, "median")] = _each(parts, np.median)
        if feature in PERCENT_COLUMNS:
            weighted = _each(groups.split(values * population), np.sum)
            with np.errstate(invalid="ignore"):  # a segment without people: NaN, as for an empty one
                columns[profile_column(feature, "pop-weighted mean")] = weighted / people
    return pd.DataFrame(columns, index=pd.Index(groups.ids, name="segment")).reset_index()


class SegmentSlices:
    """Counties grouped by segment of (counties,) int segment IDs, for the k segments of segment_ids(ids), by
    numpy: ordered by segment once, so that each segment is one contiguous slice of a reordered column (IDs
    not in `ids` are in no segment).

    A column at a time, temporaries are one column (8 MiB at a million rows), and np.median partitions where
    pandas' groupby median sorts; `features.mul(population)` made another (counties, 34) frame.
    """

    def __init__(self, segment: np.ndarray, ids: int | Iterable[int]) -> None:
        self.ids = segment_ids(ids)  # (k,) sorted
        self.order = np.argsort(segment, kind="stable")
        ordered = segment[self.order]
        starts, stops = np.searchsorted(ordered, self.ids, "left"), np.searchsorted(ordered, self.ids, "right")
        self.slices = [slice(int(start), int(stop)) for start, stop in zip(starts, stops, strict=True)]
        self.sizes = stops - starts  # (k,) counties

    def split(self, values: np.ndarray) -> list[np.ndarray]:
        """(counties,) values -> k arrays, the i-th segment's (sizes[i],) values."""
        ordered = values[self.order]
        return [ordered[part] for part in self.slices]


def _each(parts: list[np.ndarray], statistic: Callable[[np.ndarray], float], empty: float = np.nan) -> np.ndarray:
    """(k,) float64 `statistic` of each part; `empty` for an empty one."""
    return np.array([statistic(part) if len(part) else empty for part in parts], dtype="float64")


def profile_means(profiles: pd.DataFrame) -> pd.DataFrame:
    """`segment` and the mean of every feature over the segment's counties, columns named as the features."""
    means = profiles[[profile_column(feature, "mean") for feature in FEATURES]]
    means.columns = list(FEATURES)
    return pd.concat([profiles[["segment"]], means], axis=1)


def attribute_frames(
    model: PCAModel,
    centroids: np.ndarray,
    features: pd.DataFrame,
    segments: pd.DataFrame,
    ids: int | Iterable[int],
    n_components: int,
) -> dict[str, pd.DataFrame]:
    """The results made readable, by ATTRIBUTE_FILES name: centroids with sizes, each segment's profile from
    its counties (census units), and the kept components' feature weights. centroids: (k, n), row i the
    centroid of segment segment_ids(ids)[i]."""
    return {
        CENTROIDS: centroids_frame(centroids, segment_sizes(segments, ids), ids),
        PROFILES: segment_profiles(features, segments, ids),
        WEIGHTS: analysis.component_weights(model, FEATURES, n_components).reset_index(),
    }


@dataclass(frozen=True)
class TrainingJob:
    """One training job of the run, as run.json records it."""

    name: str
    model_artifact: str  # s3://…/model.tar.gz
    start: str | None = None  # ISO 8601
    end: str | None = None
    training_seconds: int | None = None
    billable_seconds: int | None = None  # wall-clock, as SageMaker reports it: billed once per instance
    instance_count: int = 1
    hyperparameters: Mapping[str, str] = field(default_factory=dict)


def run_document(
    *,
    run_id: str,
    params: Mapping[str, object],
    input_uri: str,
    input_sha256: str | None,
    input_etag: str | None,
    input_version_id: str | None,
    rows_in: int,
    rows: int,
    features: int,
    dropped: Sequence[str],
    n_components: int,
    explained_variance: float,
    training_jobs: Mapping[str, TrainingJob],
    endpoints: Mapping[str, str],
    fingerprint: Mapping[str, object] | None = None,
    continuity: Mapping[str, object] | None = None,
    max_churn: float | None = None,
    held_reason: str | None = None,
    k_selection: Mapping[str, object] | None = None,
    candidate_jobs: Mapping[int, TrainingJob] | None = None,
    endpoint_lifetimes: Mapping[str, Mapping[str, object]] | None = None,
    transform_jobs: Mapping[str, Mapping[str, object]] | None = None,
) -> dict:
    """run.json: what ran, on what, with which resources, how long it took and what it cost in seconds.

    fingerprint: fingerprint.Fingerprint.to_dict() (what the next run compares with to skip unchanged input);
    continuity: continuity.continuity_document() (segment IDs, churn against the previous published run);
    max_churn: the churn gate; held_reason: why the gate holds this run (its `state` is then "held": its files
    are published under runs/<run_id>/, latest.json does not move), None when it passed.

    input_*: the census file read, its sha256 and the object version read (ETag, VersionId or None); rows_in
    its rows, rows those kept, dropped the names of the others; n_components the PCA components kept, which
    explain `explained_variance` (0–1); training_jobs and endpoints by algorithm. `billable_seconds` is
    wall-clock, as SageMaker reports it; `billable_instance_seconds` is what is billed: BillableTimeInSeconds ×
    InstanceCount, summed over the jobs.

    k_selection: how k was chosen (rule, chosen_k, reason; k_selection.json has each candidate's metrics);
    candidate_jobs: every K-Means job the k sweep trained, by k (the chosen one is also training_jobs["kmeans"]):
    each is billed, so the billable sums count them all.

    endpoint_lifetimes: by algorithm, each endpoint's name, instance type and count, and when it was created and
    deleted (ISO 8601); transform_jobs: by algorithm, each batch transform job's name, instance type and count,
    TransformStartTime and TransformEndTime. `cost` is left to the caller to estimate from this document (its
    prices are include.segmentation_aws.cost's).
    """
    jobs = {algorithm: _job_record(job) for algorithm, job in training_jobs.items()}
    candidates = {str(k): _job_record(job) for k, job in sorted((candidate_jobs or {}).items())}
    billed = [job for algorithm, job in jobs.items() if not (candidates and algorithm == "kmeans")]
    billed += candidates.values()
    return {
        "run_id": run_id,
        "state": HELD if held_reason else PUBLISHED,
        "params": dict(params),
        "input": input_uri,
        "input_sha256": input_sha256,
        "input_is_bundled_sample": inputs.is_bundled_sample(input_sha256),
        "input_etag": input_etag,
        "input_version_id": input_version_id,
        "rows_in": rows_in,
        "rows": rows,
        "features": features,
        "dropped": list(dropped),
        "n_components": n_components,
        "explained_variance": explained_variance,
        "training_jobs": jobs,
        "endpoints": dict(endpoints),
        "k_selection": {**k_selection, "candidate_jobs": candidates} if k_selection else None,
        "billable_seconds": sum(job["billable_seconds"] or 0 for job in billed),
        "billable_instance_seconds": sum((job["billable_seconds"] or 0) * job["instance_count"] for job in billed),
        "endpoint_lifetimes": {a: dict(record) for a, record in (endpoint_lifetimes or {}).items()},
        "transform_jobs": {a: dict(record) for a, record in (transform_jobs or {}).items()},
        "cost": None,
        "fingerprint": dict(fingerprint) if fingerprint else None,
        "continuity": dict(continuity) if continuity else None,
        "gate": {"max_churn": max_churn, "refusal": held_reason},
    }


def _job_record(job: TrainingJob) -> dict:
    """run.json's record of one training job."""
    return {
        "training_job": job.name,
        "model_artifact": job.model_artifact,
        "training_start": job.start,
        "training_end": job.end,
        "training_seconds": job.training_seconds,
        "billable_seconds": job.billable_seconds,
        "instance_count": job.instance_count,
        "hyperparameters": dict(job.hyperparameters),
    }


# A run's state in run.json: it published its results and latest.json names it; the churn gate held it (its
# results are under runs/<run_id>/ for review, latest.json did not move); nothing changed, nothing was retrained.
PUBLISHED, HELD, UNCHANGED = "published", "held", "unchanged"
# What an unchanged run's run.json repeats of the run whose results still stand.
STANDING = ("rows_in", "rows", "features", "n_components", "explained_variance", "input_sha256", "k_selection")


def unchanged_document(
    *,
    run_id: str,
    params: Mapping[str, object],
    input_uri: str,
    fingerprint: Mapping[str, object],
    standing: Mapping,
    cost: Mapping[str, object] | None = None,
) -> dict:
    """run.json of a run that found nothing changed since the run whose run.json is `standing` (the census
    bytes and every result-deciding setting the same): no job ran, that run's results still stand."""
    return {
        "run_id": run_id,
        "state": UNCHANGED,
        "unchanged_since": standing["run_id"],
        "params": dict(params),
        "input": input_uri,
        "input_is_bundled_sample": inputs.is_bundled_sample(standing.get("input_sha256")),
        **{name: standing.get(name) for name in STANDING},
        "fingerprint": dict(fingerprint),
        "training_jobs": {},
        "endpoints": {},
        "billable_seconds": 0,
        "billable_instance_seconds": 0,
        "cost": None,  # as run_document's
    }


def segment_assignments(segments_csv: bytes) -> pd.Series:
    """A published segments.csv -> each county's segment ID (int64) by State-County, keys as the census had
    them (csv_bytes' leading `'` before a formula-like name taken off again)."""
    table = pyarrow.csv.read_csv(
        io.BytesIO(segments_csv),
        convert_options=pyarrow.csv.ConvertOptions(
            include_columns=[KEY_NAME, "segment"],
            column_types={KEY_NAME: pyarrow.string(), "segment": pyarrow.int64()},
            strings_can_be_null=False,
        ),
    )
    keys = pd.Series(table.column(KEY_NAME).to_pandas(), dtype=object)
    quoted = keys[keys.str.startswith("'")].str[1:]  # a few keys at most: checked one by one
    guarded = quoted[quoted.map(lambda key: re.match(FORMULA_START, key) is not None or _runs_as_formula(key))]
    keys[guarded.index] = guarded
    return pd.Series(table.column("segment").to_numpy(), index=pd.Index(keys, name=KEY_NAME), name="segment")


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """CSV without the index, text quoted; text cells a spreadsheet would run as a formula get a leading `'`.

    Written by pyarrow's CSV writer: ≈ 9× faster than `DataFrame.to_csv` on a million rows of floats, with
    the same shortest round-trip numbers.
    """
    frame = frame.copy(deep=False)  # columns are replaced, never written to
    for column in frame.select_dtypes(include="category").columns:  # its few categories, checked as text below
        categories = pd.Series(frame[column].cat.categories.astype(str))
        if categories.str.match(FORMULA_START).any() or categories.map(_runs_as_formula).any():
            frame[column] = frame[column].astype(object)
    for column in frame.select_dtypes(include=["object", "string"]).columns:
        text = frame[column]
        formula = text.str.match(FORMULA_START, na=False)
        unusual = text.str.match(_NON_ASCII_START, na=False)
        if unusual.any():  # a few cells, checked one by one: normalising every cell would cost ~1 s a million
            formula |= text[unusual].map(_runs_as_formula).reindex(text.index, fill_value=False).astype(bool)
        if formula.any():  # the quoted copy only where needed: building it costs as much as the check
            frame[column] = text.mask(formula, "'" + text.astype(str))
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(frame.columns)  # quoted only where needed, as pandas does
    buffer = io.BytesIO(header.getvalue().encode())
    buffer.seek(0, io.SEEK_END)
    table = pyarrow.Table.from_pandas(frame, preserve_index=False)
    pyarrow.csv.write_csv(table, buffer, pyarrow.csv.WriteOptions(include_header=False))
    return buffer.getvalue()


def _runs_as_formula(cell: str) -> bool:
    """Whether `cell` starts a formula once leading format characters (Cf) are skipped and the rest is
    NFKC-normalised (full-width and small forms folded to ASCII)."""
    folded = unicodedata.normalize("NFKC", _skip_format(cell))
    return re.match(FORMULA_START, _skip_format(folded)) is not None


def _skip_format(text: str) -> str:
    start = 0
    while start < len(text) and unicodedata.category(text[start]) == "Cf":
        start += 1
    return text[start:]
