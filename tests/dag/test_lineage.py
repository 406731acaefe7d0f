"""OpenLineage of one run, from the events the file transport wrote: the census to latest.json, dataset by dataset,
each an output of one task and an input of the next, named as OpenLineage's S3 naming spec says."""

from __future__ import annotations

import uuid

import pytest

from include.segmentation.census.contract import COLUMNS
from include.segmentation.synthetic import synthetic_census
from include.segmentation_aws.names import RunNames
from tests.support.openlineage_events import TaskDatasets, completed_tasks, run_with_file_transport

pytestmark = pytest.mark.slow

ROWS = 400  # the small sample: the lineage is the same at any size
PREFIX = "segmentation"


@pytest.fixture(scope="module")
def lineage_run(airflow_db, clients, tmp_path_factory) -> dict:
    """One run (the endpoint transform, the default) with the file transport; its tasks' datasets and names."""
    s3 = clients["s3"]
    bucket = f"popseg-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    body = synthetic_census(ROWS).to_csv(index=False).encode()
    s3.put_object(Bucket=bucket, Key="census/census.csv", Body=body)
    events = tmp_path_factory.mktemp("openlineage") / "events.jsonl"
    run = run_with_file_transport(events, {"bucket": bucket, "input_key": "census/census.csv", "output_prefix": PREFIX})
    assert run["state"] == "success", run["tasks"]
    work = f"s3://{bucket}/{PREFIX}/work/{RunNames.for_run(run['run_id']).token}/"
    return {
        "tasks": completed_tasks(events, "population_segmentation"),
        "bucket": bucket,
        "census": f"s3://{bucket}/census/census.csv",
        "work": work,
        "results": f"s3://{bucket}/{PREFIX}/runs/{run['run_id']}/",
        "latest": f"s3://{bucket}/{PREFIX}/latest.json",
        "size": len(body),
    }


def _feeds(tasks: dict[str, TaskDatasets], dataset: str, producer: str, consumer: str) -> None:
    assert dataset in tasks[producer].outputs, (producer, sorted(tasks[producer].outputs))
    assert dataset in tasks[consumer].inputs, (consumer, sorted(tasks[consumer].inputs))


def _artifact(tasks: dict[str, TaskDatasets], training_task: str) -> str:
    (artifact,) = tasks[training_task].outputs
    assert artifact.endswith("/output/model.tar.gz")
    return artifact


def test_the_census_is_the_input_of_the_sensor_and_of_preprocess(lineage_run) -> None:
    tasks, census = lineage_run["tasks"], lineage_run["census"]
    assert list(tasks["wait_for_census"].inputs) == [census]
    dataset = tasks["preprocess"].inputs[census]
    assert (dataset["namespace"], dataset["name"]) == (f"s3://{lineage_run['bucket']}", "census/census.csv")


def test_the_census_carries_its_37_column_schema_and_its_row_count(lineage_run) -> None:
    dataset = lineage_run["tasks"]["preprocess"].inputs[lineage_run["census"]]
    fields = dataset["facets"]["schema"]["fields"]
    assert [field["name"] for field in fields] == list(COLUMNS) and len(fields) == 37
    assert {field["name"]: field["type"] for field in fields}["CensusId"] == "string"
    assert {field["type"] for field in fields[3:]} == {"float64"}
    statistics = dataset["inputFacets"]["inputStatistics"]
    assert (statistics["rowCount"], statistics["size"]) == (ROWS, lineage_run["size"])


def test_the_pca_channel_and_artifact_join_preprocess_training_and_the_transform(lineage_run) -> None:
    tasks, work = lineage_run["tasks"], lineage_run["work"]
    _feeds(tasks, f"{work}pca-train/", "preprocess", "train_pca")
    assert list(tasks["train_pca"].inputs) == [f"{work}pca-train/"]  # the channel, not its shards
    artifact = _artifact(tasks, "train_pca")
    _feeds(tasks, artifact, "train_pca", "choose_components")
    _feeds(tasks, artifact, "train_pca", "deploy_pca")
    _feeds(tasks, artifact, "train_pca", "transform_with_pca")
    _feeds(tasks, f"{work}cleaned.parquet", "preprocess", "transform_with_pca")


def test_the_projection_feeds_the_kmeans_channel_its_training_and_the_assignment(lineage_run) -> None:
    tasks, work = lineage_run["tasks"], lineage_run["work"]
    _feeds(tasks, f"{work}kmeans-train/", "transform_with_pca", "train_kmeans")
    _feeds(tasks, f"{work}components.parquet", "transform_with_pca", "assign_segments")
    artifact = _artifact(tasks, "train_kmeans")
    _feeds(tasks, artifact, "train_kmeans", "choose_k")
    _feeds(tasks, artifact, "train_kmeans", "deploy_kmeans")
    _feeds(tasks, artifact, "train_kmeans", "assign_segments")  # the model its endpoint serves
    _feeds(tasks, artifact, "train_kmeans", "extract_attributes")


def test_the_segments_become_the_published_results_and_latest_json(lineage_run) -> None:
    tasks, work, results = lineage_run["tasks"], lineage_run["work"], lineage_run["results"]
    _feeds(tasks, f"{work}segments.parquet", "assign_segments", "match_segments")
    _feeds(tasks, f"{work}segments-matched.parquet", "match_segments", "extract_attributes")
    _feeds(tasks, f"{work}segments.csv", "extract_attributes", "publish")
    _feeds(tasks, f"{work}run.json", "document_run", "publish")
    _feeds(tasks, f"{work}report.html", "build_report", "publish")
    assert {f"{results}{name}" for name in ("segments.csv", "run.json", "report.html")} <= set(tasks["publish"].outputs)
    _feeds(tasks, f"{results}run.json", "publish", "promote")
    assert list(tasks["promote"].outputs) == [lineage_run["latest"]]


def test_every_dataset_is_named_by_the_s3_naming_spec(lineage_run) -> None:
    bucket = lineage_run["bucket"]
    datasets = [d for task in lineage_run["tasks"].values() for d in (*task.inputs.values(), *task.outputs.values())]
    assert datasets and {d["namespace"] for d in datasets} == {f"s3://{bucket}"}
    assert not [d["name"] for d in datasets if d["name"].startswith(("/", "s3:"))]


def test_tasks_that_touch_no_data_report_none(lineage_run) -> None:
    tasks = lineage_run["tasks"]
    for task_id in ("check_params", "retrain_or_skip", "pca_transform_path", "kmeans_transform_path"):
        assert (tasks[task_id].inputs, tasks[task_id].outputs) == ({}, {}), task_id
