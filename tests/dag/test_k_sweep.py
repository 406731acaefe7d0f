"""Choosing k from the data: a sweep of candidate k as one mapped training task (dag.test() against the
emulator), each candidate's metrics from its own SageMaker job and its artifact, one endpoint for the chosen."""

from __future__ import annotations

import io
import json
import threading
import time
import uuid

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import silhouette_score

from include.sagemaker_formats.artifacts import read_kmeans_model
from include.segmentation.synthetic import synthetic_census
from include.segmentation_aws import requests
from include.segmentation_aws.layout import latest_key, results_prefix
from include.segmentation_aws.names import RunNames
from tests.support.aws_operations import record_operations
from tests.support.paths import shared_path

pytestmark = pytest.mark.slow

KEY = "census/census.csv"


def _bucket(s3, census: bytes) -> str:
    bucket = f"popseg-k-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=KEY, Body=census)
    return bucket


def _run(dag, bucket: str, **params):
    run = dag.test(run_conf={"bucket": bucket, "input_key": KEY, "output_prefix": "segmentation", **params})
    return run, run.get_task_instances()


def _read(s3, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def _published(s3, bucket: str, run_id: str, name: str) -> bytes:
    return _read(s3, bucket, results_prefix("segmentation", run_id) + name)


def _centroids(s3, artifact_uri: str) -> np.ndarray:
    bucket, key = artifact_uri.removeprefix("s3://").split("/", 1)
    return read_kmeans_model(_read(s3, bucket, key)).astype("float64")


def _components(s3, bucket: str, run_id: str, n: int) -> np.ndarray:
    """The counties' kept PCA components as K-Means trained on them (float32), from the published segments.csv
    (written from the same float32 values)."""
    segments = pd.read_csv(io.BytesIO(_published(s3, bucket, run_id, "segments.csv")))
    return segments[[f"c_{i}" for i in range(1, n + 1)]].to_numpy("float32").astype("float64")


@pytest.fixture(scope="module")
def real_sweep(dag, airflow_db, clients):
    """One sweep of k = 4…10 on the real census, silhouette rule: (bucket, run, its task instances, AWS calls)."""
    patch = pytest.MonkeyPatch()
    calls = record_operations(patch)
    try:
        census = shared_path("data/census/acs2015_county_data.csv").read_bytes()
        bucket = _bucket(clients["s3"], census)
        run, instances = _run(dag, bucket, k_min=4, k_max=10, k_rule="silhouette")
    finally:
        patch.undo()
    return bucket, run, instances, calls


def test_a_sweep_trains_every_candidate_in_one_mapped_task_and_deploys_only_the_chosen(real_sweep, clients) -> None:
    bucket, run, instances, calls = real_sweep
    assert run.state == "success", {(ti.task_id, ti.map_index): ti.state for ti in instances}
    mapped = sorted((ti for ti in instances if ti.task_id == "train_kmeans"), key=lambda ti: ti.map_index)
    assert [ti.map_index for ti in mapped] == list(range(7)) and {ti.state for ti in mapped} == {"success"}
    assert [ti.rendered_map_index for ti in mapped] == [f"k={k}" for k in range(4, 11)]
    assert calls.count("CreateTrainingJob") == 7 + 1  # every candidate, and PCA
    assert calls.count("CreateEndpoint") == 2 and calls.count("CreateModel") == 2  # PCA's, the chosen K-Means'
    token = RunNames.for_run(run.run_id).token
    jobs = clients["sagemaker"].list_training_jobs(NameContains=token, MaxResults=100)
    assert sorted(
        j["TrainingJobName"] for j in jobs["TrainingJobSummaries"] if j["TrainingJobName"].startswith("popseg-kmeans-")
    ) == sorted(f"popseg-kmeans-k{k}-{token}" for k in range(4, 11))
    document = json.loads(_published(clients["s3"], bucket, run.run_id, "run.json"))
    selection = json.loads(_published(clients["s3"], bucket, run.run_id, "k_selection.json"))
    assert document["n_components"] == 7 and document["rows"] == 3218
    assert [c["k"] for c in selection["candidates"]] == list(range(4, 11))
    chosen = selection["chosen_k"]
    assert document["k_selection"]["chosen_k"] == chosen and document["k_selection"]["rule"] == "silhouette"
    assert document["training_jobs"]["kmeans"]["training_job"] == f"popseg-kmeans-k{chosen}-{token}"
    assert document["endpoints"]["kmeans"] == f"popseg-kmeans-{token}"
    # Every candidate is billed: run.json counts them all.
    assert set(document["k_selection"]["candidate_jobs"]) == {str(k) for k in range(4, 11)}
    billed = document["training_jobs"]["pca"]["billable_seconds"] + sum(
        job["billable_seconds"] for job in document["k_selection"]["candidate_jobs"].values()
    )
    assert document["billable_seconds"] == billed
    # ... and so does its cost: a line for PCA's job and for each candidate's, none for the chosen one twice.
    training = [item for item in document["cost"]["items"] if item["kind"] == "training"]
    assert [item["name"] for item in training] == [f"popseg-pca-{token}"] + [
        f"popseg-kmeans-k{k}-{token}" for k in range(4, 11)
    ]
    assert sum(item["instance_seconds"] for item in training) == document["billable_instance_seconds"]
    segments = pd.read_csv(io.BytesIO(_published(clients["s3"], bucket, run.run_id, "segments.csv")))
    assert segments["cluster"].nunique() <= chosen and segments["cluster"].max() < chosen
    centroids = pd.read_csv(io.BytesIO(_published(clients["s3"], bucket, run.run_id, "centroids.csv")))
    assert len(centroids) == chosen
    assert json.loads(_read(clients["s3"], bucket, latest_key("segmentation")))["run_id"] == run.run_id


def test_each_candidates_test_metrics_are_sagemakers_mean_and_sum_of_squared_distances(real_sweep, clients) -> None:
    bucket, run, _, _ = real_sweep
    s3, sagemaker = clients["s3"], clients["sagemaker"]
    selection = json.loads(_published(s3, bucket, run.run_id, "k_selection.json"))
    x = _components(s3, bucket, run.run_id, 7)
    for candidate in selection["candidates"]:
        described = sagemaker.describe_training_job(TrainingJobName=candidate["job_name"])
        metrics = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
        channels = {c["ChannelName"]: c for c in described["InputDataConfig"]}
        assert channels["test"]["DataSource"] == channels["train"]["DataSource"] | {
            "S3DataSource": {
                **channels["train"]["DataSource"]["S3DataSource"],
                "S3DataDistributionType": "FullyReplicated",
            }
        }
        squared = ((x[:, None] - _centroids(s3, described["ModelArtifacts"]["S3ModelArtifacts"])[None]) ** 2).sum(2)
        nearest = squared.min(axis=1)
        assert metrics["test:msd"] == pytest.approx(nearest.mean(), rel=1e-4)
        assert metrics["test:ssd"] == pytest.approx(nearest.sum(), rel=1e-4)
        assert (candidate["test_msd"], candidate["test_ssd"]) == (metrics["test:msd"], metrics["test:ssd"])
        assert candidate["within_ss"] == pytest.approx(nearest.sum(), rel=1e-4)
        labels = squared.argmin(axis=1)
        assert candidate["sizes"] == np.bincount(labels, minlength=candidate["k"]).tolist()
        # Fewer counties than the sample: the silhouette of every county, as scikit-learn computes it.
        assert candidate["silhouette"] == pytest.approx(silhouette_score(x, labels), abs=1e-4)


def test_the_silhouette_rule_chooses_the_highest_silhouette_and_the_report_says_why(real_sweep, clients) -> None:
    bucket, run, _, _ = real_sweep
    selection = json.loads(_published(clients["s3"], bucket, run.run_id, "k_selection.json"))
    scores = {c["k"]: c["silhouette"] for c in selection["candidates"]}
    assert selection["chosen_k"] == max(scores, key=lambda k: (scores[k], -k))
    assert [c["k"] for c in selection["candidates"] if c["chosen"]] == [selection["chosen_k"]]
    report = _published(clients["s3"], bucket, run.run_id, "report.html").decode()
    assert selection["reason"].split(":")[0] in report


def test_the_elbow_rule_picks_the_knee_of_sagemakers_msd_from_the_same_candidates(real_sweep, clients) -> None:
    """k_selection.json records what each rule picks from the candidates (the run used the silhouette)."""
    bucket, run, _, _ = real_sweep
    selection = json.loads(_published(clients["s3"], bucket, run.run_id, "k_selection.json"))
    # Kneedle: both axes to 0…1, the candidate farthest below the chord from the first to the last.
    ks = np.array([c["k"] for c in selection["candidates"]], dtype=float)
    msd = np.array([c["test_msd"] for c in selection["candidates"]])
    x, y = (ks - ks[0]) / (ks[-1] - ks[0]), (msd - msd.min()) / (msd.max() - msd.min())
    assert selection["by_rule"]["elbow"] == int(ks[np.argmax(y[0] + (y[-1] - y[0]) * x - y)])
    assert selection["by_rule"]["silhouette"] == selection["chosen_k"]


def test_clearing_a_finished_sweep_reattaches_to_every_candidate_job(dag, airflow_db, clients, aws_calls) -> None:
    from datetime import UTC, datetime

    bucket = _bucket(clients["s3"], synthetic_census(400).to_csv(index=False).encode())
    when = datetime(2026, 2, 1, 3, 0, uuid.uuid4().int % 60, tzinfo=UTC)
    conf = {"bucket": bucket, "input_key": KEY, "output_prefix": "segmentation", "k_min": 3, "k_max": 5,
            "k_rule": "elbow"}  # fmt: skip
    first = dag.test(logical_date=when, run_after=when, run_conf=conf)
    assert first.state == "success" and aws_calls.count("CreateTrainingJob") == 4
    selection = json.loads(_published(clients["s3"], bucket, first.run_id, "k_selection.json"))
    assert selection["rule"] == "elbow" and selection["chosen_k"] == selection["by_rule"]["elbow"]
    again = dag.test(logical_date=when, run_after=when, run_conf=conf)  # clears every task and runs it again
    assert again.run_id == first.run_id and again.state == "success"
    assert aws_calls.count("CreateTrainingJob") == 4  # every candidate reattached: nothing trained twice


def _stop_when_training(sagemaker, name_part: str, done: threading.Event) -> None:
    """Stop the first K-Means candidate job whose name holds `name_part` once it is Training."""
    while not done.is_set():
        for job in sagemaker.list_training_jobs(NameContains=name_part, StatusEquals="InProgress")[
            "TrainingJobSummaries"
        ]:
            if sagemaker.describe_training_job(TrainingJobName=job["TrainingJobName"])["SecondaryStatus"] == "Training":
                sagemaker.stop_training_job(TrainingJobName=job["TrainingJobName"])
                return
        time.sleep(0.05)


def test_candidate_jobs_stopped_or_past_their_max_runtime_fail_their_deferred_tasks_with_the_reason(
    dag, airflow_db, clients, monkeypatch, capfd
) -> None:
    """k=3 is stopped (StopTrainingJob) while its task is deferred, k=4 reaches its MaxRuntimeInSeconds, k=5
    completes: each stopped candidate fails its own mapped task once (no retry: the job would stop again) with
    SageMaker's reason, and the run fails before any K-Means endpoint (apache/airflow#42423 took Stopped for
    success)."""
    s3, sagemaker = clients["s3"], clients["sagemaker"]
    bucket = _bucket(s3, synthetic_census(400).to_csv(index=False).encode())
    real_request, real_hyperparameters = requests.training_request, requests.kmeans_hyperparameters

    def short_limit(**kwargs):
        request = real_request(**kwargs)
        if "-k4-" in request["TrainingJobName"]:  # 1 s: the candidate's one-row mini-batches take longer
            request["StoppingCondition"]["MaxRuntimeInSeconds"] = 1
        return request

    def slow(feature_dim: int, k: int, rows: int) -> dict:
        slower = {3: {"epochs": 400}, 4: {"mini_batch_size": 1, "epochs": 200}}.get(k, {})
        return {**real_hyperparameters(feature_dim, k, rows), **slower}

    monkeypatch.setattr(requests, "training_request", short_limit)
    monkeypatch.setattr(requests, "kmeans_hyperparameters", slow)
    done = threading.Event()
    stopper = threading.Thread(target=_stop_when_training, args=(sagemaker, "popseg-kmeans-k3-", done))
    stopper.start()
    try:
        run, instances = _run(dag, bucket, k_min=3, k_max=5)
    finally:
        done.set()
        stopper.join()
    states = {(ti.task_id, ti.map_index): ti.state for ti in instances}
    tries = {(ti.task_id, ti.map_index): ti.try_number for ti in instances}
    assert run.state == "failed"
    assert [states[("train_kmeans", i)] for i in range(3)] == ["failed", "failed", "success"]
    assert tries[("train_kmeans", 0)] == tries[("train_kmeans", 1)] == 1
    assert states[("choose_k", -1)] == "upstream_failed" and states[("publish", -1)] == "upstream_failed"
    assert states[("delete_pca_endpoint", -1)] == "success"
    printed = "".join(capfd.readouterr())
    assert "SageMaker training job popseg-kmeans-k3-" in printed and "is Stopped: Training job stopped" in printed
    assert "is Stopped (MaxRuntimeExceeded): Training job reached its MaxRuntimeInSeconds (1 s)" in printed
    assert (
        sagemaker.list_endpoints(NameContains="popseg-kmeans-" + RunNames.for_run(run.run_id).token)["Endpoints"] == []
    )
