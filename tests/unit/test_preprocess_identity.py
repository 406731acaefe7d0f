"""The preprocess task writes what it wrote before it streamed: the same RecordIO shards byte for byte, the same
scaling and dropped rows, the same cleaned and county frames, the same counts (tests/support/preprocess_golden.json,
digests of commit 7db842c's preprocess, made by `python -m tests.support.preprocess_runs`)."""

from __future__ import annotations

import json

import pytest

from include.airflow_popseg import steps
from include.segmentation.census import streaming
from tests.support.preprocess_runs import GOLDEN, GOLDEN_CASES, preprocess_digests

CASES = list(GOLDEN_CASES)


def _golden(case: str) -> dict:
    return json.loads(GOLDEN.read_text())[case]


@pytest.mark.parametrize("case", CASES)
def test_preprocess_writes_what_it_wrote_before_it_streamed(case) -> None:
    make, params = GOLDEN_CASES[case]
    assert preprocess_digests(make(), params) == _golden(case)


@pytest.mark.parametrize("case", CASES)
def test_the_streaming_path_in_small_chunks_writes_the_same(case, monkeypatch) -> None:
    """Chunks of 256 KiB (~1,200 rows): the bundled sample in three, so rows, dropped rows and shard bounds fall
    across chunks."""
    monkeypatch.setattr(streaming, "CHUNK_BYTES", 256 << 10)
    make, params = GOLDEN_CASES[case]
    assert preprocess_digests(make(), params, task=steps.preprocess_streaming) == _golden(case)


def test_the_whole_census_path_still_writes_the_same() -> None:
    make, params = GOLDEN_CASES["bundled sample, three instances"]
    assert preprocess_digests(make(), params, task=steps.preprocess_whole) == _golden("bundled sample, three instances")


def test_a_gzip_census_streams_to_the_same_results() -> None:
    import gzip

    make, params = GOLDEN_CASES["bundled sample"]
    digests = preprocess_digests(gzip.compress(make()), params, task=steps.preprocess_streaming)
    expected = _golden("bundled sample")
    assert {k: v for k, v in digests.items() if not k.startswith("input_")} == {
        k: v for k, v in expected.items() if not k.startswith("input_")
    }
