"""Batch transform jobs: CreateTransformJob/DescribeTransformJob/ListTransformJobs/StopTransformJob, how each
input object is split, batched and answered, and the `.out` objects SageMaker writes (aws_emulator/README.md,
*Batch transform*, cites the pages each rule follows). The oracle for every answer is the endpoint serving
the same model: a batch transform answers as InvokeEndpoint does."""

from __future__ import annotations

import gzip
import json
import uuid

import numpy as np
import pytest
from botocore.exceptions import ClientError

from aws_emulator.sagemaker.transform import FAILURE_REASON
from include.sagemaker_formats.recordio import decode_labels, encode_dense
from tests.support.sagemaker_requests import (
    KMEANS_IMAGE,
    PCA_IMAGE,
    create_model,
    deploy,
    training_request,
    transform_request,
    wait_for_job,
    wait_for_transform,
)
from tests.support.transform_jobs import (
    csv_rows,
    endpoint_clusters,
    endpoint_projection,
    endpoint_projection_each,
    job_log_lines,
    jsonlines_projection,
    out_objects,
)

RECORDIO = "application/x-recordio-protobuf"


@pytest.fixture(scope="module")
def pca_model(sagemaker, pca_job) -> str:
    return create_model(
        sagemaker, f"pca-model-{uuid.uuid4().hex[:6]}", PCA_IMAGE, pca_job["ModelArtifacts"]["S3ModelArtifacts"]
    )


@pytest.fixture(scope="module")
def kmeans_artifact(sagemaker, pca_data, bucket) -> str:
    """A K-Means model (k = 3) of `pca_data`'s rows."""
    name = f"kmeans-shared-{uuid.uuid4().hex[:6]}"
    hyperparameters = {"feature_dim": "6", "k": "3", "mini_batch_size": "100"}
    sagemaker.create_training_job(
        **training_request(name, KMEANS_IMAGE, hyperparameters, pca_data[1], f"s3://{bucket}/models/")
    )
    return wait_for_job(sagemaker, name)["ModelArtifacts"]["S3ModelArtifacts"]


@pytest.fixture(scope="module")
def kmeans_model(sagemaker, kmeans_artifact) -> str:
    return create_model(sagemaker, f"kmeans-model-{uuid.uuid4().hex[:6]}", KMEANS_IMAGE, kmeans_artifact)


@pytest.fixture(scope="module")
def kmeans_endpoint(sagemaker, kmeans_artifact) -> str:
    return deploy(sagemaker, f"kmeans-endpoint-{uuid.uuid4().hex[:6]}", KMEANS_IMAGE, kmeans_artifact)


@pytest.fixture(scope="module")
def rows(pca_data) -> np.ndarray:
    """(600, 6) float32."""
    return pca_data[0]


@pytest.fixture
def place(s3, bucket, unique):
    """`place(name, {key: bytes})` puts the objects under a fresh prefix: (input prefix URI, output URI, prefix)."""

    def put(name: str, objects: dict[str, bytes]) -> tuple[str, str, str]:
        prefix = unique(name)
        for key, body in objects.items():
            s3.put_object(Bucket=bucket, Key=f"{prefix}/in/{key}", Body=body)
        return f"s3://{bucket}/{prefix}/in/", f"s3://{bucket}/{prefix}/out", prefix

    return put


def run(sagemaker, unique, model: str, input_uri: str, output: str, **extra) -> dict:
    name = unique("transform")
    sagemaker.create_transform_job(**transform_request(name, model, input_uri, output, **extra))
    return wait_for_transform(sagemaker, name)


# ----------------------------------------------------------------------------------------- states


def test_a_job_is_in_progress_when_created_and_completes(sagemaker, unique, pca_model, place, rows) -> None:
    input_uri, output, _ = place("states", {"part-0.rec": encode_dense(rows)})
    name = unique("transform")
    sagemaker.create_transform_job(
        **transform_request(name, pca_model, input_uri, output, content_type=RECORDIO, split_type="RecordIO")
    )
    assert sagemaker.describe_transform_job(TransformJobName=name)["TransformJobStatus"] == "InProgress"
    done = wait_for_transform(sagemaker, name)
    assert done["TransformJobStatus"] == "Completed"
    assert done["TransformStartTime"] <= done["TransformEndTime"]
    assert "FailureReason" not in done


