"""InvokeEndpoint over the wire: every content type both ways, SageMaker's errors, concurrency."""

from __future__ import annotations

import json
import struct
from concurrent.futures import ThreadPoolExecutor

import botocore.session
import numpy as np
import pytest
from botocore.exceptions import ClientError

from aws_emulator.sagemaker.runtime import INVOKE_ENDPOINT_MAX_BYTES
from devtools.hostile_inputs import sparse_record
from include.sagemaker_formats.artifacts import read_pca_model
from include.sagemaker_formats.recordio import decode_labels, encode_dense
from include.segmentation_aws.endpoints import MAX_BATCH_BYTES


@pytest.fixture(scope="module")
def model(pca_job, s3, bucket):
    key = pca_job["ModelArtifacts"]["S3ModelArtifacts"].split(f"{bucket}/", 1)[1]
    return read_pca_model(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


ROWS = np.array([[1, 2, 3, 4, 5, 6], [0.5, 0, -1, 2, 0, 1]], dtype="float32")


def _expected(model, rows=ROWS) -> np.ndarray:
    return (rows - model.mean) @ model.v


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/csv", b"1,2,3,4,5,6\n0.5,0,-1,2,0,1\n"),
        ("application/json", json.dumps({"instances": [{"features": r} for r in ROWS.tolist()]}).encode()),
        ("application/jsonlines", b"[1,2,3,4,5,6]\n[0.5,0,-1,2,0,1]\n"),
        ("application/x-recordio-protobuf", encode_dense(ROWS)),
    ],
)
def test_each_request_type_is_answered_in_json_by_default(runtime, pca_endpoint, model, content_type, body) -> None:
    answer = runtime.invoke_endpoint(EndpointName=pca_endpoint, ContentType=content_type, Body=body)
    assert answer["ContentType"] == "application/json"
    assert answer["InvokedProductionVariant"] == "AllTraffic"
    projections = [p["projection"] for p in json.loads(answer["Body"].read())["projections"]]
    assert np.allclose(projections, _expected(model), atol=1e-5)


def test_recordio_answer_when_accepted(runtime, pca_endpoint, model) -> None:
    answer = runtime.invoke_endpoint(
        EndpointName=pca_endpoint,
        ContentType="application/x-recordio-protobuf",
        Accept="application/x-recordio-protobuf",
        Body=encode_dense(ROWS),
    )
    assert answer["ContentType"] == "application/x-recordio-protobuf"
    assert np.allclose(decode_labels(answer["Body"].read())["projection"], _expected(model), atol=1e-5)


def test_jsonlines_answer_when_accepted(runtime, pca_endpoint) -> None:
    answer = runtime.invoke_endpoint(
        EndpointName=pca_endpoint, ContentType="text/csv", Accept="application/jsonlines", Body=b"1,2,3,4,5,6\n"
    )
    assert answer["ContentType"] == "application/jsonlines"
    assert list(json.loads(answer["Body"].read().decode().splitlines()[0])) == ["projection"]


def test_custom_attributes_are_echoed(runtime, pca_endpoint) -> None:
    answer = runtime.invoke_endpoint(
        EndpointName=pca_endpoint, ContentType="text/csv", Body=b"1,2,3,4,5,6\n", CustomAttributes="trace=1"
    )
    assert answer["CustomAttributes"] == "trace=1"


def _error(runtime, **kwargs) -> ClientError:
    with pytest.raises(ClientError) as error:
        runtime.invoke_endpoint(**kwargs)
    return error.value


def test_an_unknown_endpoint_is_a_validation_error(runtime) -> None:
    error = _error(runtime, EndpointName="nowhere", ContentType="text/csv", Body=b"1\n")
    assert error.response["Error"]["Code"] == "ValidationError"
    assert error.response["Error"]["Message"] == "Endpoint nowhere of account 123456789012 not found."


def test_wrong_feature_count_is_a_model_error_424(runtime, pca_endpoint) -> None:
    error = _error(runtime, EndpointName=pca_endpoint, ContentType="text/csv", Body=b"1,2\n")
    assert error.response["Error"]["Code"] == "ModelError"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error.response["OriginalStatusCode"] == 400
    assert "expects 6 features" in error.response["OriginalMessage"]
    assert error.response["LogStreamArn"].endswith(f"log-group:/aws/sagemaker/Endpoints/{pca_endpoint}")


def _sparse_record(shape: list[int]) -> bytes:
    """One RecordIO-protobuf record whose features["values"] is a sparse Float32Tensor with no keys and
    this `shape` (negative sizes as protobuf writes them: 64-bit two's complement varints)."""

    def varint(value: int) -> bytes:
        value &= (1 << 64) - 1
        out = bytearray()
        while value >= 0x80:
            out.append(value & 0x7F | 0x80)
            value >>= 7
        return bytes(out + bytes([value]))

    def field(number: int, payload: bytes) -> bytes:
        return varint(number << 3 | 2) + varint(len(payload)) + payload

    tensor = field(2, b"") + field(3, b"".join(varint(size) for size in shape))
    payload = field(1, field(1, b"values") + field(2, field(2, tensor)))
    return struct.pack("<II", 0xCED7230A, len(payload)) + payload + b"\0" * (-len(payload) % 4)


