"""InvokeEndpoint bodies as the built-in PCA and K-Means containers read and write them.

Requests: text/csv, application/json (dense and sparse instances, or plain lists), application/jsonlines,
application/x-recordio-protobuf. Responses: application/json by default, application/jsonlines,
application/x-recordio-protobuf, and text/csv for K-Means. JSON is written the way Python's `json.dumps`
writes it (`", "` and `": "` separators), as the containers do.

A request is at most 6 MB (runtime.INVOKE_ENDPOINT_MAX_BYTES); within it, JSON may nest MAX_JSON_DEPTH levels
(checked before it is parsed), and a sparse instance's shape and keys are checked as numbers against the
model's width before any array is made. Each refusal is an InvalidRequest, which SageMaker forwards as a
ModelError carrying the container's 400.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd

from aws_emulator.algorithms.channels import CSV, parse_csv
from include.sagemaker_formats.recordio import RECORDIO_CONTENT_TYPE, RecordIOError, decode_features, encode_labels

JSON = "application/json"
JSONLINES = "application/jsonlines"
REQUEST_TYPES = (CSV, JSON, JSONLINES, RECORDIO_CONTENT_TYPE)
KMEANS_KEYS = ("distance_to_cluster", "closest_cluster")  # the order the container writes JSON Lines and RecordIO
CLUSTER_FIRST = ("closest_cluster", "distance_to_cluster")  # the order of JSON and CSV answers
_MALFORMED = (TypeError, ValueError, IndexError, KeyError, AttributeError, OverflowError)
# Nesting of a JSON request: the deepest instance, {"instances": [{"data": {"features": {"values": [...]}}}]},
# is 5 levels. Python's json parser recurses once per level: 200,000 `[` reached the recursion limit.
MAX_JSON_DEPTH = 16
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


class InvalidRequest(Exception):
    """A body the container refuses: `status` 400 malformed, 415 unsupported type, 406 unsupported Accept."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def parse_request(body: bytes, content_type: str | None, feature_dim: int) -> np.ndarray:
    """The rows of a request body: (n_rows, feature_dim) float32, all finite."""
    media = _media(content_type)
    if media not in REQUEST_TYPES:
        # botocore sends no Content-Type when none is given; the service forwards application/octet-stream.
        raise InvalidRequest(
            f"content-type {media or 'application/octet-stream'} not supported; use one of {', '.join(REQUEST_TYPES)}",
            status=415,
        )
    if not body or body.isspace():
        raise InvalidRequest("The request body is empty")
    try:
        if media == CSV:
            rows = parse_csv(body)
        elif media == JSON:
            _check_depth(body)
            rows = _matrix(_json_rows(json.loads(body), feature_dim), feature_dim)
        elif media == JSONLINES:
            _check_depth(body)
            lines = [json.loads(line) for line in body.splitlines() if line.strip()]
            rows = _matrix([_instance(line, feature_dim) for line in lines], feature_dim)
        else:
            rows = decode_features(body).astype("float32", copy=False)
    except (json.JSONDecodeError, UnicodeDecodeError, RecordIOError) as exc:
        raise InvalidRequest(f"Unable to parse the {media} request body: {exc}") from exc
    except MemoryError as exc:
        # numpy refuses an impossible size (a RecordIO tensor's shape is the client's word) before allocating.
        raise InvalidRequest(f"The {media} request declares a tensor too large to hold: {exc}") from exc
    except _MALFORMED as exc:
        raise InvalidRequest(f"Unable to read the {media} request as numeric records: {exc}") from exc
    return _checked(rows, feature_dim)


