"""InvokeEndpoint bodies both ways, in every content type the built-ins speak."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aws_emulator.inference_formats import MAX_JSON_DEPTH, InvalidRequest, parse_request, render_response
from include.sagemaker_formats.recordio import decode_labels, encode_dense

ROWS = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype="float32")
PCA_OUT = {"projection": np.array([[0.5, -1.0], [2.0, 0.25]], dtype="float32")}
KMEANS_OUT = {
    "closest_cluster": np.array([[1.0], [0.0]], dtype="float32"),
    "distance_to_cluster": np.array([[3.0], [0.5]], dtype="float32"),
}


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"1,2,3\n4,5,6\n", "text/csv"),
        (b"1,2,3\n4,5,6", "text/csv; charset=utf-8"),
        (json.dumps({"instances": [{"features": [1, 2, 3]}, {"features": [4, 5, 6]}]}).encode(), "application/json"),
        (json.dumps({"instances": [[1, 2, 3], [4, 5, 6]]}).encode(), "application/json"),
        (json.dumps([[1, 2, 3], [4, 5, 6]]).encode(), "application/json"),
        (
            json.dumps({"instances": [{"data": {"features": {"values": r}}} for r in ROWS.tolist()]}).encode(),
            "application/json",
        ),
        (b'{"features": [1, 2, 3]}\n{"features": [4, 5, 6]}\n', "application/jsonlines"),
        (b"[1, 2, 3]\n[4, 5, 6]\n", "application/jsonlines"),
        (json.dumps({"instances": [[1, 2, 3], [4, 5, 6]]}).encode(), "application/json; charset=utf-8"),
        (encode_dense(ROWS), "application/x-recordio-protobuf"),
    ],
)
def test_every_request_type_parses_to_the_same_rows(body, content_type) -> None:
    assert np.array_equal(parse_request(body, content_type, 3), ROWS)


def test_a_single_flat_json_list_is_one_row() -> None:
    assert parse_request(b"[1, 2, 3]", "application/json", 3).shape == (1, 3)


def test_sparse_json_instances_are_made_dense() -> None:
    body = json.dumps({"instances": [{"data": {"features": {"keys": [0, 2], "shape": [3], "values": [1, 3]}}}]})
    assert parse_request(body.encode(), "application/json", 3).tolist() == [[1.0, 0.0, 3.0]]


def test_wrong_feature_count_names_expected_and_got() -> None:
    with pytest.raises(InvalidRequest, match="expects 3 features per record, record 0 has 2") as error:
        parse_request(b"1,2\n", "text/csv", 3)
    assert error.value.status == 400


def test_a_json_record_of_the_wrong_length_is_named() -> None:
    with pytest.raises(InvalidRequest, match="expects 3 features per record, record 1 has 2"):
        parse_request(b"[[1, 2, 3], [4, 5]]", "application/json", 3)


def test_a_bad_csv_cell_is_named_by_row_and_column() -> None:
    with pytest.raises(InvalidRequest, match="row 2, column 3: 'x' is not a number"):
        parse_request(b"1,2,3\n4,5,x\n", "text/csv", 3)


def test_sparse_keys_outside_the_shape_are_refused() -> None:
    body = json.dumps({"instances": [{"data": {"features": {"keys": [0, 5], "shape": [3], "values": [1, 3]}}}]})
    with pytest.raises(InvalidRequest, match=r"keys must lie in \[0, 3\)") as error:
        parse_request(body.encode(), "application/json", 3)
    assert error.value.status == 400


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"1,2,x\n", "text/csv"),
        (b"1,2,3\n4,5,6,7\n", "text/csv"),
        (b"{not json", "application/json"),
        (b'{"rows": [[1, 2, 3]]}', "application/json"),
        (b'{"instances": [{"data": 7}]}', "application/json"),
        (b'{"instances": [[1, "two", 3]]}', "application/json"),
        (b'"1,2,3"', "application/json"),
        (b"[1, 2, 3]\n{oops\n", "application/jsonlines"),
        (b"garbage!", "application/x-recordio-protobuf"),
    ],
)
def test_malformed_bodies_are_refused(body, content_type) -> None:
    with pytest.raises(InvalidRequest) as error:
        parse_request(body, content_type, 3)
    assert error.value.status == 400


def test_non_finite_values_are_refused() -> None:
    with pytest.raises(InvalidRequest, match="Record 1 holds a non-finite value"):
        parse_request(b"1,2,3\n1,nan,3\n", "text/csv", 3)


def test_empty_body_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="empty"):
        parse_request(b"", "text/csv", 3)


def test_unsupported_content_type_is_a_415() -> None:
    with pytest.raises(InvalidRequest, match="content-type application/octet-stream not supported") as error:
        parse_request(b"x", None, 3)
    assert error.value.status == 415


def test_an_explicit_unsupported_content_type_is_a_415_naming_it() -> None:
    with pytest.raises(InvalidRequest, match="content-type image/png not supported") as error:
        parse_request(b"x", "image/png", 3)
    assert error.value.status == 415


def test_json_is_the_default_answer() -> None:
    for accept in (None, "*/*"):
        body, content_type = render_response(PCA_OUT, accept)
        assert content_type == "application/json"
        assert json.loads(body) == {"projections": [{"projection": [0.5, -1.0]}, {"projection": [2.0, 0.25]}]}


def test_kmeans_json_answer_has_sagemakers_shape() -> None:
    body, _ = render_response(KMEANS_OUT, "application/json")
    assert json.loads(body) == {
        "predictions": [
            {"closest_cluster": 1.0, "distance_to_cluster": 3.0},
            {"closest_cluster": 0.0, "distance_to_cluster": 0.5},
        ]
    }


def test_jsonlines_answers_one_object_per_row_in_the_containers_key_order() -> None:
    body, content_type = render_response(KMEANS_OUT, "application/jsonlines")
    first = body.decode().splitlines()[0]
    assert content_type == "application/jsonlines"
    assert first == '{"distance_to_cluster": 3.0, "closest_cluster": 1.0}'
    assert (
        render_response(PCA_OUT, "application/jsonlines")[0].decode().splitlines()[1] == '{"projection": [2.0, 0.25]}'
    )


def test_recordio_answers_decode_back_to_the_outputs() -> None:
    for outputs in (PCA_OUT, KMEANS_OUT):
        body, content_type = render_response(outputs, "application/x-recordio-protobuf")
        assert content_type == "application/x-recordio-protobuf"
        decoded = decode_labels(body)
        assert all(np.array_equal(decoded[key], value) for key, value in outputs.items())


def test_csv_answers_are_for_kmeans_only() -> None:
    assert render_response(KMEANS_OUT, "text/csv")[0] == b"1.0,3.0\n0.0,0.5\n"
    with pytest.raises(InvalidRequest, match="accept type text/csv not supported") as error:
        render_response(PCA_OUT, "text/csv")
    assert error.value.status == 406


def test_pca_json_answer_is_written_as_json_dumps_writes_it() -> None:
    body, _ = render_response(PCA_OUT, "application/json")
    assert body.decode() == json.dumps({"projections": [{"projection": r} for r in PCA_OUT["projection"].tolist()]})


@pytest.mark.parametrize("scale", [1.0, 1e-9, 1e30, "mixed"])
def test_json_answers_read_back_to_the_same_float32_values(scale) -> None:
    rng = np.random.default_rng(4)
    magnitude = 10.0 ** rng.uniform(-20, 5, size=(50, 6)) if scale == "mixed" else scale
    projection = (rng.normal(size=(50, 6)) * magnitude).astype("float32")
    projection[0, 0] = 0.0
    body, _ = render_response({"projection": projection}, "application/json")
    values = np.array([p["projection"] for p in json.loads(body)["projections"]], dtype="float32")
    assert np.array_equal(values, projection)


def test_a_listed_accept_type_is_honoured_in_order() -> None:
    _, content_type = render_response(PCA_OUT, "text/html, application/jsonlines, application/json")
    assert content_type == "application/jsonlines"


def test_an_unsupported_accept_type_is_a_406_naming_the_supported_ones() -> None:
    with pytest.raises(
        InvalidRequest, match="accept type text/html not supported; use one of application/json"
    ) as error:
        render_response(KMEANS_OUT, "text/html")
    assert error.value.status == 406


@pytest.mark.parametrize("shape", [[2**40], [-3]])
def test_a_sparse_instance_shaped_unlike_the_model_is_refused_before_it_is_made_dense(shape) -> None:
    body = json.dumps({"instances": [{"data": {"features": {"keys": [0], "shape": shape, "values": [1]}}}]})
    with pytest.raises(InvalidRequest) as error:
        parse_request(body.encode(), "application/json", 3)
    assert error.value.status == 400


@pytest.mark.parametrize("content_type", ["application/json", "application/jsonlines"])
def test_json_nested_deeper_than_the_limit_is_refused_before_it_is_parsed(content_type) -> None:
    with pytest.raises(InvalidRequest, match=r"nests 200,000 levels deep; at most 16 are read") as error:
        parse_request(b"[" * 200_000, content_type, 3)
    assert error.value.status == 400


def test_json_at_the_depth_limit_is_parsed_and_one_level_more_is_refused() -> None:
    def nested(depth: int) -> bytes:
        return b"[" * (depth - 2) + b"[[1, 2, 3]]" + b"]" * (depth - 2)

    with pytest.raises(InvalidRequest, match="expects 3 features per record, record 0 has 1"):
        parse_request(nested(MAX_JSON_DEPTH), "application/json", 3)  # parsed, then refused for its shape
    with pytest.raises(InvalidRequest, match="nests 17 levels deep"):
        parse_request(nested(MAX_JSON_DEPTH + 1), "application/json", 3)


def test_brackets_inside_json_strings_are_not_nesting() -> None:
    body = json.dumps({"note": "[" * 100 + '\\"{' * 100, "instances": [[1, 2, 3]]}).encode()
    assert np.array_equal(parse_request(body, "application/json", 3), [[1, 2, 3]])


@pytest.mark.parametrize(
    "features",
    [
        {"keys": [2**63], "shape": [3], "values": [1]},  # beyond int64: numpy would raise OverflowError
        {"keys": [2**64 + 1], "values": [1]},  # no shape: the width would come from the key
        {"keys": [0], "shape": [2**63, 2], "values": [1]},  # a product numpy wraps to 0
        {"keys": [0], "shape": [2**32, 2**32], "values": [1]},
        {"keys": [1.5], "shape": [3], "values": [1]},
        {"keys": [0], "shape": [3], "values": 1},
    ],
    ids=[
        "key-2^63",
        "key-2^64-no-shape",
        "shape-wraps-uint64",
        "shape-wraps-int64",
        "fractional-key",
        "values-not-list",
    ],
)
def test_sparse_keys_and_shapes_beyond_the_model_are_a_400_not_a_crash(features) -> None:
    body = json.dumps({"instances": [{"data": {"features": features}}]}).encode()
    with pytest.raises(InvalidRequest) as error:
        parse_request(body, "application/json", 3)
    assert error.value.status == 400
    assert "sparse instance" in error.value.message and len(error.value.message) < 300
