"""What each task of the two DAGs hands the next, through XCom: one type per payload.

XCom carries names, counts and s3:// URIs, never data, so every payload is JSON as it stands: TypedDicts of
str, int, float, bool and None (a task returning one is pushed whole and, being a mapping, key by key too,
as the untyped dicts were). The file names inside a run's prefix come from `include.segmentation_aws.layout`.

Imported when the DAG files are parsed (Airflow reads a task's return type there): standard library only.
"""

from __future__ import annotations

from typing import Any, TypedDict

# A SageMaker request as the provider's operators take it (`include.segmentation_aws.requests` builds them):
# CreateTrainingJob's for the training operator.
TrainingConfig = dict[str, Any]

# A run's files for publishing: the name each has under runs/<run_id>/ -> the s3:// URI a task wrote it to.
ResultFiles = dict[str, str]


class Comparison(TypedDict):
    """compare_with_last_run: this run against the last published run of the same results folder
    (latest.json), before anything is read or paid for."""

    previous_run: str | None  # run id latest.json names; None for a folder's first run
    previous_results: str | None  # s3://…/runs/<run id>/ of that run
    previous_rows_in: int | None  # its census's rows, for the row-change gate
    previous_rows: int | None
    previous_next_id: int  # the first segment ID its run.json says was unused (0 for a first run)
    fingerprint: dict[str, Any] | None  # this run's census and settings as compared (Fingerprint.to_dict()); None
    # when nothing was compared (a first run, `force`, a last run without one)
    unchanged: bool  # the same census bytes and result-deciding settings: nothing to retrain
    reason: str  # why it is (or is not) retrained, for the log and the record


class Prepared(TypedDict):
    """preprocess: the checked census, cleaned and scaled, and PCA's training channel."""

    train_prefix: str  # s3://…/pca-train/: PCA's training channel
    cleaned: str  # URI of (counties, 34) features in census units, parquet
    counties: str  # URI of CensusId, State, County per cleaned row, parquet
    scaling: str  # URI of the min-max scaling, JSON
    dropped: str  # URI of the dropped (incomplete) rows' names, JSON
    rows_in: int  # rows of the census file
    rows: int  # rows kept
    features: int  # feature columns
    input_sha256: str  # of the census bytes read
    input_etag: str
    input_version_id: str | None  # None on a bucket without versioning
    input_bytes: int  # size of the census object as stored


class TrainingResult(TypedDict):
    """A training job (BuiltInTrainingOperator): what downstream tasks read of it, flat; the full
    DescribeTrainingJob stays out of XCom."""

    job_name: str
    job_arn: str
    status: str
    model_artifact: str  # s3://…/model.tar.gz
    hyperparameters: dict[str, str]
    start: str | None  # ISO 8601
    end: str | None
    training_seconds: int | None
    billable_seconds: int | None  # wall-clock, as SageMaker reports it: billed once per instance
    instance_count: int
    final_metrics: dict[str, float]  # DescribeTrainingJob's FinalMetricDataList: name (e.g. test:msd) -> value


class Chosen(TypedDict):
    """choose_components: the fewest PCA components reaching the variance threshold."""

    kept_components: int
    explained: float  # share of the variance they explain, 0–1
    explained_variance: str  # URI of the variance summary, JSON (published)


class KChoice(TypedDict):
    """choose_k: the number of segments, chosen among the candidates the K-Means training sweep trained (one
    candidate: the `k` param's), and the job whose model every county is assigned with."""

    k: int
    rule: str  # "silhouette", "elbow", or "fixed" (one candidate)
    training: TrainingResult  # the chosen candidate's job
    selection: str  # URI of k_selection.json: every candidate, its metrics, the rule and the choice (published)


class EndpointPlan(TypedDict):
    """endpoint_plan: CreateModel, CreateEndpointConfig and CreateEndpoint requests, as the provider's
    SageMakerEndpointOperator takes them; the teardown deletes what they name."""

    Model: dict[str, Any]
    EndpointConfig: dict[str, Any]
    Endpoint: dict[str, Any]


class BatchPlan(TypedDict):
    """batch_plan: CreateModel and CreateTransformJob requests, as the provider's SageMakerTransformOperator takes
    them; the teardown deletes the model."""

    Model: dict[str, Any]
    Transform: dict[str, Any]


class EndpointLifetime(TypedDict):
    """delete_endpoint: how long the endpoint it deleted existed, what the run pays its hosting for."""

    endpoint: str
    instance_type: str
    instance_count: int
    created: str | None  # ISO 8601, DescribeEndpoint's CreationTime just before the delete; None: already gone
    deleted: str | None  # ISO 8601, when the teardown's (deferred) wait saw the endpoint gone


class TransformUsage(TypedDict):
    """delete_batch_model: the batch transform job of the stage, as SageMaker bills it."""

    transform_job: str
    instance_type: str
    instance_count: int
    start: str | None  # ISO 8601, DescribeTransformJob's TransformStartTime
    end: str | None  # TransformEndTime


class Transformed(TypedDict):
    """transform_with_pca: every county's kept components, and K-Means' training channel."""

    components: str  # URI of (counties, n) components, parquet
    train_prefix: str  # s3://…/kmeans-train/


class Assigned(TypedDict):
    """assign_segments: every county's segment and distance."""

    segments: str  # URI of State-County, segment, distance, c_1…c_n, parquet


class Matched(TypedDict):
    """match_segments: every county's stable segment ID (its K-Means cluster kept beside it), and how the IDs
    and the churn came out against the last published run."""

    segments: str  # URI of State-County, segment (stable ID), distance, c_1…c_n, cluster, parquet
    continuity: str  # URI of run.json's `continuity` document, JSON
    changes: list[str]  # URIs of segment_changes.csv and .parquet (counties whose segment changed); [] for a first run
    segment_ids: list[int]  # this run's segment IDs, sorted
    by_cluster: list[int]  # cluster c's segment ID at [c]


class Published(TypedDict):
    """publish: where the run's results are."""

    results: str  # s3://…/runs/<run_id>/


class SweptItem(TypedDict):
    kind: str
    name: str
    action: str
    reason: str


class SweepReport(TypedDict):
    """The sweeper's sweep: what it found and what it did (or, in a dry run, would do) to each."""

    dry_run: bool
    counts: dict[str, dict[str, int]]  # action -> kind -> items
    items: list[SweptItem]
