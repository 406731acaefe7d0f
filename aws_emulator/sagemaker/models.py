"""SageMaker resources and their state machines: training jobs, models, endpoint configs, endpoints,
transform jobs.

No HTTP here. Times are epoch seconds (float), as the JSON 1.1 protocol sends them. As in moto, there
is one backend per region (`SageMakerBackends`, filled on first use): names are unique within a region,
and a resource is found only in the region it was created in. A backend is shared by the request threads
and the worker threads, so every change happens under its lock.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aws_emulator.sagemaker.exceptions import (
    ResourceInUse,
    ValidationException,
    already_exists,
    not_found,
)
from aws_emulator.sagemaker.latency import BILLED_TRAINING_PHASES

ACCOUNT_ID = "123456789012"
TRAINING_NON_TERMINAL = ("InProgress", "Stopping")
ENDPOINT_IN_PROGRESS = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")
TRANSFORM_NON_TERMINAL = ("InProgress", "Stopping")
DEFAULT_MAX_PAYLOAD_MB = 6
"""CreateTransformJob's MaxPayloadInMB when the request gives none ("The default value is 6 MB")."""
MAX_PAYLOAD_MB = 100
"""MaxPayloadInMB, and MaxConcurrentTransforms × MaxPayloadInMB, "cannot be greater than 100 MB"."""


def arn(region: str, kind: str, name: str) -> str:
    """SageMaker ARNs carry the name lower-cased; the *Name fields keep it verbatim."""
    return f"arn:aws:sagemaker:{region}:{ACCOUNT_ID}:{kind}/{name.lower()}"