def test_a_stopped_job_ends_stopped_and_writes_nothing(sagemaker, s3, bucket, unique, pca_model, place, rows) -> None:
    # One record a request, 30,000 requests: the job is still running when the stop arrives, however slow
    # the machine (it waits transition_seconds before its first request, then takes seconds more).
    input_uri, output, prefix = place("stopped", {"part-0.rec": encode_dense(np.tile(rows, (50, 1)))})
    name = unique("transform")
    request = transform_request(
        name, pca_model, input_uri, output, content_type=RECORDIO, split_type="RecordIO", BatchStrategy="SingleRecord"
    )
    sagemaker.create_transform_job(**request)
    sagemaker.stop_transform_job(TransformJobName=name)
    assert sagemaker.describe_transform_job(TransformJobName=name)["TransformJobStatus"] in ("Stopping", "Stopped")
    assert wait_for_transform(sagemaker, name)["TransformJobStatus"] == "Stopped"
    assert out_objects(s3, bucket, f"{prefix}/out") == {}


def test_stopping_a_finished_job_is_refused_with_its_status(sagemaker, unique, pca_model, place, rows) -> None:
    input_uri, output, _ = place("stop-done", {"part-0.rec": encode_dense(rows)})
    done = run(sagemaker, unique, pca_model, input_uri, output, content_type=RECORDIO, split_type="RecordIO")
    with pytest.raises(ClientError, match="the transform job is in status Completed"):
        sagemaker.stop_transform_job(TransformJobName=done["TransformJobName"])


def test_a_job_of_a_missing_model_is_refused_with_sagemakers_message(sagemaker, unique, place) -> None:
    input_uri, output, _ = place("no-model", {"part-0.csv": b"1,2,3,4,5,6\n"})
    with pytest.raises(ClientError) as refused:
        sagemaker.create_transform_job(**transform_request(unique("transform"), "no-such-model", input_uri, output))
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert refused.value.response["Error"]["Message"] == (
        'Could not find model "arn:aws:sagemaker:us-east-1:123456789012:model/no-such-model".'
    )


def test_a_second_job_of_the_same_name_is_refused(sagemaker, unique, pca_model, place, rows) -> None:
    input_uri, output, _ = place("twice", {"part-0.rec": encode_dense(rows)})
    request = transform_request(unique("transform"), pca_model, input_uri, output, content_type=RECORDIO)
    sagemaker.create_transform_job(**request)
    with pytest.raises(ClientError, match="a job with this name already exists") as refused:
        sagemaker.create_transform_job(**request)
    assert refused.value.response["Error"]["Code"] == "ResourceInUse"


def test_a_split_type_outside_the_model_is_refused_by_botocores_rules(sagemaker, unique, pca_model, place) -> None:
    input_uri, output, _ = place("bad-split", {"part-0.csv": b"1,2,3,4,5,6\n"})
    request = transform_request(unique("transform"), pca_model, input_uri, output, split_type="Paragraph")
    with pytest.raises(ClientError, match="at 'transformInput.splitType' failed to satisfy constraint"):
        sagemaker.create_transform_job(**request)


def test_max_payload_above_100_mb_is_refused(sagemaker, unique, pca_model, place) -> None:
    input_uri, output, _ = place("payload-cap", {"part-0.csv": b"1,2,3,4,5,6\n"})
    request = transform_request(unique("transform"), pca_model, input_uri, output, MaxPayloadInMB=101)
    with pytest.raises(ClientError, match="MaxPayloadInMB 101 is greater than the maximum of 100 MB"):
        sagemaker.create_transform_job(**request)


def test_concurrent_transforms_times_payload_above_100_mb_is_refused(sagemaker, unique, pca_model, place) -> None:
    input_uri, output, _ = place("payload-product", {"part-0.csv": b"1,2,3,4,5,6\n"})
    request = transform_request(
        unique("transform"), pca_model, input_uri, output, MaxPayloadInMB=30, MaxConcurrentTransforms=4
    )
    with pytest.raises(ClientError, match=r"\(4 × 30 MB\) is greater than the maximum of 100 MB"):
        sagemaker.create_transform_job(**request)


