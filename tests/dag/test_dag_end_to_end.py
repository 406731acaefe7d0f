"""The whole DAG under `dag.test()` against the emulator: what a data engineer checks after a run."""

from __future__ import annotations

import hashlib
import io
import json
import re
import threading
import uuid
from datetime import datetime
from urllib.parse import quote

import numpy as np
import pandas as pd
import pyarrow.parquet
import pytest

from include.airflow_popseg import alerts
from include.airflow_popseg.published import published_runs
from include.segmentation.parquet_tables import parquet_name
from include.segmentation.synthetic import synthetic_census
from include.segmentation_aws import requests
from include.segmentation_aws.layout import latest_key, results_prefix
from include.segmentation_aws.names import RunNames
from tests.support.price_tables import SOURCE, use_price_table
from tests.support.published_files import earlier_run
from tests.support.sns_topic import SubscribedTopic

pytestmark = pytest.mark.slow

RESULT_FILES = {
    "segments.csv",
    "centroids.csv",
    "segment_profiles.csv",
    "pca_components.csv",
    "segments.parquet",
    "centroids.parquet",
    "segment_profiles.parquet",
    "pca_components.parquet",
    "explained_variance.json",
    "k_selection.json",
    "run.json",
    "report.html",
}


def _bucket(s3) -> str:
    name = f"popseg-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    return name


def _run(dag, bucket: str, **params):
    run = dag.test(
        run_conf={"bucket": bucket, "input_key": "census/census.csv", "output_prefix": "segmentation", **params}
    )
    return run, {ti.task_id: ti.state for ti in run.get_task_instances()}