@dataclass
class TrainingJob:
    name: str
    region: str
    request: dict[str, Any]
    creation_time: float
    status: str = "InProgress"
    secondary_status: str = "Starting"
    transitions: list[dict[str, Any]] = field(default_factory=list)
    failure_reason: str | None = None
    training_start_time: float | None = None
    training_end_time: float | None = None
    last_modified_time: float = 0.0
    final_metrics: list[dict[str, Any]] = field(default_factory=list)
    metric_definitions: list[dict[str, str]] = field(default_factory=list)
    stop_reason: str | None = None  # "Stopped" or "MaxRuntimeExceeded" once a stop is asked for
    modelled_phases: dict[str, float] = field(default_factory=dict)  # under a latency profile: AWS seconds
    latency_scale: float = 1.0  # of each secondary status, and how much faster the emulator passes them

    @property
    def arn(self) -> str:
        return arn(self.region, "training-job", self.name)

    @property
    def model_artifact_uri(self) -> str:
        output = self.request["OutputDataConfig"]["S3OutputPath"].rstrip("/")
        return f"{output}/{self.name}/output/model.tar.gz"

    def transition(self, status: str, message: str, now: float | None = None) -> None:
        """Enter a secondary status: the previous entry ends when this one starts."""
        now = time.time() if now is None else now
        if self.transitions:
            self.transitions[-1]["EndTime"] = now
        self.transitions.append({"Status": status, "StartTime": now, "StatusMessage": message})
        self.secondary_status = status
        self.last_modified_time = now

    def note(self, message: str) -> None:
        """Rewrite the current entry's message as sub-steps progress."""
        self.transitions[-1]["StatusMessage"] = message
        self.last_modified_time = time.time()

    def finish(self, status: str, secondary: str, message: str, failure_reason: str | None = None) -> None:
        now = time.time()
        if self.training_start_time is None:
            self.training_start_time = now
        self.training_end_time = now
        self.transition(secondary, message, now)
        self.transitions[-1]["EndTime"] = now
        self.status = status
        self.failure_reason = failure_reason

    def describe(self) -> dict[str, Any]:
        request = copy.deepcopy(self.request)
        for channel in request.get("InputDataConfig", []):
            channel.setdefault("CompressionType", "None")
            channel.setdefault("RecordWrapperType", "None")
            channel["DataSource"]["S3DataSource"].setdefault("S3DataDistributionType", "FullyReplicated")
        request["OutputDataConfig"].setdefault("KmsKeyId", "")
        request["OutputDataConfig"].setdefault("CompressionType", "GZIP")
        algorithm = request.get("AlgorithmSpecification", {})
        algorithm.setdefault("MetricDefinitions", self.metric_definitions)
        algorithm.setdefault("EnableSageMakerMetricsTimeSeries", False)
        request.pop("Tags", None)
        described = {
            **request,
            "TrainingJobArn": self.arn,
            "ModelArtifacts": {"S3ModelArtifacts": self.model_artifact_uri},
            "TrainingJobStatus": self.status,
            "SecondaryStatus": self.secondary_status,
            "CreationTime": self.creation_time,
            "LastModifiedTime": self.last_modified_time,
            "SecondaryStatusTransitions": copy.deepcopy(self.transitions),
            "EnableNetworkIsolation": request.get("EnableNetworkIsolation", False),
            "EnableInterContainerTrafficEncryption": request.get("EnableInterContainerTrafficEncryption", False),
            "EnableManagedSpotTraining": request.get("EnableManagedSpotTraining", False),
        }
        if self.training_start_time is not None:
            described["TrainingStartTime"] = self.training_start_time
        if self.training_end_time is not None:
            described["TrainingEndTime"] = self.training_end_time
            seconds = max(1, int(self.training_end_time - (self.training_start_time or self.creation_time)))
            if self.modelled_phases:
                seconds = self.modelled_billed_seconds()
            described["TrainingTimeInSeconds"] = seconds
            # Wall-clock seconds, as SageMaker reports them whatever the InstanceCount: the bill is
            # BillableTimeInSeconds × ResourceConfig.InstanceCount instance-seconds.
            described["BillableTimeInSeconds"] = seconds
        if self.failure_reason:
            described["FailureReason"] = self.failure_reason
        if self.final_metrics:
            described["FinalMetricDataList"] = copy.deepcopy(self.final_metrics)
        return described

    def modelled_billed_seconds(self) -> int:
        """Under a latency profile, the AWS seconds from TrainingStartTime to TrainingEndTime: each billed
        state's modelled duration, or the modelled part of it the job lived through when it ended there."""
        seconds = 0.0
        for entry in self.transitions:
            modelled = self.modelled_phases.get(entry["Status"])
            if entry["Status"] in BILLED_TRAINING_PHASES and modelled is not None and "EndTime" in entry:
                seconds += min(modelled, (entry["EndTime"] - entry["StartTime"]) * self.latency_scale)
        return max(1, round(seconds))

    def summary(self) -> dict[str, Any]:
        summary = {
            "TrainingJobName": self.name,
            "TrainingJobArn": self.arn,
            "CreationTime": self.creation_time,
            "LastModifiedTime": self.last_modified_time,
            "TrainingJobStatus": self.status,
            "SecondaryStatus": self.secondary_status,
        }
        if self.training_end_time is not None:
            summary["TrainingEndTime"] = self.training_end_time
        return summary


@dataclass
class _StoredRequest:
    """A resource that is its Create request as received, with its name, region and creation time."""

    name: str
    region: str
    request: dict[str, Any]
    creation_time: float
    arn_kind: ClassVar[str]

    @property
    def arn(self) -> str:
        return arn(self.region, self.arn_kind, self.name)

    def _request_described(self) -> dict[str, Any]:
        """The request as Describe* echoes it: a copy, without its tags."""
        described = copy.deepcopy(self.request)
        described.pop("Tags", None)
        return described


@dataclass
class Model(_StoredRequest):
    arn_kind: ClassVar[str] = "model"

    @property
    def container(self) -> dict[str, Any]:
        return self.request.get("PrimaryContainer") or (self.request.get("Containers") or [{}])[0]

    def describe(self) -> dict[str, Any]:
        described = self._request_described()
        container = described.get("PrimaryContainer")
        if container is not None:
            container.setdefault("Mode", "SingleModel")
            container.setdefault("Environment", {})
            if "ModelDataUrl" in container:
                container.setdefault(
                    "ModelDataSource",
                    {
                        "S3DataSource": {
                            "S3Uri": container["ModelDataUrl"],
                            "S3DataType": "S3Object",
                            "CompressionType": "Gzip",
                        }
                    },
                )
        return {
            **described,
            "ModelArn": self.arn,
            "CreationTime": self.creation_time,
            "EnableNetworkIsolation": described.get("EnableNetworkIsolation", False),
        }

    def summary(self) -> dict[str, Any]:
        return {"ModelName": self.name, "ModelArn": self.arn, "CreationTime": self.creation_time}


