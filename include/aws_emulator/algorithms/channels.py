"""Training channel data: the objects of one channel decoded into one (n_rows, d) float32 matrix."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from include.aws_emulator.algorithms.base import ClientError
from include.segmentation.recordio import RecordIOError, decode_features

RECORDIO = "application/x-recordio-protobuf"
CSV = "text/csv"


def decode_channel(blobs: list[bytes], content_type: str | None, channel: str) -> np.ndarray:
    """Decode every object of a channel, in order, into (n_rows, d) float32.

    `content_type` None means RecordIO-protobuf, the built-ins' default. CSV takes parameters such as
    `text/csv;label_size=0`: with label_size=N the first N columns are labels and are dropped.
    """
    media, params = _parse_content_type(content_type or RECORDIO)
    if media not in (RECORDIO, CSV):
        raise ClientError(
            f"Channel {channel!r}: content type {content_type!r} is not supported (use {RECORDIO} or {CSV})"
        )
    parts = []
    for index, blob in enumerate(blobs):
        if not blob:
            continue
        matrix = _recordio(blob, channel, index) if media == RECORDIO else _csv(blob, channel, index, params)
        if len(matrix):
            parts.append(matrix)
    if not parts:
        raise ClientError(f"Channel {channel!r} holds no records ({len(blobs)} objects)")
    widths = {part.shape[1] for part in parts}
    if len(widths) > 1:
        raise ClientError(f"Channel {channel!r}: objects have different record widths {sorted(widths)}")
    return np.concatenate(parts).astype("float32", copy=False)


def check_data(x: np.ndarray, feature_dim: int, channel: str) -> None:
    """Refuse an empty channel or records whose width is not `feature_dim`."""
    if x.ndim != 2 or len(x) == 0:
        raise ClientError(f"The {channel} channel holds no records")
    if x.shape[1] != feature_dim:
        raise ClientError(
            f"feature_dim={feature_dim} does not match the {channel} data, whose records have {x.shape[1]} features"
        )


def _recordio(blob: bytes, channel: str, index: int) -> np.ndarray:
    try:
        return decode_features(blob)
    except RecordIOError as exc:
        raise ClientError(f"Channel {channel!r}, object {index}: unreadable RecordIO-protobuf: {exc}") from exc


def _csv(blob: bytes, channel: str, index: int, params: dict[str, str]) -> np.ndarray:
    try:
        label_size = int(params.get("label_size", "0"))
    except ValueError:
        raise ClientError(f"Channel {channel!r}: label_size must be an integer") from None
    try:
        frame = pd.read_csv(io.BytesIO(blob), header=None, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ClientError(f"Channel {channel!r}, object {index}: unreadable CSV: {exc}") from exc
    numbers = frame.apply(pd.to_numeric, errors="coerce")
    bad = numbers.isna().to_numpy()
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0])
        raise ClientError(
            f"Channel {channel!r}, object {index}, row {row + 1}, column {column + 1}: "
            f"{frame.iat[row, column]!r} is not a number"
        )
    return numbers.to_numpy(dtype="float32")[:, label_size:]


def _parse_content_type(content_type: str) -> tuple[str, dict[str, str]]:
    media, *rest = (part.strip() for part in content_type.split(";"))
    params = dict(part.split("=", 1) for part in rest if "=" in part)
    return media.lower(), {k.strip().lower(): v.strip() for k, v in params.items()}
