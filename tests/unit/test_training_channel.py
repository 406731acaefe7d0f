"""A training channel is written as RecordIO shards under its prefix, in row order, one per instance at least."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from include.airflow_popseg.steps import training_request, write_training_channel
from include.sagemaker_formats.recordio import decode_features, encode_dense
from include.segmentation_aws.layout import RunLayout
from include.segmentation_aws.names import RunNames


class _Store:
    """Objects written, by key, in the order written."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def write(self, key: str, data: bytes, dataset: str | None = None) -> str:
        self.objects[key] = data
        return f"s3://b/{key}"


def _run(params: dict) -> SimpleNamespace:
    return SimpleNamespace(
        layout=RunLayout("b", "seg", "manual__1", "tok"), store=_Store(), params=params, run_id="manual__1",
        names=RunNames.for_run("manual__1"), region="us-east-1", role_arn="arn:aws:iam::123456789012:role/r",
    )  # fmt: skip


@pytest.mark.parametrize("instance_count", [1, 3])
def test_the_channel_holds_every_row_in_order_in_at_least_one_shard_per_instance(instance_count) -> None:
    run = _run({"instance_count": instance_count})
    rows = np.random.default_rng(0).random((500, 34), dtype=np.float32)
    uri = write_training_channel(run, "pca", rows)
    assert uri == "s3://b/seg/work/tok/pca-train/"
    keys = list(run.store.objects)
    assert keys == [f"seg/work/tok/pca-train/part-{i:05d}.rec" for i in range(instance_count)]
    assert b"".join(run.store.objects[key] for key in sorted(keys)) == encode_dense(rows)
    assert np.array_equal(np.concatenate([decode_features(run.store.objects[k]) for k in sorted(keys)]), rows)


def test_a_run_without_the_instance_count_param_writes_one_shard() -> None:
    run = _run({})
    write_training_channel(run, "kmeans", np.zeros((10, 3), dtype=np.float32))
    assert list(run.store.objects) == ["seg/work/tok/kmeans-train/part-00000.rec"]


@pytest.mark.parametrize("params", [{}, {"instance_count": 3}], ids=["without the param", "three instances"])
def test_the_job_asks_for_as_many_instances_as_the_channel_has_shards(params) -> None:
    run = _run({"training_instance_type": "ml.c5.xlarge", **params})
    uri = write_training_channel(run, "pca", np.zeros((10, 3), dtype=np.float32))
    request = training_request(run, "pca", uri, {"feature_dim": "3"})
    assert request["ResourceConfig"]["InstanceCount"] == len(run.store.objects) == params.get("instance_count", 1)
