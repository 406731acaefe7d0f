"""What each task of the DAG does, on its RunContext: read its inputs by the URIs upstream tasks returned,
call the domain, write its outputs and return their URIs. XCom carries names and URIs, never data.

The DAG imports this module inside its tasks: it pulls in numpy and pandas, which parsing must not.
"""

from __future__ import annotations

import hashlib

import numpy as np
from airflow.sdk.exceptions import AirflowFailException

from include.airflow_popseg import settings
from include.airflow_popseg.context import RunContext
from include.airflow_popseg.handoffs import (
    Assigned,
    Chosen,
    EndpointPlan,
    Prepared,
    ResultFiles,
    TrainingConfig,
    TrainingResult,
    Transformed,
)
from include.sagemaker_formats.artifacts import read_kmeans_model, read_pca_model
from include.sagemaker_formats.recordio import dense_shards
from include.segmentation import analysis, census, report, results, traits
from include.segmentation.printable import printable
from include.segmentation.scaling import MinMaxScaling
from include.segmentation_aws import endpoints, published_runs, requests
from include.segmentation_aws.layout import REPORT, RUN_DOCUMENT, SEGMENTS, report_uri

TRAINING = {"pca": requests.pca_hyperparameters, "kmeans": requests.kmeans_hyperparameters}


def preprocess(run: RunContext) -> Prepared:
    """Validate, clean and scale the census; write PCA's training file. Fails before any SageMaker call."""
    try:
        data, version = read_census(run)
        digest = hashlib.sha256(data).hexdigest()
        frame = census.load_census(data, name=run.input_uri)
        del data  # as large as the file: let it go before cleaning copies the features
        prepared = census.prepare(frame, run.input_uri, run.params["k"])
        del frame
    except census.CensusValidationError as refused:
        raise AirflowFailException(str(refused)) from refused  # the same input would be refused again
    layout, store = run.layout, run.store
    store.write(layout.run_id_marker, run.run_id.encode())  # maps work/<token>/ to its run, for the sweeper
    return Prepared(
        train_prefix=write_training_channel(run, "pca", prepared.scaled),
        cleaned=store.write_frame(layout.cleaned, prepared.features),
        counties=store.write_frame(layout.counties, prepared.counties),
        scaling=store.write(layout.scaling, prepared.scaling.to_json().encode()),
        dropped=store.write_json(layout.dropped, prepared.dropped),
        rows_in=prepared.rows_in,
        rows=len(prepared.features),
        features=prepared.features.shape[1],
        input_sha256=digest,
        input_etag=version["etag"],
        input_version_id=version["version_id"],
    )


def write_training_channel(run: RunContext, algorithm: str, features: np.ndarray) -> str:
    """Write `features` (n_rows, d) float32 as `algorithm`'s training channel; return the channel's URI.

    RecordIO-protobuf shards `part-00000.rec`, … of about SHARD_BYTES, at least one per training
    instance (ShardedByS3Key-ready), each uploaded as soon as it is encoded. Safe to retry: the shards
    are a function of the pinned input and the params, so a retry overwrites the same keys.
    """
    layout = run.layout
    for part, shard in enumerate(dense_shards(features, min_shards=instance_count(run))):
        run.store.write(layout.training_file(algorithm, part), shard)
    return layout.uri(layout.training_prefix(algorithm))


def instance_count(run: RunContext) -> int:
    """How many instances each training job runs on: the `instance_count` param, 1 for a run without it. The
    channel's shards and the job's ResourceConfig read it here, so that every instance gets a shard."""
    return run.params.get("instance_count", 1)


def read_census(run: RunContext) -> tuple[bytes | bytearray, dict]:
    """The census this run reads, always the same object version: (its bytes, its version).

    The first attempt pins the version it reads (ETag, and VersionId on a versioned bucket) under the
    run's work prefix; a retried or cleared run reads that version again, or refuses when the bucket no
    longer has it. The size is checked (HeadObject) before a byte is read, then the body is streamed
    through the loader's bounds.
    """
    client, bucket, key = run.store.client, run.params["bucket"], run.params["input_key"]
    pinned = run.store.read_json_if_exists(run.layout.input_version)
    version = {"VersionId": pinned["version_id"]} if pinned and pinned.get("version_id") else {}
    head = client.head_object(Bucket=bucket, Key=key, **version)
    if pinned and head["ETag"] != pinned["etag"]:
        raise AirflowFailException(
            f"{printable(run.input_uri)} has changed since this run first read it (ETag {pinned['etag']}, now "
            f"{head['ETag']}) and the bucket keeps no versions: trigger a new run to segment the new file"
        )
    census.check_census_size(head["ContentLength"], run.input_uri)
    read = {"VersionId": head["VersionId"]} if head.get("VersionId") else {"IfMatch": head["ETag"]}
    body = client.get_object(Bucket=bucket, Key=key, **read)["Body"]
    data = census.read_census_bytes(body, run.input_uri, size=head["ContentLength"])
    pin = {"uri": run.input_uri, "etag": head["ETag"], "version_id": head.get("VersionId"), "bytes": len(data)}
    if not pinned:
        run.store.write_json(run.layout.input_version, pin)
    return data, pin