def test_list_transform_jobs_filters_by_name_and_status(sagemaker, unique, pca_model, place, rows) -> None:
    input_uri, output, _ = place("listed", {"part-0.rec": encode_dense(rows)})
    done = run(sagemaker, unique, pca_model, input_uri, output, content_type=RECORDIO, split_type="RecordIO")
    name = done["TransformJobName"]
    listed = sagemaker.list_transform_jobs(NameContains=name, StatusEquals="Completed")["TransformJobSummaries"]
    assert [(s["TransformJobName"], s["TransformJobStatus"]) for s in listed] == [(name, "Completed")]
    assert sagemaker.list_transform_jobs(NameContains=name, StatusEquals="Failed")["TransformJobSummaries"] == []


def test_describe_echoes_the_request_with_sagemakers_defaults(sagemaker, unique, pca_model, place, rows) -> None:
    input_uri, output, _ = place("echo", {"part-0.rec": encode_dense(rows)})
    done = run(sagemaker, unique, pca_model, input_uri, output, content_type=RECORDIO)
    assert done["ModelName"] == pca_model
    assert done["TransformInput"]["SplitType"] == "None"
    assert done["TransformInput"]["CompressionType"] == "None"
    assert done["MaxPayloadInMB"] == 6
    assert done["TransformOutput"]["S3OutputPath"] == output


# ----------------------------------------------------------------------------------------- output layout


def test_each_input_object_gets_one_out_object_at_its_relative_path(
    sagemaker, s3, bucket, unique, pca_model, place, rows
) -> None:
    objects = {"part-1.rec": encode_dense(rows[:200]), "part-0.rec": encode_dense(rows[200:500])}
    objects["county/part-2.rec"] = encode_dense(rows[500:])
    input_uri, output, prefix = place("layout", objects)
    done = run(
        sagemaker, unique, pca_model, input_uri, output, content_type=RECORDIO, split_type="RecordIO", accept=RECORDIO
    )
    assert done["TransformJobStatus"] == "Completed"
    written = out_objects(s3, bucket, f"{prefix}/out/")
    assert sorted(written) == [
        f"{prefix}/out/county/part-2.rec.out",
        f"{prefix}/out/part-0.rec.out",
        f"{prefix}/out/part-1.rec.out",
    ]


def test_each_out_object_holds_its_input_records_in_order(
    sagemaker, s3, bucket, unique, pca_model, pca_endpoint, runtime, place, rows
) -> None:
    objects = {"part-0.rec": encode_dense(rows[:250]), "part-1.rec": encode_dense(rows[250:])}
    input_uri, output, prefix = place("order", objects)
    run(sagemaker, unique, pca_model, input_uri, output, content_type=RECORDIO, split_type="RecordIO", accept=RECORDIO)
    written = out_objects(s3, bucket, f"{prefix}/out/")
    first = decode_labels(written[f"{prefix}/out/part-0.rec.out"])["projection"]
    second = decode_labels(written[f"{prefix}/out/part-1.rec.out"])["projection"]
    np.testing.assert_array_equal(first, endpoint_projection(runtime, pca_endpoint, rows[:250]))
    np.testing.assert_array_equal(second, endpoint_projection(runtime, pca_endpoint, rows[250:]))


def test_a_single_object_uri_writes_its_out_beside_the_output_path(
    sagemaker, s3, bucket, unique, pca_model, place, rows
) -> None:
    _, output, prefix = place("single", {"data/counties.csv": csv_rows(rows)})
    input_uri = f"s3://{bucket}/{prefix}/in/data/counties.csv"
    run(sagemaker, unique, pca_model, input_uri, output, content_type="text/csv", split_type="Line")
    assert list(out_objects(s3, bucket, f"{prefix}/out/")) == [f"{prefix}/out/counties.csv.out"]


def test_a_manifest_lists_the_objects_to_transform(sagemaker, s3, bucket, unique, pca_model, place, rows) -> None:
    input_uri, output, prefix = place("manifest", {"a.rec": encode_dense(rows[:10]), "b.rec": encode_dense(rows)})
    manifest = json.dumps([{"prefix": input_uri}, "a.rec"]).encode()
    s3.put_object(Bucket=bucket, Key=f"{prefix}/manifest.json", Body=manifest)
    done = run(
        sagemaker,
        unique,
        pca_model,
        f"s3://{bucket}/{prefix}/manifest.json",
        output,
        data_type="ManifestFile",
        content_type=RECORDIO,
    )
    assert done["TransformJobStatus"] == "Completed"
    assert list(out_objects(s3, bucket, f"{prefix}/out/")) == [f"{prefix}/out/a.rec.out"]


