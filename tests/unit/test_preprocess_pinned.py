"""Both passes of the streaming preprocess read the census version its first attempt pinned: a retry reads it
again after the object was replaced (versioned bucket), or refuses the replaced object (no versions)."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowFailException

from include.airflow_popseg import steps
from include.segmentation.synthetic import synthetic_census
from tests.support.preprocess_runs import BUCKET, INPUT_KEY, run_on, s3_bucket


def _census(rows: int) -> bytes:
    return synthetic_census(rows).to_csv(index=False).encode()


def test_a_retry_streams_the_census_version_the_first_attempt_read() -> None:
    with s3_bucket() as client:
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        run = run_on(client, _census(400), {"k": 5})
        first = steps.preprocess(run)
        client.put_object(Bucket=BUCKET, Key=INPUT_KEY, Body=_census(300))  # the next night's file landed
        again = steps.preprocess(run)
        assert (again["rows_in"], again["input_version_id"]) == (400, first["input_version_id"])
        assert again["input_sha256"] == first["input_sha256"]


def test_a_retry_refuses_a_census_replaced_in_a_bucket_without_versions() -> None:
    with s3_bucket() as client:
        run = run_on(client, _census(400), {"k": 5})
        steps.preprocess(run)
        client.put_object(Bucket=BUCKET, Key=INPUT_KEY, Body=_census(300))
        with pytest.raises(AirflowFailException, match="has changed since this run first read it"):
            steps.preprocess(run)