def render_response(outputs: dict[str, np.ndarray], accept: str | None) -> tuple[bytes, str]:
    """Serialise predictions for `accept` (JSON when absent or */*): (body, content type).

    outputs: PCA {"projection": (n, m)} or K-Means {"closest_cluster": (n, 1), "distance_to_cluster": (n, 1)},
    float32. `accept` may list several types; the first one supported is used.
    """
    kmeans = "closest_cluster" in outputs
    media = _negotiate(accept, [JSON, JSONLINES, RECORDIO_CONTENT_TYPE] + ([CSV] if kmeans else []))
    if media == RECORDIO_CONTENT_TYPE:
        ordered = {key: outputs[key] for key in KMEANS_KEYS} if kmeans else outputs
        return encode_labels(ordered), RECORDIO_CONTENT_TYPE
    if kmeans:
        if media == CSV:
            rows = _kmeans_rows(outputs, CLUSTER_FIRST)
            return "".join(f"{r['closest_cluster']!r},{r['distance_to_cluster']!r}\n" for r in rows).encode(), CSV
        if media == JSON:
            return json.dumps({"predictions": _kmeans_rows(outputs, CLUSTER_FIRST)}).encode(), JSON
        return "".join(json.dumps(row) + "\n" for row in _kmeans_rows(outputs, KMEANS_KEYS)).encode(), JSONLINES
    # PCA: the rows of one JSON matrix, each wrapped in {"projection": …}; numbers never contain brackets.
    matrix = _json_matrix(outputs["projection"])[1:-1]
    if media == JSON:
        rows = matrix.replace("], [", ']}, {"projection": [')
        return (f'{{"projections": [{{"projection": {rows}}}]}}' if matrix else '{"projections": []}').encode(), JSON
    rows = matrix.replace("], [", ']}\n{"projection": [')
    return (f'{{"projection": {rows}}}\n' if matrix else "").encode(), JSONLINES


def _check_depth(body: bytes) -> None:
    """Refuse JSON (or JSON Lines) nesting arrays and objects more than MAX_JSON_DEPTH deep, before parsing."""
    structure = np.frombuffer(_JSON_STRING.sub(b'""', body), dtype=np.uint8)  # brackets in strings do not count
    steps = np.isin(structure, (ord("["), ord("{"))).astype(np.int32) - np.isin(structure, (ord("]"), ord("}")))
    depth = int(np.cumsum(steps).max(initial=0))
    if depth > MAX_JSON_DEPTH:
        raise InvalidRequest(f"The JSON request nests {depth:,} levels deep; at most {MAX_JSON_DEPTH} are read")