@dataclass
class EndpointConfig(_StoredRequest):
    arn_kind: ClassVar[str] = "endpoint-config"

    def describe(self) -> dict[str, Any]:
        described = self._request_described()
        for variant in described["ProductionVariants"]:
            variant.setdefault("InitialVariantWeight", 1.0)
        return {**described, "EndpointConfigArn": self.arn, "CreationTime": self.creation_time}

    def summary(self) -> dict[str, Any]:
        return {"EndpointConfigName": self.name, "EndpointConfigArn": self.arn, "CreationTime": self.creation_time}


@dataclass
class Deployment:
    """What an endpoint serves: a snapshot of its config's variant and model, and the loaded predictor."""

    config_name: str
    variant: dict[str, Any]
    model: dict[str, Any]  # the model's DescribeModel at deployment time
    predictor: Any = None
    resolution_time: float = 0.0


@dataclass
class Endpoint:
    name: str
    region: str
    config_name: str
    creation_time: float
    status: str = "Creating"
    failure_reason: str | None = None
    last_modified_time: float = 0.0
    deployment: Deployment | None = None

    @property
    def arn(self) -> str:
        return arn(self.region, "endpoint", self.name)

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {
            "EndpointName": self.name,
            "EndpointArn": self.arn,
            "EndpointConfigName": self.config_name,
            "EndpointStatus": self.status,
            "CreationTime": self.creation_time,
            "LastModifiedTime": self.last_modified_time,
        }
        if self.deployment is not None and self.deployment.predictor is not None:
            variant, image = self.deployment.variant, self.deployment.model.get("PrimaryContainer", {}).get("Image", "")
            count = variant.get("InitialInstanceCount", 1)
            weight = float(variant.get("InitialVariantWeight", 1.0))
            described["ProductionVariants"] = [
                {
                    "VariantName": variant["VariantName"],
                    "DeployedImages": [
                        {
                            "SpecifiedImage": image,
                            "ResolvedImage": image.split(":")[0] + "@sha256:" + "0" * 64,
                            "ResolutionTime": self.deployment.resolution_time,
                        }
                    ],
                    "CurrentWeight": weight,
                    "DesiredWeight": weight,
                    "CurrentInstanceCount": count,
                    "DesiredInstanceCount": count,
                }
            ]
        if self.failure_reason:
            described["FailureReason"] = self.failure_reason
        return described

    def summary(self) -> dict[str, Any]:
        return {
            "EndpointName": self.name,
            "EndpointArn": self.arn,
            "CreationTime": self.creation_time,
            "LastModifiedTime": self.last_modified_time,
            "EndpointStatus": self.status,
        }


@dataclass
class TransformJob:
    """A batch transform job: its request, the model as DescribeModel showed it at creation (SageMaker
    runs the job with that model even if it is deleted meanwhile), and its status."""

    name: str
    region: str
    request: dict[str, Any]
    model: dict[str, Any]
    creation_time: float
    status: str = "InProgress"
    failure_reason: str | None = None
    transform_start_time: float | None = None
    transform_end_time: float | None = None
    last_modified_time: float = 0.0
    stop_requested: bool = False

    @property
    def arn(self) -> str:
        return arn(self.region, "transform-job", self.name)

    @property
    def max_payload_mb(self) -> int:
        return int(self.request.get("MaxPayloadInMB", DEFAULT_MAX_PAYLOAD_MB))

    @property
    def batch_strategy(self) -> str:
        return self.request.get("BatchStrategy", "MultiRecord")

    def started(self) -> None:
        self.transform_start_time = self.last_modified_time = time.time()

    def finish(self, status: str, failure_reason: str | None = None) -> None:
        now = time.time()
        if self.transform_start_time is None:
            self.transform_start_time = now
        self.transform_end_time = self.last_modified_time = now
        self.status = status
        self.failure_reason = failure_reason

    def describe(self) -> dict[str, Any]:
        request = copy.deepcopy(self.request)
        request.pop("Tags", None)
        request["TransformInput"].setdefault("CompressionType", "None")
        request["TransformInput"].setdefault("SplitType", "None")
        request.setdefault("MaxPayloadInMB", DEFAULT_MAX_PAYLOAD_MB)
        request.setdefault("MaxConcurrentTransforms", 1)
        described = {
            **request,
            "TransformJobArn": self.arn,
            "TransformJobStatus": self.status,
            "CreationTime": self.creation_time,
        }
        if self.transform_start_time is not None:
            described["TransformStartTime"] = self.transform_start_time
        if self.transform_end_time is not None:
            described["TransformEndTime"] = self.transform_end_time
        if self.failure_reason:
            described["FailureReason"] = self.failure_reason
        return described

    def summary(self) -> dict[str, Any]:
        summary = {
            "TransformJobName": self.name,
            "TransformJobArn": self.arn,
            "CreationTime": self.creation_time,
            "LastModifiedTime": self.last_modified_time,
            "TransformJobStatus": self.status,
        }
        if self.transform_end_time is not None:
            summary["TransformEndTime"] = self.transform_end_time
        if self.failure_reason:
            summary["FailureReason"] = self.failure_reason
        return summary


