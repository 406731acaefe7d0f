"""The SageMaker control plane's JSON 1.1 protocol: parse the request, call the backend, render the answer."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_emulator.sagemaker.exceptions import SageMakerError, SerializationException, UnknownOperationException
from aws_emulator.sagemaker.hosting import Hosting
from aws_emulator.sagemaker.models import SageMakerBackend, SageMakerBackends
from aws_emulator.sagemaker.training import TrainingRunner
from aws_emulator.sagemaker.transform import TransformRunner
from aws_emulator.sagemaker.validation import validate_request

DEFAULT_PAGE = 10


class ControlPlane:
    """One handler per supported operation; anything else is refused by name, never faked."""

    def __init__(
        self, backends: SageMakerBackends, runner: TrainingRunner, hosting: Hosting, transforms: TransformRunner
    ) -> None:
        self.backends, self.runner, self.hosting, self.transforms = backends, runner, hosting, transforms
        # Each handler gets the parameters and the backend of the request's region.
        self.handlers: dict[str, Callable[[dict[str, Any], SageMakerBackend], dict[str, Any]]] = {
            "CreateTrainingJob": self.create_training_job,
            "DescribeTrainingJob": lambda p, b: b.training_job(p["TrainingJobName"]).describe(),
            "ListTrainingJobs": self.list_training_jobs,
            "StopTrainingJob": lambda p, b: b.stop_training_job(p["TrainingJobName"]) or {},
            "CreateModel": lambda p, b: {"ModelArn": b.create_model(p).arn},
            "DescribeModel": lambda p, b: b.model(p["ModelName"]).describe(),
            "DeleteModel": lambda p, b: b.delete_model(p["ModelName"]) or {},
            "ListModels": lambda p, b: _page(p, b.models.values(), "ModelName", None, "Models"),
            "CreateEndpointConfig": lambda p, b: {"EndpointConfigArn": b.create_endpoint_config(p).arn},
            "DescribeEndpointConfig": lambda p, b: b.endpoint_config(p["EndpointConfigName"]).describe(),
            "DeleteEndpointConfig": lambda p, b: b.delete_endpoint_config(p["EndpointConfigName"]) or {},
            "ListEndpointConfigs": lambda p, b: _page(
                p, b.endpoint_configs.values(), "EndpointConfigName", None, "EndpointConfigs"
            ),
            "CreateEndpoint": self.create_endpoint,
            "UpdateEndpoint": self.update_endpoint,
            "DescribeEndpoint": lambda p, b: b.endpoint(p["EndpointName"]).describe(),
            "DeleteEndpoint": lambda p, b: self.hosting.delete(b.start_deleting_endpoint(p["EndpointName"])) or {},
            "ListEndpoints": lambda p, b: _page(p, b.endpoints.values(), "EndpointName", "EndpointStatus", "Endpoints"),
            "CreateTransformJob": self.create_transform_job,
            "DescribeTransformJob": lambda p, b: b.transform_job(p["TransformJobName"]).describe(),
            "ListTransformJobs": lambda p, b: _page(
                p, b.transform_jobs.values(), "TransformJobName", "TransformJobStatus", "TransformJobSummaries"
            ),
            "StopTransformJob": lambda p, b: b.stop_transform_job(p["TransformJobName"]) or {},
            "AddTags": lambda p, b: {"Tags": b.add_tags(p["ResourceArn"], p.get("Tags", []))},
            "ListTags": lambda p, b: {"Tags": b.list_tags(p["ResourceArn"])},
            "DeleteTags": lambda p, b: b.delete_tags(p["ResourceArn"], p.get("TagKeys", [])) or {},
        }

    def handle(self, operation: str, body: bytes, region: str) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON document) for one control-plane call."""
        try:
            handler = self.handlers.get(operation)
            if handler is None:
                raise UnknownOperationException(f"Operation {operation} is not supported by the popseg emulator")
            params = _parse(body)
            validate_request(operation, params)
            return 200, handler(params, self.backends[region])
        except SageMakerError as error:
            return error.status, {"__type": error.code, "message": error.message}

    def create_training_job(self, params: dict[str, Any], backend: SageMakerBackend) -> dict[str, Any]:
        job = backend.create_training_job(params)
        self.runner.submit(job)
        return {"TrainingJobArn": job.arn}

    def list_training_jobs(self, params: dict[str, Any], backend: SageMakerBackend) -> dict[str, Any]:
        params = {"SortOrder": "Ascending", **params}
        jobs = backend.training_jobs.values()
        return _page(params, jobs, "TrainingJobName", "TrainingJobStatus", "TrainingJobSummaries")

    def create_transform_job(self, params: dict[str, Any], backend: SageMakerBackend) -> dict[str, Any]:
        job = backend.create_transform_job(params)
        self.transforms.submit(job)
        return {"TransformJobArn": job.arn}

    def create_endpoint(self, params: dict[str, Any], backend: SageMakerBackend) -> dict[str, Any]:
        endpoint, deployment = backend.create_endpoint(params)
        self.hosting.deploy(endpoint, deployment)
        return {"EndpointArn": endpoint.arn}

    def update_endpoint(self, params: dict[str, Any], backend: SageMakerBackend) -> dict[str, Any]:
        endpoint, deployment = backend.update_endpoint(params)
        self.hosting.deploy(endpoint, deployment)
        return {"EndpointArn": endpoint.arn}


def _parse(body: bytes) -> dict[str, Any]:
    try:
        params = json.loads(body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SerializationException(f"The request body is not valid JSON: {exc}") from exc
    except RecursionError as exc:  # json's parser stops at the interpreter's recursion limit
        raise SerializationException("The request body nests JSON arrays or objects too deeply") from exc
    if not isinstance(params, dict):
        raise SerializationException("The request body must be a JSON object")
    return params


def _page(params: dict[str, Any], resources: Any, name_key: str, status_key: str | None, list_key: str) -> dict:
    """Filter, sort and paginate summaries as the List* operations do."""
    summaries = [resource.summary() for resource in list(resources)]
    if "NameContains" in params:
        summaries = [s for s in summaries if params["NameContains"].lower() in s[name_key].lower()]
    if status_key and "StatusEquals" in params:
        summaries = [s for s in summaries if s[status_key] == params["StatusEquals"]]
    for bound, field, keep in (
        ("CreationTimeAfter", "CreationTime", lambda v, b: v > b),
        ("CreationTimeBefore", "CreationTime", lambda v, b: v < b),
        ("LastModifiedTimeAfter", "LastModifiedTime", lambda v, b: v > b),
        ("LastModifiedTimeBefore", "LastModifiedTime", lambda v, b: v < b),
    ):
        if bound in params:
            summaries = [s for s in summaries if field in s and keep(s[field], float(params[bound]))]
    sort_field = {"Name": name_key, "CreationTime": "CreationTime", "Status": status_key}.get(
        params.get("SortBy", "CreationTime")
    ) or "CreationTime"
    summaries.sort(key=lambda s: s[sort_field], reverse=params.get("SortOrder", "Descending") == "Descending")
    start = int(params.get("NextToken") or 0)
    size = int(params.get("MaxResults") or DEFAULT_PAGE)
    page = {list_key: summaries[start : start + size]}
    if start + size < len(summaries):
        page["NextToken"] = str(start + size)
    return page
