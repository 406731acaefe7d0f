"""The server: one URL for every service, a log line per call, and the command line."""

from __future__ import annotations

import logging
import signal
import threading

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID

from aws_emulator.connection import ROLE_ARN, client
from aws_emulator.sagemaker.models import ACCOUNT_ID
from aws_emulator.server import running_emulator
from tests.support.emulator_process import emulator_process
from tests.support.sagemaker_requests import PCA_IMAGE, create_model_and_config, training_request, wait_for_job


def test_sagemakers_account_is_motos_so_the_dags_role_is_in_the_account_iam_and_sts_answer_for() -> None:
    assert ACCOUNT_ID == DEFAULT_ACCOUNT_ID and ROLE_ARN.startswith(f"arn:aws:iam::{ACCOUNT_ID}:role/")


def test_s3_iam_sts_and_logs_are_served_by_moto_on_the_same_url(emulator) -> None:
    url = emulator.endpoint_url
    iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1")
    role = iam.create_role(RoleName="popseg-routing", AssumeRolePolicyDocument="{}")["Role"]
    assert role["Arn"] == "arn:aws:iam::123456789012:role/popseg-routing"
    assert boto3.client("sts", endpoint_url=url, region_name="us-east-1").get_caller_identity()["Account"] == (
        "123456789012"
    )
    logs = boto3.client("logs", endpoint_url=url, region_name="eu-west-1")
    logs.create_log_group(logGroupName="/popseg/routing")
    assert logs.describe_log_groups(logGroupNamePrefix="/popseg/routing")["logGroups"]


def test_an_s3_bucket_named_endpoints_is_still_s3(emulator, s3) -> None:
    s3.create_bucket(Bucket="endpoints")
    s3.put_object(Bucket="endpoints", Key="x/invocations", Body=b"data")
    assert s3.get_object(Bucket="endpoints", Key="x/invocations")["Body"].read() == b"data"


def test_each_call_logs_service_operation_resource_and_outcome(sagemaker, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="popseg.emulator"), pytest.raises(sagemaker.exceptions.ClientError):
        sagemaker.describe_endpoint(EndpointName="nothing-here")
    assert "sagemaker DescribeEndpoint nothing-here -> 400 ValidationException" in caplog.text


def test_no_thread_the_emulator_started_outlives_it() -> None:
    before = set(threading.enumerate())
    with running_emulator(transition_seconds=1.0) as emulator:
        sagemaker = client("sagemaker", emulator.endpoint_url)
        # A training job and an endpoint whose data is missing fail fast, each on its pool's worker; the
        # endpoint is still Creating (its transition takes a second) when the emulator stops.
        request = training_request("orphan", PCA_IMAGE, {}, "s3://no-bucket/train/", "s3://no-bucket/out/")
        sagemaker.create_training_job(**request)
        assert wait_for_job(sagemaker, "orphan")["TrainingJobStatus"] == "Failed"
        create_model_and_config(sagemaker, "orphan", PCA_IMAGE, "s3://no-bucket/model.tar.gz")
        sagemaker.create_endpoint(EndpointName="orphan", EndpointConfigName="orphan")
        started = {thread.name for thread in set(threading.enumerate()) - before}
        assert "emulator-server" in started
        assert any(name.startswith("emulator-training") for name in started), started
        assert any(name.startswith("emulator-hosting") for name in started), started
    assert set(threading.enumerate()) - before == set()


def test_the_command_line_binds_loopback_on_a_free_port_and_stops_cleanly_on_sigterm() -> None:
    with emulator_process() as (process, url):
        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
        s3.create_bucket(Bucket="cli-bucket")
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["cli-bucket"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert "stopped" in process.stdout.read()
