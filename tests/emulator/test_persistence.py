"""`--data-dir` keeps S3 objects and SageMaker resources across a restart, saved atomically, with keys
that cannot escape the directory and no symlink followed on restore."""

from __future__ import annotations

import json
import logging
import signal

import boto3
import numpy as np
import pytest

from aws_emulator.aws_clients import AwsClients
from aws_emulator.connection import client
from aws_emulator.persistence import CURRENT, StateStore
from aws_emulator.sagemaker.hosting import Hosting
from aws_emulator.sagemaker.models import SageMakerBackends
from aws_emulator.server import Emulator
from include.sagemaker_formats.recordio import encode_dense
from tests.support.emulator_process import emulator_process
from tests.support.sagemaker_requests import (
    PCA_IMAGE,
    ROLE,
    create_model,
    deploy,
    training_request,
    transform_request,
    wait_for_job,
    wait_for_transform,
)


def _clients(url: str):
    return (
        boto3.client(s, endpoint_url=url, region_name="us-east-1") for s in ("s3", "sagemaker", "sagemaker-runtime")
    )


def test_objects_jobs_models_and_endpoints_survive_a_restart(tmp_path) -> None:
    rows = np.random.default_rng(0).random((50, 4), dtype=np.float32)
    with emulator_process("--data-dir", str(tmp_path)) as (process, url):
        s3, sagemaker, _ = _clients(url)
        s3.create_bucket(Bucket="kept")
        s3.put_object(Bucket="kept", Key="train/rows.rec", Body=encode_dense(rows))
        sagemaker.create_training_job(
            **training_request(
                "kept-job",
                PCA_IMAGE,
                {"feature_dim": "4", "mini_batch_size": "10", "num_components": "2"},
                "s3://kept/train/",
                "s3://kept/out",
            )
        )
        artifact = wait_for_job(sagemaker, "kept-job")["ModelArtifacts"]["S3ModelArtifacts"]
        deploy(sagemaker, "kept-endpoint", PCA_IMAGE, artifact)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0

    with emulator_process("--data-dir", str(tmp_path)) as (process, url):
        s3, sagemaker, runtime = _clients(url)
        assert s3.get_object(Bucket="kept", Key="train/rows.rec")["Body"].read() == encode_dense(rows)
        assert sagemaker.describe_training_job(TrainingJobName="kept-job")["TrainingJobStatus"] == "Completed"
        assert sagemaker.describe_model(ModelName="kept-endpoint")["PrimaryContainer"]["ModelDataUrl"] == artifact
        assert sagemaker.describe_endpoint(EndpointName="kept-endpoint")["EndpointStatus"] == "InService"
        answer = runtime.invoke_endpoint(EndpointName="kept-endpoint", ContentType="text/csv", Body=b"1,2,3,4\n")
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0


# The tests below that keep state run the emulator in a process of their own: moto's S3 is one per process, so
# an emulator started in this one would save (and restore) every object the session's other tests left there.


