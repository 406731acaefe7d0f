"""How a transform job cuts one input object into requests (`transform._payloads`), without HTTP: every
request within the limit, the records in order and none lost, RecordIO records found by their framing."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from aws_emulator.sagemaker.transform import ObjectFailed, _payloads, _recordio_ends
from include.sagemaker_formats.recordio import encode_dense
from tests.support.transform_jobs import csv_rows

ROWS = np.random.default_rng(5).normal(size=(2_000, 6)).astype("float32")


@pytest.mark.parametrize(("split", "blob"), [("Line", csv_rows(ROWS)), ("RecordIO", encode_dense(ROWS))])
def test_multi_record_requests_stay_within_the_limit_and_hold_every_record_in_order(split, blob) -> None:
    limit = 10_000
    requests = list(_payloads(blob, split, "MultiRecord", limit))
    assert max(len(request) for request in requests) <= limit
    assert b"".join(requests) == blob


@pytest.mark.parametrize(("split", "blob"), [("Line", csv_rows(ROWS)), ("RecordIO", encode_dense(ROWS))])
def test_multi_record_requests_hold_as_many_records_as_fit(split, blob) -> None:
    limit = 10_000
    requests = list(_payloads(blob, split, "MultiRecord", limit))
    for request, following in itertools.pairwise(requests):
        next_record = following.index(b"\n") + 1 if split == "Line" else int(_recordio_ends(following)[0])
        assert len(request) + next_record > limit


def test_single_record_requests_are_one_line_each() -> None:
    blob = csv_rows(ROWS[:5])
    assert list(_payloads(blob, "Line", "SingleRecord", 1 << 20)) == blob.splitlines(keepends=True)


def test_single_record_skips_blank_lines() -> None:
    assert list(_payloads(b"1,2\n\n3,4\n", "Line", "SingleRecord", 100)) == [b"1,2\n", b"3,4\n"]


def test_an_unterminated_last_line_is_a_record() -> None:
    assert list(_payloads(b"1,2\n3,4", "Line", "SingleRecord", 100)) == [b"1,2\n", b"3,4"]


def test_split_none_is_the_whole_object_in_one_request() -> None:
    blob = csv_rows(ROWS)
    assert list(_payloads(blob, "None", "MultiRecord", len(blob))) == [blob]


def test_a_record_over_the_limit_is_refused_naming_it_and_its_bytes() -> None:
    with pytest.raises(ObjectFailed) as refused:
        list(_payloads(b"1,2\n" + b"9" * 50 + b"\n", "Line", "MultiRecord", 40))
    assert refused.value.lines == [
        "ClientError: 413",
        "Message:",
        "Record 1 (bytes 4..55) is 51 bytes, more than MaxPayloadInMB allows (40 bytes)",
    ]


def test_recordio_records_of_different_lengths_are_walked_one_by_one() -> None:
    short, wide = encode_dense(ROWS[:3, :2]), encode_dense(ROWS[:2])
    ends = _recordio_ends(short + wide)
    step_short, step_wide = len(short) // 3, len(wide) // 2
    expected = [step_short, 2 * step_short, 3 * step_short, len(short) + step_wide, len(short) + 2 * step_wide]
    assert ends.tolist() == expected


def test_recordio_with_bad_framing_is_refused_naming_record_and_offset() -> None:
    blob = encode_dense(ROWS[:3])
    step = len(blob) // 3
    broken = blob[:step] + b"\x00\x00\x00\x00" + blob[step + 4 :]
    with pytest.raises(ObjectFailed) as refused:
        _recordio_ends(broken)
    assert refused.value.lines[-1] == f"record 1 at byte {step}: bad magic 0x00000000, expected 0xCED7230A"
