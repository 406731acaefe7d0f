"""Training channels decoded from the objects SageMaker would download."""

from __future__ import annotations

import numpy as np
import pytest

from include.aws_emulator.algorithms.base import ClientError
from include.aws_emulator.algorithms.channels import decode_channel
from include.segmentation.recordio import encode_dense


def test_recordio_objects_are_concatenated_in_order() -> None:
    a, b = np.ones((2, 3), dtype="float32"), np.zeros((1, 3), dtype="float32")
    x = decode_channel([encode_dense(a), encode_dense(b)], "application/x-recordio-protobuf", "train")
    assert np.array_equal(x, np.vstack([a, b]))


def test_no_content_type_means_recordio() -> None:
    assert decode_channel([encode_dense(np.ones((2, 2), dtype="float32"))], None, "train").shape == (2, 2)


def test_csv_with_label_size_drops_the_label_columns() -> None:
    x = decode_channel([b"9,1,2\n8,3,4\n"], "text/csv;label_size=1", "train")
    assert x.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_a_non_numeric_csv_cell_is_named() -> None:
    with pytest.raises(ClientError, match="Channel 'train', object 1, row 2, column 3: 'x' is not a number"):
        decode_channel([b"1,2,3\n", b"1,2,3\n4,5,x\n"], "text/csv", "train")


def test_unsupported_content_type_is_refused() -> None:
    with pytest.raises(ClientError, match="content type 'application/parquet' is not supported"):
        decode_channel([b"x"], "application/parquet", "train")


def test_an_empty_channel_is_refused() -> None:
    with pytest.raises(ClientError, match="Channel 'test' holds no records"):
        decode_channel([b""], "text/csv", "test")


def test_unreadable_recordio_is_refused_naming_the_object() -> None:
    with pytest.raises(ClientError, match="Channel 'train', object 0: unreadable RecordIO-protobuf"):
        decode_channel([b"garbage!"], None, "train")


def test_objects_of_different_widths_are_refused() -> None:
    blobs = [encode_dense(np.ones((1, 2), dtype="float32")), encode_dense(np.ones((1, 3), dtype="float32"))]
    with pytest.raises(ClientError, match=r"different record widths \[2, 3\]"):
        decode_channel(blobs, None, "train")
