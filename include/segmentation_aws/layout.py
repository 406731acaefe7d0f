"""Where one run's files live in S3: every key named once, here.

<output_prefix>/work/<token>/…      intermediates of one run (training files, models, frames)
<output_prefix>/runs/<run_id>/…     its published results (what users and the Segmentation view read)
<output_prefix>/latest.json         the last run that published everything

A published file keeps the name it had under work/<token>/; the names every reader looks for are below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

RUNS, WORK, LATEST = "runs/", "work/", "latest.json"
SEGMENT_IDS = "segment-ids.json"  # beside latest.json: the first segment ID no run of the folder has used
RUN_ID_MARKER = "run-id"
# Files of a run's results that readers look for by name (the Segmentation view, `make run`, the report's text).
RUN_DOCUMENT = "run.json"  # what ran, on what, with which resources and seconds
REPORT = "report.html"
SEGMENTS = "segments.csv"  # every county with its segment
SEGMENTS_PARQUET = "segments.parquet"  # the same, typed, for query engines (include.segmentation.parquet_tables)
SEGMENT_CHANGES = "segment_changes.csv"  # the counties whose segment changed since the previous published run
EXPLAINED_VARIANCE = "explained_variance.json"
K_SELECTION = "k_selection.json"  # the k sweep's candidates, their metrics, the rule and the chosen k
PLOTS = "plots/"  # the report's figures, plots/<name>.png
# A run's results URI as publish records it: s3://<bucket>/<output_prefix>/runs/<run_id>/ (bucket, the key
# prefix above runs/, the run id).
RESULTS_URI = re.compile(rf"s3://([a-z0-9][a-z0-9.\-]{{1,61}}[a-z0-9])/((?:[^/]+/)*){RUNS}([^/]+)/")


def results_prefix(output_prefix: str, run_id: str) -> str:
    """`<output_prefix>/runs/<run_id>/`: a run's published results, for readers that only know the run id."""
    return f"{output_prefix.strip('/')}/{RUNS}{run_id}/"


def results_location(uri: str) -> tuple[str, str, str] | None:
    """(bucket, key prefix, run id) of a run's results URI, `s3://<bucket>/<output_prefix>/runs/<run_id>/`, the
    key prefix ending in `runs/<run_id>/`; None for any other text."""
    match = RESULTS_URI.fullmatch(uri)
    if match is None:
        return None
    bucket, above, run_id = match.groups()
    return bucket, f"{above}{RUNS}{run_id}/", run_id


def report_uri(results_uri: str) -> str:
    """The report of the run whose results are at `results_uri` (`s3://…/runs/<run_id>/`)."""
    return results_uri + REPORT


def work_root(output_prefix: str) -> str:
    """`<output_prefix>/work/`: one `<token>/` prefix per run below it."""
    return f"{output_prefix.strip('/')}/{WORK}"


def latest_key(output_prefix: str) -> str:
    return f"{output_prefix.strip('/')}/{LATEST}"


@dataclass(frozen=True)
class RunLayout:
    """The S3 keys of one run: `bucket`, its `output_prefix` param, the Airflow run id and the run's token."""

    bucket: str
    output_prefix: str
    run_id: str
    token: str  # RunNames.token: the same token names the run's SageMaker resources

    # --- intermediates ----------------------------------------------------------------------------------
    @property
    def work_prefix(self) -> str:
        return f"{work_root(self.output_prefix)}{self.token}/"

    def work(self, name: str) -> str:
        return self.work_prefix + name

    @property
    def run_id_marker(self) -> str:
        """`work/<token>/run-id`: the run id as text, so the sweeper knows whose intermediates these are."""
        return self.work(RUN_ID_MARKER)

    def training_prefix(self, algorithm: str) -> str:
        """The training channel of `algorithm`: every file under it is training data."""
        return self.work(f"{algorithm}-train/")

    def training_file(self, algorithm: str, part: int = 0) -> str:
        """Shard `part` of the training channel: `part-00000.rec`, `part-00001.rec`, … in row order."""
        return f"{self.training_prefix(algorithm)}part-{part:05d}.rec"

    def batch_output_prefix(self, algorithm: str) -> str:
        """Where `algorithm`'s batch transform job writes `<input object>.out` for each training file."""
        return self.work(f"{algorithm}-batch/")

    @property
    def models_prefix(self) -> str:
        """Where SageMaker writes each job's `<job>/output/model.tar.gz`."""
        return self.work("models/")

    @property
    def input_version(self) -> str:
        """The census version the run read first (ETag, VersionId), JSON: retries read that version again."""
        return self.work("input-version.json")

    @property
    def cleaned(self) -> str:
        """(counties, 34) features in census units, parquet, indexed by State-County."""
        return self.work("cleaned.parquet")

    @property
    def counties(self) -> str:
        """CensusId (county FIPS code), State, County of the cleaned rows, parquet, indexed by State-County."""
        return self.work("counties.parquet")

    @property
    def scaling(self) -> str:
        return self.work("scaling.json")

    @property
    def dropped(self) -> str:
        return self.work("dropped.json")

    @property
    def explained_variance(self) -> str:
        return self.work("explained_variance.json")

    @property
    def components(self) -> str:
        """(counties, n) kept PCA components, parquet."""
        return self.work("components.parquet")

    @property
    def segments(self) -> str:
        """Every county's segment and distance from the K-Means endpoint, with its components, parquet."""
        return self.work("segments.parquet")

    @property
    def matched_segments(self) -> str:
        """segments with each K-Means cluster matched to its stable segment ID (`segment`; `cluster` kept), parquet."""
        return self.work("segments-matched.parquet")

    @property
    def continuity(self) -> str:
        """How this run's segment IDs and churn came out against the previous published run, JSON."""
        return self.work("continuity.json")

    @property
    def k_selection(self) -> str:
        """Every candidate k the K-Means training trained, its metrics, the rule and the chosen k, JSON."""
        return self.work(K_SELECTION)

    @property
    def segment_changes(self) -> str:
        return self.work(SEGMENT_CHANGES)

    # --- results ------------------------------------------------------------------------------------------
    @property
    def results_prefix(self) -> str:
        return results_prefix(self.output_prefix, self.run_id)

    def result(self, name: str) -> str:
        return self.results_prefix + name

    def published_name(self, uri: str) -> str:
        """The name the work file at `uri` is published under: its name below `work/<token>/`. ValueError for a
        URI that is not a file of this run's work prefix."""
        work = self.uri(self.work_prefix)
        if not uri.startswith(work) or uri == work:
            raise ValueError(f"{uri} is not a file under run {self.run_id}'s work prefix {work}")
        return uri[len(work) :]

    @property
    def latest(self) -> str:
        return latest_key(self.output_prefix)

    @property
    def segment_ids(self) -> str:
        """`<output_prefix>/segment-ids.json`: {"next_id": n}, raised by every run that published its files
        (held ones too), so that a new segment never takes an ID any run of the folder has shown."""
        return f"{self.output_prefix.strip('/')}/{SEGMENT_IDS}"

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"
