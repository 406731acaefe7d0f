"""`--data-dir` keeps S3 objects and SageMaker resources across a restart."""

from __future__ import annotations

import signal

import boto3
import numpy as np

from include.segmentation.recordio import encode_dense
from tests.emulator.conftest import PCA_IMAGE, deploy, training_request, wait_for_job
from tests.emulator.test_server import emulator_process


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


def test_without_a_data_dir_nothing_is_kept(tmp_path) -> None:
    with emulator_process() as (process, url):
        next(_clients(url)).create_bucket(Bucket="fleeting")
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    with emulator_process() as (process, url):
        assert next(_clients(url)).list_buckets()["Buckets"] == []
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