# ----------------------------------------------------------------------------------------- split, batch, assemble


def test_split_none_sends_the_whole_object_as_one_request(
    sagemaker, s3, bucket, unique, pca_model, pca_endpoint, runtime, place, rows
) -> None:
    input_uri, output, prefix = place("split-none", {"part-0.csv": csv_rows(rows)})
    run(sagemaker, unique, pca_model, input_uri, output, content_type="text/csv", accept="application/json")
    body = out_objects(s3, bucket, f"{prefix}/out/")[f"{prefix}/out/part-0.csv.out"]
    projections = [item["projection"] for item in json.loads(body)["projections"]]  # one JSON document
    np.testing.assert_array_equal(
        np.array(projections, dtype="float32"), endpoint_projection(runtime, pca_endpoint, rows)
    )


def test_split_line_multi_record_packs_lines_into_payloads_and_keeps_their_order(
    sagemaker, s3, bucket, unique, pca_model, pca_endpoint, runtime, place
) -> None:
    many = np.random.default_rng(3).normal(size=(30_000, 6)).astype("float32")  # ~3.4 MB of CSV: 4 payloads
    input_uri, output, prefix = place("split-line", {"part-0.csv": csv_rows(many)})
    done = run(
        sagemaker,
        unique,
        pca_model,
        input_uri,
        output,
        content_type="text/csv",
        split_type="Line",
        BatchStrategy="MultiRecord",
        MaxPayloadInMB=1,
        accept="application/jsonlines",
    )
    assert done["TransformJobStatus"] == "Completed"
    body = out_objects(s3, bucket, f"{prefix}/out/")[f"{prefix}/out/part-0.csv.out"]
    np.testing.assert_array_equal(jsonlines_projection(body), endpoint_projection(runtime, pca_endpoint, many))


def test_single_record_with_assemble_line_writes_one_answer_a_line(
    sagemaker, s3, bucket, unique, pca_model, pca_endpoint, runtime, place, rows
) -> None:
    input_uri, output, prefix = place("single-record", {"part-0.csv": csv_rows(rows[:20])})
    run(
        sagemaker,
        unique,
        pca_model,
        input_uri,
        output,
        content_type="text/csv",
        split_type="Line",
        BatchStrategy="SingleRecord",
        accept="application/json",
        assemble_with="Line",
    )
    lines = out_objects(s3, bucket, f"{prefix}/out/")[f"{prefix}/out/part-0.csv.out"].decode().splitlines()
    assert len(lines) == 20
    projections = [json.loads(line)["projections"][0]["projection"] for line in lines]
    np.testing.assert_array_equal(
        np.array(projections, dtype="float32"), endpoint_projection_each(runtime, pca_endpoint, rows[:20])
    )


def test_assemble_none_concatenates_the_answers_as_they_are(
    sagemaker, s3, bucket, unique, pca_model, place, rows
) -> None:
    input_uri, output, prefix = place("assemble-none", {"part-0.csv": csv_rows(rows[:3])})
    run(
        sagemaker,
        unique,
        pca_model,
        input_uri,
        output,
        content_type="text/csv",
        split_type="Line",
        BatchStrategy="SingleRecord",
        accept="application/json",
    )
    body = out_objects(s3, bucket, f"{prefix}/out/")[f"{prefix}/out/part-0.csv.out"]
    assert body.count(b'{"projections"') == 3
    assert b"\n" not in body


def test_split_recordio_single_record_answers_each_record(
    sagemaker, s3, bucket, unique, pca_model, pca_endpoint, runtime, place, rows
) -> None:
    input_uri, output, prefix = place("recordio-single", {"part-0.rec": encode_dense(rows[:15])})
    run(
        sagemaker,
        unique,
        pca_model,
        input_uri,
        output,
        content_type=RECORDIO,
        split_type="RecordIO",
        BatchStrategy="SingleRecord",
        accept=RECORDIO,
    )
    body = out_objects(s3, bucket, f"{prefix}/out/")[f"{prefix}/out/part-0.rec.out"]
    np.testing.assert_array_equal(
        decode_labels(body)["projection"], endpoint_projection_each(runtime, pca_endpoint, rows[:15])
    )


