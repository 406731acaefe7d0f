"""Population segmentation on Amazon SageMaker: census → PCA → K-Means → readable segments.

Wiring only: the steps live in `include.segmentation`. Every SageMaker resource name derives from the
run, each endpoint is deleted by its teardown as soon as its transform is done (also when anything
fails), and `latest.json` moves only when a run published everything.
"""

from __future__ import annotations

import functools
import hashlib
from datetime import datetime

import numpy as np
from airflow.configuration import conf
from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook
from airflow.providers.amazon.aws.operators.sagemaker import SageMakerEndpointOperator
from airflow.sdk import Asset, Param, Variable, chain, dag, get_current_context, task, teardown

from include.airflow_popseg.links import SegmentationReportLink
from include.airflow_popseg.operators import BuiltInTrainingOperator, CensusKeySensor
from include.airflow_popseg.trigger_conf import refuse_unknown_keys
from include.sagemaker_formats.artifacts import read_kmeans_model, read_pca_model
from include.sagemaker_formats.recordio import RECORDIO_CONTENT_TYPE, encode_dense
from include.segmentation import analysis, pipeline, published_runs, report, sagemaker_config
from include.segmentation.census import FEATURES, check_census_size, read_census_bytes
from include.segmentation.sagemaker_config import RunNames
from include.segmentation.sagemaker_resources import delete_endpoint_stack
from include.segmentation.scaling import MinMaxScaling

# Polling cadence: 1 s against the local emulator, 30 s on AWS (`[popseg] check_interval`).
CHECK_INTERVAL = conf.getint("popseg", "check_interval", fallback=30)
TRAINING_MAX_MINUTES = conf.getint("popseg", "training_max_minutes", fallback=120)
AWS_CONN_ID = "{{ var.value.get('popseg_aws_conn_id', 'aws_default') }}"
RESULTS = Asset(name="population_segmentation_results", uri="popseg://population_segmentation/latest")

