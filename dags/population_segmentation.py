"""Population segmentation on Amazon SageMaker: census → PCA → K-Means → readable segments.

Wiring only: what each task does is in `include.airflow_popseg.steps`. Every SageMaker resource name
derives from the run, each endpoint is deleted by its teardown as soon as its work is done (also when
anything fails), every file a task hands another travels as an XCom URI, and `latest.json` moves only
when a run published everything. Parsing imports Airflow and the provider only.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Asset, Param, TaskGroup, chain, dag, get_current_context, task, teardown

from include.airflow_popseg import alerts, lineage
from include.airflow_popseg.context import RunContext
from include.airflow_popseg.handoffs import (
    Assigned,
    BatchPlan,
    Chosen,
    Comparison,
    EndpointLifetime,
    EndpointPlan,
    KChoice,
    Matched,
    Prepared,
    Published,
    ResultFiles,
    TrainingConfig,
    TrainingResult,
    Transformed,
    TransformUsage,
)
from include.airflow_popseg.links import SegmentationReportLink
from include.airflow_popseg.operators import (
    BuiltInTrainingOperator,
    EndpointTeardownOperator,
    ReattachingEndpointOperator,
    ReattachingTransformOperator,
    TemplatedTimeoutS3KeySensor,
)
from include.airflow_popseg.params import bucket_param, output_prefix_param
from include.airflow_popseg.settings import (
    BOTOCORE_CONFIG,
    CHECK_INTERVAL,
    CONN_ID_TEMPLATE,
    DAG_ID,
    DEADLINE_HOURS,
    ENDPOINT_INSTANCE_TYPES,
    REATTACH_RETRY_DELAY_SECONDS,
    RESULTS_ASSET_NAME,
    RESULTS_ASSET_URI,
    RETRIES,
    RETRY_DELAY_SECONDS,
    RUNS_ASSET_NAME,
    RUNS_ASSET_URI,
    TEARDOWN_TIMEOUT_SECONDS,
    TRAINING_INSTANCE_TYPES,
    TRAINING_MAX_MINUTES,
)
from include.airflow_popseg.trigger_conf import (
    INPUT_KEY_PATTERN,
    MAX_KEY_BYTES,
    refuse_params_out_of_bounds,
    refuse_unknown_keys,
)
from include.segmentation_aws.defaults import DEFAULT_CENSUS_FILE

RESULTS = Asset(name=RESULTS_ASSET_NAME, uri=RESULTS_ASSET_URI)  # latest.json moved
RUNS = Asset(name=RUNS_ASSET_NAME, uri=RUNS_ASSET_URI)  # a run recorded itself: the Segmentation view's index

# The census's numeric features (len(include.segmentation.census.FEATURES), not imported here: pandas). PCA
# computes at most feature_dim components, so num_components is bounded by it.
CENSUS_FEATURES = 34
# The trigger form shows params without a section first, open ("Run Parameters"): the ones people change.
INPUT, SAGEMAKER, NIGHTLY = "Census file and results", "SageMaker", "Nightly runs"
PARAMS = {
    "k": Param(8, type="integer", minimum=2, maximum=50, title="Number of segments",
               description="How many segments to group the counties into (2 to 50), unless Smallest k and "
                           "Largest k ask for a sweep"),
    "k_min": Param(None, type=["null", "integer"], minimum=2, maximum=50, title="Smallest k (sweep)",
                   description="To let the data choose the number of segments: the smallest k to try. K-Means "
                               "trains every k from Smallest k to Largest k at once (at most 12), each on "
                               "SageMaker, and the rule below picks one. Empty: no sweep, Number of segments"),
    "k_max": Param(None, type=["null", "integer"], minimum=2, maximum=50, title="Largest k (sweep)",
                   description="The largest k to try (with Smallest k; at most 11 more than it)"),
    "k_rule": Param("silhouette", type="string", enum=["silhouette", "elbow"], title="How to choose k",
                    description="silhouette: the k whose counties sit closest to their own segment and farthest "
                                "from the next (the highest mean silhouette of a sample of 5,000 counties). "
                                "elbow: the k after which more segments stop tightening them much (the knee of "
                                "SageMaker's mean squared distance to the centroid against k; 3 k or more)"),
    "variance_threshold": Param(0.80, type="number", minimum=0.5, maximum=0.99,
                                title="Share of variance to keep",
                                description="Share of the census's variation the kept PCA components must explain "
                                            "(0.8 = 80 %); the fewest components that reach it are kept"),
    "num_components": Param(None, type=["null", "integer"], minimum=1, maximum=CENSUS_FEATURES,
                            title="PCA components to train",
                            description="How many PCA components to train (1 to 34, the census features); leave "
                                        "empty for one fewer than the number of census features (33)"),
    "bucket": bucket_param("S3 bucket that holds the census file and receives the results", section=INPUT),
    "input_key": Param(DEFAULT_CENSUS_FILE, type="string", minLength=1, maxLength=MAX_KEY_BYTES,
                       pattern=INPUT_KEY_PATTERN, title="Census file", section=INPUT,
                       description="Path of the census CSV inside the bucket (one row per county, 37 columns)"),
    "output_prefix": output_prefix_param("Folder in the bucket for the results: each run's files go to "
                                         "<prefix>/runs/<run id>/, and <prefix>/latest.json names the newest",
                                         section=INPUT),
    "sensor_timeout_seconds": Param(6 * 3600, type="integer", minimum=1, maximum=7 * 24 * 3600,
                                    title="Wait for the census file (seconds)", section=INPUT,
                                    description="How long to wait, in seconds, for the census file to appear "
                                                "before the run fails (default 6 hours)"),
    # Instance types: only those of the [popseg] allow-lists (the form shows a select of them).
    "training_instance_type": Param(TRAINING_INSTANCE_TYPES[0], type="string", enum=list(TRAINING_INSTANCE_TYPES),
                                    title="Training instance type", section=SAGEMAKER,
                                    description="SageMaker machine type for the PCA and K-Means training jobs"),
    "instance_count": Param(1, type="integer", minimum=1, maximum=20, title="Training instances", section=SAGEMAKER,
                            description="How many machines each training job runs on (1 to 20); with more "
                                        "than one, each reads its share of the training files"),
    "endpoint_instance_type": Param(ENDPOINT_INSTANCE_TYPES[0], type="string", enum=list(ENDPOINT_INSTANCE_TYPES),
                                    title="Endpoint instance type", section=SAGEMAKER,
                                    description="SageMaker machine type for the two temporary endpoints that "
                                                "transform and assign the counties (deleted after use)"),
    "transform": Param("endpoint", type="string", enum=["endpoint", "batch"], title="How to transform the counties",
                       section=SAGEMAKER,
                       description="endpoint: through a temporary real-time endpoint per algorithm (deleted after "
                                   "use). batch: a SageMaker batch transform job per algorithm on the training "
                                   "instance type, which reads the rows from S3 and writes the answers there; no "
                                   "endpoint exists at any time"),
    "role_arn": Param(None, type=["null", "string"], pattern=r"^arn:aws[a-z\-]*:iam::\d{12}:role/.+$",
                      title="SageMaker execution role", section=SAGEMAKER,
                      description="IAM role SageMaker runs the jobs as; leave empty to use the "
                                  "popseg_role_arn Airflow Variable"),
    "force": Param(False, type="boolean", title="Retrain even if nothing changed", section=NIGHTLY,
                   description="A run whose census and settings equal the last published run's trains nothing "
                               "and records 'unchanged'; tick to retrain anyway"),
    "max_churn": Param(0.40, type=["null", "number"], minimum=0, maximum=1, title="Churn gate", section=NIGHTLY,
                       description="Largest share of counties that may change segment against the last published "
                                   "run (0.4 = 40 %); above it the run's results are kept for review but do not "
                                   "become the latest, and the run fails. Empty: no gate"),
    "max_row_change": Param(0.10, type=["null", "number"], minimum=0, maximum=1, section=NIGHTLY,
                            title="Row-count gate",
                            description="Largest change in the census's row count against the last published "
                                        "run (0.1 = 10 %) before anything is trained. Empty: no gate"),
    "max_dropped_share": Param(0.05, type=["null", "number"], minimum=0, maximum=1, section=NIGHTLY,
                               title="Incomplete-row gate",
                               description="Largest share of census rows with an empty cell (dropped) before "
                                           "anything is trained (0.05 = 5 %). Empty: no gate"),
}  # fmt: skip

# What the Airflow UI shows on the DAG's page ("Docs"): for the people who trigger and read runs.
DOC_MD = """
### Population segmentation