def _read(s3, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def _results(s3, bucket: str, run_id: str) -> dict[str, bytes]:
    prefix = results_prefix("segmentation", run_id)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    return {key[len(prefix) :]: _read(s3, bucket, key) for key in keys}


def _report_link(run) -> str:
    """The URL behind the publish task's "Segmentation report" button, as the UI reads it."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        value = session.scalar(
            select(XComModel.value).where(
                XComModel.run_id == run.run_id,
                XComModel.task_id == "publish",
                XComModel.key == "_link_SegmentationReportLink",
            )
        )
    while isinstance(value, str) and value.startswith('"'):
        value = json.loads(value)
    return value


def _nothing_left(sagemaker, run) -> None:
    """No endpoint, endpoint config or model of this run is left (other tests share the emulator)."""
    token = RunNames.for_run(run.run_id).token
    assert sagemaker.list_endpoints(NameContains=token)["Endpoints"] == []
    assert sagemaker.list_endpoint_configs(NameContains=token)["EndpointConfigs"] == []
    assert sagemaker.list_models(NameContains=token)["Models"] == []


def _check_consistent_results(files: dict[str, bytes], rows: int, k: int) -> pd.DataFrame:
    assert {name for name in files if not name.startswith("plots/")} == RESULT_FILES
    assert {"plots/explained_variance.png", "plots/centroid_heatmap.png", "plots/segment_sizes.png"} <= set(files)
    run = json.loads(files["run.json"])
    n = run["n_components"]
    segments = pd.read_csv(io.BytesIO(files["segments.csv"]), dtype={"CensusId": str})
    c = [f"c_{i}" for i in range(1, n + 1)]
    assert list(segments.columns) == [
        "State-County", "segment", "distance", *c, "CensusId", "segment_label", "cluster",
    ]  # fmt: skip
    assert segments["CensusId"].str.fullmatch(r"\d{5}").all()  # every county's FIPS code, zero-padded
    # One label per segment, the report's (its segment table and county table show the same texts).
    labels = segments.groupby("segment")["segment_label"].unique()
    assert labels.map(len).eq(1).all() and all(
        f'<td class="label">{label[0]}</td>'.encode() in files["report.html"] for label in labels
    )
    assert len(segments) == rows == run["rows"] and segments["State-County"].is_unique
    assert (segments["distance"] >= 0).all()
    # Segment IDs are stable across runs; each is one K-Means cluster (0…k−1), one-to-one.
    assert segments["cluster"].between(0, k - 1).all()
    assert segments.groupby("segment")["cluster"].nunique().eq(1).all()
    assert segments.groupby("cluster")["segment"].nunique().eq(1).all()
    centroids = pd.read_csv(io.BytesIO(files["centroids.csv"]))
    ids = centroids["segment"].to_numpy()
    assert len(centroids) == k and list(ids) == sorted(ids) and set(segments["segment"]) <= set(ids)
    sizes = segments["segment"].value_counts().reindex(ids, fill_value=0).to_numpy()
    assert np.array_equal(centroids["counties"].to_numpy(), sizes)
    # Each county's segment is its nearest centroid, at the distance reported.
    distances = np.linalg.norm(segments[c].to_numpy()[:, None] - centroids[c].to_numpy()[None], axis=2)
    assert np.array_equal(ids[distances.argmin(axis=1)], segments["segment"].to_numpy())
    assert np.allclose(distances.min(axis=1), segments["distance"], atol=1e-4)
    profiles = pd.read_csv(io.BytesIO(files["segment_profiles.csv"]))
    assert len(profiles) == k and np.array_equal(profiles["counties"].to_numpy(), sizes)
    assert {"TotalPop mean [people]", "Income median [US$]", "Transit pop-weighted mean [%]"} <= set(profiles.columns)
    assert (profiles.drop(columns="segment") >= 0).all().all()  # profiles of real counties: no negative people
    components = pd.read_csv(io.BytesIO(files["pca_components.csv"]))
    assert list(components.columns) == ["feature", *c] and len(components) == 34
    variance = json.loads(files["explained_variance.json"])
    assert variance["n_components"] == n and variance["explained"] == pytest.approx(run["explained_variance"])
    assert run["billable_seconds"] >= 2
    assert {"pca", "kmeans"} == set(run["training_jobs"]) and {"pca", "kmeans"} == set(run["endpoints"])
    _check_parquet_twins(files, run["run_id"])
    return segments


def _check_parquet_twins(files: dict[str, bytes], run_id: str) -> None:
    """Each table's .parquet holds its CSV's rows and values (typed), and names the run."""
    for csv_name in ("segments.csv", "centroids.csv", "segment_profiles.csv", "pca_components.csv"):
        table = pyarrow.parquet.read_table(io.BytesIO(files[parquet_name(csv_name)]))
        assert table.schema.metadata[b"popseg.run_id"] == run_id.encode()
        from_csv = pd.read_csv(io.BytesIO(files[csv_name]), dtype={"CensusId": str})
        frame = table.to_pandas().set_axis(from_csv.columns, axis=1)
        labels = frame.select_dtypes("category").columns
        frame[labels] = frame[labels].astype(str)
        # float32 components: the CSV's shortest text of each, parsed as float64, is within float32's precision
        pd.testing.assert_frame_equal(frame, from_csv, check_dtype=False, rtol=1e-6)


def _check_cost(run: dict, sagemaker) -> None:
    """run.json's cost: each training job's billable seconds × instances and each endpoint's life from its
    CreationTime to its teardown, at the test table's prices, and their sum."""
    cost = run["cost"]
    assert (cost["currency"], cost["region"], cost["no_price"]) == ("USD", "us-east-1", [])
    assert cost["price_table"] == {"name": "prices.json", "source": SOURCE, "read": "2026-12-01"}
    training = [item for item in cost["items"] if item["kind"] == "training"]
    assert [(i["name"], i["instance_seconds"]) for i in training] == [
        (job["training_job"], job["billable_seconds"] * job["instance_count"]) for job in run["training_jobs"].values()
    ]
    assert all(i["usd"] == pytest.approx(i["instance_seconds"] / 3600 * 0.36, abs=1e-6) for i in training)
    hosting = [item for item in cost["items"] if item["kind"] == "hosting"]
    assert [item["name"] for item in hosting] == [run["endpoints"]["pca"], run["endpoints"]["kmeans"]]
    for item, lifetime in zip(hosting, run["endpoint_lifetimes"].values(), strict=True):
        created, deleted = datetime.fromisoformat(lifetime["created"]), datetime.fromisoformat(lifetime["deleted"])
        assert item["instance_seconds"] == pytest.approx((deleted - created).total_seconds()) and deleted > created
        assert item["usd"] == pytest.approx(item["instance_seconds"] / 3600 * 0.18, abs=1e-6)
    assert len(cost["items"]) == 4 and run["transform_jobs"] == {}
    assert cost["total"] == pytest.approx(sum(item["usd"] for item in cost["items"])) and cost["total"] > 0


def test_synthetic_sample_is_segmented_published_and_cleaned_up(
    dag, airflow_db, clients, capfd, monkeypatch, tmp_path
) -> None:
    s3, sagemaker = clients["s3"], clients["sagemaker"]
    bucket = _bucket(s3)
    use_price_table(monkeypatch, tmp_path)
    # The census lands a few seconds after the run starts: the sensor defers and its trigger finds it.
    body = synthetic_census().to_csv(index=False).encode()
    late = threading.Timer(4.0, lambda: s3.put_object(Bucket=bucket, Key="census/census.csv", Body=body))
    late.start()
    run, states = _run(dag, bucket)
    late.join()
    assert run.state == "success", states
    published = _results(s3, bucket, run.run_id)
    segments = _check_consistent_results(published, rows=3218, k=8)
    assert segments["segment"].nunique() == 8
    # No sweep: one K-Means job under the run's own name, k recorded as fixed by the param.
    selection = json.loads(published["k_selection.json"])
    assert (selection["rule"], selection["chosen_k"], len(selection["candidates"])) == ("fixed", 8, 1)
    assert selection["candidates"][0]["job_name"] == f"popseg-kmeans-{RunNames.for_run(run.run_id).token}"
    assert "fixed by the" in published["report.html"].decode()
    printed = "".join(capfd.readouterr())
    # Each training task's log holds its job's CloudWatch lines, once.
    assert printed.count("#metrics {") == 2 and "AWS/KMeansWebscale" in printed
    # ... and, once the job completed, its final metrics as DescribeTrainingJob lists them.
    final = re.search(r"Final metrics of popseg-kmeans-\S+: (.*)", printed)
    assert final and {"test:msd", "test:ssd", "train:msd"} <= set(re.findall(r"(\S+) = ", final.group(1)))
    _check_cost(json.loads(published["run.json"]), sagemaker)
    latest = json.loads(_read(s3, bucket, latest_key("segmentation")))
    assert latest["run_id"] == run.run_id
    assert _report_link(run) == f"/segmentation/runs/{run.run_id}/report"
    # The Segmentation view's index lists the run, with its figures and where its results are.
    listed = next(r for r in published_runs() if r.run_id == run.run_id)
    assert (listed.rows, listed.k, listed.bucket) == (3218, 8, bucket)
    assert listed.prefix == f"segmentation/runs/{run.run_id}/"
    estimated = json.loads(published["run.json"])["cost"]["total"]
    assert (listed.cost_total, listed.cost_text) == (estimated, f"${estimated:.4f}")
    assert f'<td id="run-cost">${estimated:.4f}</td>' in published["report.html"].decode()
    # ... and the sha256 of each file the view serves, as published (the view refuses any other bytes).
    served = [
        name
        for name in published
        if name in ("report.html", "segments.csv", "segments.parquet") or name.startswith("plots/")
    ]
    assert len(served) >= 10 and "report.html" in served and "segments.csv" in served
    assert listed.sha256 == {name: hashlib.sha256(published[name]).hexdigest() for name in served}
    _nothing_left(sagemaker, run)


def test_real_census_reproduces_the_notebook_on_two_training_instances(dag, airflow_db, clients, census_csv) -> None:
    s3, sagemaker = clients["s3"], clients["sagemaker"]
    bucket = _bucket(s3)
    s3.put_object(Bucket=bucket, Key="census/census.csv", Body=census_csv.read_bytes())
    run, states = _run(dag, bucket, instance_count=2)
    assert run.state == "success", states
    files = _results(s3, bucket, run.run_id)
    segments = _check_consistent_results(files, rows=3218, k=8)
    run_document = json.loads(files["run.json"])
    for job in run_document["training_jobs"].values():
        described = sagemaker.describe_training_job(TrainingJobName=job["training_job"])
        assert described["ResourceConfig"]["InstanceCount"] == job["instance_count"] == 2
        source = described["InputDataConfig"][0]["DataSource"]["S3DataSource"]
        assert source["S3DataDistributionType"] == "ShardedByS3Key"
    assert run_document["billable_instance_seconds"] == 2 * run_document["billable_seconds"]
    assert run_document["n_components"] == 7
    assert run_document["explained_variance"] == pytest.approx(0.8017, abs=0.0005)
    assert sorted(run_document["dropped"]) == ["Hawaii-Kalawao", "Texas-Loving"]
    report = files["report.html"].decode()
    assert report.count("% of the variance):") == 7  # one section per kept component
    assert report.count('<td class="label">') == 8  # one labelled row per segment
    assert re.search(r"3,218 counties in 8 segments,\s+7 PCA components keeping 0\.8017", report)
    assert segments["segment"].nunique() == 8
    assert json.loads(_read(s3, bucket, latest_key("segmentation")))["run_id"] == run.run_id
    _nothing_left(sagemaker, run)


def test_a_failed_kmeans_training_fails_the_run_leaves_nothing_and_alerts_the_topic(
    dag, airflow_db, clients, emulator, monkeypatch, capfd
) -> None:
    s3, sagemaker = clients["s3"], clients["sagemaker"]
    topic = SubscribedTopic.create(emulator.endpoint_url)
    monkeypatch.setenv(f"AIRFLOW_VAR_{alerts.TOPIC_VARIABLE.upper()}", topic.arn)
    bucket = _bucket(s3)
    s3.put_object(Bucket=bucket, Key="census/census.csv", Body=synthetic_census(400).to_csv(index=False).encode())
    earlier = earlier_run(s3, bucket, rows_in=400)
    broken = requests.kmeans_hyperparameters

    def bad_hyperparameters(*args):
        return {**broken(*args), "init_method": "forgy"}  # K-Means refuses it: the job fails

    monkeypatch.setattr(requests, "kmeans_hyperparameters", bad_hyperparameters)
    run, states = _run(dag, bucket)
    assert run.state == "failed"
    assert states["train_kmeans"] == "failed"
    assert states["delete_pca_endpoint"] == "success"
    assert states["publish"] == "upstream_failed"
    failed = sagemaker.list_training_jobs(StatusEquals="Failed", MaxResults=100)["TrainingJobSummaries"]
    job = sagemaker.describe_training_job(TrainingJobName=failed[-1]["TrainingJobName"])
    assert job["FailureReason"].startswith("ClientError: Invalid hyperparameter init_method='forgy'")
    # In the task log: SageMaker's reason first, then the tail of the job's log, saying where the whole log is.
    printed, name = "".join(capfd.readouterr()), job["TrainingJobName"]
    reason = printed.find(f"SageMaker training job {name} is Failed: ClientError: Invalid hyperparameter init_method")
    tail = printed.find(f"CloudWatch log of training job {name}, last ")
    assert 0 <= reason < tail, (reason, tail)
    assert "Whole log: log group /aws/sagemaker/TrainingJobs, stream " + name + "/algo-1-" in printed[tail:]
    assert _read(s3, bucket, latest_key("segmentation")) == earlier
    assert _results(s3, bucket, run.run_id) == {}
    _nothing_left(sagemaker, run)
    # The one failed task (its job's FailureReason) alerted the topic, with the link to its run.
    [alert] = topic.messages()
    assert alert["Subject"] == "[popseg] population_segmentation failed at train_kmeans[k=8]"
    assert "Reason: AirflowFailException: " in alert["Message"]
    assert "Invalid hyperparameter init_method='forgy'" in alert["Message"]
    assert (
        f"/dags/population_segmentation/runs/{quote(run.run_id, safe='')}/tasks/train_kmeans/mapped/0"
        in alert["Message"]
    )


def test_a_latest_json_naming_no_run_of_the_folder_fails_the_comparison_and_creates_no_job(
    dag, airflow_db, clients, capfd
) -> None:
    s3, sagemaker = clients["s3"], clients["sagemaker"]
    bucket = _bucket(s3)
    s3.put_object(Bucket=bucket, Key="census/census.csv", Body=synthetic_census(50).to_csv(index=False).encode())
    planted = b'{"run_id": "x", "results": "s3://elsewhere/segmentation/runs/x/"}'
    s3.put_object(Bucket=bucket, Key=latest_key("segmentation"), Body=planted)
    jobs_before = len(sagemaker.list_training_jobs(MaxResults=100)["TrainingJobSummaries"])
    run, states = _run(dag, bucket)
    assert run.state == "failed" and states["compare_with_last_run"] == "failed"
    assert f"s3://{bucket}/segmentation/latest.json does not name a run of this results folder" in "".join(
        capfd.readouterr()
    )
    assert len(sagemaker.list_training_jobs(MaxResults=100)["TrainingJobSummaries"]) == jobs_before
    assert _read(s3, bucket, latest_key("segmentation")) == planted


def test_a_bad_csv_fails_in_preprocessing_with_its_message_and_creates_no_job(dag, airflow_db, clients, capfd) -> None:
    s3, sagemaker = clients["s3"], clients["sagemaker"]
    bucket = _bucket(s3)
    broken = synthetic_census(50).drop(columns=["Income"])
    s3.put_object(Bucket=bucket, Key="census/census.csv", Body=broken.to_csv(index=False).encode())
    jobs_before = len(sagemaker.list_training_jobs(MaxResults=100)["TrainingJobSummaries"])
    run, states = _run(dag, bucket)
    assert run.state == "failed"
    assert states["preprocess"] == "failed" and states["train_pca"] == "upstream_failed"
    assert "missing columns: Income" in "".join(capfd.readouterr())
    assert len(sagemaker.list_training_jobs(MaxResults=100)["TrainingJobSummaries"]) == jobs_before
    _nothing_left(sagemaker, run)


def test_k_larger_than_the_rows_is_refused_before_any_training(dag, airflow_db, clients, capfd) -> None:
    s3, sagemaker = clients["s3"], clients["sagemaker"]
    bucket = _bucket(s3)
    s3.put_object(
        Bucket=bucket, Key="census/census.csv", Body=synthetic_census(20, missing_rows=0).to_csv(index=False).encode()
    )
    jobs_before = len(sagemaker.list_training_jobs(MaxResults=100)["TrainingJobSummaries"])
    run, states = _run(dag, bucket, k=30)
    assert run.state == "failed" and states["preprocess"] == "failed"
    assert "k=30 segments asked for, but only 20 complete rows remain" in "".join(capfd.readouterr())
    assert len(sagemaker.list_training_jobs(MaxResults=100)["TrainingJobSummaries"]) == jobs_before


def test_a_misspelled_trigger_param_is_refused_before_any_aws_call(dag, airflow_db, capfd, aws_calls) -> None:
    run, states = _run(dag, "popseg-never-read", kk=5)
    assert run.state == "failed" and states["check_params"] == "failed"
    assert states["wait_for_census"] == "upstream_failed" and states["preprocess"] == "upstream_failed"
    assert "Unknown trigger parameter: 'kk' (did you mean 'k'?)" in "".join(capfd.readouterr())
    assert aws_calls == []


def test_an_instance_type_off_the_allow_list_is_refused_by_check_params_before_any_aws_call(
    dag, airflow_db, capfd, monkeypatch, aws_calls
) -> None:
    """The allow-list narrowed after the trigger form was built (the schema still lists ml.c5.xlarge):
    check_params holds it before anything is bought."""
    monkeypatch.setitem(
        dag.get_task("check_params").python_callable.__globals__, "TRAINING_INSTANCE_TYPES", ("ml.m5.xlarge",)
    )
    run, states = _run(dag, "popseg-never-read", training_instance_type="ml.c5.xlarge")
    assert run.state == "failed" and states["check_params"] == "failed"
    assert states["wait_for_census"] == "upstream_failed"
    log = "".join(capfd.readouterr())
    assert "training_instance_type='ml.c5.xlarge' is not an allowed instance type (ml.m5.xlarge)" in log
    assert aws_calls == []
