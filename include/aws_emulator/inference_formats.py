"""InvokeEndpoint bodies as the built-in PCA and K-Means containers read and write them.

Requests: text/csv, application/json (dense and sparse instances, or plain lists), application/jsonlines,
application/x-recordio-protobuf. Responses: application/json by default, application/jsonlines,
application/x-recordio-protobuf, and text/csv for K-Means.
"""

from __future__ import annotations

import json

import numpy as np

from include.segmentation.recordio import RecordIOError, decode_features, encode_labels

JSON = "application/json"
JSONLINES = "application/jsonlines"
RECORDIO = "application/x-recordio-protobuf"
CSV = "text/csv"
REQUEST_TYPES = (CSV, JSON, JSONLINES, RECORDIO)
KMEANS_KEYS = ("distance_to_cluster", "closest_cluster")  # the order the real container writes


class InvalidRequest(Exception):
    """A body the container refuses: `status` 400 malformed, 415 unsupported type, 406 unsupported Accept."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def parse_request(body: bytes, content_type: str | None, feature_dim: int) -> np.ndarray:
    """The rows of a request body: (n_rows, feature_dim) float32."""
    media = _media(content_type)
    if not body:
        raise InvalidRequest("The request body is empty")
    try:
        if media == CSV:
            rows = _csv(body)
        elif media == JSON:
            rows = _json_rows(json.loads(body), feature_dim)
        elif media == JSONLINES:
            rows = np.array(
                [_instance(json.loads(line), feature_dim) for line in body.splitlines() if line.strip()],
                dtype="float32",
            )
        elif media == RECORDIO:
            rows = decode_features(body).astype("float32", copy=False)
        else:
            raise InvalidRequest(
                f"content-type {media or 'application/octet-stream'} not supported; "
                f"use one of {', '.join(REQUEST_TYPES)}",
                status=415,
            )
    except (json.JSONDecodeError, UnicodeDecodeError, RecordIOError) as exc:
        raise InvalidRequest(f"Unable to parse the {media} request body: {exc}") from exc
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"Unable to read the {media} request as numeric records: {exc}") from exc
    return _checked(rows, feature_dim)


def render_response(outputs: dict[str, np.ndarray], accept: str | None) -> tuple[bytes, str]:
    """Serialise predictions for `accept` (JSON when absent or */*): (body, content type)."""
    media = _media(accept) if accept and accept.strip() not in ("*/*", "") else JSON
    kmeans = "closest_cluster" in outputs
    if media == JSON:
        if kmeans:
            rows = _kmeans_rows(outputs, ("closest_cluster", "distance_to_cluster"))
            return json.dumps({"predictions": rows}).encode(), JSON
        return json.dumps(
            {"projections": [{"projection": row} for row in outputs["projection"].tolist()]}
        ).encode(), JSON
    if media == JSONLINES:
        rows = (
            _kmeans_rows(outputs, KMEANS_KEYS)
            if kmeans
            else [{"projection": r} for r in outputs["projection"].tolist()]
        )
        return ("\n".join(json.dumps(row) for row in rows) + "\n").encode(), JSONLINES
    if media == RECORDIO:
        ordered = {key: outputs[key] for key in KMEANS_KEYS} if kmeans else outputs
        return encode_labels(ordered), RECORDIO
    if media == CSV and kmeans:
        rows = _kmeans_rows(outputs, ("closest_cluster", "distance_to_cluster"))
        return "".join(f"{r['closest_cluster']!r},{r['distance_to_cluster']!r}\n" for r in rows).encode(), CSV
    supported = [JSON, JSONLINES, RECORDIO] + ([CSV] if kmeans else [])
    raise InvalidRequest(f"accept type {accept} not supported; use one of {', '.join(supported)}", status=406)


def _media(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _csv(body: bytes) -> np.ndarray:
    lines = [line for line in body.decode("utf-8").splitlines() if line.strip()]
    widths = {line.count(",") for line in lines}
    if len(widths) > 1:
        raise ValueError("CSV rows have different numbers of columns")
    return np.loadtxt(lines, delimiter=",", dtype="float32", ndmin=2)


def _json_rows(document: object, feature_dim: int) -> np.ndarray:
    if isinstance(document, dict):
        if "instances" not in document:
            raise ValueError("a JSON object request needs an 'instances' list")
        document = document["instances"]
    if not isinstance(document, list):
        raise ValueError("expected a list of instances")
    if document and all(isinstance(v, int | float) for v in document):
        document = [document]  # one flat row
    return np.array([_instance(item, feature_dim) for item in document], dtype="float32")


def _instance(item: object, feature_dim: int) -> list[float]:
    """One instance: a list, {"features": [...]}, or {"data": {"features": {"values", "keys", "shape"}}}."""
    if isinstance(item, list):
        return item
    if not isinstance(item, dict):
        raise ValueError(f"an instance must be a list or an object, got {type(item).__name__}")
    if "features" in item:
        return item["features"]
    tensor = item.get("data", {}).get("features")
    if not isinstance(tensor, dict) or "values" not in tensor:
        raise ValueError("an instance needs 'features' or 'data': {'features': {'values': [...]}}")
    if "keys" not in tensor:
        return tensor["values"]
    width = int(np.prod(tensor.get("shape", [feature_dim])))
    row = np.zeros(width, dtype="float32")
    row[np.asarray(tensor["keys"], dtype=int)] = tensor["values"]
    return row.tolist()


def _checked(rows: np.ndarray, feature_dim: int) -> np.ndarray:
    if rows.ndim != 2 or len(rows) == 0:
        raise InvalidRequest("The request holds no records")
    if rows.shape[1] != feature_dim:
        raise InvalidRequest(
            f"Invalid feature count: the model expects {feature_dim} features per record, "
            f"the request's records have {rows.shape[1]}"
        )
    finite = np.isfinite(rows).all(axis=1)
    if not finite.all():
        raise InvalidRequest(f"Record {int(np.argmin(finite))} holds a non-finite value")
    return rows


def _kmeans_rows(outputs: dict[str, np.ndarray], keys: tuple[str, ...]) -> list[dict[str, float]]:
    columns = [outputs[key].ravel().tolist() for key in keys]
    return [dict(zip(keys, values, strict=True)) for values in zip(*columns, strict=True)]