class SageMakerBackend:
    """The SageMaker state of one region of the emulator's one account."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.lock = threading.RLock()
        self.training_jobs: dict[str, TrainingJob] = {}
        self.models: dict[str, Model] = {}
        self.endpoint_configs: dict[str, EndpointConfig] = {}
        self.endpoints: dict[str, Endpoint] = {}
        self.transform_jobs: dict[str, TransformJob] = {}
        self.tags: dict[str, dict[str, str]] = {}

    # ------------------------------------------------------------------ training jobs

    def create_training_job(self, request: dict[str, Any]) -> TrainingJob:
        for member in ("AlgorithmSpecification", "ResourceConfig", "StoppingCondition"):
            if member not in request:
                raise ValidationException(
                    f"1 validation error detected: Value null at '{member[0].lower() + member[1:]}' "
                    "failed to satisfy constraint: Member must not be null"
                )
        with self.lock:
            name = request["TrainingJobName"]
            if name in self.training_jobs:
                job = self.training_jobs[name]
                raise ResourceInUse(
                    "Training job names must be unique within an AWS account and region, and a training job "
                    f"with this name already exists ({job.arn})"
                )
            now = time.time()
            job = TrainingJob(name=name, region=self.region, request=copy.deepcopy(request), creation_time=now)
            job.transition("Starting", "Starting the training job", now)
            self.training_jobs[name] = job
            self._tag(job.arn, request.get("Tags", []))
        return job

    def training_job(self, name: str) -> TrainingJob:
        with self.lock:
            job = self.training_jobs.get(name)
        if job is None:
            raise ValidationException("Requested resource not found.")
        return job

    def stop_training_job(self, name: str) -> None:
        with self.lock:
            job = self.training_job(name)
            if job.status != "InProgress":
                raise ValidationException(
                    f"The request was rejected because the training job is in status {job.status}."
                )
            job.status = "Stopping"
            job.stop_reason = "Stopped"
            job.transition("Stopping", "Stopping the training job")

    # ------------------------------------------------------------------ models

    def create_model(self, request: dict[str, Any]) -> Model:
        with self.lock:
            model = Model(
                name=request["ModelName"], region=self.region, request=copy.deepcopy(request), creation_time=time.time()
            )
            self._refuse_existing(self.models, model, "model")
            if not model.container.get("Image"):
                raise ValidationException("A model needs a PrimaryContainer (or Containers) with an Image.")
            return self._add(self.models, model, request)

    def model(self, name: str) -> Model:
        return self._find(self.models, name, "model", "model")

    def delete_model(self, name: str) -> None:
        self._delete(self.models, name, "model", "model")

    # ------------------------------------------------------------------ endpoint configs

    def create_endpoint_config(self, request: dict[str, Any]) -> EndpointConfig:
        with self.lock:
            config = EndpointConfig(
                name=request["EndpointConfigName"],
                region=self.region,
                request=copy.deepcopy(request),
                creation_time=time.time(),
            )
            self._refuse_existing(self.endpoint_configs, config, "endpoint configuration")
            for variant in request["ProductionVariants"]:
                if "ModelName" in variant:
                    self.model(variant["ModelName"])
            return self._add(self.endpoint_configs, config, request)

    def endpoint_config(self, name: str) -> EndpointConfig:
        return self._find(self.endpoint_configs, name, "endpoint configuration", "endpoint-config")

    def delete_endpoint_config(self, name: str) -> None:
        self._delete(self.endpoint_configs, name, "endpoint configuration", "endpoint-config")

    # ------------------------------------------------------------------ endpoints

    def create_endpoint(self, request: dict[str, Any]) -> tuple[Endpoint, Deployment]:
        with self.lock:
            now = time.time()
            endpoint = Endpoint(
                name=request["EndpointName"],
                region=self.region,
                config_name=request["EndpointConfigName"],
                creation_time=now,
                last_modified_time=now,
            )
            self._refuse_existing(self.endpoints, endpoint, "endpoint")
            deployment = self._deployment(request["EndpointConfigName"])
            return self._add(self.endpoints, endpoint, request), deployment

    def update_endpoint(self, request: dict[str, Any]) -> tuple[Endpoint, Deployment]:
        with self.lock:
            endpoint = self.endpoint(request["EndpointName"])
            if endpoint.status != "InService":
                raise ValidationException(f'Cannot update in-progress endpoint "{endpoint.arn}".')
            deployment = self._deployment(request["EndpointConfigName"])
            endpoint.status = "Updating"
            endpoint.last_modified_time = time.time()
        return endpoint, deployment

    def endpoint(self, name: str) -> Endpoint:
        return self._find(self.endpoints, name, "endpoint", "endpoint")

    def start_deleting_endpoint(self, name: str) -> Endpoint:
        with self.lock:
            endpoint = self.endpoint(name)
            if endpoint.status in ENDPOINT_IN_PROGRESS:
                raise ValidationException(f'Cannot update in-progress endpoint "{endpoint.arn}".')
            endpoint.status = "Deleting"
            endpoint.last_modified_time = time.time()
        return endpoint

    def remove_endpoint(self, endpoint: Endpoint) -> None:
        with self.lock:
            if self.endpoints.get(endpoint.name) is endpoint:
                del self.endpoints[endpoint.name]
                self.tags.pop(endpoint.arn, None)

    def deployed(self, endpoint: Endpoint, deployment: Deployment) -> None:
        """The deployment's model is loaded: the endpoint serves it."""
        with self.lock:
            endpoint.deployment = deployment
            endpoint.config_name = deployment.config_name
            endpoint.status = "InService"
            endpoint.failure_reason = None
            endpoint.last_modified_time = time.time()

    def deployment_failed(self, endpoint: Endpoint, reason: str) -> None:
        """Creating fails the endpoint; a failed update rolls back to what it served."""
        with self.lock:
            endpoint.status = "InService" if endpoint.status == "Updating" else "Failed"
            endpoint.failure_reason = reason
            endpoint.last_modified_time = time.time()

    def _deployment(self, config_name: str) -> Deployment:
        config = self.endpoint_config(config_name)
        variant = copy.deepcopy(config.request["ProductionVariants"][0])
        model = self.model(variant.get("ModelName", ""))
        return Deployment(config_name=config_name, variant=variant, model=model.describe())

    @staticmethod
    def _refuse_existing(table: dict[str, Any], resource: Any, kind: str) -> None:
        if resource.name in table:
            raise already_exists(kind, table[resource.name].arn)

    def _add(self, table: dict[str, Any], resource: Any, request: dict[str, Any]) -> Any:
        """Store a new resource under its name, with the request's tags (the lock is held)."""
        table[resource.name] = resource
        self._tag(resource.arn, request.get("Tags", []))
        return resource

    def _find(self, table: dict[str, Any], name: str, kind: str, arn_kind: str) -> Any:
        """The named resource, or SageMaker's `Could not find <kind> "<arn>".`"""
        with self.lock:
            resource = table.get(name)
        if resource is None:
            raise not_found(kind, arn(self.region, arn_kind, name))
        return resource

    def _delete(self, table: dict[str, Any], name: str, kind: str, arn_kind: str) -> None:
        with self.lock:
            resource = self._find(table, name, kind, arn_kind)
            del table[name]
            self.tags.pop(resource.arn, None)

    # ------------------------------------------------------------------ transform jobs

    def create_transform_job(self, request: dict[str, Any]) -> TransformJob:
        payload = int(request.get("MaxPayloadInMB", DEFAULT_MAX_PAYLOAD_MB))
        concurrent = int(request.get("MaxConcurrentTransforms", 1))
        if payload > MAX_PAYLOAD_MB:
            raise ValidationException(f"MaxPayloadInMB {payload} is greater than the maximum of {MAX_PAYLOAD_MB} MB.")
        if concurrent * payload > MAX_PAYLOAD_MB:
            raise ValidationException(
                f"MaxConcurrentTransforms × MaxPayloadInMB ({concurrent} × {payload} MB) is greater than the "
                f"maximum of {MAX_PAYLOAD_MB} MB."
            )
        with self.lock:
            name = request["TransformJobName"]
            if name in self.transform_jobs:
                raise ResourceInUse(
                    "Job name must be unique within an AWS account and region, and a job with this name already "
                    f"exists ({self.transform_jobs[name].arn})"
                )
            model = self.model(request["ModelName"]).describe()
            now = time.time()
            job = TransformJob(
                name=name,
                region=self.region,
                request=copy.deepcopy(request),
                model=model,
                creation_time=now,
                last_modified_time=now,
            )
            return self._add(self.transform_jobs, job, request)

    def transform_job(self, name: str) -> TransformJob:
        """The named job, or SageMaker's not-found for jobs: `Could not find requested job with name <name>`
        (ValidationException; the ACK SageMaker controller's generator.yaml maps it to 404 for TransformJob)."""
        with self.lock:
            job = self.transform_jobs.get(name)
        if job is None:
            raise ValidationException(f"Could not find requested job with name {name}")
        return job

    def stop_transform_job(self, name: str) -> None:
        with self.lock:
            job = self.transform_job(name)
            if job.status != "InProgress":
                raise ValidationException(
                    f"The request was rejected because the transform job is in status {job.status}."
                )
            job.status = "Stopping"
            job.stop_requested = True
            job.last_modified_time = time.time()

    def transform_ended(self, job: TransformJob, status: str, failure_reason: str | None = None) -> None:
        with self.lock:
            job.finish(status, failure_reason[:1024] if failure_reason else None)

    # ------------------------------------------------------------------ tags and lists

    def add_tags(self, resource_arn: str, tags: list[dict[str, str]]) -> list[dict[str, str]]:
        with self.lock:
            self._require_arn(resource_arn)
            self._tag(resource_arn, tags)
        return tags

    def list_tags(self, resource_arn: str) -> list[dict[str, str]]:
        with self.lock:
            self._require_arn(resource_arn)
            return [{"Key": k, "Value": v} for k, v in self.tags.get(resource_arn, {}).items()]

    def delete_tags(self, resource_arn: str, keys: Iterable[str]) -> None:
        with self.lock:
            self._require_arn(resource_arn)
            for key in keys:
                self.tags.get(resource_arn, {}).pop(key, None)

    def _tag(self, resource_arn: str, tags: list[dict[str, str]]) -> None:
        if tags:
            self.tags.setdefault(resource_arn, {}).update({t["Key"]: t.get("Value", "") for t in tags})

    def _require_arn(self, resource_arn: str) -> None:
        resources = [*self.training_jobs.values(), *self.models.values(), *self.endpoint_configs.values()]
        resources += [*self.endpoints.values(), *self.transform_jobs.values()]
        if not any(r.arn == resource_arn for r in resources):
            raise ValidationException(f"Resource {resource_arn} does not exist.")


class SageMakerBackends(dict[str, SageMakerBackend]):
    """One backend per region, made on first use, as moto's `BackendDict`: `backends["eu-west-1"]`."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def __missing__(self, region: str) -> SageMakerBackend:
        with self._lock:  # two first requests in one region must share one backend
            return self.setdefault(region, SageMakerBackend(region))