def test_gzip_input_objects_are_inflated(
    sagemaker, s3, bucket, unique, pca_model, pca_endpoint, runtime, place, rows
) -> None:
    input_uri, output, prefix = place("gzip", {"part-0.csv.gz": gzip.compress(csv_rows(rows))})
    run(
        sagemaker,
        unique,
        pca_model,
        input_uri,
        output,
        content_type="text/csv",
        split_type="Line",
        compression="Gzip",
        accept="application/jsonlines",
    )
    body = out_objects(s3, bucket, f"{prefix}/out/")[f"{prefix}/out/part-0.csv.gz.out"]
    np.testing.assert_array_equal(jsonlines_projection(body), endpoint_projection(runtime, pca_endpoint, rows))


# ----------------------------------------------------------------------------------------- formats


@pytest.mark.parametrize(
    "content_type", ["text/csv", "application/json", "application/jsonlines", "application/x-recordio-protobuf"]
)
def test_pca_reads_each_request_type(
    sagemaker, s3, bucket, unique, pca_model, pca_endpoint, runtime, place, rows, content_type
) -> None:
    bodies = {
        "text/csv": csv_rows(rows),
        "application/json": json.dumps({"instances": [{"features": r} for r in rows.tolist()]}).encode(),
        "application/jsonlines": "".join(json.dumps({"features": r}) + "\n" for r in rows.tolist()).encode(),
        RECORDIO: encode_dense(rows),
    }
    input_uri, output, prefix = place("pca-types", {"part-0": bodies[content_type]})
    run(sagemaker, unique, pca_model, input_uri, output, content_type=content_type, accept="application/jsonlines")
    body = out_objects(s3, bucket, f"{prefix}/out/")[f"{prefix}/out/part-0.out"]
    np.testing.assert_array_equal(jsonlines_projection(body), endpoint_projection(runtime, pca_endpoint, rows))


@pytest.mark.parametrize("accept", ["text/csv", "application/json", "application/jsonlines", RECORDIO])
def test_kmeans_answers_in_each_accept_type(
    sagemaker, s3, bucket, unique, kmeans_model, kmeans_endpoint, runtime, place, rows, accept
) -> None:
    input_uri, output, prefix = place("kmeans-types", {"part-0.csv": csv_rows(rows)})
    run(
        sagemaker,
        unique,
        kmeans_model,
        input_uri,
        output,
        content_type="text/csv",
        split_type="Line",
        MaxPayloadInMB=1,
        accept=accept,
        assemble_with="None" if accept == RECORDIO else "Line",  # RecordIO is binary: no newline between answers
    )
    body = out_objects(s3, bucket, f"{prefix}/out/")[f"{prefix}/out/part-0.csv.out"]
    if accept == "text/csv":
        clusters = [float(line.split(",")[0]) for line in body.decode().splitlines() if line]
    elif accept == "application/json":
        clusters = [p["closest_cluster"] for line in body.splitlines() for p in json.loads(line)["predictions"]]
    elif accept == "application/jsonlines":
        clusters = [json.loads(line)["closest_cluster"] for line in body.splitlines() if line.strip()]
    else:
        clusters = decode_labels(body)["closest_cluster"].ravel().tolist()
    np.testing.assert_array_equal(np.array(clusters, dtype=int), endpoint_clusters(runtime, kmeans_endpoint, rows))


# ----------------------------------------------------------------------------------------- failures


def test_an_object_over_max_payload_fails_the_job_and_the_log_says_why(
    sagemaker, s3, bucket, logs, unique, pca_model, place
) -> None:
    big = np.full((40_000, 6), 0.125, dtype="float32")  # 1.44 MB of CSV, one request with SplitType None
    input_uri, output, prefix = place("too-large", {"part-0.csv": csv_rows(big)})
    done = run(sagemaker, unique, pca_model, input_uri, output, content_type="text/csv", MaxPayloadInMB=1)
    assert done["TransformJobStatus"] == "Failed"
    assert done["FailureReason"] == FAILURE_REASON
    lines = job_log_lines(logs, done["TransformJobName"])
    assert any(line.endswith(f"[sagemaker logs]: {bucket}/{prefix}/in/part-0.csv: ClientError: 413") for line in lines)
    assert any("more than MaxPayloadInMB allows (1,048,576 bytes)" in line for line in lines)
    assert out_objects(s3, bucket, f"{prefix}/out/") == {}


