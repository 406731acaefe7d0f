"""What each task of the DAG does, on its RunContext: read its inputs by the URIs upstream tasks returned,
call the domain, write its outputs and return their URIs. XCom carries names and URIs, never data.

The DAG imports this module inside its tasks: it pulls in numpy and pandas, which parsing must not.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import logging
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from airflow.sdk.exceptions import AirflowFailException

from include.airflow_popseg import lineage, settings
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
    ResultFiles,
    TrainingConfig,
    TrainingResult,
    Transformed,
    TransformUsage,
)
from include.sagemaker_formats.artifacts import read_kmeans_model, read_pca_model
from include.sagemaker_formats.recordio import decode_labels, dense_shard_parts, dense_shards, shard_bounds
from include.segmentation import (
    analysis,
    census,
    continuity,
    gates,
    k_choice,
    key_join,
    results,
    segment_statistics,
    traits,
)
from include.segmentation.census import KEY_NAME
from include.segmentation.cost_text import cost_text
from include.segmentation.fingerprint import CensusIdentity, Fingerprint, changed_params, settings_digest
from include.segmentation.parquet_tables import parquet_bytes, parquet_name
from include.segmentation.printable import printable
from include.segmentation.scaling import MinMaxScaling
from include.segmentation_aws import cost, endpoints, images, published_runs, requests
from include.segmentation_aws.layout import (
    REPORT,
    RUN_DOCUMENT,
    SEGMENT_CHANGES,
    SEGMENTS,
    report_uri,
    results_location,
    results_prefix,
)
from include.segmentation_aws.sagemaker_errors import is_not_found

log = logging.getLogger(__name__)

TRAINING = {"pca": requests.pca_hyperparameters, "kmeans": requests.kmeans_hyperparameters}
HASH_CHUNK = 8 << 20  # bytes read at a time when the census must be hashed to be compared


def compare_with_last_run(run: RunContext) -> Comparison:
    """This run against the last published run of its results folder (latest.json): whether anything that
    decides the results changed (the census's bytes, the params that matter, the algorithm images, the result
    format), from one HeadObject when the census is the same object version, else from its sha256."""
    previous = last_published_run(run)
    if previous is None:
        return _comparison(None, None, None, False, f"the first run of {run.layout.uri(run.layout.latest)}")
    standing, results_uri = previous
    name = standing["run_id"]
    if run.params.get("force"):
        return _comparison(standing, results_uri, None, False, f"force: retrained although {name} may be the same")
    recorded = standing.get("fingerprint")
    if not recorded:
        return _comparison(standing, results_uri, None, False, f"{name} recorded no fingerprint to compare with")
    current = census_fingerprint(run)
    verdict = current.unchanged_since(Fingerprint.from_dict(recorded))
    if verdict is None:  # another object version of the same size: the bytes tell
        current = Fingerprint(census_identity(run, with_sha256=True), current.settings)
        verdict = current.unchanged_since(Fingerprint.from_dict(recorded))
    compared = current.to_dict()
    if verdict:
        return _comparison(
            standing, results_uri, compared, True, f"unchanged since {name}: the same census and settings"
        )
    if current.settings == recorded["settings"]:
        return _comparison(standing, results_uri, compared, False, f"the census changed since {name}")
    changed = changed_params(standing.get("params") or {}, run.params)
    what = ", ".join(f"{param} {before!r} -> {now!r}" for param, (before, now) in changed.items())
    return _comparison(
        standing, results_uri, compared, False,
        f"settings changed since {name}: {what or 'algorithm images or result format'}",
    )  # fmt: skip


def _comparison(
    standing: dict | None, results_uri: str | None, fingerprint: dict | None, unchanged: bool, reason: str
) -> Comparison:
    log.info("Compared with the last published run: %s", printable(reason))
    return Comparison(
        previous_run=standing["run_id"] if standing else None,
        previous_results=results_uri,
        previous_rows_in=standing.get("rows_in") if standing else None,
        previous_rows=standing.get("rows") if standing else None,
        previous_next_id=continuity.next_id_of(standing) if standing else 0,
        fingerprint=fingerprint,
        unchanged=unchanged,
        reason=reason,
    )


def last_published_run(run: RunContext) -> tuple[dict, str] | None:
    """(run.json, results URI) of the run latest.json names in this run's results folder; None when there is
    none yet. A latest.json that names a run outside this folder, or whose run.json is missing, is refused."""
    store, layout = run.store, run.layout
    latest = store.read_json_if_exists(layout.latest)
    if latest is None:
        return None
    where = layout.uri(layout.latest)
    location = results_location(str(latest.get("results", ""))) if isinstance(latest, dict) else None
    run_id = location[2] if location else None
    if location is None or layout.uri(results_prefix(run.params["output_prefix"], run_id)) != latest["results"]:
        raise AirflowFailException(
            f"{where} does not name a run of this results folder ({printable(str(latest)[:300])}): restore it from "
            "the last good run's runs/<run id>/ folder, or delete it to start the folder afresh"
        )
    standing = store.read_json_if_exists(f"{latest['results']}{RUN_DOCUMENT}")
    if not isinstance(standing, dict) or standing.get("run_id") != run_id:
        raise AirflowFailException(
            f"{where} names run {printable(run_id)}, whose {RUN_DOCUMENT} is missing or not its own"
        )
    return standing, latest["results"]


def run_settings(run: RunContext) -> str:
    """The settings part of the run's fingerprint: its params, the algorithm images of its region."""
    return settings_digest(run.params, {algorithm: images.image_uri(algorithm, run.region) for algorithm in TRAINING})


def census_identity(run: RunContext, with_sha256: bool = False) -> CensusIdentity:
    """The census object as S3 has it now (HeadObject), and its sha256 when asked (streamed, bounded)."""
    client, bucket, key = run.store.client, run.params["bucket"], run.params["input_key"]
    head = client.head_object(Bucket=bucket, Key=key)
    sha256 = None
    if with_sha256:  # hashed as a stream, as the preprocess streams it
        census.check_streamed_census_size(head["ContentLength"], run.input_uri)
        read = {"VersionId": head["VersionId"]} if head.get("VersionId") else {"IfMatch": head["ETag"]}
        body, digest = client.get_object(Bucket=bucket, Key=key, **read)["Body"], hashlib.sha256()
        while chunk := body.read(HASH_CHUNK):
            digest.update(chunk)
        sha256 = digest.hexdigest()
        lineage.TASK.read(run.input_uri)
    return CensusIdentity(head["ETag"], head["ContentLength"], head.get("VersionId"), sha256)


def census_fingerprint(run: RunContext) -> Fingerprint:
    return Fingerprint(census_identity(run), run_settings(run))


def record_unchanged(run: RunContext, comparison: Comparison) -> dict:
    """A run that found nothing changed: its run.json under runs/<run_id>/ says since when, and names the run
    whose results still stand; latest.json stays. Returns its summary, for the runs Asset."""
    store, layout = run.store, run.layout
    standing = store.read_json(f"{comparison['previous_results']}{RUN_DOCUMENT}")
    document = results.unchanged_document(
        run_id=run.run_id,
        params=run.params,
        input_uri=run.input_uri,
        fingerprint=comparison["fingerprint"],  # as compared: the census is not asked for again
        standing=standing,
    )
    document["cost"] = run_cost(run, document)  # nothing ran: $0
    store.write_json(layout.result(RUN_DOCUMENT), document)
    log.info("Unchanged since %s: no SageMaker job or endpoint created", printable(standing["run_id"]))
    return published_runs.run_summary(document, layout.uri(layout.results_prefix), {})


