"""The preprocess task writes what it wrote before it streamed: the same RecordIO shards byte for byte, the same
scaling and dropped rows, the same cleaned and county frames, the same counts (tests/support/preprocess_golden.json,
digests of commit 7db842c's preprocess, made by `python -m tests.support.preprocess_runs`)."""

from __future__ import annotations

import json

import pytest

from tests.support.preprocess_runs import GOLDEN, GOLDEN_CASES, preprocess_digests


@pytest.mark.parametrize("case", list(GOLDEN_CASES))
def test_preprocess_writes_what_it_wrote_before_it_streamed(case) -> None:
    make, params = GOLDEN_CASES[case]
    assert preprocess_digests(make(), params) == json.loads(GOLDEN.read_text())[case]
