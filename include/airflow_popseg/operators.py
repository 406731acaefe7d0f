"""Thin subclasses of the Amazon provider's operators: what they add is stated on each."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from airflow.providers.amazon.aws.hooks.sagemaker import LogState
from airflow.providers.amazon.aws.operators.sagemaker import SageMakerTrainingOperator
from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor

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
    """SageMakerTrainingOperator that pushes a small XCom and always shows the job's log.

    - XCom: `{"Training": {TrainingJobName, ModelArtifacts, billing and timing}}` instead of the whole
      description (large XComs have hung Airflow 3 tasks).
    - Log: provider 9.39.0 prints CloudWatch lines only until it defers (it does not hang), so after
      a deferred job completes the whole log is printed here, once.
    """

    def execute(self, context: Any) -> dict:
        return _slim(super().execute(context))

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict:
        result = super().execute_complete(context, event)
        if self.print_log:
            self._print_job_log(result["Training"]["TrainingJobName"])
        return _slim(result)

    def _print_job_log(self, job_name: str) -> None:
        description = self.hook.describe_training_job(job_name)
        self.log.info("CloudWatch log of training job %s:", job_name)
        self.hook.describe_training_job_with_log(
            job_name, {}, [], description["ResourceConfig"]["InstanceCount"], LogState.JOB_COMPLETE,
            description, time.monotonic(),
        )  # fmt: skip


def _slim(result: dict) -> dict:
    training = result["Training"]
    slim = {key: training[key] for key in TRAINING_FIELDS if key in training}
    slim["ModelArtifacts"] = {"S3ModelArtifacts": training["ModelArtifacts"]["S3ModelArtifacts"]}
    return {"Training": slim}
