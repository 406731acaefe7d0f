"""Thin subclasses of the Amazon provider's operators: what they add is stated on each."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, TypedDict

from airflow.providers.amazon.aws.hooks.sagemaker import LogState, secondary_training_status_message
from airflow.providers.amazon.aws.operators.sagemaker import SageMakerTrainingOperator
from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.sdk.exceptions import TaskDeferred


class TrainingResult(TypedDict):
    """What downstream tasks read of a training job, flat; the full DescribeTrainingJob stays out of XCom."""

    job_name: str
    job_arn: str
    status: str
    model_artifact: str  # s3://…/model.tar.gz
    hyperparameters: dict[str, str]
    start: str | None  # ISO 8601
    end: str | None
    training_seconds: int | None
    billable_seconds: int | None


def training_result(description: dict[str, Any]) -> TrainingResult:
    """The TrainingResult of a DescribeTrainingJob answer (as the provider's operator returns it)."""
    return TrainingResult(
        job_name=description["TrainingJobName"],
        job_arn=description.get("TrainingJobArn", ""),
        status=description.get("TrainingJobStatus", ""),
        model_artifact=description["ModelArtifacts"]["S3ModelArtifacts"],
        hyperparameters=dict(description.get("HyperParameters", {})),
        start=_iso(description.get("TrainingStartTime")),
        end=_iso(description.get("TrainingEndTime")),
        training_seconds=description.get("TrainingTimeInSeconds"),
        billable_seconds=description.get("BillableTimeInSeconds"),
    )


def _iso(value: object) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else (str(value) if value is not None else None)


class TemplatedTimeoutS3KeySensor(S3KeySensor):
    """S3KeySensor whose timeout is templated, so that a param (`sensor_timeout_seconds`) can set it."""

    template_fields: Sequence[str] = (*S3KeySensor.template_fields, "timeout_seconds")

    def __init__(self, *, timeout_seconds: int | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.timeout_seconds = timeout_seconds

    def execute(self, context: Any) -> None:
        self.timeout = float(self.timeout_seconds)
        return super().execute(context)


class BuiltInTrainingOperator(SageMakerTrainingOperator):
    """SageMakerTrainingOperator that returns a flat TrainingResult and shows the job's whole log once.

    - XCom: a TrainingResult instead of the whole description (large XComs have hung Airflow 3 tasks).
    - Log: deferred, provider 9.39.0 does not hang, but prints the CloudWatch lines it finds before
      deferring twice and none after. Here the provider prints nothing when deferrable, and the whole
      log is printed once when the job has ended, completed or failed.
    """

    def __init__(self, *, print_log: bool = True, **kwargs: Any) -> None:
        super().__init__(print_log=print_log, **kwargs)
        self.print_job_log = print_log and self.deferrable
        if self.print_job_log:
            self.print_log = False

    def execute(self, context: Any) -> TrainingResult:
        with self._job_log(None):  # the name is read after execute, which may have renamed the job
            return training_result(super().execute(context)["Training"])

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> TrainingResult:
        with self._job_log((event or {}).get("job_name")):
            return training_result(super().execute_complete(context, event)["Training"])

    @contextlib.contextmanager
    def _job_log(self, job_name: str | None) -> Iterator[None]:
        """Print the job's log after the wrapped call, unless the call deferred (the job still runs)."""
        try:
            yield
        except TaskDeferred:
            raise
        except Exception:
            self._print_job_log(job_name)
            raise
        self._print_job_log(job_name)

    def _print_job_log(self, job_name: str | None) -> None:
        job_name = job_name or self.config.get("TrainingJobName")
        if not self.print_job_log or not job_name:
            return
        description = self.hook.describe_training_job(job_name)
        self.log.info("CloudWatch log of training job %s:", job_name)
        self.hook.describe_training_job_with_log(
            job_name,
            {},
            [],
            description["ResourceConfig"]["InstanceCount"],
            LogState.JOB_COMPLETE,
            description,
            time.monotonic(),
        )
        self.log.info(secondary_training_status_message(description, None))
