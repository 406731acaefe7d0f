"""OpenLineage's pieces without a run: dataset names, the census schema, what RunStore reports, and the lineage
the SageMaker operators give for a job they reattached to."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest

from include.airflow_popseg import lineage
from include.segmentation.census.contract import COLUMNS
from include.segmentation_aws.store import RunStore

JOB = "popseg-pca-x"
CHANNEL = "s3://b/segmentation/work/t/pca-train/"
ARTIFACT = f"s3://b/segmentation/work/t/models/{JOB}/output/model.tar.gz"


def test_an_s3_object_is_named_by_its_bucket_as_namespace_and_its_key_as_name() -> None:
    assert lineage.s3_dataset("s3://b/census/census.csv") == ("s3://b", "census/census.csv")


def test_a_prefix_is_named_as_the_amazon_provider_names_a_sagemaker_channel() -> None:
    from airflow.providers.amazon.aws.operators.sagemaker import SageMakerBaseOperator

    provider = SageMakerBaseOperator.path_to_s3_dataset(CHANNEL)
    assert lineage.s3_dataset(CHANNEL) == (provider.namespace, provider.name) == ("s3://b", CHANNEL[7:])


@pytest.mark.parametrize("uri", ["s3://b/", "s3://b", "b/key", "file:///tmp/census.csv"])
def test_a_uri_without_bucket_and_key_is_refused_naming_it(uri) -> None:
    with pytest.raises(ValueError, match="is not an S3 object or prefix URI"):
        lineage.s3_dataset(uri)


def test_the_census_schema_is_the_contracts_37_columns_ids_as_text_and_features_as_float64() -> None:
    schema = lineage.census_schema()
    assert [name for name, _ in schema] == list(COLUMNS) and len(schema) == 37
    assert [kind for _, kind in schema[:3]] == ["string"] * 3
    assert {kind for _, kind in schema[3:]} == {"float64"}


class _Recorded:
    def __init__(self) -> None:
        self.reads: list[str] = []
        self.writes: list[str] = []

    def read(self, uri: str) -> None:
        self.reads.append(uri)

    def wrote(self, uri: str) -> None:
        self.writes.append(uri)


def _store() -> tuple[RunStore, _Recorded]:
    client = SimpleNamespace(
        get_object=lambda **_: {"Body": io.BytesIO(b"{}")},
        upload_fileobj=lambda *_, **__: None,
        copy_object=lambda **_: None,
    )
    recorded = _Recorded()
    return RunStore(client, "b", recorded), recorded


def test_a_store_reports_each_object_it_reads_and_writes_by_its_uri() -> None:
    store, recorded = _store()
    store.read_json("segmentation/latest.json")
    store.write_json("segmentation/work/t/run.json", {})
    store.copy("segmentation/work/t/run.json", "segmentation/runs/r/run.json")
    assert recorded.reads == ["s3://b/segmentation/latest.json", "s3://b/segmentation/work/t/run.json"]
    assert recorded.writes == ["s3://b/segmentation/work/t/run.json", "s3://b/segmentation/runs/r/run.json"]


def test_an_object_of_a_multi_object_dataset_is_reported_as_that_dataset() -> None:
    store, recorded = _store()
    store.write("segmentation/work/t/pca-train/part-00000.rec", b"", dataset=CHANNEL)
    store.read_if_exists(
        "segmentation/work/t/pca-batch/part-00000.rec.out", dataset="s3://b/segmentation/work/t/pca-batch/"
    )
    assert (recorded.writes, recorded.reads) == ([CHANNEL], ["s3://b/segmentation/work/t/pca-batch/"])


@pytest.fixture
def running_task(monkeypatch) -> lineage._Datasets:
    """What the running task has recorded, as if a task were running in this process."""
    recorded = lineage._Datasets()
    monkeypatch.setattr(lineage, "_current", lambda: recorded)
    return recorded


def test_without_an_openlineage_transport_a_task_records_nothing(monkeypatch, running_task) -> None:
    monkeypatch.setattr(lineage, "enabled", lambda: False)
    lineage.TASK.read("s3://b/segmentation/latest.json")
    lineage.TASK.read_census("s3://b/census/census.csv", rows=3, size=10)
    assert running_task == lineage._Datasets()


def test_with_a_transport_a_task_records_each_dataset_once_in_order(monkeypatch, running_task) -> None:
    monkeypatch.setattr(lineage, "enabled", lambda: True)
    for uri in ("s3://b/census/census.csv", "s3://b/segmentation/latest.json", "s3://b/census/census.csv"):
        lineage.TASK.read(uri)
    lineage.TASK.read_census("s3://b/census/census.csv", rows=3, size=10)
    lineage.TASK.wrote(CHANNEL)
    lineage.TASK.wrote(CHANNEL)
    assert running_task.inputs == {
        "s3://b/census/census.csv": {"rows": 3, "size": 10},
        "s3://b/segmentation/latest.json": None,
    }
    assert list(running_task.outputs) == [CHANNEL]


def test_a_reattached_training_job_still_reports_its_channel_in_and_its_artifact_out() -> None:
    from datetime import UTC, datetime

    from include.airflow_popseg.operators import BuiltInTrainingOperator

    operator = BuiltInTrainingOperator(task_id="train_pca", config={"TrainingJobName": JOB}, print_log=False)
    described = {
        "TrainingJobName": JOB,
        "TrainingJobStatus": "Completed",
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {"S3Uri": CHANNEL}}}],
        "ModelArtifacts": {"S3ModelArtifacts": ARTIFACT},
        "TrainingStartTime": datetime(2026, 1, 1, tzinfo=UTC),
    }
    operator.__dict__["hook"] = SimpleNamespace(describe_training_job=lambda name: described)
    operator.result(JOB)  # what a reattach returns, without the provider's execute
    facets = operator.get_openlineage_facets_on_complete(None)
    assert [(d.namespace, d.name) for d in facets.inputs] == [lineage.s3_dataset(CHANNEL)]
    assert [(d.namespace, d.name) for d in facets.outputs] == [lineage.s3_dataset(ARTIFACT)]


def test_a_batch_transform_reports_its_input_files_and_model_artifact_in_and_its_output_prefix_out() -> None:
    from include.airflow_popseg.operators import ReattachingTransformOperator

    output = "s3://b/segmentation/work/t/pca-batch/"
    operator = ReattachingTransformOperator(task_id="batch_pca", config={})
    operator.__dict__["hook"] = SimpleNamespace(
        describe_transform_job=lambda name: {
            "TransformJobName": name,
            "TransformJobStatus": "Completed",
            "ModelName": JOB,
            "TransformInput": {"DataSource": {"S3DataSource": {"S3Uri": CHANNEL}}},
            "TransformOutput": {"S3OutputPath": output},
        },
        describe_model=lambda name: {"ModelName": name, "PrimaryContainer": {"ModelDataUrl": ARTIFACT}},
    )
    operator.result("popseg-pca-batch-x")
    facets = operator.get_openlineage_facets_on_complete(None)
    assert [(d.namespace, d.name) for d in facets.inputs] == [lineage.s3_dataset(CHANNEL), lineage.s3_dataset(ARTIFACT)]
    assert [(d.namespace, d.name) for d in facets.outputs] == [lineage.s3_dataset(output)]


def test_a_training_job_reading_one_prefix_as_train_and_test_channel_reports_it_once() -> None:
    from include.airflow_popseg.operators import BuiltInTrainingOperator

    operator = BuiltInTrainingOperator(task_id="train_kmeans", config={"TrainingJobName": JOB}, print_log=False)
    channels = [{"ChannelName": name, "DataSource": {"S3DataSource": {"S3Uri": CHANNEL}}} for name in ("train", "test")]
    operator.serialized_training_data = {"InputDataConfig": channels, "ModelArtifacts": {"S3ModelArtifacts": ARTIFACT}}
    facets = operator.get_openlineage_facets_on_complete(None)
    assert [(d.namespace, d.name) for d in facets.inputs] == [lineage.s3_dataset(CHANNEL)]