def pca_training(run: RunContext, prepared: Prepared) -> TrainingConfig:
    try:  # num_components above the features the census actually has: refused before any SageMaker call
        hyperparameters = requests.pca_hyperparameters(
            prepared["features"], prepared["rows"], run.params["num_components"]
        )
    except ValueError as error:
        raise AirflowFailException(str(error)) from None
    return training_request(run, "pca", prepared["train_prefix"], hyperparameters)


def kmeans_training(run: RunContext, prepared: Prepared, chosen: Chosen, transformed: Transformed) -> TrainingConfig:
    hyperparameters = requests.kmeans_hyperparameters(chosen["kept_components"], run.params["k"], prepared["rows"])
    return training_request(run, "kmeans", transformed["train_prefix"], hyperparameters)


def training_request(run: RunContext, algorithm: str, train_prefix: str, hyperparameters: dict) -> TrainingConfig:
    """CreateTrainingJob for this run's `algorithm` job, reading every file under `train_prefix` on the
    `instance_count` param's instances (sharded by S3 key when more than one)."""
    return requests.training_request(
        name=run.names.training_job(algorithm),
        algorithm=algorithm,
        region=run.region,
        role_arn=run.role_arn,
        train_uri=train_prefix,
        output_uri=run.layout.uri(run.layout.models_prefix),
        hyperparameters=hyperparameters,
        instance_type=run.params["training_instance_type"],
        instance_count=instance_count(run),
        max_runtime_seconds=settings.TRAINING_MAX_MINUTES * 60,
        tags=run.names.tags(run.run_id),
    )


def choose_components(run: RunContext, training: TrainingResult) -> Chosen:
    """The fewest components reaching the variance threshold, from the artifact of the job that ran."""
    model = read_pca_model(run.store.read(training["model_artifact"]))
    summary = analysis.summarise_variance(model.singular_values, run.params["variance_threshold"])
    uri = run.store.write_json(run.layout.explained_variance, summary.to_dict())
    return Chosen(kept_components=summary.n_components, explained=summary.explained, explained_variance=uri)


def endpoint_plan(run: RunContext, algorithm: str, training: TrainingResult) -> EndpointPlan:
    """The endpoint's model, config and endpoint, for the training job that actually ran."""
    return requests.endpoint_request(
        endpoint_name=run.names.endpoint(algorithm),
        training_job_name=training["job_name"],
        model_data_uri=training["model_artifact"],
        algorithm=algorithm,
        region=run.region,
        role_arn=run.role_arn,
        instance_type=run.params["endpoint_instance_type"],
        tags=run.names.tags(run.run_id),
    )


def delete_endpoint(run: RunContext, plan: EndpointPlan) -> list[str]:
    """Delete the endpoint (waiting out Creating), its config and its model; gone already is fine."""
    return endpoints.delete_endpoint_stack(
        run.sagemaker(),
        plan["Endpoint"]["EndpointName"],
        plan["Endpoint"]["EndpointConfigName"],
        plan["Model"]["ModelName"],
        poll_seconds=settings.CHECK_INTERVAL,
        timeout_seconds=settings.TEARDOWN_TIMEOUT_SECONDS,
    )


def transform_with_pca(
    run: RunContext, plan: EndpointPlan, training: TrainingResult, chosen: Chosen, prepared: Prepared
) -> Transformed:
    """Every county through the PCA endpoint; keep c_1…c_n, checked against (x − mean) · v; write K-Means'
    training file."""
    store, layout = run.store, run.layout
    features = store.read_frame(prepared["cleaned"])
    scaling = MinMaxScaling.from_json(store.read(prepared["scaling"]))
    x = scaling.transform(features.to_numpy(), dtype="float32")  # no (rows, features) float64 copy beside it
    index = features.index
    del features  # 8 bytes a value: let it go before the endpoint's answers arrive
    invoke = endpoints.invoker(run.sagemaker_runtime(), plan["Endpoint"]["EndpointName"])
    answer = endpoints.transform(x, invoke, concurrency=settings.INVOKE_CONCURRENCY)
    model = read_pca_model(store.read(training["model_artifact"]))
    components = analysis.checked_top_components(answer["projection"], x, model, chosen["kept_components"])
    return Transformed(
        components=store.write_frame(layout.components, results.components_frame(index, components)),
        train_prefix=write_training_channel(run, "kmeans", components.astype("float32")),
    )


def assign_segments(run: RunContext, plan: EndpointPlan, transformed: Transformed) -> Assigned:
    """Every county's segment and distance from the K-Means endpoint."""
    components = run.store.read_frame(transformed["components"])
    invoke = endpoints.invoker(run.sagemaker_runtime(), plan["Endpoint"]["EndpointName"])
    answer = endpoints.transform(components.to_numpy("float32"), invoke, concurrency=settings.INVOKE_CONCURRENCY)
    segments = results.segments_frame(components, answer)
    return Assigned(segments=run.store.write_frame(run.layout.segments, segments))


