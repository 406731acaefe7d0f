"""How everything outside the emulator reaches it: one place for the connection environment.

`make run`, the test fixtures and the seed script call these; docker-compose.yaml cannot import Python,
so tests/dag/test_docker_compose.py checks that its values equal `connection_env("http://emulator:4566")`.
The credentials are dummies by design: the emulator accepts any signature.
"""

from __future__ import annotations

import json

from aws_emulator.sagemaker.models import ACCOUNT_ID
from include.segmentation_aws.defaults import DEFAULT_REGION

DUMMY_KEY_ID = DUMMY_SECRET = "testing"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/popseg-sagemaker"
"""The SageMaker execution role the DAG passes (Variable `popseg_role_arn`); the emulator's fixed account."""


def credentials_env(region: str = DEFAULT_REGION) -> dict[str, str]:
    """AWS_* variables giving boto3 clients made outside Airflow the dummy keys and a region."""
    return {"AWS_ACCESS_KEY_ID": DUMMY_KEY_ID, "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET, "AWS_DEFAULT_REGION": region}


def airflow_env(endpoint_url: str, region: str = DEFAULT_REGION) -> dict[str, str]:
    """The DAG's `aws_default` connection (dummy keys, `endpoint_url`, `region`) and its role Variable."""
    connection = {
        "conn_type": "aws",
        "login": DUMMY_KEY_ID,
        "password": DUMMY_SECRET,
        "extra": {"endpoint_url": endpoint_url, "region_name": region},
    }
    return {"AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection), "AIRFLOW_VAR_POPSEG_ROLE_ARN": ROLE_ARN}


def connection_env(endpoint_url: str, region: str = DEFAULT_REGION) -> dict[str, str]:
    """Every variable that points Airflow and boto3 at the emulator at `endpoint_url`."""
    return {**airflow_env(endpoint_url, region), **credentials_env(region)}


def client(service: str, endpoint_url: str, region: str = DEFAULT_REGION):  # boto3 clients are untyped
    """A boto3 client for `service` at the emulator, with the dummy keys whatever the environment holds."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=DUMMY_KEY_ID,
        aws_secret_access_key=DUMMY_SECRET,
    )