Groups US counties into segments of similar census profile, nightly at 02:00 UTC or when you trigger it.

1. **Waits** for the census CSV at `s3://<bucket>/<input_key>` (one row per county, 37 columns: `CensusId`,
   `State`, `County` and 34 numeric features), up to *Wait for the census file (seconds)*.
2. **Compares** it with the last published run: the same file and settings train nothing; the run is recorded
   as unchanged and finishes in seconds (tick *Retrain even if nothing changed* to retrain anyway).
3. **Checks** it: a file that breaks the contract, or whose row count moved too far from the last run's, fails
   the run here, naming the row, column or counts, before anything is paid for. Rows with an empty cell are
   dropped and listed.
4. **PCA** on SageMaker keeps the fewest components that explain the *Share of variance to keep*.
5. **K-Means** on SageMaker puts every county in one of *Number of segments* segments, or trains every k from
   *Smallest k (sweep)* to *Largest k (sweep)* at once and keeps the k that *How to choose k* picks (the report
   shows why). Each segment keeps the number it had in the last published run (matched by the counties they
   share), and the churn is measured.
6. **Publishes** `report.html`, `segments.csv` (FIPS code, segment, label, distance) and the model files under
   `s3://<bucket>/<output_prefix>/runs/<run id>/`, then points `<output_prefix>/latest.json` at them, unless
   more counties changed segment than the *Churn gate* allows: then the run is kept for review and fails.