def extract_attributes(
    run: RunContext,
    pca: TrainingResult,
    kmeans: TrainingResult,
    chosen: Chosen,
    prepared: Prepared,
    assigned: Assigned,
) -> ResultFiles:
    """Centroids with sizes, each segment's profile from its counties, component makeup, and segments.csv with
    each county's FIPS code and segment label (the report's): file name -> URI."""
    store, k = run.store, run.params["k"]
    features, segments = store.read_frame(prepared["cleaned"]), store.read_frame(assigned["segments"])
    frames = results.attribute_frames(
        read_pca_model(store.read(pca["model_artifact"])),
        read_kmeans_model(store.read(kmeans["model_artifact"])),
        features,
        segments,
        k,
        chosen["kept_components"],
    )
    labels = traits.segment_labels(traits.of_segments(features, segments, k))
    del features  # 8 bytes a value: let it go before segments.csv is built
    frames[SEGMENTS] = results.published_segments(segments, store.read_frame(prepared["counties"]), labels)
    return {name: store.write_frame(run.layout.work(name), frame) for name, frame in frames.items()}


def document_run(
    run: RunContext, prepared: Prepared, chosen: Chosen, pca: TrainingResult, kmeans: TrainingResult
) -> ResultFiles:
    """run.json: params, input and its checksum, job and endpoint names, timings, billable seconds."""
    document = results.run_document(
        run_id=run.run_id,
        params=run.params,
        input_uri=run.input_uri,
        input_sha256=prepared["input_sha256"],
        input_etag=prepared["input_etag"],
        input_version_id=prepared["input_version_id"],
        rows_in=prepared["rows_in"],
        rows=prepared["rows"],
        features=prepared["features"],
        dropped=run.store.read_json(prepared["dropped"]),
        n_components=chosen["kept_components"],
        explained_variance=chosen["explained"],
        training_jobs={"pca": training_job(pca), "kmeans": training_job(kmeans)},
        endpoints={a: run.names.endpoint(a) for a in TRAINING},
    )
    return {RUN_DOCUMENT: run.store.write_json(run.layout.work(RUN_DOCUMENT), document)}


def training_job(training: TrainingResult) -> results.TrainingJob:
    """run.json's record of a training job that ran."""
    return results.TrainingJob(
        name=training["job_name"],
        model_artifact=training["model_artifact"],
        start=training["start"],
        end=training["end"],
        training_seconds=training["training_seconds"],
        billable_seconds=training["billable_seconds"],
        instance_count=training["instance_count"],
        hyperparameters=training["hyperparameters"],
    )


def build_report(
    run: RunContext,
    prepared: Prepared,
    chosen: Chosen,
    assigned: Assigned,
    attributes: ResultFiles,
    documented: ResultFiles,
) -> ResultFiles:
    """report.html (self-contained) and its plots as PNG files: file name -> URI."""
    store = run.store
    html, plots = report.build_report(
        report.RunResults(
            run=store.read_json(documented[RUN_DOCUMENT]),
            variance=store.read_json(chosen["explained_variance"]),
            features=store.read_frame(prepared["cleaned"]),
            counties=store.read_frame(prepared["counties"]),
            segments=store.read_frame(assigned["segments"]),
            weights=store.read_frame(attributes[results.WEIGHTS]),
            centroids=store.read_frame(attributes[results.CENTROIDS]),
            profiles=store.read_frame(attributes[results.PROFILES]),
        )
    )
    written = {name: store.write(run.layout.work(name), data) for name, data in plots.items()}
    return {REPORT: store.write(run.layout.work(REPORT), html.encode()), **written}


def publish(
    run: RunContext, chosen: Chosen, attributes: ResultFiles, documented: ResultFiles, reported: ResultFiles
) -> dict:
    """Copy every result file the tasks wrote under runs/<run_id>/, each by its name below work/<token>/, then
    move latest.json last. Returns the run's summary, which the publish task records on the results Asset, with
    the sha256 of each file the Segmentation view serves, hashed before the copy (the view serves no file whose
    bytes differ)."""
    store, layout = run.store, run.layout
    written = [chosen["explained_variance"], *attributes.values(), *documented.values(), *reported.values()]
    files = {layout.published_name(uri): uri for uri in written}
    sha256 = published_runs.served_digests(store.client, store.bucket, {n: store.key(u) for n, u in files.items()})
    for name, uri in files.items():
        store.copy(uri, layout.result(name))
    results_uri = layout.uri(layout.results_prefix)
    latest = {"run_id": run.run_id, "results": results_uri, "report": report_uri(results_uri)}
    # A lost answer to this PUT must not fail a run that did publish (nor a lost write pass): read back on error.
    store.write_json_confirmed(layout.latest, latest)
    return published_runs.run_summary(store.read_json(files[RUN_DOCUMENT]), results_uri, sha256)