def preprocess(run: RunContext, comparison: Comparison | None = None) -> Prepared:
    """Validate, clean and scale the census; check it against the last published run's (row count) and its
    own incomplete rows (the gates' params); write PCA's training file. Fails before any SageMaker call.

    Streams the census in two passes (`preprocess_streaming`), so that its memory does not grow with the rows;
    a census the streaming path cannot vouch for (any refusal among them) is read whole (`preprocess_whole`),
    which refuses it with the same message as ever, when it is within the whole-file bound (census.
    MAX_CENSUS_BYTES); above it, up to census.MAX_STREAMED_CENSUS_BYTES, the streaming path's own refusal names
    the file, row or line, column and what was expected. Both paths write the same bytes."""
    try:
        try:
            return preprocess_streaming(run, comparison)
        except census.NotStreamable as why:
            streamed = why
        if not streamed.whole_readable(streamed.stored_size):
            raise streamed.refusal(run.input_uri)
        log.info("%s is read whole: %s", printable(run.input_uri), printable(str(streamed)))
        try:
            return preprocess_whole(run, comparison)
        except census.CensusTooLarge:  # a gzip census that inflates past the whole-file bound
            raise streamed.refusal(run.input_uri) from None
    except (census.CensusValidationError, gates.GateRefused) as refused:
        raise AirflowFailException(str(refused)) from refused  # the same input would be refused again


def preprocess_streaming(run: RunContext, comparison: Comparison | None = None) -> Prepared:
    """`preprocess` in two passes over the pinned census object, a chunk of lines (census.CHUNK_BYTES) at a
    time: the first checks every row and finds the counts, dropped rows and scaling; the second scales the
    complete rows and streams them to the training shards and the cleaned and county frames as it goes.
    Raises census.NotStreamable, having written nothing, when the census must be read whole or refused (its
    `stored_size` set to the object's). Its peak RSS does not grow with the rows: 448 MiB at 1 M rows, 467 MiB at
    5 M (1,030 MiB read whole at 1 M; bench/preprocess.py)."""
    pinned, head, read = pinned_census(run, streamed=True)
    store, layout = run.store, run.layout

    def open_census():
        return store.client.get_object(**read)["Body"]

    try:
        surveyed = census.survey(open_census, run.input_uri, largest_k(run.params))
    except census.NotStreamable as why:
        why.stored_size = head["ContentLength"]
        raise
    version = census_pin(run, head, surveyed.stored_bytes)
    lineage.TASK.read_census(run.input_uri, rows=surveyed.rows_in, size=version["size"])
    if not pinned:
        store.write_json(layout.input_version, version)
    check_input_gates(run, comparison, surveyed.rows_in, len(surveyed.dropped))
    store.write(layout.run_id_marker, run.run_id.encode())  # maps work/<token>/ to its run, for the sweeper
    with (
        store.open_write(layout.cleaned) as cleaned,
        store.open_write(layout.counties) as counties,
        _FrameWriter(cleaned) as features,
        _FrameWriter(counties) as names,
    ):

        def scaled_blocks():
            for chunk in census.clean_chunks(open_census, run.input_uri, surveyed):
                features.write(chunk.features)
                names.write(chunk.counties)
                yield chunk.scaled

        train_prefix = stream_training_channel(run, "pca", scaled_blocks(), surveyed.rows, len(census.FEATURES))
    return Prepared(
        train_prefix=train_prefix,
        cleaned=cleaned.uri,
        counties=counties.uri,
        scaling=store.write(layout.scaling, surveyed.scaling.to_json().encode()),
        dropped=store.write_json(layout.dropped, surveyed.dropped),
        rows_in=surveyed.rows_in,
        rows=surveyed.rows,
        features=len(census.FEATURES),
        input_sha256=surveyed.sha256,
        input_etag=version["etag"],
        input_version_id=version["version_id"],
        input_bytes=version["size"],
    )


def preprocess_whole(run: RunContext, comparison: Comparison | None = None) -> Prepared:
    """`preprocess` with the census read whole into memory: how every census was read before the streaming
    path, and still the path of a census that one cannot vouch for (its refusals name file, row and column)."""
    data, version = read_census(run)
    digest = hashlib.sha256(data).hexdigest()
    frame = census.load_census(data, name=run.input_uri)
    del data  # as large as the file: let it go before cleaning copies the features
    prepared = census.prepare(frame, run.input_uri, largest_k(run.params))
    del frame
    lineage.TASK.read_census(run.input_uri, rows=prepared.rows_in, size=version.get("size", version["bytes"]))
    check_input_gates(run, comparison, prepared.rows_in, len(prepared.dropped))
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
        input_bytes=version.get("size", version["bytes"]),  # a pin from before sizes were pinned: as read
    )