def test_resources_come_back_in_their_own_region_with_their_tags(tmp_path) -> None:
    tags = [{"Key": "team", "Value": "census"}]
    with emulator_process("--data-dir", str(tmp_path)) as (process, url):
        ireland = client("sagemaker", url, "eu-west-1")
        ireland.create_model(ModelName="irish", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": PCA_IMAGE}, Tags=tags)
        _stop(process)
    with emulator_process("--data-dir", str(tmp_path)) as (process, url):
        ireland = client("sagemaker", url, "eu-west-1")
        model_arn = ireland.describe_model(ModelName="irish")["ModelArn"]
        assert ireland.list_tags(ResourceArn=model_arn)["Tags"] == tags
        assert client("sagemaker", url).list_models()["Models"] == []
        _stop(process)


def test_transform_jobs_come_back_as_they_ended(tmp_path) -> None:
    with emulator_process("--data-dir", str(tmp_path)) as (process, url):
        s3, sagemaker, _ = _clients(url)
        s3.create_bucket(Bucket="kept")
        s3.put_object(Bucket="kept", Key="in/rows.csv", Body=b"1,2,3,4\n")
        create_model(sagemaker, "no-artifact", PCA_IMAGE, "s3://kept/missing/model.tar.gz")
        request = transform_request("kept-transform", "no-artifact", "s3://kept/in/", "s3://kept/out")
        sagemaker.create_transform_job(**request)
        ended = wait_for_transform(sagemaker, "kept-transform")
        _stop(process)
    with emulator_process("--data-dir", str(tmp_path)) as (process, url):
        _, sagemaker, _ = _clients(url)
        restored = sagemaker.describe_transform_job(TransformJobName="kept-transform")
        assert (restored["TransformJobStatus"], restored["FailureReason"]) == ("Failed", ended["FailureReason"])
        _stop(process)


def test_without_a_data_dir_nothing_is_kept(tmp_path) -> None:
    with emulator_process() as (process, url):
        next(_clients(url)).create_bucket(Bucket="fleeting")
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    with emulator_process() as (process, url):
        assert next(_clients(url)).list_buckets()["Buckets"] == []
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


PATH_LIKE_KEYS = ["..", ".", "../escape", "a/../../b", "/abs", "dir/", "%2e%2e", "ünï code"]


def _stop(process) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0


def test_keys_that_look_like_paths_come_back_and_nothing_is_written_outside_the_data_dir(tmp_path) -> None:
    data = tmp_path / "data"
    with emulator_process("--data-dir", str(data)) as (process, url):
        s3 = next(_clients(url))
        s3.create_bucket(Bucket="path-like")
        for key in PATH_LIKE_KEYS:
            s3.put_object(Bucket="path-like", Key=key, Body=key.encode())
        _stop(process)
    assert [path.name for path in tmp_path.iterdir()] == ["data"]
    with emulator_process("--data-dir", str(data)) as (process, url):
        s3 = next(_clients(url))
        assert {key: s3.get_object(Bucket="path-like", Key=key)["Body"].read() for key in PATH_LIKE_KEYS} == {
            key: key.encode() for key in PATH_LIKE_KEYS
        }
        _stop(process)


def test_a_save_that_fails_part_way_leaves_the_previous_snapshot_current(tmp_path, monkeypatch) -> None:
    with emulator_process() as (_, url):
        backends, clients = SageMakerBackends(), AwsClients(url)
        store = StateStore(tmp_path, backends, clients, Hosting(backends, clients))  # the saves are made here
        s3 = next(_clients(url))
        s3.create_bucket(Bucket="atomic-save")
        s3.put_object(Bucket="atomic-save", Key="first", Body=b"1")
        store.save()
        before = (tmp_path / CURRENT).read_text()
        s3.put_object(Bucket="atomic-save", Key="second", Body=b"2")
        store_s3 = store.clients.client("s3")
        calls = []

        def failing_download(*args, **kwargs) -> None:
            calls.append(args)
            if len(calls) > 1:
                raise OSError("disk full")
            return real_download(*args, **kwargs)

        real_download = store_s3.download_file
        monkeypatch.setattr(store_s3, "download_file", failing_download)
        with pytest.raises(OSError, match="disk full"):
            store.save()
        monkeypatch.undo()
        assert (tmp_path / CURRENT).read_text() == before
        assert sorted(path.name for path in tmp_path.iterdir()) == [CURRENT, before]
        manifest = json.loads((tmp_path / before / "s3.json").read_text())
        kept = {(o["bucket"], o["key"]) for o in manifest["objects"]}
        assert ("atomic-save", "first") in kept and ("atomic-save", "second") not in kept


def test_symlinks_in_a_snapshot_are_not_followed_on_restore(tmp_path) -> None:
    data, secret = tmp_path / "data", tmp_path / "secret.txt"
    secret.write_bytes(b"not for the emulator")
    with emulator_process("--data-dir", str(data)) as (process, url):
        s3, sagemaker, _ = _clients(url)
        sagemaker.create_model(
            ModelName="linked-model",
            ExecutionRoleArn="arn:aws:iam::123456789012:role/popseg-sagemaker",
            PrimaryContainer={"Image": PCA_IMAGE, "ModelDataUrl": "s3://linked/model.tar.gz"},
        )
        s3.create_bucket(Bucket="linked")
        s3.put_object(Bucket="linked", Key="honest", Body=b"kept")
        s3.put_object(Bucket="linked", Key="swapped", Body=b"replaced by a link")
        _stop(process)
    snapshot = data / (data / CURRENT).read_text()
    manifest = json.loads((snapshot / "s3.json").read_text())
    swapped = next(o["file"] for o in manifest["objects"] if o["key"] == "swapped")
    (snapshot / "objects" / swapped).unlink()
    (snapshot / "objects" / swapped).symlink_to(secret)
    (snapshot / "sagemaker.json").rename(tmp_path / "sagemaker.json")
    (snapshot / "sagemaker.json").symlink_to(tmp_path / "sagemaker.json")
    with emulator_process("--data-dir", str(data)) as (process, url):
        s3, sagemaker, _ = _clients(url)
        assert s3.get_object(Bucket="linked", Key="honest")["Body"].read() == b"kept"
        assert [o["Key"] for o in s3.list_objects_v2(Bucket="linked")["Contents"]] == ["honest"]
        assert sagemaker.list_models()["Models"] == []
        _stop(process)


def test_binding_a_non_loopback_address_warns(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="popseg.emulator"):
        emulator = Emulator(host="0.0.0.0")
    emulator.server.server_close()
    assert "bound to 0.0.0.0" in caplog.text
    assert emulator.endpoint_url.startswith("http://127.0.0.1:")