Open a run's report from the **Report** button of its `publish` task, or from **Segments** in the menu. The two
temporary SageMaker endpoints are deleted as soon as their work is done, also when the run fails; a failed
run never moves `latest.json`. With *How to transform the counties* set to batch, SageMaker batch transform
jobs do the endpoints' work instead, and no endpoint exists at any time. Instance types are limited to the
deployment's allow-list (trigger form).
"""

# Every task may be repeated: training and deploy reattach to what the run created, the others rewrite the
# same keys. Failures that would repeat (bad input, a failed job) raise AirflowFailException and skip retries.
# The AWS arguments reach the sensor and the SageMaker operators (tasks ignore what they do not take).
DEFAULT_ARGS = {
    "retries": RETRIES,
    "retry_delay": timedelta(seconds=RETRY_DELAY_SECONDS),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
    "aws_conn_id": CONN_ID_TEMPLATE,
    "botocore_config": BOTOCORE_CONFIG,
    "check_interval": CHECK_INTERVAL,
    "on_failure_callback": alerts.on_task_failure,  # to the alerts topic, once retries are spent
}
# Training and deploy reattach to what the run started: their retries cost seconds, so they come quickly.
REATTACH_RETRY = {
    "retry_delay": timedelta(seconds=REATTACH_RETRY_DELAY_SECONDS),
    "max_retry_delay": timedelta(minutes=1),
}


@dag(
    dag_id=DAG_ID,
    description="Segment US counties by census profile with SageMaker PCA and K-Means",
    schedule="0 2 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    params=PARAMS,
    default_args=DEFAULT_ARGS,
    tags=["sagemaker", "segmentation"],
    doc_md=DOC_MD,
    on_success_callback=alerts.on_run_success,
    deadline=alerts.deadline_alert(DEADLINE_HOURS) if DEADLINE_HOURS else None,
)
def population_segmentation():
    @task
    def check_params() -> None:
        """Refuse, before any AWS call, a trigger conf with a key that is not a param (a typo would be ignored)
        and params outside their bounds (instance types off the allow-lists, S3 names S3 would refuse)."""
        context = get_current_context()
        refuse_unknown_keys(context["dag_run"].conf or {}, PARAMS)
        refuse_params_out_of_bounds(
            context["params"], training_instance_types=TRAINING_INSTANCE_TYPES,
            endpoint_instance_types=ENDPOINT_INSTANCE_TYPES, max_components=CENSUS_FEATURES,
        )  # fmt: skip

    wait_for_census = TemplatedTimeoutS3KeySensor(
        task_id="wait_for_census",
        bucket_name="{{ params.bucket }}",
        bucket_key="{{ params.input_key }}",
        timeout_seconds="{{ params.sensor_timeout_seconds }}",
        poke_interval=CHECK_INTERVAL,
        deferrable=True,
    )

    @task
    def compare_with_last_run() -> Comparison:
        """The census and settings against the last published run's: anything changed that decides results?"""
        from include.airflow_popseg import steps

        return steps.compare_with_last_run(RunContext.current())

    @task.branch
    def retrain_or_skip(comparison: Comparison) -> str:
        """Retrain (preprocess …) unless nothing changed (record_unchanged), or the `force` param is set."""
        return "record_unchanged" if comparison["unchanged"] else "preprocess"

    @task(outlets=[RUNS])
    def record_unchanged(comparison: Comparison) -> Published:
        """Nothing changed: record the run as unchanged since the last published run; train nothing."""
        from include.airflow_popseg import steps

        summary = steps.record_unchanged(RunContext.current(), comparison)
        get_current_context()["outlet_events"][RUNS].extra = summary  # the Segmentation view's index
        return Published(results=summary["results"])

    @task
    def preprocess(comparison: Comparison) -> Prepared:
        """Validate, clean and scale the census, check it against the last run's (row count, dropped rows);
        write PCA's training file. Fails before any SageMaker call."""
        from include.airflow_popseg import steps

        return steps.preprocess(RunContext.current(), comparison)

    @task
    def pca_training_config(prepared: Prepared) -> TrainingConfig:
        from include.airflow_popseg import steps

        return steps.pca_training(RunContext.current(), prepared)

    TRAINING = {
        "deferrable": True,
        "print_log": True,
        "max_attempts": max(1, int(TRAINING_MAX_MINUTES * 60 // CHECK_INTERVAL)),
        **REATTACH_RETRY,
    }

    @task
    def choose_components(training: TrainingResult) -> Chosen:
        """The fewest components reaching the variance threshold, from the artifact of the job that ran."""
        from include.airflow_popseg import steps

        return steps.choose_components(RunContext.current(), training)

    @task
    def endpoint_plan(algorithm: str, training: TrainingResult) -> EndpointPlan:
        """Setup: the endpoint's model, config and endpoint, for the training job that actually ran."""
        from include.airflow_popseg import steps

        return steps.endpoint_plan(RunContext.current(), algorithm, training)

    def serve(algorithm: str, path, training, work):
        """path → plan → deploy → work(plan) → teardown: an endpoint that lives exactly as long as its work, when
        the branch `path` takes it. Returns (the work, the teardown)."""
        plan = endpoint_plan.override(task_id=f"plan_{algorithm}_endpoint")(algorithm, training)
        # Deferred while the endpoint is Creating (6–7 minutes on AWS): no worker slot held meanwhile.
        deploy = ReattachingEndpointOperator(
            task_id=f"deploy_{algorithm}", config=plan, deferrable=True, do_xcom_push=False, **REATTACH_RETRY
        )
        done = work(plan)
        # Deletes the endpoint, its config and its model, deferred while SageMaker deletes the endpoint; returns
        # when the endpoint was created and deleted, for the run's cost.
        delete = EndpointTeardownOperator(
            task_id=f"delete_{algorithm}_endpoint", plan=plan, timeout_seconds=TEARDOWN_TIMEOUT_SECONDS
        )
        chain(path, plan, deploy, done, delete.as_teardown(setups=plan, on_failure_fail_dagrun=True))
        return done, delete.output

    @task.branch
    def transform_path(algorithm: str) -> str:
        """The `transform` param's path for this stage: its endpoint, or its batch transform job."""
        mode = get_current_context()["params"]["transform"]
        return f"plan_{algorithm}_batch" if mode == "batch" else f"plan_{algorithm}_endpoint"

    @task
    def batch_plan(algorithm: str, training: TrainingResult, input_prefix: str) -> BatchPlan:
        """Setup: the batch transform's model and job over the stage's input files, for the job that ran."""
        from include.airflow_popseg import steps

        return steps.batch_plan(RunContext.current(), algorithm, training, input_prefix)

    @teardown
    def delete_batch_model(plan: BatchPlan) -> TransformUsage | None:
        """Delete the batch transform's model; gone already is fine. Returns the transform job's billed times."""
        from include.airflow_popseg import steps

        return steps.delete_batch_model(RunContext.current(), plan)

    def serve_by_batch(algorithm: str, path, training, input_prefix, work):
        """path → plan → transform job → work(plan) → teardown: the batch path of a stage, when the branch `path`
        takes it. Returns (the work, the teardown)."""
        plan = batch_plan.override(task_id=f"plan_{algorithm}_batch")(algorithm, training, input_prefix)
        job = ReattachingTransformOperator(
            task_id=f"batch_{algorithm}", config=plan, deferrable=True, do_xcom_push=False,
            max_attempts=max(1, int(TRAINING_MAX_MINUTES * 60 // CHECK_INTERVAL)), **REATTACH_RETRY,
        )  # fmt: skip
        done = work(plan)
        delete = delete_batch_model.override(task_id=f"delete_{algorithm}_model")(plan)
        chain(path, plan, job, done, delete.as_teardown(setups=plan, on_failure_fail_dagrun=True))
        return done, delete

    @task
    def transform_with_pca(
        plan: EndpointPlan, training: TrainingResult, chosen: Chosen, prepared: Prepared
    ) -> Transformed:
        """Every county through the PCA endpoint; keep c_1…c_n, checked against (x − mean) · v."""
        from include.airflow_popseg import steps

        return steps.transform_with_pca(RunContext.current(), plan, training, chosen, prepared)

    @task
    def read_pca_batch(plan: BatchPlan, training: TrainingResult, chosen: Chosen, prepared: Prepared) -> Transformed:
        """Every county's projection from the PCA transform job's output; kept and checked as by the endpoint."""
        from include.airflow_popseg import steps

        return steps.transform_with_pca_batch(RunContext.current(), plan, training, chosen, prepared)

    @task(trigger_rule="none_failed_min_one_success")
    def projected(by_endpoint: Transformed | None, by_batch: Transformed | None) -> Transformed:
        """Every county's kept components, from whichever path ran."""
        return by_endpoint or by_batch

    @task
    def kmeans_training_configs(prepared: Prepared, chosen: Chosen, transformed: Transformed) -> list[TrainingConfig]:
        """One K-Means training job per candidate k: the `k` param's, or k_min…k_max for a sweep."""
        from include.airflow_popseg import steps

        return steps.kmeans_trainings(RunContext.current(), prepared, chosen, transformed)

    @task
    def choose_k(trainings: list[TrainingResult], transformed: Transformed) -> KChoice:
        """Each candidate's metrics (SageMaker's test:msd/test:ssd, silhouette and within-cluster SS from its
        model); k by the `k_rule` param; k_selection.json. Only the chosen model gets an endpoint."""
        from include.airflow_popseg import steps

        return steps.choose_k(RunContext.current(), steps.each(trainings), transformed)

    @task
    def assign_segments(plan: EndpointPlan, transformed: Transformed) -> Assigned:
        """Every county's segment and distance from the K-Means endpoint."""
        from include.airflow_popseg import steps

        return steps.assign_segments(RunContext.current(), plan, transformed)

    @task
    def read_kmeans_batch(plan: BatchPlan, transformed: Transformed) -> Assigned:
        """Every county's segment and distance from the K-Means transform job's output."""
        from include.airflow_popseg import steps

        return steps.assign_segments_batch(RunContext.current(), plan, transformed)

    @task(trigger_rule="none_failed_min_one_success")
    def assigned_segments(by_endpoint: Assigned | None, by_batch: Assigned | None) -> Assigned:
        """Every county's segment, from whichever path ran."""
        return by_endpoint or by_batch

    @task
    def match_segments(assigned: Assigned, comparison: Comparison, chosen_k: KChoice) -> Matched:
        """Segment IDs that stay from run to run: each cluster matched to the last run's segments; the churn."""
        from include.airflow_popseg import steps

        return steps.match_segments(RunContext.current(), assigned, comparison, chosen_k)

    @task
    def extract_attributes(
        pca: TrainingResult, kmeans: TrainingResult, chosen: Chosen, prepared: Prepared, matched: Matched
    ) -> ResultFiles:
        """Centroids, segment profiles, component makeup, and segments.csv with FIPS codes and segment labels."""
        from include.airflow_popseg import steps

        return steps.extract_attributes(RunContext.current(), pca, kmeans, chosen, prepared, matched)

    @task(trigger_rule="none_failed_min_one_success")  # one transform path's teardowns are skipped
    def document_run(
        prepared: Prepared,
        chosen: Chosen,
        pca: TrainingResult,
        chosen_k: KChoice,
        trainings: list[TrainingResult],
        matched: Matched,
        pca_endpoint: EndpointLifetime | None,
        kmeans_endpoint: EndpointLifetime | None,
        pca_batch: TransformUsage | None,
        kmeans_batch: TransformUsage | None,
    ) -> ResultFiles:
        """run.json: params, input and its checksum, jobs, timings, billable seconds, fingerprint, k, churn, gate,
        and the estimated cost, once the teardowns have said how long each endpoint lived."""
        from include.airflow_popseg import steps

        return steps.document_run(
            RunContext.current(), prepared, chosen, pca, chosen_k, steps.each(trainings), matched,
            lifetimes=(pca_endpoint, kmeans_endpoint), transforms=(pca_batch, kmeans_batch),
        )  # fmt: skip

    @task
    def build_report(
        prepared: Prepared,
        chosen: Chosen,
        chosen_k: KChoice,
        matched: Matched,
        attributes: ResultFiles,
        documented: ResultFiles,
    ) -> ResultFiles:
        """report.html (self-contained) and its plots as PNG files."""
        from include.airflow_popseg import steps

        return steps.build_report(RunContext.current(), prepared, chosen, chosen_k, matched, attributes, documented)

    @task(outlets=[RUNS], trigger_rule="none_failed_min_one_success")  # one transform path's teardowns are skipped
    def publish(
        chosen: Chosen,
        chosen_k: KChoice,
        matched: Matched,
        attributes: ResultFiles,
        documented: ResultFiles,
        reported: ResultFiles,
    ) -> Published:
        """Copy the results under runs/<run_id>/ and record the run on the runs Asset (the view's index)."""
        from include.airflow_popseg import steps

        summary = steps.publish(RunContext.current(), chosen, chosen_k, matched, attributes, documented, reported)
        get_current_context()["outlet_events"][RUNS].extra = summary  # the Segmentation view's index
        return Published(results=summary["results"])

    @task(outlets=[RESULTS])
    def promote(published: Published) -> None:
        """Move latest.json to this run, last; fail instead when the churn gate holds the run."""
        from include.airflow_popseg import steps

        latest = steps.promote(RunContext.current())
        get_current_context()["outlet_events"][RESULTS].extra = latest

    comparison = compare_with_last_run()
    decision = retrain_or_skip(comparison)
    prepared = preprocess(comparison)
    chain(decision, [prepared, record_unchanged(comparison)])
    # The graph shows each stage as one box to expand (fewer, shorter edges); task ids keep no group prefix.
    with TaskGroup("PCA", prefix_group_id=False, tooltip="Train PCA, choose components, project every county"):
        train_pca = BuiltInTrainingOperator(task_id="train_pca", config=pca_training_config(prepared), **TRAINING)
        chosen = choose_components(train_pca.output)
        path = transform_path.override(task_id="pca_transform_path")("pca")
        chain(chosen, path)
        by_endpoint, pca_deleted = serve(
            "pca", path, train_pca.output, lambda plan: transform_with_pca(plan, train_pca.output, chosen, prepared)
        )
        by_batch, pca_model_deleted = serve_by_batch(
            "pca", path, train_pca.output, prepared["train_prefix"],
            lambda plan: read_pca_batch(plan, train_pca.output, chosen, prepared),
        )  # fmt: skip
        transformed = projected(by_endpoint, by_batch)

    with TaskGroup(
        "K-Means", prefix_group_id=False, tooltip="Train K-Means for each candidate k, choose k, assign every county"
    ):
        # One mapped task: every candidate k trains at once, each deferred while its job runs (no worker slot).
        train_kmeans = BuiltInTrainingOperator.partial(
            task_id="train_kmeans", map_index_template="k={{ task.config['HyperParameters']['k'] }}", **TRAINING
        ).expand(config=kmeans_training_configs(prepared, chosen, transformed))
        chosen_k = choose_k(train_kmeans.output, transformed)
        kmeans = chosen_k["training"]
        path = transform_path.override(task_id="kmeans_transform_path")("kmeans")
        chain(chosen_k, path)
        by_endpoint, kmeans_deleted = serve("kmeans", path, kmeans, lambda plan: assign_segments(plan, transformed))
        by_batch, kmeans_model_deleted = serve_by_batch(
            "kmeans", path, kmeans, transformed["train_prefix"], lambda plan: read_kmeans_batch(plan, transformed)
        )
        assigned = assigned_segments(by_endpoint, by_batch)

    with TaskGroup(
        "Results", prefix_group_id=False, tooltip="Stable segment IDs, churn, profiles, run.json, the report; publish"
    ):
        matched = match_segments(assigned, comparison, chosen_k)
        attributes = extract_attributes(train_pca.output, kmeans, chosen, prepared, matched)
        documented = document_run(
            prepared, chosen, train_pca.output, chosen_k, train_kmeans.output, matched,
            pca_deleted, kmeans_deleted, pca_model_deleted, kmeans_model_deleted,
        )  # fmt: skip
        reported = build_report(prepared, chosen, chosen_k, matched, attributes, documented)
        published = publish(chosen, chosen_k, matched, attributes, documented, reported)
        published.operator.operator_extra_links = (SegmentationReportLink(),)  # a button to this run's report
        promoted = promote(published)

    chain(check_params(), wait_for_census, comparison)
    # A run whose teardown left an endpoint or a model behind fails: it must not move latest.json on its way.
    chain([pca_deleted, kmeans_deleted, pca_model_deleted, kmeans_model_deleted], published, promoted)


# Each TaskFlow task reports to OpenLineage the S3 objects it read and wrote (when a transport is configured).
lineage.from_taskflow_tasks(population_segmentation())
