"""Recording the AWS calls made in this process, and what IAM authorises for each.

`record_calls` patches botocore's and aiobotocore's `_make_api_call`, so every SDK call (the DAG's
hooks, the deferred triggers, the emulator's own workers) is seen with its parameters and outcome. A call
made through the emulator's `AwsClients` is SageMaker acting with the execution role; any other is the
Airflow worker.

`requests_for` maps a call to the IAM requests AWS evaluates for it (action, resource ARN, context
keys), after the Service Authorization Reference. The table holds the operations a run makes and no
more; an operation missing from it raises
`UnmappedOperation`: a new kind of call must be reviewed against the policies before it can pass.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiobotocore.client import AioBaseClient
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from aws_emulator.aws_clients import AwsClients
from tests.support.iam.evaluator import Request

AIRFLOW = "airflow"
EXECUTION_ROLE = "execution-role"
_PRINCIPAL_ATTRIBUTE = "_popseg_principal"


class UnmappedOperation(LookupError):
    """An AWS operation no IAM mapping exists for yet: review the policies, then add it here."""


@dataclass(frozen=True)
class Call:
    principal: str  # AIRFLOW or EXECUTION_ROLE
    service: str  # botocore service name: "s3", "sagemaker", "sagemaker-runtime", "logs", "cloudwatch", "sns", "sts"
    operation: str  # "GetObject"
    params: dict[str, Any] = field(hash=False)
    region: str
    error: str | None = None  # the error code the call answered with, if any ("404", "NoSuchKey")
    deferred: bool = False  # made by aiobotocore, as the deferred triggers do


def record_calls(monkeypatch: pytest.MonkeyPatch, on_call: Callable[[Call], None] | None = None) -> list[Call]:
    """Start recording; the returned list fills up as calls are made (thread-safe appends).

    `on_call` sees each call once it has answered, in the caller's thread.
    """
    calls: list[Call] = []
    lock = threading.Lock()

    def note(client: Any, operation: str, params: dict, error: str | None, deferred: bool = False) -> None:
        call = Call(
            principal=getattr(client, _PRINCIPAL_ATTRIBUTE, AIRFLOW),
            service=client.meta.service_model.service_name,
            operation=operation,
            params={key: value for key, value in params.items() if key != "Body"},  # payloads are not kept
            region=client.meta.region_name,
            error=error,
            deferred=deferred,
        )
        with lock:
            calls.append(call)
        if on_call is not None:
            on_call(call)

    sync_call = BaseClient._make_api_call

    def recorded(self, operation_name, api_params):
        try:
            answer = sync_call(self, operation_name, api_params)
        except ClientError as exc:
            note(self, operation_name, api_params, exc.response.get("Error", {}).get("Code"))
            raise
        note(self, operation_name, api_params, None)
        return answer

    async_call = AioBaseClient._make_api_call

    async def recorded_async(self, operation_name, api_params):
        try:
            answer = await async_call(self, operation_name, api_params)
        except ClientError as exc:
            note(self, operation_name, api_params, exc.response.get("Error", {}).get("Code"), deferred=True)
            raise
        note(self, operation_name, api_params, None, deferred=True)
        return answer

    emulator_client = AwsClients.client

    def execution_role_client(self, service: str, region: str = "us-east-1"):
        return mark_principal(emulator_client(self, service, region), EXECUTION_ROLE)

    monkeypatch.setattr(BaseClient, "_make_api_call", recorded)
    monkeypatch.setattr(AioBaseClient, "_make_api_call", recorded_async)
    monkeypatch.setattr(AwsClients, "client", execution_role_client)
    return calls


def mark_principal(client: Any, principal: str) -> Any:
    """Record `client`'s calls as `principal`'s (e.g. "test" for a test's own setup calls)."""
    setattr(client, _PRINCIPAL_ATTRIBUTE, principal)
    return client


# --- The map from operations to IAM requests -------------------------------------------------------------

MISSING = ("404", "NoSuchKey", "NotFound")
SAGEMAKER_SERVICE = "sagemaker.amazonaws.com"


def _s3_object(action: str) -> Callable[[Call, str], list[Request]]:
    def requests(call: Call, account: str) -> list[Request]:
        # Reading a given version of an object is its own action (GetObject and HeadObject alike).
        named = "s3:GetObjectVersion" if action == "s3:GetObject" and "VersionId" in call.params else action
        found = [Request(named, f"arn:aws:s3:::{call.params['Bucket']}/{call.params['Key']}")]
        if call.error in MISSING:
            # S3 answers 404 rather than 403 for a missing key only to a caller allowed s3:ListBucket on
            # the bucket; AWS documents no s3:prefix for that check, so none is assumed.
            found.append(Request("s3:ListBucket", f"arn:aws:s3:::{call.params['Bucket']}"))
        return found

    return requests


def _s3_copy(call: Call, account: str) -> list[Request]:
    source = call.params["CopySource"]
    source = f"{source['Bucket']}/{source['Key']}" if isinstance(source, dict) else source.lstrip("/")
    return [
        Request("s3:GetObject", f"arn:aws:s3:::{source.split('?', 1)[0]}"),
        Request("s3:PutObject", f"arn:aws:s3:::{call.params['Bucket']}/{call.params['Key']}"),
    ]


def _s3_list(call: Call, account: str) -> list[Request]:
    context = {"s3:prefix": call.params.get("Prefix", "")}
    if "Delimiter" in call.params:
        context["s3:delimiter"] = call.params["Delimiter"]
    return [Request("s3:ListBucket", f"arn:aws:s3:::{call.params['Bucket']}", context)]


def _s3_delete_objects(call: Call, account: str) -> list[Request]:
    """DeleteObjects is authorised as s3:DeleteObject on each key it names."""
    bucket = call.params["Bucket"]
    return [
        Request("s3:DeleteObject", f"arn:aws:s3:::{bucket}/{item['Key']}") for item in call.params["Delete"]["Objects"]
    ]


def _s3_bucket(action: str) -> Callable[[Call, str], list[Request]]:
    return lambda call, account: [Request(action, f"arn:aws:s3:::{call.params['Bucket']}")]


def _tag_context(params: dict) -> dict[str, str | tuple[str, ...]]:
    """aws:RequestTag/<key> for each tag a create call carries, and aws:TagKeys (multivalued)."""
    tags = params.get("Tags") or []
    if not tags:
        return {}
    return {
        **{f"aws:RequestTag/{tag['Key']}": tag.get("Value", "") for tag in tags},
        "aws:TagKeys": tuple(t["Key"] for t in tags),
    }


def _isolation(params: dict) -> dict[str, str]:
    return {"sagemaker:NetworkIsolation": "true" if params.get("EnableNetworkIsolation") else "false"}


def _training_context(params: dict) -> dict[str, str | tuple[str, ...]]:
    """CreateTrainingJob's condition keys, from its request: instance types (of the instance groups too),
    runtime limit, network isolation, volume key."""
    resources = params.get("ResourceConfig", {})
    types = [resources["InstanceType"]] if "InstanceType" in resources else []
    types += [group["InstanceType"] for group in resources.get("InstanceGroups", [])]
    context: dict[str, str | tuple[str, ...]] = {**_tag_context(params), **_isolation(params)}
    if types:
        context["sagemaker:InstanceTypes"] = tuple(types)
    if "MaxRuntimeInSeconds" in params.get("StoppingCondition", {}):
        context["sagemaker:MaxRuntimeInSeconds"] = str(params["StoppingCondition"]["MaxRuntimeInSeconds"])
    if resources.get("VolumeKmsKeyId"):
        context["sagemaker:VolumeKmsKey"] = resources["VolumeKmsKeyId"]
    return context


def _transform_context(params: dict) -> dict[str, str | tuple[str, ...]]:
    """CreateTransformJob's condition keys from its request: the instance type, the volume and output keys
    (sagemaker:ModelArn needs the account: `_create_transform_job` adds it)."""
    resources = params.get("TransformResources", {})
    context: dict[str, str | tuple[str, ...]] = {**_tag_context(params)}
    if "InstanceType" in resources:
        context["sagemaker:InstanceTypes"] = (resources["InstanceType"],)
    if resources.get("VolumeKmsKeyId"):
        context["sagemaker:VolumeKmsKey"] = resources["VolumeKmsKeyId"]
    if params.get("TransformOutput", {}).get("KmsKeyId"):
        context["sagemaker:OutputKmsKey"] = params["TransformOutput"]["KmsKeyId"]
    return context


def _endpoint_config_context(params: dict) -> dict[str, str | tuple[str, ...]]:
    """CreateEndpointConfig's condition keys: the variants' instance types, the volume key."""
    context: dict[str, str | tuple[str, ...]] = {**_tag_context(params)}
    types = tuple(v["InstanceType"] for v in params.get("ProductionVariants", []) if "InstanceType" in v)
    if types:
        context["sagemaker:InstanceTypes"] = types
    if params.get("KmsKeyId"):
        context["sagemaker:VolumeKmsKey"] = params["KmsKeyId"]
    return context


# The condition keys AWS puts in the request context of each create call (Service Authorization Reference;
# `test_each_context_key_is_one_aws_defines_for_its_action` checks them against it).
_CREATE_CONTEXT: dict[str, Callable[[dict], dict]] = {
    "sagemaker:CreateTrainingJob": _training_context,
    "sagemaker:CreateModel": lambda params: {**_tag_context(params), **_isolation(params)},
    "sagemaker:CreateEndpointConfig": _endpoint_config_context,
    "sagemaker:CreateEndpoint": _tag_context,
    "sagemaker:CreateTransformJob": _transform_context,
}


def _sagemaker(action: str, kind: str, name_param: str, role_param: str | None = None) -> Callable:
    """A SageMaker action on `arn:aws:sagemaker:<region>:<account>:<kind>/<name>` (names lowercased).

    A create call carries its condition keys (`_CREATE_CONTEXT`). Creating with Tags also needs
    sagemaker:AddTags on the new resource, with the request's tags; passing a role needs iam:PassRole on
    it, with iam:PassedToService.
    """

    def requests(call: Call, account: str) -> list[Request]:
        arn = f"arn:aws:sagemaker:{call.region}:{account}:{kind}/{call.params[name_param].lower()}"
        found = [Request(action, arn, _CREATE_CONTEXT.get(action, lambda params: {})(call.params))]
        if call.params.get("Tags"):
            found.append(Request("sagemaker:AddTags", arn, _tag_context(call.params)))
        if role_param:
            found.append(Request("iam:PassRole", call.params[role_param], {"iam:PassedToService": SAGEMAKER_SERVICE}))
        return found

    return requests


def _create_endpoint(call: Call, account: str) -> list[Request]:
    """CreateEndpoint is authorised on the new endpoint and on the endpoint config it uses."""
    config = call.params["EndpointConfigName"].lower()
    return [
        *_sagemaker("sagemaker:CreateEndpoint", "endpoint", "EndpointName")(call, account),
        Request(
            "sagemaker:CreateEndpoint",
            f"arn:aws:sagemaker:{call.region}:{account}:endpoint-config/{config}",
            _tag_context(call.params),
        ),
    ]


def _create_transform_job(call: Call, account: str) -> list[Request]:
    """CreateTransformJob, with sagemaker:ModelArn: the ARN of the model it runs (no role: the model's is used)."""
    creating, *rest = _sagemaker("sagemaker:CreateTransformJob", "transform-job", "TransformJobName")(call, account)
    model = f"arn:aws:sagemaker:{call.region}:{account}:model/{call.params['ModelName'].lower()}"
    return [dataclasses.replace(creating, context={**creating.context, "sagemaker:ModelArn": model}), *rest]


def _invoke_endpoint(call: Call, account: str) -> list[Request]:
    name = call.params["EndpointName"].lower()
    return [Request("sagemaker:InvokeEndpoint", f"arn:aws:sagemaker:{call.region}:{account}:endpoint/{name}")]


def _log_group(action: str) -> Callable[[Call, str], list[Request]]:
    # Log-group actions are authorised against the group's ARN with a trailing ":*" (CloudWatch Logs'
    # LogGroup.arn, "the version to use in IAM policies for most API actions").
    def requests(call: Call, account: str) -> list[Request]:
        group = call.params["logGroupName"]
        return [Request(action, f"arn:aws:logs:{call.region}:{account}:log-group:{group}:*")]

    return requests


def _log_stream(action: str) -> Callable[[Call, str], list[Request]]:
    def requests(call: Call, account: str) -> list[Request]:
        group, stream = call.params["logGroupName"], call.params["logStreamName"]
        return [Request(action, f"arn:aws:logs:{call.region}:{account}:log-group:{group}:log-stream:{stream}")]

    return requests


_MAP: dict[tuple[str, str], Callable[[Call, str], list[Request]]] = {
    ("s3", "GetObject"): _s3_object("s3:GetObject"),
    ("s3", "HeadObject"): _s3_object("s3:GetObject"),
    ("s3", "PutObject"): _s3_object("s3:PutObject"),
    ("s3", "CopyObject"): _s3_copy,
    ("s3", "ListObjectsV2"): _s3_list,
    ("s3", "HeadBucket"): _s3_bucket("s3:ListBucket"),
    ("s3", "DeleteObjects"): _s3_delete_objects,
    ("sagemaker", "CreateTrainingJob"): _sagemaker("sagemaker:CreateTrainingJob", "training-job", "TrainingJobName",
                                                   "RoleArn"),
    ("sagemaker", "DescribeTrainingJob"): _sagemaker("sagemaker:DescribeTrainingJob", "training-job",
                                                     "TrainingJobName"),
    ("sagemaker", "StopTrainingJob"): _sagemaker("sagemaker:StopTrainingJob", "training-job", "TrainingJobName"),
    ("sagemaker", "ListTrainingJobs"): lambda call, account: [Request("sagemaker:ListTrainingJobs", "*")],
    ("sagemaker", "CreateTransformJob"): _create_transform_job,
    ("sagemaker", "DescribeTransformJob"): _sagemaker("sagemaker:DescribeTransformJob", "transform-job",
                                                      "TransformJobName"),
    ("sagemaker", "StopTransformJob"): _sagemaker("sagemaker:StopTransformJob", "transform-job", "TransformJobName"),
    ("sagemaker", "ListTransformJobs"): lambda call, account: [Request("sagemaker:ListTransformJobs", "*")],
    ("sagemaker", "ListModels"): lambda call, account: [Request("sagemaker:ListModels", "*")],
    ("sagemaker", "ListEndpointConfigs"): lambda call, account: [Request("sagemaker:ListEndpointConfigs", "*")],
    ("sagemaker", "ListEndpoints"): lambda call, account: [Request("sagemaker:ListEndpoints", "*")],
    ("sagemaker", "ListTags"): lambda call, account: [Request("sagemaker:ListTags", call.params["ResourceArn"])],
    ("sagemaker", "CreateModel"): _sagemaker("sagemaker:CreateModel", "model", "ModelName", "ExecutionRoleArn"),
    ("sagemaker", "DescribeModel"): _sagemaker("sagemaker:DescribeModel", "model", "ModelName"),
    ("sagemaker", "DeleteModel"): _sagemaker("sagemaker:DeleteModel", "model", "ModelName"),
    ("sagemaker", "CreateEndpointConfig"): _sagemaker("sagemaker:CreateEndpointConfig", "endpoint-config",
                                                      "EndpointConfigName"),
    ("sagemaker", "DescribeEndpointConfig"): _sagemaker("sagemaker:DescribeEndpointConfig", "endpoint-config",
                                                        "EndpointConfigName"),
    ("sagemaker", "DeleteEndpointConfig"): _sagemaker("sagemaker:DeleteEndpointConfig", "endpoint-config",
                                                      "EndpointConfigName"),
    ("sagemaker", "CreateEndpoint"): _create_endpoint,
    ("sagemaker", "DescribeEndpoint"): _sagemaker("sagemaker:DescribeEndpoint", "endpoint", "EndpointName"),
    ("sagemaker", "DeleteEndpoint"): _sagemaker("sagemaker:DeleteEndpoint", "endpoint", "EndpointName"),
    ("sagemaker-runtime", "InvokeEndpoint"): _invoke_endpoint,
    ("logs", "CreateLogGroup"): _log_group("logs:CreateLogGroup"),
    ("logs", "CreateLogStream"): _log_stream("logs:CreateLogStream"),
    ("logs", "DescribeLogStreams"): _log_group("logs:DescribeLogStreams"),
    ("logs", "GetLogEvents"): _log_stream("logs:GetLogEvents"),
    ("logs", "PutLogEvents"): _log_stream("logs:PutLogEvents"),
    ("cloudwatch", "PutMetricData"): lambda call, account: [
        Request("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": call.params["Namespace"]})
    ],
    ("sns", "Publish"): lambda call, account: [  # the provider's SnsHook names the topic as TargetArn
        Request("sns:Publish", call.params.get("TopicArn") or call.params["TargetArn"])
    ],
    ("sts", "GetCallerIdentity"): lambda call, account: [],  # needs no permission
}  # fmt: skip


def requests_for(call: Call, account: str) -> list[Request]:
    """The IAM requests AWS evaluates for `call`; raises UnmappedOperation for an operation not mapped."""
    try:
        mapping = _MAP[(call.service, call.operation)]
    except KeyError:
        raise UnmappedOperation(
            f"{call.principal} called {call.service} {call.operation}, which no IAM mapping covers: review "
            "iam/*.json for it and add it to tests/support/iam/aws_calls.py"
        ) from None
    return mapping(call, account)
