"""Training channel data: the objects of one channel decoded into one (n_rows, d) float32 matrix.

Also the CSV reader that InvokeEndpoint shares: numbers only, no header, one record per line.
"""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd

from aws_emulator.algorithms.base import ClientError
from include.sagemaker_formats.recordio import RECORDIO_CONTENT_TYPE, RecordIOError, decode_features

CSV = "text/csv"
_NAN_WORDS = ("nan", "+nan", "-nan")  # numbers, though not finite: the caller decides what to do with them


class CsvError(ValueError):
    """A CSV body that is not a matrix of numbers; the message names the row and column (1-based)."""


def decode_channel(blobs: list[bytes], content_type: str | None, channel: str) -> np.ndarray:
    """Decode every object of a channel, in order, into (n_rows, d) float32.

    `content_type` None means RecordIO-protobuf: the PCA and K-Means built-ins read it when the channel
    names no ContentType (the SDK's `record_set()` never sets one). CSV takes parameters such as
    `text/csv;label_size=0`: with label_size=N the first N columns are labels and are dropped.
    """
    media, params = _parse_content_type(content_type or RECORDIO_CONTENT_TYPE)
    if media not in (RECORDIO_CONTENT_TYPE, CSV):
        raise ClientError(
            f"Channel {channel!r}: content type {content_type!r} is not supported"
            f" (use {RECORDIO_CONTENT_TYPE} or {CSV})"
        )
    label_size = _label_size(params, channel) if media == CSV else 0
    parts = []
    for index, blob in enumerate(blobs):
        if not blob or blob.isspace():
            continue
        if media == RECORDIO_CONTENT_TYPE:
            matrix = _recordio(blob, channel, index)
        else:
            matrix = _csv(blob, channel, index, label_size)
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


def check_channels(train: np.ndarray, test: np.ndarray | None, feature_dim: int) -> None:
    """check_data on the train channel and, when there is one, the test channel."""
    check_data(train, feature_dim, "train")
    if test is not None:
        check_data(test, feature_dim, "test")


def parse_csv(blob: bytes) -> np.ndarray:
    """Comma-separated numbers, one record per line, no header -> (n_rows, n_columns) float32.

    Blank lines are skipped; `nan` is read as NaN (callers refuse non-finite values themselves).
    Raises CsvError naming the first cell that is not a number or the row with the wrong field count.
    """
    try:
        # pandas' C reader; anything doubtful (a NaN may be an empty cell or a short row) is re-read below.
        numbers = pd.read_csv(io.BytesIO(blob), header=None, dtype="float64", engine="c").to_numpy()
    except pd.errors.EmptyDataError:
        return np.zeros((0, 0), dtype="float32")
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError):
        numbers = None
    if numbers is None or np.isnan(numbers).any():
        numbers = _diagnose(blob)
    return numbers.astype("float32")


def _diagnose(blob: bytes) -> np.ndarray:
    """The slow, exact read: every cell as text, so the first bad one can be named."""
    try:
        frame = pd.read_csv(io.BytesIO(blob), header=None, dtype=str, keep_default_na=False, engine="c")
    except pd.errors.ParserError as exc:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if found:
            expected, line, saw = (int(group) for group in found.groups())
            raise CsvError(f"line {line} has {saw} fields, expected {expected} like the first") from None
        raise CsvError(f"unreadable CSV: {exc}") from None
    except UnicodeDecodeError as exc:
        raise CsvError(f"not UTF-8 text: {exc}") from None
    text = frame.to_numpy()
    numbers = frame.apply(pd.to_numeric, errors="coerce").to_numpy(dtype="float64")
    words = frame.apply(lambda column: column.str.strip().str.lower().isin(_NAN_WORDS)).to_numpy()
    bad = np.isnan(numbers) & ~words
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0])
        # A short row reads as empty cells at its end: '' is not a number either.
        raise CsvError(f"row {row + 1}, column {column + 1}: {text[row, column]!r} is not a number")
    return numbers


def _recordio(blob: bytes, channel: str, index: int) -> np.ndarray:
    try:
        return decode_features(blob)
    except RecordIOError as exc:
        raise ClientError(f"Channel {channel!r}, object {index}: unreadable RecordIO-protobuf: {exc}") from exc


def _csv(blob: bytes, channel: str, index: int, label_size: int) -> np.ndarray:
    try:
        matrix = parse_csv(blob)
    except CsvError as exc:
        raise ClientError(f"Channel {channel!r}, object {index}, {exc}") from exc
    if not np.isfinite(matrix).all():
        row, column = (int(i) for i in np.argwhere(~np.isfinite(matrix))[0])
        raise ClientError(
            f"Channel {channel!r}, object {index}, row {row + 1}, column {column + 1}: "
            f"{matrix[row, column]} is not a finite number"
        )
    if len(matrix) and label_size >= matrix.shape[1]:
        raise ClientError(
            f"Channel {channel!r}, object {index}: label_size={label_size} leaves no feature columns "
            f"(records have {matrix.shape[1]} columns)"
        )
    return matrix[:, label_size:]


def _label_size(params: dict[str, str], channel: str) -> int:
    value = params.get("label_size", "0")
    if not value.isdigit():
        raise ClientError(f"Channel {channel!r}: label_size={value!r} in the content type must be an integer ≥ 0")
    return int(value)


def _parse_content_type(content_type: str) -> tuple[str, dict[str, str]]:
    media, *rest = (part.strip() for part in content_type.split(";"))
    params = dict(part.split("=", 1) for part in rest if "=" in part)
    return media.lower(), {k.strip().lower(): v.strip() for k, v in params.items()}