def test_a_record_over_max_payload_fails_the_job_naming_the_record(sagemaker, logs, unique, pca_model, place) -> None:
    record = (",".join(["1.0"] * 6) + " " * (1 << 20) + "\n").encode()  # one line of 1 MiB and more
    input_uri, output, _ = place("record-too-large", {"part-0.csv": b"1,2,3,4,5,6\n" + record})
    done = run(
        sagemaker, unique, pca_model, input_uri, output, content_type="text/csv", split_type="Line", MaxPayloadInMB=1
    )
    assert done["FailureReason"] == FAILURE_REASON
    assert any("Record 1 (bytes 12.." in line for line in job_log_lines(logs, done["TransformJobName"]))


def test_a_content_type_the_algorithm_does_not_read_fails_the_job_with_415(
    sagemaker, logs, unique, pca_model, place
) -> None:
    input_uri, output, _ = place("bad-type", {"part-0.csv": b"1,2,3,4,5,6\n"})
    done = run(sagemaker, unique, pca_model, input_uri, output, content_type="text/libsvm")
    assert done["FailureReason"] == FAILURE_REASON
    lines = job_log_lines(logs, done["TransformJobName"])
    assert any(line.endswith("ClientError: 415") for line in lines)
    assert any("content-type text/libsvm not supported" in line for line in lines)


def test_an_accept_type_pca_does_not_write_fails_the_job_with_406(sagemaker, logs, unique, pca_model, place) -> None:
    input_uri, output, _ = place("bad-accept", {"part-0.csv": b"1,2,3,4,5,6\n"})
    done = run(sagemaker, unique, pca_model, input_uri, output, content_type="text/csv", accept="text/csv")
    assert done["FailureReason"] == FAILURE_REASON
    assert any(line.endswith("ClientError: 406") for line in job_log_lines(logs, done["TransformJobName"]))


def test_the_objects_that_succeed_are_written_when_another_fails(
    sagemaker, s3, bucket, unique, pca_model, place, rows
) -> None:
    input_uri, output, prefix = place("partial", {"a.csv": csv_rows(rows[:5]), "b.csv": b"1,2,three,4,5,6\n"})
    done = run(sagemaker, unique, pca_model, input_uri, output, content_type="text/csv", split_type="Line")
    assert done["TransformJobStatus"] == "Failed"
    assert list(out_objects(s3, bucket, f"{prefix}/out/")) == [f"{prefix}/out/a.csv.out"]


def test_a_model_whose_artifact_is_gone_fails_the_job_naming_it(sagemaker, unique, bucket, place) -> None:
    missing = f"s3://{bucket}/{unique('gone')}/model.tar.gz"
    model = create_model(sagemaker, unique("model"), PCA_IMAGE, missing)
    input_uri, output, _ = place("no-artifact", {"part-0.csv": b"1,2,3,4,5,6\n"})
    done = run(sagemaker, unique, model, input_uri, output, content_type="text/csv")
    assert done["TransformJobStatus"] == "Failed"
    assert done["FailureReason"] == f"ClientError: Could not find model data at {missing}."


def test_an_empty_input_prefix_fails_the_job_naming_it(sagemaker, unique, pca_model, bucket) -> None:
    empty = f"s3://{bucket}/{unique('empty')}/"
    done = run(sagemaker, unique, pca_model, empty, f"s3://{bucket}/unused", content_type="text/csv")
    assert done["FailureReason"] == f"ClientError: No S3 objects found under the input S3Uri {empty}"


def test_the_log_opens_with_the_jobs_transform_settings(sagemaker, logs, unique, pca_model, place, rows) -> None:
    input_uri, output, _ = place("log", {"part-0.rec": encode_dense(rows)})
    done = run(sagemaker, unique, pca_model, input_uri, output, content_type=RECORDIO, split_type="RecordIO")
    first = job_log_lines(logs, done["TransformJobName"])[0]
    assert first.endswith("[sagemaker logs]: MaxConcurrentTransforms=1, MaxPayloadInMB=6, BatchStrategy=MULTI_RECORD")


# ----------------------------------------------------------------------------------------- DataProcessing