def _media(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _negotiate(accept: str | None, supported: list[str]) -> str:
    """The answer's type: the first supported one `accept` lists; JSON for none or */*."""
    if not accept or not accept.strip():
        return JSON
    for part in accept.split(","):
        media = _media(part)
        if media == "*/*":
            return JSON
        if media in supported:
            return media
    raise InvalidRequest(f"accept type {accept} not supported; use one of {', '.join(supported)}", status=406)


def _json_rows(document: object, feature_dim: int) -> list:
    """The instances of a JSON request: {"instances": [...]}, a list of rows, or one flat row."""
    if isinstance(document, dict):
        if "instances" not in document:
            raise ValueError("a JSON object request needs an 'instances' list")
        document = document["instances"]
    if not isinstance(document, list):
        raise ValueError("expected a list of instances")
    if document and all(isinstance(v, int | float) and not isinstance(v, bool) for v in document):
        return [document]  # one flat row
    return [_instance(item, feature_dim) for item in document]


def _instance(item: object, feature_dim: int) -> list | np.ndarray:
    """One instance: a list, {"features": [...]}, or {"data": {"features": {"values", "keys", "shape"}}}.

    A sparse instance is made dense only when it is no wider than the model's `feature_dim`: its shape
    (or largest key) is the client's word, and a huge one would otherwise be allocated first.
    """
    if isinstance(item, list):
        return item
    if not isinstance(item, dict):
        raise ValueError(f"an instance must be a list or an object, got {type(item).__name__}")
    if "features" in item:
        return item["features"]
    data = item.get("data")
    tensor = data.get("features") if isinstance(data, dict) else None
    if not isinstance(tensor, dict) or "values" not in tensor:
        raise ValueError("an instance needs 'features' or 'data': {'features': {'values': [...]}}")
    if "keys" not in tensor:
        return tensor["values"]
    # Shape and keys are checked as Python ints: numpy would overflow on 2^63 or wrap a product to 0.
    keys, values = _integers(tensor["keys"], "keys"), tensor["values"]
    if not isinstance(values, list):
        raise ValueError("a sparse instance's values must be a list of numbers")
    if len(keys) != len(values):
        raise ValueError(f"a sparse instance has {len(keys)} keys but {len(values)} values")
    if "shape" in tensor:
        shape = _integers(tensor["shape"], "shape")
        if any(size < 0 for size in shape):
            raise ValueError("a sparse instance's shape has a negative size")
        width = math.prod(shape)
    else:
        width = max(keys) + 1 if keys else 0
    if width > feature_dim:
        raise InvalidRequest(f"A sparse instance is {_number(width)} features wide; the model expects {feature_dim}")
    if keys and (min(keys) < 0 or max(keys) >= width):
        raise ValueError(
            f"a sparse instance's keys must lie in [0, {width}), got {_number(min(keys))}..{_number(max(keys))}"
        )
    keys = np.asarray(keys, dtype=np.int64)
    values = np.asarray(values, dtype="float32")
    row = np.zeros(width, dtype="float32")
    row[keys] = values
    return row


def _integers(value: object, what: str) -> list[int]:
    """A sparse instance's `keys` or `shape`: a list of integers (JSON numbers without a fraction)."""
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ValueError(f"a sparse instance's {what} must be a list of integers")
    return value


def _number(n: int) -> str:
    """An integer for a message, cut to 20 digits: the client chose it."""
    text = str(n)
    return text if len(text) <= 20 else f"{text[:20]}… ({len(text):,} digits)"


def _matrix(rows: list, feature_dim: int) -> np.ndarray:
    """(n, feature_dim) float32 from per-record value lists, naming the first record of the wrong length."""
    for index, row in enumerate(rows):
        if not isinstance(row, list | np.ndarray):
            raise ValueError(f"record {index} is a {type(row).__name__}, not a list of numbers")
        if len(row) != feature_dim:
            raise InvalidRequest(_feature_count(feature_dim, index, len(row)))
    return np.array(rows, dtype="float32").reshape(len(rows), feature_dim)


def _checked(rows: np.ndarray, feature_dim: int) -> np.ndarray:
    if rows.ndim != 2 or len(rows) == 0:
        raise InvalidRequest("The request holds no records")
    if rows.shape[1] != feature_dim:
        raise InvalidRequest(_feature_count(feature_dim, 0, rows.shape[1]))
    finite = np.isfinite(rows).all(axis=1)
    if not finite.all():
        raise InvalidRequest(f"Record {int(np.argmin(finite))} holds a non-finite value")
    return rows


def _feature_count(feature_dim: int, record: int, got: int) -> str:
    return f"Invalid feature count: the model expects {feature_dim} features per record, record {record} has {got}"


def _json_matrix(values: np.ndarray) -> str:
    """(n, m) float32 as `json.dumps(values.tolist())` writes it, e.g. "[[0.5, -1.0], [2.0, 0.25]]".

    Python's float repr costs ~0.6 µs a number (0.7 s for 30,000 × 34); pandas' C encoder is ~8× faster.
    With 15 decimals it keeps ≥ 10 significant digits from 1e-6 up, so those float32 values read back
    exactly; the rare smaller non-zero ones are encoded as null and each null is replaced by Python's repr.
    """
    if not np.isfinite(values).all():
        return json.dumps(values.tolist())
    wide = values.astype("float64")
    tiny = (wide != 0) & (np.abs(wide) < 1e-6)
    wide[tiny] = np.nan
    text = pd.DataFrame(wide).to_json(orient="values", double_precision=15)
    if tiny.any():
        pieces = text.split("null")
        exact = [repr(value) for value in values[tiny].tolist()]  # row-major, the order of the nulls
        text = pieces[0] + "".join(number + piece for number, piece in zip(exact, pieces[1:], strict=True))
    return text.replace(",", ", ")


def _kmeans_rows(outputs: dict[str, np.ndarray], keys: tuple[str, ...]) -> list[dict[str, float]]:
    columns = [outputs[key].ravel().tolist() for key in keys]
    return [dict(zip(keys, values, strict=True)) for values in zip(*columns, strict=True)]