class _FrameWriter:
    """Frames of one schema streamed as one parquet file into `sink` (a binary file), a row group per frame;
    read back it is the frames concatenated, as `RunStore.write_frame` would have written them: index kept, or
    with `index=False` left out (a frame whose RangeIndex restarts each block reads back numbered 0…n−1)."""

    def __init__(self, sink, index: bool = True) -> None:
        self.sink, self.writer, self.index = sink, None, index

    def write(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.writer is None:
            table = pa.Table.from_pandas(frame, preserve_index=self.index)
            self.writer = pq.ParquetWriter(self.sink, table.schema, compression="snappy")
        else:
            table = pa.Table.from_pandas(frame, schema=self.writer.schema, preserve_index=self.index)
        self.writer.write_table(table)

    def __enter__(self) -> _FrameWriter:
        return self

    def __exit__(self, *failed) -> None:
        if self.writer is not None and failed[0] is None:
            self.writer.close()


def check_input_gates(run: RunContext, comparison: Comparison | None, rows_in: int, dropped: int) -> None:
    """The census against the last published run's row count (`max_row_change`) and its share of incomplete
    rows (`max_dropped_share`); gates.GateRefused naming both numbers and the param."""
    previous = None
    if comparison and comparison["previous_run"] and comparison["previous_rows_in"] is not None:
        previous = gates.Previous(
            comparison["previous_run"], comparison["previous_rows_in"], comparison["previous_rows"]
        )
    source = printable(run.input_uri)
    gates.check_row_change(rows_in, previous, run.params.get("max_row_change"), source)
    gates.check_dropped_share(dropped, rows_in, run.params.get("max_dropped_share"), source)


def write_training_channel(run: RunContext, algorithm: str, features: np.ndarray) -> str:
    """Write `features` (n_rows, d) float32 as `algorithm`'s training channel; return the channel's URI.

    RecordIO-protobuf shards `part-00000.rec`, … of about SHARD_BYTES, at least one per training
    instance (ShardedByS3Key-ready), each uploaded as soon as it is encoded. Safe to retry: the shards
    are a function of the pinned input and the params, so a retry overwrites the same keys.
    """
    layout = run.layout
    channel = layout.uri(layout.training_prefix(algorithm))
    for part, shard in enumerate(dense_shards(features, min_shards=instance_count(run))):
        run.store.write(layout.training_file(algorithm, part), shard, dataset=channel)
    return channel


def stream_training_channel(
    run: RunContext, algorithm: str, blocks: Iterable[np.ndarray], rows: int, features: int
) -> str:
    """`write_training_channel` for rows that come in blocks ((m_i, features) float32, `rows` in all): the same
    shards, byte for byte, each streamed to S3 (RunStore.open_write) as its blocks are encoded, so that neither
    the rows nor a whole shard are held. A shard being written when a block fails is aborted."""
    layout, current = run.layout, None
    channel = layout.uri(layout.training_prefix(algorithm))
    with contextlib.ExitStack() as open_shard:
        bounds = shard_bounds(rows, features, "float32", min_shards=instance_count(run))
        for part, piece in dense_shard_parts(blocks, bounds):
            if part != current:
                open_shard.close()  # completes the shard before
                shard = layout.training_file(algorithm, part)
                stream = open_shard.enter_context(run.store.open_write(shard, dataset=channel))
                current = part
            stream.write(piece)
    return channel


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
    pinned, head, read = pinned_census(run)
    body = run.store.client.get_object(**read)["Body"]
    data = census.read_census_bytes(body, run.input_uri, size=head["ContentLength"])
    pin = census_pin(run, head, len(data))
    if not pinned:
        run.store.write_json(run.layout.input_version, pin)
    return data, pin


def pinned_census(run: RunContext, streamed: bool = False) -> tuple[dict | None, dict, dict]:
    """(the run's pin of its census, None before its first read; HeadObject's answer for the version to read;
    GetObject's arguments that read that version and no other). Refuses a census changed since it was pinned
    on a bucket without versions, and one above census.MAX_CENSUS_BYTES (to read whole) or, `streamed`,
    census.MAX_STREAMED_CENSUS_BYTES, before a byte is read."""
    client, bucket, key = run.store.client, run.params["bucket"], run.params["input_key"]
    pinned = run.store.read_json_if_exists(run.layout.input_version)
    version = {"VersionId": pinned["version_id"]} if pinned and pinned.get("version_id") else {}
    head = client.head_object(Bucket=bucket, Key=key, **version)
    if pinned and head["ETag"] != pinned["etag"]:
        raise AirflowFailException(
            f"{printable(run.input_uri)} has changed since this run first read it (ETag {pinned['etag']}, now "
            f"{head['ETag']}) and the bucket keeps no versions: trigger a new run to segment the new file"
        )
    check_size = census.check_streamed_census_size if streamed else census.check_census_size
    check_size(head["ContentLength"], run.input_uri)
    read = {"VersionId": head["VersionId"]} if head.get("VersionId") else {"IfMatch": head["ETag"]}
    return pinned, head, {"Bucket": bucket, "Key": key, **read}


def census_pin(run: RunContext, head: dict, read_bytes: int) -> dict:
    """The pin of the census version `head` describes, of which `read_bytes` were read."""
    return {
        "uri": run.input_uri,
        "etag": head["ETag"],
        "version_id": head.get("VersionId"),
        "size": head["ContentLength"],  # as stored (the fingerprint's), where `bytes` is what was read, inflated
        "bytes": read_bytes,
    }


def pca_training(run: RunContext, prepared: Prepared) -> TrainingConfig:
    try:  # num_components above the features the census actually has: refused before any SageMaker call
        hyperparameters = requests.pca_hyperparameters(
            prepared["features"], prepared["rows"], run.params["num_components"]
        )
    except ValueError as error:
        raise AirflowFailException(str(error)) from None
    return training_request(run, "pca", prepared["train_prefix"], hyperparameters)


def largest_k(params) -> int:
    """The most segments the run may train: the sweep's `k_max`, or `k` without a sweep."""
    return max(candidate_ks(params))


def candidate_ks(params, rows: int | None = None) -> list[int]:
    """The k values the K-Means training trains: [k], or k_min…k_max for a sweep. A sweep the params cannot
    describe (one bound only, too many candidates, more segments than `rows`) fails the run without retries."""
    try:
        return k_choice.candidates(
            params["k"], params.get("k_min"), params.get("k_max"), params.get("k_rule") or k_choice.RULES[0],
            rows if rows is not None else sys.maxsize,  # before the census is read: the bounds only
        )  # fmt: skip
    except ValueError as error:
        raise AirflowFailException(str(error)) from None


def kmeans_trainings(
    run: RunContext, prepared: Prepared, chosen: Chosen, transformed: Transformed
) -> list[TrainingConfig]:
    """One CreateTrainingJob per candidate k (popseg-kmeans-k<k>-<token> when there are several), each scoring
    its own training rows as its test channel, so that SageMaker reports test:msd and test:ssd of all counties:
    the within-cluster spread the elbow rule reads. (A held-out sample would leave the census's 3,218 counties
    fewer to train on and measure the spread of a few hundred; K-Means has no labels to overfit.)"""
    ks = candidate_ks(run.params, prepared["rows"])
    return [
        training_request(
            run,
            "kmeans",
            transformed["train_prefix"],
            requests.kmeans_hyperparameters(chosen["kept_components"], k, prepared["rows"]),
            name=run.names.training_job("kmeans", k if len(ks) > 1 else None),
            test_prefix=transformed["train_prefix"],
        )
        for k in ks
    ]


def each(results: Sequence[TrainingResult]) -> list[TrainingResult]:
    """The results of a mapped task as a list, read by index: iterating Airflow's lazy XCom sequence reads one past
    the end and logs that miss as an error."""
    return [results[index] for index in range(len(results))]


def choose_k(run: RunContext, trainings: list[TrainingResult], transformed: Transformed) -> KChoice:
    """Each candidate's metrics, SageMaker's (test:msd, test:ssd, train:msd from its job) and ours from its
    artifact (within-cluster sum of squares of all counties, silhouette on a seeded sample), k chosen by the
    `k_rule` param; k_selection.json records them all. The components are read once, a row group at a time, for
    every candidate (k_choice.measure_blocks): the task holds a block, the candidates' centroids and the
    silhouette's sample, whatever the rows (peak RSS 430, 449, 452 and 437 MiB at 100 k, 400 k, 1 M and 10 M rows,
    four candidates, tests.support.match_memory; 373, 374 and 379 at 100 k to 1 M with the allocators' warm-up
    taken out: under 512
    MiB, most of it scikit-learn's import and the silhouette's 5,000² distances in SILHOUETTE_WORKING_MEMORY
    chunks)."""
    store = run.store
    by_k = {int(training["hyperparameters"]["k"]): training for training in trainings}
    centroids = [read_kmeans_model(store.read(training["model_artifact"])) for _, training in sorted(by_k.items())]
    blocks = (frame.to_numpy("float64") for frame in frame_blocks(run, transformed["components"]))
    figures = k_choice.measure_blocks(blocks, _parquet_rows(run, transformed["components"]), centroids)
    measured = []
    for (k, training), (within_ss, silhouette, sizes) in zip(sorted(by_k.items()), figures, strict=True):
        reported = training["final_metrics"]
        measured.append(
            k_choice.CandidateMetrics(
                k=k,
                job_name=training["job_name"],
                test_msd=reported.get("test:msd"),
                test_ssd=reported.get("test:ssd"),
                train_msd=reported.get("train:msd"),
                within_ss=within_ss,
                silhouette=silhouette,
                sizes=sizes,
            )
        )
    selection = k_choice.choose(measured, run.params.get("k_rule") or k_choice.RULES[0])
    log.info("k = %d (%s): %s", selection.k, selection.rule, selection.reason)
    uri = store.write_json(run.layout.k_selection, k_choice.selection_document(measured, selection))
    return KChoice(k=selection.k, rule=selection.rule, training=by_k[selection.k], selection=uri)


def training_request(
    run: RunContext,
    algorithm: str,
    train_prefix: str,
    hyperparameters: dict,
    name: str | None = None,
    test_prefix: str | None = None,
) -> TrainingConfig:
    """CreateTrainingJob for this run's `algorithm` job (or the job `name`), reading every file under
    `train_prefix` on the `instance_count` param's instances (sharded by S3 key when more than one), and
    with `test_prefix` a test channel."""
    return requests.training_request(
        name=name or run.names.training_job(algorithm),
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
        test_uri=test_prefix,
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


def start_endpoint_delete(run: RunContext, plan: EndpointPlan, deadline: float) -> tuple[str | None, bool]:
    """The teardown's first half: have SageMaker deleting the endpoint (waiting out Creating), without waiting
    for it to be gone. Returns its CreationTime, read just before the delete (None when it was gone already,
    e.g. on a retry, or could not be described), and whether it is Deleting (the teardown then waits for it
    deferred, then calls finish_endpoint_delete). Tries until `deadline` (time.monotonic())."""
    client, name = run.sagemaker(), plan["Endpoint"]["EndpointName"]
    created = _described_time(lambda: client.describe_endpoint(EndpointName=name), "CreationTime", f"endpoint {name}")
    return created, endpoints.start_endpoint_delete(client, name, deadline, poll_seconds=settings.CHECK_INTERVAL)


def finish_endpoint_delete(
    run: RunContext, plan: EndpointPlan, created: str | None, endpoint_gone_at: str | None, deadline: float
) -> EndpointLifetime:
    """The teardown's second half: the endpoint verified gone (deleted again while it is not), then its config
    and model deleted; gone already is fine. Returns how long the endpoint existed, for the run's cost: from
    `created` to `endpoint_gone_at` (when the wait saw it gone) or, without it, now. Tries until `deadline`
    (time.monotonic()), then raises TeardownIncomplete naming what is left."""
    endpoints.delete_endpoint_stack(
        run.sagemaker(),
        plan["Endpoint"]["EndpointName"],
        plan["Endpoint"]["EndpointConfigName"],
        plan["Model"]["ModelName"],
        poll_seconds=settings.CHECK_INTERVAL,
        timeout_seconds=max(0.0, deadline - time.monotonic()),
    )
    variant = plan["EndpointConfig"]["ProductionVariants"][0]
    return EndpointLifetime(
        endpoint=plan["Endpoint"]["EndpointName"],
        instance_type=variant["InstanceType"],
        instance_count=variant["InitialInstanceCount"],
        created=created,
        deleted=(endpoint_gone_at or datetime.now(UTC).isoformat()) if created else None,
    )


def _described_time(describe, field: str, what: str) -> str | None:
    """`field` of what `describe()` answers, ISO 8601; None when the resource is gone or cannot be described
    (logged: the teardown deletes whatever Describe answers, and the cost estimate says the figure is missing)."""
    try:
        value = describe().get(field)
    except Exception as error:  # a teardown must go on to delete, whatever Describe answers
        if not is_not_found(error):
            log.warning(
                "Could not read %s of %s (%s): its cost is not estimated", field, printable(what), printable(error)
            )
        return None
    return value.isoformat() if value else None


def transform_with_pca(
    run: RunContext, plan: EndpointPlan, training: TrainingResult, chosen: Chosen, prepared: Prepared
) -> Transformed:
    """Every county through the PCA endpoint; keep c_1…c_n, checked against (x − mean) · v; write K-Means'
    training file. Streams: the scaled rows are read a row group at a time and sent in the requests
    `endpoints.transform` would send, and the answers written as they come in, in order."""
    invoke = endpoints.invoker(run.sagemaker_runtime(), plan["Endpoint"]["EndpointName"])
    answered = _endpoint_answers(_Rows(scaled_blocks(run, prepared)), invoke)
    return keep_components(run, answered, training, chosen, prepared)


def transform_with_pca_batch(
    run: RunContext, plan: BatchPlan, training: TrainingResult, chosen: Chosen, prepared: Prepared
) -> Transformed:
    """Every county's projection from the PCA batch transform job's output, read an output shard at a time;
    kept and checked as the endpoint's."""
    answered = _batch_answered(run, plan, _Rows(scaled_blocks(run, prepared)), prepared["rows"])
    return keep_components(run, answered, training, chosen, prepared)


READ_ROWS = 65_536
"""Rows read from a work file (cleaned.parquet, components.parquet) at a time: ~17 MiB of 34 float64 features."""


def frame_blocks(run: RunContext, uri: str) -> Iterator[pd.DataFrame]:
    """The parquet frame at `uri` at most READ_ROWS rows at a time (index restored), read a row group at a time
    by ranged GETs (RunStore.open_read), never whole. (Iterating all row groups at once lets pyarrow read ahead:
    +80 MiB at 400 k rows.)"""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with run.store.open_read(uri) as file:
        parquet = pq.ParquetFile(file)
        for group in range(parquet.num_row_groups):
            for batch in parquet.iter_batches(batch_size=READ_ROWS, row_groups=[group]):
                yield pa.Table.from_batches([batch], schema=parquet.schema_arrow).to_pandas()


def scaled_blocks(run: RunContext, prepared: Prepared) -> Iterator[tuple[np.ndarray, pd.Index]]:
    """Blocks of ((m, 34) float32 scaled as PCA was trained on them, their State-County index), in row order."""
    scaling = MinMaxScaling.from_json(run.store.read(prepared["scaling"]))
    for features in frame_blocks(run, prepared["cleaned"]):
        yield scaling.transform(features.to_numpy(), dtype="float32"), features.index


class _Rows:
    """Rows that come in blocks (tuples of an array and what goes with it row for row: an index, a frame),
    taken `count` at a time across the blocks' edges, holding one block."""

    def __init__(self, blocks: Iterable[tuple]) -> None:
        self._blocks, self._held = iter(blocks), None

    def take(self, count: int) -> tuple | None:
        """The next `count` rows (fewer at the end) as one tuple; None when there are none left."""
        parts, wanted = [], count
        while wanted:
            if self._held is None or len(self._held[0]) == 0:
                self._held = next(self._blocks, None)
                if self._held is None:
                    break
                continue
            parts.append(tuple(item[:wanted] for item in self._held))
            self._held = tuple(item[wanted:] for item in self._held)
            wanted -= len(parts[-1][0])
        if not parts:
            return None
        return tuple(_joined([part[i] for part in parts]) for i in range(len(parts[0])))

    def width(self) -> int | None:
        """Columns of the rows' array, from the next block; None when there are no rows left."""
        while self._held is None or len(self._held[0]) == 0:
            self._held = next(self._blocks, None)
            if self._held is None:
                return None
        return self._held[0].shape[1]


def _joined(parts: list):
    if len(parts) == 1:
        return np.ascontiguousarray(parts[0]) if isinstance(parts[0], np.ndarray) else parts[0]
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    if isinstance(parts[0], pd.Index):
        return parts[0].append(parts[1:])
    return pd.concat(parts)


def _endpoint_answers(rows: _Rows, invoke: endpoints.Invoke) -> Iterator[tuple]:
    """(rows' array, what goes with it, the endpoint's answer) for each request, in order: the requests
    `endpoints.transform` sends for the rows (endpoints.batch_rows each), INVOKE_CONCURRENCY in flight."""
    width = rows.width()
    if width is None:
        raise ValueError("no rows to transform")
    step = endpoints.batch_rows(np.zeros((1, width), "float32"))
    sent: collections.deque[tuple] = collections.deque()  # requests sent and not yet answered: a few

    def requests() -> Iterator[np.ndarray]:
        while (part := rows.take(step)) is not None:
            sent.append(part)
            yield part[0]

    for answer in endpoints.answer_batches(requests(), invoke, concurrency=settings.INVOKE_CONCURRENCY):
        yield (*sent.popleft(), answer)


def keep_components(
    run: RunContext, answered: Iterable[tuple[np.ndarray, pd.Index, dict[str, np.ndarray]]], training: TrainingResult,
    chosen: Chosen, prepared: Prepared,
) -> Transformed:  # fmt: skip
    """PCA's answers for blocks of counties ((m, 34) scaled rows, their index, the answer) -> the kept components
    c_1…c_n, each block checked against the artifact's (x − mean) · v and streamed to components.parquet (a row
    group a block) and K-Means' training channel."""
    model = read_pca_model(run.store.read(training["model_artifact"]))
    kept = chosen["kept_components"]
    with run.store.open_write(run.layout.components) as components, _FrameWriter(components) as frames:

        def blocks() -> Iterator[np.ndarray]:
            for x, index, answer in answered:
                top = analysis.checked_top_components(answer["projection"], x, model, kept)
                frames.write(results.components_frame(index, top))
                yield top.astype("float32")

        train_prefix = stream_training_channel(run, "kmeans", blocks(), prepared["rows"], kept)
    return Transformed(components=components.uri, train_prefix=train_prefix)


def assign_segments(run: RunContext, plan: EndpointPlan, transformed: Transformed) -> Assigned:
    """Every county's segment and distance from the K-Means endpoint, streamed: the components read a row group
    at a time, sent in the requests `endpoints.transform` would send, the answers written as they come in."""
    lineage.TASK.read(plan["Model"]["PrimaryContainer"]["ModelDataUrl"])  # the model the endpoint serves
    invoke = endpoints.invoker(run.sagemaker_runtime(), plan["Endpoint"]["EndpointName"])
    return write_segments(run, _endpoint_answers(_Rows(_component_blocks(run, transformed)), invoke))


def assign_segments_batch(run: RunContext, plan: BatchPlan, transformed: Transformed) -> Assigned:
    """Every county's segment and distance from the K-Means batch transform job's output, an output shard at a
    time."""
    rows = _Rows(_component_blocks(run, transformed))
    expected = _parquet_rows(run, transformed["components"])
    return write_segments(run, _batch_answered(run, plan, rows, expected))


def _parquet_rows(run: RunContext, uri: str) -> int:
    """Rows of the parquet file at `uri`, from its footer."""
    import pyarrow.parquet as pq

    with run.store.open_read(uri) as file:
        return pq.ParquetFile(file).metadata.num_rows


def _component_blocks(run: RunContext, transformed: Transformed) -> Iterator[tuple[np.ndarray, pd.DataFrame]]:
    for components in frame_blocks(run, transformed["components"]):
        yield components.to_numpy("float32"), components


def write_segments(run: RunContext, answered: Iterable[tuple[np.ndarray, pd.DataFrame, dict]]) -> Assigned:
    """segments.parquet streamed from K-Means' answers for blocks of components (array, frame, answer)."""
    with run.store.open_write(run.layout.segments) as segments, _FrameWriter(segments, index=False) as frames:
        for _, components, answer in answered:
            frames.write(results.segments_frame(components, answer))
    return Assigned(segments=segments.uri)


def batch_plan(run: RunContext, algorithm: str, training: TrainingResult, input_prefix: str) -> BatchPlan:
    """The model of the job that ran and a batch transform job over every file under `input_prefix` (the
    stage's training channel: the rows in order), on the training instance type (transform jobs run on the
    ml.m5/ml.c5 families, not on the endpoints' ml.t2)."""
    return requests.batch_request(
        job_name=run.names.transform_job(algorithm),
        training_job_name=training["job_name"],
        model_data_uri=training["model_artifact"],
        algorithm=algorithm,
        region=run.region,
        role_arn=run.role_arn,
        input_uri=input_prefix,
        output_uri=run.layout.uri(run.layout.batch_output_prefix(algorithm)),
        instance_type=run.params["training_instance_type"],
        tags=run.names.tags(run.run_id),
    )


def batch_answers(run: RunContext, plan: BatchPlan, expected_rows: int) -> dict[str, np.ndarray]:
    """Every row's answer from a batch transform job's output, in input order: label key -> (rows, width)."""
    parts = list(batch_answer_shards(run, plan))
    answer = {label: np.concatenate([part[label] for part in parts]) for label in parts[0]} if parts else {}
    rows = {label: len(values) for label, values in answer.items()}
    if not answer or set(rows.values()) != {expected_rows}:
        raise _wrong_rows(plan, rows or "nothing", expected_rows)
    return answer


def batch_answer_shards(run: RunContext, plan: BatchPlan) -> Iterator[dict[str, np.ndarray]]:
    """Each output shard's answers (label key -> (shard rows, width)) of a batch transform job, in input order.

    SageMaker writes `<output path>/<input object name>.out` for each input object; the input objects are the
    channel's `part-NNNNN.rec` shards in row order, so their outputs are read in the same order, one at a time."""
    store, transform = run.store, plan["Transform"]
    input_prefix = transform["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
    output_prefix = transform["TransformOutput"]["S3OutputPath"].rstrip("/") + "/"
    for key in store.list_keys(input_prefix):
        name = key.rsplit("/", 1)[-1]
        data = store.read_if_exists(f"{output_prefix}{name}.out", dataset=transform["TransformOutput"]["S3OutputPath"])
        if data is None:
            raise AirflowFailException(
                f"Transform job {transform['TransformJobName']} wrote no {output_prefix}{name}.out for its input {name}"
            )
        yield decode_labels(data)


def _batch_answered(run: RunContext, plan: BatchPlan, rows: _Rows, expected_rows: int) -> Iterator[tuple]:
    """(rows' array, what goes with it, the job's answer) for each output shard, in order; refuses a job that
    answered more or fewer rows than `expected_rows`, or labels of different lengths."""
    answered = 0
    for answer in batch_answer_shards(run, plan):
        counts = {label: len(values) for label, values in answer.items()}
        if len(set(counts.values())) > 1:
            raise _wrong_rows(plan, counts, expected_rows, f" in one output shard, after {answered}")
        count = next(iter(counts.values()), 0)
        part = rows.take(count) if count else None
        if count and (part is None or len(part[0]) != count):
            raise _wrong_rows(plan, f"at least {answered + count}", expected_rows)
        answered += count
        if part is not None:
            yield (*part, answer)
    if answered != expected_rows or rows.take(1) is not None:
        raise _wrong_rows(plan, answered or "nothing", expected_rows)


def _wrong_rows(plan: BatchPlan, rows, expected_rows: int, where: str = "") -> AirflowFailException:
    return AirflowFailException(
        f"Transform job {plan['Transform']['TransformJobName']} answered {rows} rows{where}, expected {expected_rows} "
        "(one per input record)"
    )


def delete_batch_model(run: RunContext, plan: BatchPlan) -> TransformUsage | None:
    """Delete the batch transform's model; gone already is fine. The job itself ends on its own. Returns the
    job as SageMaker bills it (DescribeTransformJob), for the run's cost; None when there is no such job."""
    client, job = run.sagemaker(), plan["Transform"]["TransformJobName"]
    try:
        described = client.describe_transform_job(TransformJobName=job)
    except Exception as error:  # a teardown must go on to delete, whatever Describe answers
        if not is_not_found(error):
            log.warning(
                "Could not describe transform job %s (%s): its cost is not estimated", printable(job), printable(error)
            )
        described = None
    endpoints.delete_model(
        client, plan["Model"]["ModelName"], poll_seconds=settings.CHECK_INTERVAL,
        timeout_seconds=settings.TEARDOWN_TIMEOUT_SECONDS,
    )  # fmt: skip
    if described is None:
        return None
    resources = described["TransformResources"]
    start, end = described.get("TransformStartTime"), described.get("TransformEndTime")
    return TransformUsage(
        transform_job=job,
        instance_type=resources["InstanceType"],
        instance_count=resources["InstanceCount"],
        start=start.isoformat() if start else None,
        end=end.isoformat() if end else None,
    )


def match_segments(run: RunContext, assigned: Assigned, comparison: Comparison, chosen_k: KChoice) -> Matched:
    """Each K-Means cluster matched to the last published run's segment with the most counties in common, so
    that segment numbers stay from run to run (new ones get numbers never used before); the churn against that
    run. The cluster number stays beside the segment ID.

    Streamed: this run's segments are read a row group at a time and the previous run's segments.csv a block at
    a time (continuity.segment_blocks), joined by State-County on local temporary files (key_join.join, in
    partitions of about key_join.PARTITION_ROWS rows of the larger side), then the matched segments and the moved
    counties are written a block at a time in this run's row order. The task holds a block of each, one
    partition of the join and an upload part per file, whatever the rows: its peak RSS, imports included, was
    410, 455, 440 and 459 MiB at 100 k, 400 k, 1 M and 10 M rows with a previous run of as many
    (tests.support.match_memory; 321, 344 and 350 at 100 k to 1 M with the allocators' warm-up taken out,
    devtools.preprocess_memory.SETTLED_ALLOCATORS), under a bound of 512 MiB that does not depend on the rows;
    the partition files take ~100 bytes a row of local disk (~1 GB at 10 M rows, in the temporary directory)."""
    store, layout, k = run.store, run.layout, chosen_k["k"]
    change = first_moved = None
    changes: list[str] = []
    published = None
    if comparison["previous_run"] is not None:
        published = _existing(run, f"{comparison['previous_results']}{SEGMENTS}")
        if published is None:  # its results were removed, or it predates them: nothing to keep numbers from
            log.warning("%s has no %s: segment numbers start afresh", printable(comparison["previous_run"]), SEGMENTS)
    with contextlib.ExitStack() as opened:
        if published is None:
            ids, previous = continuity.first_ids(k), None
        else:
            joined = opened.enter_context(_joined_with(run, assigned, published, k, comparison))
            next_id = max(
                comparison["previous_next_id"],
                (store.read_json_if_exists(layout.segment_ids) or {}).get("next_id", 0),  # held runs' IDs too
            )
            ids = continuity.match_table(joined.table, joined.previous_ids, k, next_id)
            change = continuity.joined_churn(joined, ids)
            previous = opened.enter_context(joined.previous_segments())
            csv_sink = opened.enter_context(store.open_write(layout.segment_changes))
            parquet_sink = opened.enter_context(store.open_write(layout.work(parquet_name(SEGMENT_CHANGES))))
            moved_writer = continuity.MovedWriter(csv_sink, parquet_sink, SEGMENT_CHANGES, run.run_id)
        with store.open_write(layout.matched_segments) as sink, _FrameWriter(sink, index=False) as frames:
            for segments in frame_blocks(run, assigned["segments"]):
                clusters = segments["segment"].to_numpy(dtype=np.int64)
                stable = ids.stable(clusters)
                if previous is not None:
                    old = previous.take(len(segments))
                    moved = (old != key_join.MISSING) & (old != stable)
                    moved_writer.write(
                        _moved(segments[KEY_NAME].to_numpy(dtype=object)[moved], old[moved], stable[moved])
                    )
                segments["segment"] = stable
                segments[results.CLUSTER] = clusters
                frames.write(segments)
        if previous is not None:
            first_moved = moved_writer.close(
                _moved(np.array([], dtype=object), np.array([], np.int64), np.array([], np.int64))
            )
            changes = [csv_sink.uri, parquet_sink.uri]
    document = continuity.continuity_document(comparison["previous_run"], ids, change, first_moved)
    if change is not None:
        log.info(
            "Since %s: %d of %d shared counties changed segment (%.1f %%), adjusted Rand index %.3f; new IDs %s, "
            "retired %s",
            printable(comparison["previous_run"]), change.changed, change.shared, 100 * change.changed_share,
            change.adjusted_rand, list(ids.new), list(ids.retired),
        )  # fmt: skip
    return Matched(
        segments=store.uri(layout.matched_segments),
        continuity=store.write_json(layout.continuity, document),
        changes=changes,
        segment_ids=sorted(ids.by_cluster),
        by_cluster=list(ids.by_cluster),
    )


def _moved(keys: np.ndarray, previous: np.ndarray, segment: np.ndarray) -> pd.DataFrame:
    """continuity.moved_counties' frame: `State-County, previous_segment, segment`."""
    return pd.DataFrame({KEY_NAME: pd.Index(keys, dtype=object), "previous_segment": previous, "segment": segment})


def _existing(run: RunContext, uri: str) -> str | None:
    """`uri` when the object is there, None when it is not (HeadObject's 404)."""
    from botocore.exceptions import ClientError

    try:
        run.store.client.head_object(Bucket=run.store.bucket, Key=run.store.key(uri))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return uri


@contextlib.contextmanager
def _joined_with(run: RunContext, assigned: Assigned, published: str, k: int, comparison: Comparison):
    """key_join.join of this run's segments (key, raw cluster) with the previous run's segments.csv at `published`,
    partitioned by the larger of this run's rows and the previous run's (its run.json's)."""
    rows = max(_parquet_rows(run, assigned["segments"]), comparison.get("previous_rows") or 0)

    def current() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for block in frame_blocks(run, assigned["segments"]):
            yield block[KEY_NAME].to_numpy(dtype=object), block["segment"].to_numpy(dtype=np.int64)

    with (
        run.store.open_read(published) as file,
        key_join.join(
            current(),
            continuity.segment_blocks(file),
            k,
            key_join.partition_count(rows),
            continuity.LISTED,
            printable(published),
        ) as joined,
    ):
        yield joined


def extract_attributes(
    run: RunContext,
    pca: TrainingResult,
    kmeans: TrainingResult,
    chosen: Chosen,
    prepared: Prepared,
    matched: Matched,
) -> ResultFiles:
    """Centroids with sizes, each segment's profile from its counties, component makeup, and segments.csv with
    each county's FIPS code and segment label (the report's), all by stable segment ID: file name -> URI; and
    segment_summary.json (the traits and each segment's median distance, for the report; not published).

    Streamed: cleaned.parquet and the matched segments are read READ_ROWS rows at a time, side by side (the
    pipeline writes both in the census's row order), four times for the statistics (segment_statistics)
    and once more, with counties.parquet, to write segments.csv and segments.parquet as they are built. Peak
    memory does not depend on the rows: ≈ 0.5 GB (its own task process: 511 MiB at 1 M rows, 529 at 10 M; a
    block, its derived columns, a parquet row group, an upload part a file)."""
    store, ids = run.store, matched["segment_ids"]
    centroids = read_kmeans_model(store.read(kmeans["model_artifact"]))  # (k, n), row c: cluster c

    def blocks() -> Iterator[segment_statistics.Block]:
        wanted = (list(census.FEATURES), ["segment", "distance"])
        for features, segments in _side_by_side(run, prepared["cleaned"], matched["segments"], wanted):
            columns = {name: features.column(name).to_numpy() for name in census.FEATURES}
            yield (
                pd.DataFrame(columns, copy=False),
                segments.column("segment").to_numpy().astype(np.int64, copy=False),
                segments.column("distance").to_numpy().astype(np.float64, copy=False),
            )

    statistics = segment_statistics.segment_statistics(blocks, ids)
    model = read_pca_model(store.read(pca["model_artifact"]))
    frames = {
        results.CENTROIDS: results.centroids_frame(centroids[np.argsort(matched["by_cluster"])], statistics.sizes, ids),
        results.PROFILES: statistics.profiles,
        results.WEIGHTS: analysis.component_weights(model, census.FEATURES, chosen["kept_components"]).reset_index(),
    }
    written = {name: store.write_frame(run.layout.work(name), frame) for name, frame in frames.items()}
    for name, frame in frames.items():  # each table's typed twin, for query engines (parquet_tables)
        written[parquet_name(name)] = store.write(
            run.layout.work(parquet_name(name)), parquet_bytes(frame, name, run.run_id)
        )
    labels = traits.segment_labels(statistics.traits)
    written.update(_write_published_segments(run, prepared, matched, labels))
    summary = statistics.summary_document()
    written[results.SEGMENT_SUMMARY] = store.write_json(run.layout.work(results.SEGMENT_SUMMARY), summary)
    return written


def _side_by_side(
    run: RunContext, first: str, second: str, columns: tuple[list[str] | None, list[str] | None] = (None, None)
) -> Iterator[tuple]:
    """Blocks of READ_ROWS rows of two parquet files of the same counties in the same order, each with its
    State-County (a column, or the pandas index stored as one), read side by side whatever their row groups, as
    Arrow tables of `columns` (each file's; None: all of them) and State-County; AirflowFailException naming the
    row where their keys differ or where one ends first."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names = (first, second)
    streams = [_table_blocks(run, uri, None if wanted is None else [KEY_NAME, *wanted]) for uri, wanted in
               zip(names, columns, strict=True)]  # fmt: skip
    held: list[list] = [[], []]
    offset = 0
    while True:
        for side, stream in enumerate(streams):
            while sum(len(t) for t in held[side]) < READ_ROWS and (table := next(stream, None)) is not None:
                held[side].append(table)
        counts = [sum(len(t) for t in side) for side in held]
        if counts == [0, 0]:
            return
        if 0 in counts:
            shorter = names[counts.index(0)]
            raise AirflowFailException(f"{shorter} ends at row {offset}; {first} and {second} must have the same rows")
        rows = min(READ_ROWS, *counts)
        tables = []
        for side in range(2):
            joined = held[side][0] if len(held[side]) == 1 else pa.concat_tables(held[side])
            tables.append(joined.slice(0, rows))
            rest = joined.slice(rows)
            held[side] = [rest] if len(rest) else []
        same = pc.equal(tables[0].column(KEY_NAME), tables[1].column(KEY_NAME)).to_numpy(zero_copy_only=False)
        differ = np.flatnonzero(~same)
        if differ.size:
            row = int(differ[0])
            keys = [str(table.column(KEY_NAME)[row]) for table in tables]
            raise AirflowFailException(
                f"row {offset + row}: {second} has State-County {printable(keys[1])!r} where {first} has "
                f"{printable(keys[0])!r}; both must be in the census's row order"
            )
        offset += rows
        yield tuple(tables)


def _table_blocks(run: RunContext, uri: str, columns: list[str] | None) -> Iterator:
    """frame_blocks' blocks as Arrow tables of `columns` (None: all), with the file's schema metadata (pandas'
    index), not converted to pandas."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with run.store.open_read(uri) as file:
        parquet = pq.ParquetFile(file)
        schema = parquet.schema_arrow
        if columns is not None:
            schema = pa.schema([schema.field(name) for name in columns], metadata=schema.metadata)
        for group in range(parquet.num_row_groups):
            for batch in parquet.iter_batches(batch_size=READ_ROWS, row_groups=[group], columns=columns):
                yield pa.Table.from_batches([batch], schema=schema)


def _write_published_segments(run: RunContext, prepared: Prepared, matched: Matched, labels: dict) -> dict:
    """segments.csv and segments.parquet streamed, a block of matched segments at a time joined with
    counties.parquet (the same rows in the same order) and the labels: the CSV's header once, each block through
    csv_bytes; the Parquet with parquet_tables' schema, metadata and row groups of ROW_GROUP_ROWS."""
    from include.segmentation import parquet_tables

    layout, run_id = run.layout, run.run_id
    with (
        run.store.open_write(layout.work(SEGMENTS)) as csv_file,
        run.store.open_write(layout.work(parquet_name(SEGMENTS))) as parquet_file,
        _GroupedParquet(parquet_file, parquet_tables.ROW_GROUP_ROWS) as groups,
    ):
        for i, (counties, segments) in enumerate(_side_by_side(run, prepared["counties"], matched["segments"])):
            published = results.published_segments(segments.to_pandas(), counties.to_pandas(), labels)
            data = results.csv_bytes(published)
            csv_file.write(data if i == 0 else data[data.index(b"\n") + 1 :])
            groups.write(parquet_tables.table(published, SEGMENTS, run_id))
    return {SEGMENTS: csv_file.uri, parquet_name(SEGMENTS): parquet_file.uri}


class _GroupedParquet:
    """Arrow tables of one schema written as one zstd Parquet file into `sink` in row groups of `rows` (the last
    one shorter), as pyarrow.parquet.write_table(row_group_size=rows) writes their concatenation."""

    def __init__(self, sink, rows: int) -> None:
        self.sink, self.rows, self.writer, self.pending = sink, rows, None, []

    def write(self, table) -> None:
        import pyarrow.parquet as pq

        if self.writer is None:
            self.writer = pq.ParquetWriter(self.sink, table.schema, compression="zstd")
        self.pending.append(table)
        while sum(len(t) for t in self.pending) >= self.rows:
            self._flush(self.rows)

    def _flush(self, rows: int) -> None:
        import pyarrow as pa

        held = pa.concat_tables(self.pending)
        self.writer.write_table(held.slice(0, rows).combine_chunks(), row_group_size=rows)
        rest = held.slice(rows)
        self.pending = [rest] if len(rest) else []

    def __enter__(self) -> _GroupedParquet:
        return self

    def __exit__(self, *failed) -> None:
        if failed[0] is not None:
            return
        if self.pending:
            self._flush(sum(len(t) for t in self.pending))
        if self.writer is not None:
            self.writer.close()


def document_run(
    run: RunContext,
    prepared: Prepared,
    chosen: Chosen,
    pca: TrainingResult,
    chosen_k: KChoice,
    trainings: list[TrainingResult],
    matched: Matched,
    lifetimes: Sequence[EndpointLifetime | None] = (),
    transforms: Sequence[TransformUsage | None] = (),
) -> ResultFiles:
    """run.json: params, input and its checksum, job and endpoint names, timings, billable seconds, the run's
    fingerprint, its segment IDs and churn against the last published run, the churn gate's verdict, and what the
    run cost: its training jobs, the lifetimes of its endpoints (`lifetimes`, from their teardowns) and its batch
    transform jobs (`transforms`) priced from the price table. The path a run did not take gives None for each."""
    store = run.store
    census_read = CensusIdentity(
        prepared["input_etag"], prepared["input_bytes"], prepared["input_version_id"], prepared["input_sha256"]
    )
    document_continuity = store.read_json(matched["continuity"])
    churn = document_continuity.get("churn")
    held = None
    if churn:
        held = gates.churn_refusal(
            churn["changed_share"], churn["changed"], churn["shared"], run.params.get("max_churn"),
            document_continuity["previous_run"],
        )  # fmt: skip
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
        training_jobs={"pca": training_job(pca), "kmeans": training_job(chosen_k["training"])},
        endpoints={a: run.names.endpoint(a) for a in TRAINING},
        fingerprint=Fingerprint(census_read, run_settings(run)).to_dict(),
        continuity=document_continuity,
        max_churn=run.params.get("max_churn"),
        held_reason=held,
        k_selection=_k_summary(store.read_json(chosen_k["selection"])),
        candidate_jobs={int(t["hyperparameters"]["k"]): training_job(t) for t in trainings}
        if len(trainings) > 1
        else None,
        endpoint_lifetimes={a: lifetime for a, lifetime in zip(TRAINING, lifetimes, strict=False) if lifetime},
        transform_jobs={a: usage for a, usage in zip(TRAINING, transforms, strict=False) if usage},
    )
    document["cost"] = run_cost(run, document)
    log.info("Estimated cost of the run: %s", printable(cost_text(document["cost"])))
    return {RUN_DOCUMENT: store.write_json(run.layout.work(RUN_DOCUMENT), document)}


def run_cost(run: RunContext, document: dict) -> dict:
    """run.json's `cost`: the usage `document` records, priced from the deployment's price table (or popseg's)."""
    path = settings.price_table_path() or cost.PRICE_TABLE
    try:
        table = cost.load_price_table(path)
    except cost.PriceTableError as error:
        log.error("The run's cost cannot be estimated: %s", printable(error))
        table = cost.unreadable(error, str(path))
    return cost.estimate(cost.usages_of_run(document), run.region, table)


def _k_summary(selection: dict) -> dict:
    """run.json's `k_selection`: the rule, the chosen k, why, and the candidates (k_selection.json has their
    metrics)."""
    return {
        "rule": selection["rule"],
        "chosen_k": selection["chosen_k"],
        "reason": selection["reason"],
        "candidates": [candidate["k"] for candidate in selection["candidates"]],
    }


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
    chosen_k: KChoice,
    matched: Matched,
    attributes: ResultFiles,
    documented: ResultFiles,
) -> ResultFiles:
    """report.html (self-contained) and its plots as PNG files: file name -> URI. The rows are streamed
    (report.summarise: READ_ROWS at a time, twice over cleaned.parquet, once over counties.parquet and the
    matched segments), and the traits and median distances come from extract_attributes' segment_summary.json,
    so the task's memory does not depend on their number (≈ 480 MiB peak RSS at 100 k to 1 M rows, matplotlib
    and the atlas included; bound: 1 GB)."""
    from include.segmentation import report  # matplotlib: ~1 s of start-up that no other task needs

    store = run.store
    summary = store.read_json(attributes[results.SEGMENT_SUMMARY])  # extract_attributes' streamed statistics
    counties = _side_by_side(run, prepared["counties"], matched["segments"])  # checks that their keys agree
    rows = report.summarise(
        lambda: frame_blocks(run, prepared["cleaned"]),
        ((places.to_pandas(), segments.to_pandas()) for places, segments in counties),
    )
    html, plots = report.build_report(
        report.RunResults(
            run=store.read_json(documented[RUN_DOCUMENT]),
            variance=store.read_json(chosen["explained_variance"]),
            weights=store.read_frame(attributes[results.WEIGHTS]),
            centroids=store.read_frame(attributes[results.CENTROIDS]),
            profiles=store.read_frame(attributes[results.PROFILES]),
            rows=rows,
            traits=traits.SegmentTraits.from_document(summary["traits"]),
            median_distances=segment_statistics.distance_medians_of(summary),
            k_selection=store.read_json(chosen_k["selection"]),
        )
    )
    written = {name: store.write(run.layout.work(name), data) for name, data in plots.items()}
    return {REPORT: store.write(run.layout.work(REPORT), html.encode()), **written}


def publish(
    run: RunContext,
    chosen: Chosen,
    chosen_k: KChoice,
    matched: Matched,
    attributes: ResultFiles,
    documented: ResultFiles,
    reported: ResultFiles,
) -> dict:
    """Copy every result file the tasks wrote under runs/<run_id>/, each by its name below work/<token>/.
    Returns the run's summary, which the publish task records on the runs Asset (the Segmentation view's
    index), with the sha256 of each file the view serves, hashed before the copy (the view serves no file whose
    bytes differ). latest.json is promote's: a run the churn gate holds is published but not promoted."""
    store, layout = run.store, run.layout
    written = [
        chosen["explained_variance"], chosen_k["selection"],
        *(uri for name, uri in attributes.items() if name != results.SEGMENT_SUMMARY),  # the report's, not a result
        *documented.values(), *reported.values(),
    ]  # fmt: skip
    written.extend(matched["changes"])
    files = {layout.published_name(uri): uri for uri in written}
    sha256 = published_runs.served_digests(store.client, store.bucket, {n: store.key(u) for n, u in files.items()})
    for name, uri in files.items():
        store.copy(uri, layout.result(name))
    document = store.read_json(files[RUN_DOCUMENT])
    shown = continuity.next_id_of(document)
    used = (store.read_json_if_exists(layout.segment_ids) or {}).get("next_id", 0)
    if shown > used:  # the runs of a folder run one at a time (max_active_runs=1): no concurrent writer
        store.write_json(layout.segment_ids, {"next_id": shown})
    return published_runs.run_summary(document, layout.uri(layout.results_prefix), sha256)


def promote(run: RunContext) -> dict:
    """Move latest.json to this run, unless the churn gate holds it: then fail, naming the churn, the gate and
    how to accept the run (its results stay under runs/<run_id>/ for review). Returns latest.json's document,
    for the results Asset."""
    store, layout = run.store, run.layout
    document = store.read_json(layout.result(RUN_DOCUMENT))
    held = (document.get("gate") or {}).get("refusal")
    if document.get("state") == results.HELD:
        raise AirflowFailException(str(held))
    results_uri = layout.uri(layout.results_prefix)
    latest = {"run_id": run.run_id, "results": results_uri, "report": report_uri(results_uri)}
    # A lost answer to this PUT must not fail a run that did publish (nor a lost write pass): read back on error.
    store.write_json_confirmed(layout.latest, latest)
    return latest
