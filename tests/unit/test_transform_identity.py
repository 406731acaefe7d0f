"""The PCA transform and the K-Means assignment write what they wrote before they streamed, in endpoint and batch
mode: the same components and segments frames, value for value, and K-Means' training shards byte for byte
(tests/support/transform_golden.json, digests of commit 0079443's tasks, made by
`python -m tests.support.transform_runs`, one set for each OpenBLAS kernel, on one BLAS thread: the float32
products round their last bits differently on each kernel, and on Haswell's with the threads). The published
CSVs are made from these frames."""

from __future__ import annotations

import json
import os

import pytest

from include.airflow_popseg import steps
from tests.support.transform_runs import GOLDEN, GOLDEN_CASES, MODES, blas_kernel, transform_digests

CASES = list(GOLDEN_CASES)


def _golden(case: str, mode: str) -> dict:
    """The digests made before the tasks streamed, with the OpenBLAS kernels this process computes with. Skips
    where there are none for them (another CPU family), except under CI=true, where that is a failure."""
    kernel, golden = blas_kernel(), json.loads(GOLDEN.read_text())
    if kernel not in golden:
        reason = (
            f"no digests for OpenBLAS's {kernel} kernels, only for {', '.join(golden)}"
            " (OPENBLAS_CORETYPE=Haswell picks Haswell's on any x86-64 CPU with AVX2)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return golden[kernel][case][mode]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES)
def test_transform_and_assignment_write_what_they_wrote_before_they_streamed(case, mode) -> None:
    assert transform_digests(case, mode) == _golden(case, mode)


@pytest.mark.parametrize("mode", MODES)
def test_read_in_small_blocks_they_write_the_same(mode, monkeypatch) -> None:
    """Blocks of 777 rows: the requests (endpoints.batch_rows) and the batch job's output shards take their rows
    across the blocks' edges, and the components and segments files get many row groups."""
    monkeypatch.setattr(steps, "READ_ROWS", 777)
    case = "synthetic 60,000 rows, 57 incomplete, two instances"
    assert transform_digests(case, mode) == _golden(case, mode)


def test_a_batch_job_that_answered_fewer_rows_is_refused_with_both_counts() -> None:
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException, match=r"pca-batch answered 3215 rows, expected 3218 \(one per input"):
        transform_digests("bundled sample", "batch", short_by=3)
