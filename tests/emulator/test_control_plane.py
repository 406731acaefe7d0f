"""Models, endpoint configs, tags and validation, as SageMaker answers them."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from aws_emulator.connection import client
from tests.support.sagemaker_requests import PCA_IMAGE, ROLE


def _error(call, **kwargs) -> dict:
    with pytest.raises(ClientError) as error:
        call(**kwargs)
    return error.value.response["Error"]


def _model(sagemaker, name: str, model_data: str = "s3://popseg-emulator-tests/nothing.tar.gz") -> str:
    return sagemaker.create_model(
        ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": PCA_IMAGE, "ModelDataUrl": model_data}
    )["ModelArn"]


def _config(sagemaker, name: str, model: str) -> str:
    return sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        ],
    )["EndpointConfigArn"]


def test_model_create_describe_list_delete(sagemaker, unique) -> None:
    name = unique("Model")
    model_arn = _model(sagemaker, name)
    assert model_arn == f"arn:aws:sagemaker:us-east-1:123456789012:model/{name.lower()}"
    described = sagemaker.describe_model(ModelName=name)
    assert described["PrimaryContainer"]["Mode"] == "SingleModel"
    assert described["PrimaryContainer"]["ModelDataSource"]["S3DataSource"]["CompressionType"] == "Gzip"
    assert name in [m["ModelName"] for m in sagemaker.list_models(NameContains=name)["Models"]]
    sagemaker.delete_model(ModelName=name)
    assert _error(sagemaker.describe_model, ModelName=name) == {
        "Code": "ValidationException",
        "Message": f'Could not find model "{model_arn}".',
    }


def test_duplicate_model_is_a_validation_exception(sagemaker, unique) -> None:
    name = unique("model")
    model_arn = _model(sagemaker, name)
    error = _error(_model, sagemaker=sagemaker, name=name)
    assert error == {"Code": "ValidationException", "Message": f'Cannot create already existing model "{model_arn}".'}


def test_deleting_a_missing_model_names_it(sagemaker) -> None:
    assert _error(sagemaker.delete_model, ModelName="gone")["Message"].startswith('Could not find model "arn:aws')


def test_endpoint_config_create_describe_list_delete(sagemaker, unique) -> None:
    model, name = unique("model"), unique("config")
    _model(sagemaker, model)
    config_arn = _config(sagemaker, name, model)
    described = sagemaker.describe_endpoint_config(EndpointConfigName=name)
    assert described["ProductionVariants"][0]["InitialVariantWeight"] == 1.0
    assert described["EndpointConfigArn"] == config_arn
    listed = sagemaker.list_endpoint_configs(NameContains=name)["EndpointConfigs"]
    assert [c["EndpointConfigName"] for c in listed] == [name]
    sagemaker.delete_endpoint_config(EndpointConfigName=name)
    message = _error(sagemaker.describe_endpoint_config, EndpointConfigName=name)["Message"]
    assert message == f'Could not find endpoint configuration "{config_arn}".'


def test_duplicate_endpoint_config_is_refused(sagemaker, unique) -> None:
    model, name = unique("model"), unique("config")
    _model(sagemaker, model)
    _config(sagemaker, name, model)
    error = _error(_config, sagemaker=sagemaker, name=name, model=model)
    assert error["Message"].startswith("Cannot create already existing endpoint configuration")


def test_endpoint_config_for_a_missing_model_is_refused(sagemaker, unique) -> None:
    error = _error(_config, sagemaker=sagemaker, name=unique("config"), model="missing-model")
    assert error["Message"] == 'Could not find model "arn:aws:sagemaker:us-east-1:123456789012:model/missing-model".'


def test_names_are_validated_server_side_in_sagemakers_format(sagemaker) -> None:
    error = _error(
        sagemaker.create_model,
        ModelName="bad_name",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": PCA_IMAGE},
    )
    assert error["Code"] == "ValidationException"
    assert error["Message"].startswith(
        "1 validation error detected: Value 'bad_name' at 'modelName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern"
    )


def test_every_violation_is_listed(sagemaker) -> None:
    error = _error(
        sagemaker.create_endpoint_config,
        EndpointConfigName="x" * 64,
        ProductionVariants=[{"VariantName": "All_Traffic", "ModelName": "m", "InstanceType": "ml.huge"}],
    )
    message = error["Message"]
    assert message.startswith("4 validation errors detected:")
    assert (
        "at 'endpointConfigName' failed to satisfy constraint: Member must have length less than or equal to 63"
        in message
    )
    assert "at 'productionVariants.1.member.variantName'" in message
    assert (
        "at 'productionVariants.1.member.instanceType' failed to satisfy constraint: Member must satisfy enum"
        in message
    )


def test_tags_are_added_listed_and_deleted(sagemaker, unique) -> None:
    model_arn = _model(sagemaker, unique("tagged"))
    sagemaker.add_tags(ResourceArn=model_arn, Tags=[{"Key": "team", "Value": "data"}, {"Key": "run", "Value": "1"}])
    assert {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=model_arn)["Tags"]} == {
        "team": "data",
        "run": "1",
    }
    sagemaker.delete_tags(ResourceArn=model_arn, TagKeys=["run"])
    assert sagemaker.list_tags(ResourceArn=model_arn)["Tags"] == [{"Key": "team", "Value": "data"}]


def test_tags_given_at_creation_are_kept(sagemaker, unique) -> None:
    name = unique("model")
    model_arn = sagemaker.create_model(
        ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": PCA_IMAGE}, Tags=[{"Key": "k", "Value": "v"}]
    )["ModelArn"]
    assert sagemaker.list_tags(ResourceArn=model_arn)["Tags"] == [{"Key": "k", "Value": "v"}]


def test_tags_of_an_unknown_resource_are_refused(sagemaker) -> None:
    arn = "arn:aws:sagemaker:us-east-1:123456789012:model/none"
    assert _error(sagemaker.list_tags, ResourceArn=arn)["Code"] == "ValidationException"


def test_an_unsupported_operation_is_refused_by_name(sagemaker) -> None:
    error = _error(sagemaker.list_notebook_instances)
    assert error["Code"] == "UnknownOperationException"
    assert "ListNotebookInstances is not supported" in error["Message"]


def test_list_models_sorts_and_pages(sagemaker, unique) -> None:
    prefix = unique("sorted")
    for suffix in ("b", "a", "c"):
        _model(sagemaker, f"{prefix}-{suffix}")
    ascending = sagemaker.list_models(NameContains=prefix, SortBy="Name", SortOrder="Ascending")["Models"]
    assert [m["ModelName"][-1] for m in ascending] == ["a", "b", "c"]
    page = sagemaker.list_models(NameContains=prefix, MaxResults=2)
    rest = sagemaker.list_models(NameContains=prefix, MaxResults=2, NextToken=page["NextToken"])
    assert len(page["Models"]) == 2 and len(rest["Models"]) == 1 and "NextToken" not in rest


def test_each_region_has_its_own_resources(emulator, sagemaker, unique) -> None:
    """As in SageMaker: a name may repeat across regions, and a resource is found only in its own."""
    name = unique("regional")
    ireland = client("sagemaker", emulator.endpoint_url, "eu-west-1")
    assert _model(sagemaker, name).startswith("arn:aws:sagemaker:us-east-1:")
    assert _model(ireland, name).startswith("arn:aws:sagemaker:eu-west-1:")
    ireland.delete_model(ModelName=name)
    assert sagemaker.describe_model(ModelName=name)["ModelArn"].startswith("arn:aws:sagemaker:us-east-1:")
    mumbai = client("sagemaker", emulator.endpoint_url, "ap-south-1")
    message = _error(mumbai.describe_model, ModelName=name)["Message"]
    assert message == f'Could not find model "arn:aws:sagemaker:ap-south-1:123456789012:model/{name}".'
    assert mumbai.list_models(NameContains=name)["Models"] == []
