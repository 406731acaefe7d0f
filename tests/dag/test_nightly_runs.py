"""Night after night on one results folder (dag.test() against the emulator): segment IDs that stay, churn,
the churn gate, the input gates, and no paid work when nothing changed."""

from __future__ import annotations

import io
import json
import uuid

import pandas as pd
import pytest

from include.segmentation.synthetic import synthetic_census
from include.segmentation_aws.layout import latest_key, results_prefix

pytestmark = pytest.mark.slow

KEY = "census/census.csv"
PAID = ("CreateTrainingJob", "CreateModel", "CreateEndpointConfig", "CreateEndpoint")
COUNTIES = 900  # enough counties for 9 segments, few enough for a quick run


def _run(dag, bucket: str, **params):
    run = dag.test(run_conf={"bucket": bucket, "input_key": KEY, "output_prefix": "segmentation", **params})
    return run, {ti.task_id: ti.state for ti in run.get_task_instances()}


def _read(s3, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def _run_json(s3, bucket: str, run_id: str) -> dict:
    return json.loads(_read(s3, bucket, results_prefix("segmentation", run_id) + "run.json"))


def _segments(s3, bucket: str, run_id: str) -> pd.Series:
    data = _read(s3, bucket, results_prefix("segmentation", run_id) + "segments.csv")
    return pd.read_csv(io.BytesIO(data)).set_index("State-County")["segment"]


def _latest(s3, bucket: str) -> str:
    return json.loads(_read(s3, bucket, latest_key("segmentation")))["run_id"]


@pytest.fixture
def folder(clients):
    """A bucket of its own holding the census, and a first published run on it: (bucket, the first run)."""
    s3 = clients["s3"]
    bucket = f"popseg-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=KEY, Body=synthetic_census(COUNTIES).to_csv(index=False).encode())
    return bucket


@pytest.fixture
def first(dag, airflow_db, clients, folder):
    run, states = _run(dag, folder)
    assert run.state == "success", states
    return run


def test_an_unchanged_census_creates_no_sagemaker_resource_and_records_a_skipped_run(
    dag, clients, folder, first, aws_calls, capfd
) -> None:
    s3 = clients["s3"]
    # The first run of a folder: K-Means' own numbering, no churn, its fingerprint recorded.
    recorded = _run_json(s3, folder, first.run_id)
    assert recorded["state"] == "published" and recorded["continuity"]["previous_run"] is None
    assert recorded["continuity"]["churn"] is None
    assert recorded["continuity"]["segment_ids"]["by_cluster"] == list(range(8))
    assert recorded["fingerprint"]["census"]["sha256"] == recorded["input_sha256"]
    run, states = _run(dag, folder)
    assert run.state == "success", states
    assert states["record_unchanged"] == "success"
    for skipped in ("preprocess", "train_pca", "deploy_pca", "train_kmeans", "deploy_kmeans", "publish", "promote"):
        assert states[skipped] == "skipped", (skipped, states[skipped])
    assert states["delete_pca_endpoint"] == states["delete_kmeans_endpoint"] == "skipped"
    assert not [call for call in aws_calls if call in PAID]
    document = _run_json(s3, folder, run.run_id)
    assert document["state"] == "unchanged" and document["unchanged_since"] == first.run_id
    assert document["rows"] == _run_json(s3, folder, first.run_id)["rows"]
    assert (document["cost"]["total"], document["cost"]["items"]) == (0, [])  # nothing ran: nothing billed
    assert _latest(s3, folder) == first.run_id  # the first run's results still stand
    assert f"unchanged since {first.run_id}" in "".join(capfd.readouterr())


def test_force_retrains_the_same_census_to_the_same_segment_ids_with_no_churn(dag, clients, folder, first) -> None:
    s3 = clients["s3"]
    run, states = _run(dag, folder, force=True)
    assert run.state == "success", states
    assert states["train_kmeans"] == "success"
    churn = _run_json(s3, folder, run.run_id)["continuity"]["churn"]
    assert churn["changed"] == 0 and churn["adjusted_rand"] == pytest.approx(1.0)
    assert _segments(s3, folder, run.run_id).equals(_segments(s3, folder, first.run_id))
    assert _latest(s3, folder) == run.run_id


def test_the_same_counties_in_another_row_order_keep_their_segment_ids(dag, clients, folder, first) -> None:
    s3 = clients["s3"]
    shuffled = synthetic_census(COUNTIES).sample(frac=1.0, random_state=7)
    s3.put_object(Bucket=folder, Key=KEY, Body=shuffled.to_csv(index=False).encode())
    run, states = _run(dag, folder)
    assert run.state == "success", states
    document = _run_json(s3, folder, run.run_id)
    ids = document["continuity"]["segment_ids"]
    assert ids["new"] == [] and ids["retired"] == [] and ids["kept"] == list(range(8))
    churn = document["continuity"]["churn"]
    # K-Means trained on the rows in another order: only its own run-to-run difference moves counties.
    print(f"shuffled rows: churn {churn['changed_share']:.4f}, adjusted Rand {churn['adjusted_rand']:.4f}")
    assert churn["changed_share"] <= 0.40 and churn["added"] == churn["removed"] == 0
    before, after = _segments(s3, folder, first.run_id), _segments(s3, folder, run.run_id)
    assert (before.reindex(after.index) != after).mean() == pytest.approx(churn["changed_share"])


def test_a_ninth_segment_keeps_the_eight_ids_and_takes_a_new_one(dag, clients, folder, first) -> None:
    s3 = clients["s3"]
    run, states = _run(dag, folder, k=9)
    assert run.state == "success", states
    ids = _run_json(s3, folder, run.run_id)["continuity"]["segment_ids"]
    assert sorted(ids["kept"]) == list(range(8)) and ids["new"] == [8] and ids["next_id"] == 9
    assert sorted(_segments(s3, folder, run.run_id).unique()) == list(range(9))


def test_churn_above_the_gate_publishes_for_review_but_keeps_latest_and_fails_naming_the_numbers(
    dag, clients, folder, first, capfd
) -> None:
    s3 = clients["s3"]
    run, states = _run(dag, folder, k=9, max_churn=0.01)  # a ninth segment moves its counties
    assert run.state == "failed" and states["publish"] == "success" and states["promote"] == "failed"
    document = _run_json(s3, folder, run.run_id)
    churn = document["continuity"]["churn"]
    assert document["state"] == "held" and churn["changed_share"] > 0.01
    assert document["continuity"]["segment_ids"]["new"] == [8]
    assert _latest(s3, folder) == first.run_id
    printed = "".join(capfd.readouterr())
    assert f"churn {100 * churn['changed_share']:.1f}%, above max_churn = 1.0%" in printed
    assert f"latest.json still names {first.run_id}" in printed and "max_churn of at least" in printed
    # The held run showed segment 8: the next run, matched to the first, gives its new segment another ID.
    accepted, states = _run(dag, folder, k=9, max_churn=None)
    assert accepted.state == "success", states
    ids = _run_json(s3, folder, accepted.run_id)["continuity"]["segment_ids"]
    assert ids["new"] == [9] and sorted(ids["kept"]) == list(range(8))
    assert json.loads(_read(s3, folder, "segmentation/segment-ids.json")) == {"next_id": 10}


def test_a_halved_census_is_refused_before_any_training_job(dag, clients, folder, first, aws_calls, capfd) -> None:
    s3 = clients["s3"]
    s3.put_object(Bucket=folder, Key=KEY, Body=synthetic_census(COUNTIES // 2).to_csv(index=False).encode())
    run, states = _run(dag, folder)
    assert run.state == "failed" and states["preprocess"] == "failed"
    assert not [call for call in aws_calls if call in PAID]
    printed = "".join(capfd.readouterr())
    assert f"has {COUNTIES // 2:,} rows, the last published run ({first.run_id}) read {COUNTIES:,}" in printed
    assert "max_row_change" in printed
    assert _latest(s3, folder) == first.run_id