def test_a_csv_id_column_is_filtered_out_then_joined_back_beside_its_cluster(
    sagemaker, s3, bucket, unique, kmeans_model, kmeans_endpoint, runtime, place, rows
) -> None:
    ids = [f"county-{i}" for i in range(len(rows))]
    lines = [f"{county},{line}" for county, line in zip(ids, csv_rows(rows).decode().splitlines(), strict=True)]
    input_uri, output, prefix = place("join-csv", {"part-0.csv": ("\n".join(lines) + "\n").encode()})
    done = run(
        sagemaker,
        unique,
        kmeans_model,
        input_uri,
        output,
        content_type="text/csv",
        split_type="Line",
        accept="text/csv",
        assemble_with="Line",
        DataProcessing={"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-2]"},
    )
    assert done["TransformJobStatus"] == "Completed"
    body = out_objects(s3, bucket, f"{prefix}/out/")[f"{prefix}/out/part-0.csv.out"].decode()
    written = [line.split(",") for line in body.splitlines()]
    assert [county for county, _ in written] == ids
    clusters = np.array([float(cluster) for _, cluster in written], dtype=int)
    np.testing.assert_array_equal(clusters, endpoint_clusters(runtime, kmeans_endpoint, rows))


def test_a_csv_slice_filter_includes_its_end_column(sagemaker, unique, pca_model, place, rows) -> None:
    # id, the 6 features, a trailing note: $[1:6] must give the model exactly the 6 features.
    lines = [f"id-{i},{line},note" for i, line in enumerate(csv_rows(rows[:10]).decode().splitlines())]
    input_uri, output, _ = place("slice", {"part-0.csv": ("\n".join(lines) + "\n").encode()})
    done = run(
        sagemaker,
        unique,
        pca_model,
        input_uri,
        output,
        content_type="text/csv",
        split_type="Line",
        DataProcessing={"InputFilter": "$[1:6]"},
    )
    assert done["TransformJobStatus"] == "Completed"


def test_a_jsonlines_join_adds_sagemaker_output_to_each_record(
    sagemaker, s3, bucket, unique, pca_model, pca_endpoint, runtime, place, rows
) -> None:
    records = "".join(json.dumps({"id": i, "features": r, "note": "x"}) + "\n" for i, r in enumerate(rows.tolist()))
    input_uri, output, prefix = place("join-json", {"part-0.jsonl": records.encode()})
    run(
        sagemaker,
        unique,
        pca_model,
        input_uri,
        output,
        content_type="application/jsonlines",
        split_type="Line",
        accept="application/jsonlines",
        assemble_with="Line",
        DataProcessing={
            "InputFilter": "$.features",
            "JoinSource": "Input",
            "OutputFilter": "$['id','SageMakerOutput']",
        },
    )
    body = out_objects(s3, bucket, f"{prefix}/out/")[f"{prefix}/out/part-0.jsonl.out"]
    written = [json.loads(line) for line in body.splitlines() if line.strip()]
    assert [sorted(record) for record in written[:1]] == [["SageMakerOutput", "id"]]
    assert [record["id"] for record in written] == list(range(len(rows)))
    projections = np.array([record["SageMakerOutput"]["projection"] for record in written], dtype="float32")
    np.testing.assert_array_equal(projections, endpoint_projection(runtime, pca_endpoint, rows))


def test_a_filter_on_a_whole_json_document_is_refused_by_name(sagemaker, unique, pca_model, place) -> None:
    input_uri, output, _ = place("filters", {"part-0.json": b'{"instances": [[1, 2, 3, 4, 5, 6]]}'})
    done = run(
        sagemaker,
        unique,
        pca_model,
        input_uri,
        output,
        content_type="application/json",
        DataProcessing={"InputFilter": "$.instances"},
    )
    assert done["FailureReason"] == (
        "ClientError: DataProcessing needs ContentType text/csv or application/jsonlines here, not application/json"
    )


def test_a_record_the_filter_cannot_read_fails_the_job_and_the_log_says_why(
    sagemaker, logs, unique, pca_model, place
) -> None:
    input_uri, output, _ = place("short-row", {"part-0.jsonl": b'{"features": [1, 2, 3, 4, 5, 6]}\nnot json\n'})
    done = run(
        sagemaker,
        unique,
        pca_model,
        input_uri,
        output,
        content_type="application/jsonlines",
        split_type="Line",
        DataProcessing={"InputFilter": "$.features"},
    )
    assert done["FailureReason"] == FAILURE_REASON
    assert any("DataProcessing: JSONDecodeError" in line for line in job_log_lines(logs, done["TransformJobName"]))