PARAMS = {
    "bucket": Param("popseg", type="string", minLength=3, maxLength=63, pattern=r"^[a-z0-9][a-z0-9.\-]*[a-z0-9]$",
                    description="S3 bucket holding the census input and the results"),
    "input_key": Param("census/acs2015_county_data.csv", type="string", minLength=1,
                       description="Key of the census CSV in the bucket (37 columns, one row per county)"),
    "output_prefix": Param("segmentation", type="string", minLength=1, pattern=r"^[^/].*[^/]$|^[^/]$",
                           description="Prefix for results: <prefix>/runs/<run_id>/ and <prefix>/latest.json"),
    "k": Param(8, type="integer", minimum=2, maximum=50, description="Number of segments (K-Means k)"),
    "variance_threshold": Param(0.80, type="number", minimum=0.5, maximum=0.99,
                                description="Keep the fewest PCA components explaining at least this share"),
    "num_components": Param(None, type=["null", "integer"], minimum=1,
                            description="PCA components to train; empty means features − 1, as the notebook"),
    "training_instance_type": Param("ml.c5.xlarge", type="string", pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$"),
    "endpoint_instance_type": Param("ml.t2.medium", type="string", pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$"),
    "sensor_timeout_seconds": Param(6 * 3600, type="integer", minimum=1, maximum=7 * 24 * 3600,
                                    description="How long to wait for the input key to appear"),
    "role_arn": Param(None, type=["null", "string"], pattern=r"^arn:aws[a-z\-]*:iam::\d{12}:role/.+$",
                      description="SageMaker execution role; empty means the popseg_role_arn Variable"),
}  # fmt: skip


def _conn_id() -> str:
    return Variable.get("popseg_aws_conn_id", default="aws_default")


def _run() -> tuple[dict, pipeline.RunPaths, RunNames]:
    """This run's params, S3 layout and SageMaker names."""
    context = get_current_context()
    params, run_id = context["params"], context["run_id"]
    names = RunNames.for_run(run_id)
    return params, pipeline.RunPaths(params["bucket"], params["output_prefix"], run_id, names.token), names


@functools.cache
def _s3_hook(conn_id: str) -> S3Hook:
    return S3Hook(aws_conn_id=conn_id)


def _s3() -> S3Hook:
    """One hook (and so one boto3 client) per process: a task writes many objects."""
    return _s3_hook(_conn_id())


def _read(uri_or_key: str, bucket: str) -> bytes:
    key = uri_or_key.split(f"s3://{bucket}/", 1)[-1]
    return _s3().conn.get_object(Bucket=bucket, Key=key)["Body"].read()


def _read_census(bucket: str, key: str) -> bytes:
    """The census object, refused by its size (HeadObject) before a byte of it is read."""
    uri = f"s3://{bucket}/{key}"
    head = _s3().head_object(key, bucket)
    if head is None:
        raise FileNotFoundError(f"{uri} is gone since wait_for_census found it")
    check_census_size(head["ContentLength"], uri)
    # Streamed with the size and line-length bounds: the object may have changed since HeadObject.
    return read_census_bytes(_s3().conn.get_object(Bucket=bucket, Key=key)["Body"], uri)


def _write(paths: pipeline.RunPaths, key: str, data: bytes) -> str:
    _s3().load_bytes(data, key=key, bucket_name=paths.bucket, replace=True)
    return paths.uri(key)


def _region() -> str:
    return SageMakerHook(aws_conn_id=_conn_id()).conn_region_name or "us-east-1"


def _role(params: dict) -> str:
    role = params.get("role_arn") or Variable.get("popseg_role_arn", default=None)
    if not role:
        raise ValueError("No SageMaker execution role: set the popseg_role_arn Variable or the role_arn param")
    return role


def _training_config(algorithm: str, hyperparameters: dict) -> dict:
    """CreateTrainingJob request for this run, reading `<work>/<algorithm>-train/`."""
    params, paths, names = _run()
    return sagemaker_config.training_job_config(
        name=names.training_job(algorithm), algorithm=algorithm, region=_region(), role_arn=_role(params),
        train_uri=paths.uri(paths.work(f"{algorithm}-train/")), output_uri=paths.uri(paths.work("models")),
        hyperparameters=hyperparameters, instance_type=params["training_instance_type"],
        tags={"popseg:run": paths.token},
    )  # fmt: skip


@dag(
    dag_id="population_segmentation",
    description="Segment US counties by census profile with SageMaker PCA and K-Means",
    schedule="0 2 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    params=PARAMS,
    tags=["sagemaker", "segmentation"],
    doc_md=__doc__,
)
def population_segmentation():
    @task
    def check_params() -> None:
        """Refuse a trigger conf with a key that is not a param (a typo would be ignored), before any AWS call."""
        refuse_unknown_keys(get_current_context()["dag_run"].conf or {}, PARAMS)

    wait_for_census = CensusKeySensor(
        task_id="wait_for_census",
        bucket_name="{{ params.bucket }}",
        bucket_key="{{ params.input_key }}",
        timeout_seconds="{{ params.sensor_timeout_seconds }}",
        poke_interval=CHECK_INTERVAL,
        deferrable=True,
        aws_conn_id=AWS_CONN_ID,
    )

    @task
    def preprocess() -> dict:
        """Validate, clean and scale the census; write the PCA training file. Fails before any SageMaker call."""
        params, paths, _ = _run()
        census = _read_census(params["bucket"], params["input_key"])
        prepared = pipeline.preprocess(census, f"s3://{params['bucket']}/{params['input_key']}", params["k"])
        _write(paths, paths.work("pca-train/train.rec"), encode_dense(prepared.scaled))
        _write(paths, paths.work("cleaned.parquet"), pipeline.frame_to_parquet(prepared.features))
        _write(paths, paths.work("scaling.json"), prepared.scaling.to_json().encode())
        _write(paths, paths.work("feature_names.json"), pipeline.json_bytes(list(prepared.features.columns)))
        _write(paths, paths.work("dropped.json"), pipeline.json_bytes(prepared.dropped))
        return {
            "rows_in": prepared.rows_in,
            "rows": len(prepared.features),
            "features": prepared.features.shape[1],
            "input_sha256": hashlib.sha256(census).hexdigest(),
        }

    @task
    def pca_training_config(prepared: dict) -> dict:
        params, _, _ = _run()
        num_components = params["num_components"] or prepared["features"] - 1
        return _training_config("pca", sagemaker_config.pca_hyperparameters(
            prepared["features"], num_components, prepared["rows"]
        ))  # fmt: skip

    def train(task_id: str, config) -> BuiltInTrainingOperator:
        return BuiltInTrainingOperator(
            task_id=task_id, config=config, aws_conn_id=AWS_CONN_ID, deferrable=True, print_log=True,
            check_interval=CHECK_INTERVAL, max_attempts=max(1, TRAINING_MAX_MINUTES * 60 // CHECK_INTERVAL),
            action_if_job_exists="timestamp",
        )  # fmt: skip

    @task
    def choose_components(training: dict) -> dict:
        """Smallest n reaching the variance threshold, from the artifact of the job that ran."""
        params, paths, _ = _run()
        model = read_pca_model(_read(training["Training"]["ModelArtifacts"]["S3ModelArtifacts"], paths.bucket))
        summary = analysis.summarise_variance(model.singular_values, params["variance_threshold"])
        uri = _write(paths, paths.work("explained_variance.json"), pipeline.json_bytes(summary.to_dict()))
        return {"n_components": summary.n_components, "explained": summary.explained, "explained_variance_uri": uri}

    @task
    def endpoint_plan(algorithm: str, training: dict) -> dict:
        """Setup: the endpoint's names and config, taken from the training job that actually ran."""
        params, _, names = _run()
        job = training["Training"]
        return sagemaker_config.endpoint_config(
            endpoint_name=names.endpoint(algorithm), training_job_name=job["TrainingJobName"],
            model_data_uri=job["ModelArtifacts"]["S3ModelArtifacts"], algorithm=algorithm, region=_region(),
            role_arn=_role(params), instance_type=params["endpoint_instance_type"], tags={"popseg:run": names.token},
        )  # fmt: skip

    def deploy(task_id: str, plan) -> SageMakerEndpointOperator:
        return SageMakerEndpointOperator(
            task_id=task_id, config=plan, aws_conn_id=AWS_CONN_ID, wait_for_completion=True,
            check_interval=CHECK_INTERVAL, do_xcom_push=False,
        )  # fmt: skip

    @teardown
    def delete_endpoint(plan: dict) -> None:
        """Delete the endpoint (waiting out Creating), its config and its model; gone already is fine."""
        client = SageMakerHook(aws_conn_id=_conn_id()).conn
        endpoint = plan["Endpoint"]
        delete_endpoint_stack(
            client, endpoint["EndpointName"], endpoint["EndpointConfigName"], plan["Model"]["ModelName"],
            poll_seconds=CHECK_INTERVAL,
        )  # fmt: skip

    def invoke(endpoint: str):
        runtime = AwsBaseHook(aws_conn_id=_conn_id(), client_type="sagemaker-runtime").conn
        return lambda body: runtime.invoke_endpoint(
            EndpointName=endpoint, ContentType=RECORDIO_CONTENT_TYPE, Accept=RECORDIO_CONTENT_TYPE, Body=body
        )["Body"].read()

    @task
    def transform_with_pca(plan: dict, training: dict, chosen: dict) -> dict:
        """Every county through the PCA endpoint; keep c_1…c_n, checked against (x − mean) · v."""
        _, paths, _ = _run()
        features = pipeline.frame_from_parquet(_read(paths.work("cleaned.parquet"), paths.bucket))
        scaling = MinMaxScaling.from_json(_read(paths.work("scaling.json"), paths.bucket))
        model = read_pca_model(_read(training["Training"]["ModelArtifacts"]["S3ModelArtifacts"], paths.bucket))
        x = np.asarray(scaling.transform(features), dtype="float32")
        projection = pipeline.transform(x, invoke(plan["Endpoint"]["EndpointName"]))["projection"]
        components = pipeline.top_components(projection, x, model, chosen["n_components"])
        frame = pipeline.components_frame(features.index, components)
        _write(paths, paths.work("kmeans-train/train.rec"), encode_dense(components.astype("float32")))
        return {"components_uri": _write(paths, paths.work("components.parquet"), pipeline.frame_to_parquet(frame))}

    @task
    def kmeans_training_config(prepared: dict, chosen: dict) -> dict:
        params, _, _ = _run()
        return _training_config("kmeans", sagemaker_config.kmeans_hyperparameters(
            chosen["n_components"], params["k"], prepared["rows"]
        ))  # fmt: skip

    @task
    def assign_segments(plan: dict, transformed: dict) -> dict:
        """Every county's segment and distance from the K-Means endpoint."""
        _, paths, _ = _run()
        components = pipeline.frame_from_parquet(_read(transformed["components_uri"], paths.bucket))
        answer = pipeline.transform(components.to_numpy("float32"), invoke(plan["Endpoint"]["EndpointName"]))
        segments = pipeline.segments_frame(components, answer)
        return {"segments_uri": _write(paths, paths.work("segments.csv"), pipeline.csv_bytes(segments))}

    @task
    def extract_attributes(pca: dict, kmeans: dict, chosen: dict, assigned: dict) -> dict:
        """Centroids in component space and original units, component makeup, segment sizes."""
        params, paths, _ = _run()
        model = read_pca_model(_read(pca["Training"]["ModelArtifacts"]["S3ModelArtifacts"], paths.bucket))
        centroids = read_kmeans_model(_read(kmeans["Training"]["ModelArtifacts"]["S3ModelArtifacts"], paths.bucket))
        scaling = MinMaxScaling.from_json(_read(paths.work("scaling.json"), paths.bucket))
        segments = pipeline.frame_from_csv(_read(assigned["segments_uri"], paths.bucket))
        sizes = pipeline.segment_sizes(segments, params["k"])
        weights = analysis.component_weights(model, FEATURES, chosen["n_components"]).reset_index()
        documents = {
            "centroids.csv": pipeline.csv_bytes(pipeline.centroids_frame(centroids, sizes)),
            "segment_profiles.csv": pipeline.csv_bytes(pipeline.segment_profiles(centroids, model, scaling, sizes)),
            "pca_components.csv": pipeline.csv_bytes(weights),
        }
        return {name: _write(paths, paths.work(name), data) for name, data in documents.items()}

    @task
    def document_run(prepared: dict, chosen: dict, pca: dict, kmeans: dict) -> dict:
        """run.json: params, input and its checksum, job and endpoint names, timings, billable seconds."""
        params, paths, names = _run()
        run = pipeline.run_document(
            params=params, run_id=paths.run_id, prepared=prepared, chosen=chosen,
            trainings={"pca": pca["Training"], "kmeans": kmeans["Training"]},
            endpoints={a: names.endpoint(a) for a in ("pca", "kmeans")},
            dropped=pipeline.json_from_bytes(_read(paths.work("dropped.json"), paths.bucket)),
            input_uri=f"s3://{params['bucket']}/{params['input_key']}",
        )  # fmt: skip
        return {"run.json": _write(paths, paths.work("run.json"), pipeline.json_bytes(run))}

    @task
    def build_report(chosen: dict, assigned: dict, attributes: dict, documented: dict) -> dict:
        """report.html (self-contained) and its plots as PNG files."""
        _, paths, _ = _run()
        read = lambda uri: _read(uri, paths.bucket)  # noqa: E731
        html, plots = report.build_report(
            report.RunResults(
                run=pipeline.json_from_bytes(read(documented["run.json"])),
                variance=pipeline.json_from_bytes(read(chosen["explained_variance_uri"])),
                features=pipeline.frame_from_parquet(read(paths.work("cleaned.parquet"))),
                weights=pipeline.frame_from_csv(read(attributes["pca_components.csv"])),
                centroids=pipeline.frame_from_csv(read(attributes["centroids.csv"])),
                profiles=pipeline.frame_from_csv(read(attributes["segment_profiles.csv"])),
                segments=pipeline.frame_from_csv(read(assigned["segments_uri"])),
            )
        )
        written = {name: _write(paths, paths.work(name), data) for name, data in plots.items()}
        return {"report.html": _write(paths, paths.work("report.html"), html.encode()), **written}

    @task(outlets=[RESULTS])
    def publish(chosen: dict, assigned: dict, attributes: dict, documented: dict, reported: dict) -> dict:
        """Copy the results under runs/<run_id>/, then move latest.json last."""
        _, paths, _ = _run()
        s3 = _s3()
        sources = {
            "segments.csv": assigned["segments_uri"],
            "explained_variance.json": chosen["explained_variance_uri"],
            **attributes,
            **documented,
            **reported,
        }
        for name, uri in sources.items():
            s3.copy_object(source_bucket_key=uri, dest_bucket_key=paths.uri(paths.result(name)))
        latest = {
            "run_id": paths.run_id,
            "results": paths.uri(paths.result("")),
            "report": paths.uri(paths.result("report.html")),
        }
        _write(paths, paths.latest, pipeline.json_bytes(latest))
        # The Segmentation view's index: each run's figures and where its results are, without reading S3.
        run = pipeline.json_from_bytes(_read(documented["run.json"], paths.bucket))
        get_current_context()["outlet_events"][RESULTS].extra = published_runs.run_summary(run, latest["results"])
        return {"results": latest["results"]}

    prepared = preprocess()
    pca_config = pca_training_config(prepared)
    train_pca = train("train_pca", pca_config)
    chosen = choose_components(train_pca.output)

    pca_plan = endpoint_plan.override(task_id="plan_pca_endpoint")("pca", train_pca.output)
    deploy_pca = deploy("deploy_pca", pca_plan)
    transformed = transform_with_pca(pca_plan, train_pca.output, chosen)
    delete_pca = delete_endpoint.override(task_id="delete_pca_endpoint")(pca_plan)

    kmeans_config = kmeans_training_config(prepared, chosen)
    train_kmeans = train("train_kmeans", kmeans_config)
    kmeans_plan = endpoint_plan.override(task_id="plan_kmeans_endpoint")("kmeans", train_kmeans.output)
    deploy_kmeans = deploy("deploy_kmeans", kmeans_plan)
    assigned = assign_segments(kmeans_plan, transformed)
    delete_kmeans = delete_endpoint.override(task_id="delete_kmeans_endpoint")(kmeans_plan)

    attributes = extract_attributes(train_pca.output, train_kmeans.output, chosen, assigned)
    documented = document_run(prepared, chosen, train_pca.output, train_kmeans.output)
    reported = build_report(chosen, assigned, attributes, documented)
    published = publish(chosen, assigned, attributes, documented, reported)
    published.operator.operator_extra_links = (SegmentationReportLink(),)  # a button to this run's report

    chain(check_params(), wait_for_census, prepared)
    chain(pca_plan, deploy_pca, transformed, delete_pca.as_teardown(setups=pca_plan))
    chain(transformed, kmeans_config)
    chain(kmeans_plan, deploy_kmeans, assigned, delete_kmeans.as_teardown(setups=kmeans_plan))


population_segmentation()
