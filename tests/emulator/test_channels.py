"""Training channels decoded from the objects SageMaker would download."""

from __future__ import annotations

import numpy as np
import pytest

from aws_emulator.algorithms.base import ClientError
from aws_emulator.algorithms.channels import decode_channel
from include.sagemaker_formats.recordio import encode_dense


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


def test_a_csv_object_reads_back_the_float32_values_written_to_it() -> None:
    x = np.random.default_rng(5).normal(size=(1000, 4)).astype("float32")
    body = "\n".join(",".join(repr(v) for v in row) for row in x.tolist()).encode()
    assert np.array_equal(decode_channel([body], "text/csv", "train"), x)


def test_a_short_csv_row_is_named() -> None:
    with pytest.raises(ClientError, match="Channel 'train', object 0, row 2, column 3: '' is not a number"):
        decode_channel([b"1,2,3\n4,5\n"], "text/csv", "train")


def test_a_long_csv_row_is_named() -> None:
    with pytest.raises(ClientError, match="Channel 'train', object 0, line 2 has 4 fields, expected 3"):
        decode_channel([b"1,2,3\n4,5,6,7\n"], "text/csv", "train")


@pytest.mark.parametrize("cell", ["nan", "inf"])
def test_non_finite_csv_values_are_refused_naming_the_cell(cell) -> None:
    with pytest.raises(ClientError, match=f"object 0, row 1, column 2: {cell} is not a finite number"):
        decode_channel([f"1,{cell},3\n".encode()], "text/csv", "train")


def test_blank_lines_in_csv_are_skipped() -> None:
    assert decode_channel([b"1,2\n\n3,4\n"], "text/csv", "train").tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_a_label_size_that_leaves_no_features_is_refused() -> None:
    with pytest.raises(ClientError, match="label_size=2 leaves no feature columns"):
        decode_channel([b"1,2\n"], "text/csv;label_size=2", "train")


def test_a_label_size_that_is_not_an_integer_is_refused() -> None:
    with pytest.raises(ClientError, match="label_size='one'"):
        decode_channel([b"1,2\n"], "text/csv; label_size=one", "train")