@pytest.mark.parametrize("shape", [[-5], [6, -1], [2**40]])
def test_a_recordio_tensor_with_an_impossible_shape_is_a_client_error_not_a_crash(runtime, pca_endpoint, shape) -> None:
    error = _error(
        runtime, EndpointName=pca_endpoint, ContentType="application/x-recordio-protobuf", Body=_sparse_record(shape)
    )
    assert error.response["Error"]["Code"] == "ModelError"
    assert error.response["OriginalStatusCode"] == 400


def test_json_nested_200000_deep_is_a_model_error_400(runtime, pca_endpoint) -> None:
    error = _error(runtime, EndpointName=pca_endpoint, ContentType="application/json", Body=b"[" * 200_000)
    assert error.response["Error"]["Code"] == "ModelError"
    assert error.response["OriginalStatusCode"] == 400
    assert "nests 200,000 levels deep; at most 16 are read" in error.response["OriginalMessage"]


def test_a_json_sparse_key_of_2_63_is_a_model_error_400(runtime, pca_endpoint) -> None:
    body = json.dumps({"instances": [{"data": {"features": {"keys": [2**63], "shape": [6], "values": [1.0]}}}]})
    error = _error(runtime, EndpointName=pca_endpoint, ContentType="application/json", Body=body.encode())
    assert error.response["Error"]["Code"] == "ModelError"
    assert error.response["OriginalStatusCode"] == 400
    assert "keys must lie in [0, 6), got 9223372036854775808" in error.response["OriginalMessage"]


def test_a_recordio_sparse_key_of_2_63_is_a_model_error_400(runtime, pca_endpoint) -> None:
    body = sparse_record([6], keys=[2**63])
    error = _error(runtime, EndpointName=pca_endpoint, ContentType="application/x-recordio-protobuf", Body=body)
    assert error.response["Error"]["Code"] == "ModelError"
    assert error.response["OriginalStatusCode"] == 400
    assert "record 0 at byte 0: negative sparse key" in error.response["OriginalMessage"]


def test_a_malformed_body_is_a_model_error(runtime, pca_endpoint) -> None:
    error = _error(runtime, EndpointName=pca_endpoint, ContentType="application/json", Body=b"{oops")
    assert error.response["Error"]["Code"] == "ModelError"


def test_an_unsupported_content_type_is_a_model_error_415(runtime, pca_endpoint) -> None:
    error = _error(runtime, EndpointName=pca_endpoint, ContentType="image/png", Body=b"x")
    assert error.response["OriginalStatusCode"] == 415


def test_a_body_over_6_mb_is_refused(runtime, pca_endpoint) -> None:
    error = _error(runtime, EndpointName=pca_endpoint, ContentType="text/csv", Body=b"1" * (6 * 1024 * 1024 + 1))
    assert error.response["Error"]["Code"] == "ValidationError"
    assert "exceeds the maximum of 6291456 bytes" in error.response["Error"]["Message"]


def test_the_cap_is_sagemakers_and_our_batches_stay_under_it() -> None:
    body = botocore.session.get_session().get_service_model("sagemaker-runtime").shape_for("BodyBlob")
    assert body.metadata["max"] == INVOKE_ENDPOINT_MAX_BYTES
    assert MAX_BATCH_BYTES < INVOKE_ENDPOINT_MAX_BYTES


def test_an_endpoint_not_in_service_cannot_be_invoked(sagemaker, runtime, unique, pca_job) -> None:
    from tests.support.sagemaker_requests import create_model_and_config as _config

    name = unique("creating")
    _config(
        sagemaker,
        name,
        "382416733822.dkr.ecr.us-east-1.amazonaws.com/pca:1",
        pca_job["ModelArtifacts"]["S3ModelArtifacts"],
    )
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    error = _error(runtime, EndpointName=name, ContentType="text/csv", Body=b"1,2,3,4,5,6\n")
    assert error.response["Error"]["Code"] == "ValidationError" and "in status Creating" in str(error)


def test_eight_concurrent_clients_are_all_served(runtime, pca_endpoint, model) -> None:
    rng = np.random.default_rng(3)
    batches = [rng.random((2000, 6), dtype=np.float32) for _ in range(8)]

    def call(rows: np.ndarray) -> np.ndarray:
        answer = runtime.invoke_endpoint(
            EndpointName=pca_endpoint,
            ContentType="application/x-recordio-protobuf",
            Accept="application/x-recordio-protobuf",
            Body=encode_dense(rows),
        )
        return decode_labels(answer["Body"].read())["projection"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(call, batches))
    for rows, result in zip(batches, results, strict=True):
        assert np.allclose(result, _expected(model, rows), atol=1e-5)
