"""Thin subclasses of the Amazon provider's operators: what they add is stated on each."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from typing import Any

from airflow.providers.amazon.aws.hooks.sagemaker import LogState, secondary_training_status_message
from airflow.providers.amazon.aws.operators.sagemaker import SageMakerTrainingOperator
from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.sdk.exceptions import TaskDeferred

# What downstream tasks read of a training job; the full DescribeTrainingJob stays out of XCom.
TRAINING_FIELDS = (
    "TrainingJobName",
    "TrainingJobArn",
    "TrainingJobStatus",
    "HyperParameters",
    "TrainingStartTime",
    "TrainingEndTime",
    "TrainingTimeInSeconds",
    "BillableTimeInSeconds",
    "FinalMetricDataList",
)


class CensusKeySensor(S3KeySensor):
    """S3KeySensor whose timeout comes from a templated value (the DAG's `sensor_timeout` param)."""

    template_fields: Sequence[str] = (*S3KeySensor.template_fields, "timeout_seconds")

    def __init__(self, *, timeout_seconds: int | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.timeout_seconds = timeout_seconds

    def execute(self, context: Any) -> None:
        self.timeout = float(self.timeout_seconds)
        return super().execute(context)


class BuiltInTrainingOperator(SageMakerTrainingOperator):
    """SageMakerTrainingOperator that pushes a small XCom and shows the job's whole log once.

    - XCom: `{"Training": {TrainingJobName, ModelArtifacts, billing and timing}}` instead of the whole
      description (large XComs have hung Airflow 3 tasks).
    - Log: deferred, provider 9.39.0 does not hang, but prints the CloudWatch lines it finds before
      deferring twice and none after. Here the provider prints nothing when deferrable, and the whole
      log is printed once when the job has ended, completed or failed.
    """

    def __init__(self, *, print_log: bool = True, **kwargs: Any) -> None:
        super().__init__(print_log=print_log, **kwargs)
        self.print_job_log = print_log and self.deferrable
        if self.print_job_log:
            self.print_log = False

    def execute(self, context: Any) -> dict:
        with self._job_log(None):  # the name is read after execute, which may have renamed the job
            return _slim(super().execute(context))

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict:
        with self._job_log((event or {}).get("job_name")):
            return _slim(super().execute_complete(context, event))

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
            job_name, {}, [], description["ResourceConfig"]["InstanceCount"], LogState.JOB_COMPLETE,
            description, time.monotonic(),
        )  # fmt: skip
        self.log.info(secondary_training_status_message(description, None))


def _slim(result: dict) -> dict:
    training = result["Training"]
    slim = {key: training[key] for key in TRAINING_FIELDS if key in training}
    slim["ModelArtifacts"] = {"S3ModelArtifacts": training["ModelArtifacts"]["S3ModelArtifacts"]}
    return {"Training": slim}
