"""Thin subclasses of the Amazon provider's operators: what they add is stated on each."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.amazon.aws.hooks.sagemaker import secondary_training_status_message
from airflow.providers.amazon.aws.operators.sagemaker import (
    SageMakerEndpointOperator,
    SageMakerTrainingOperator,
    SageMakerTransformOperator,
    serialize,
)
from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.providers.amazon.aws.triggers.sagemaker import SageMakerTrigger
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred
from botocore.exceptions import ClientError

from include.airflow_popseg import lineage
from include.airflow_popseg.handoffs import EndpointLifetime, EndpointPlan, TrainingResult
from include.airflow_popseg.job_logs import TRAINING_LOG_GROUP, TRANSFORM_LOG_GROUP, job_log_report
from include.airflow_popseg.triggers import EndpointDeletedTrigger
from include.segmentation_aws.sagemaker_errors import is_not_found


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
        instance_count=description.get("ResourceConfig", {}).get("InstanceCount", 1),
        final_metrics=final_metrics(description),
    )


def final_metrics(description: dict[str, Any]) -> dict[str, float]:
    """A DescribeTrainingJob answer's FinalMetricDataList as name -> value (e.g. {"test:msd": 0.061})."""
    return {metric["MetricName"]: float(metric["Value"]) for metric in description.get("FinalMetricDataList", [])}


def _iso(value: object) -> str | None:
    """A time from boto3 (an aware datetime) as ISO 8601 UTC."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime from DescribeTrainingJob, got {value!r}")
    return value.astimezone(UTC).isoformat()


class TemplatedTimeoutS3KeySensor(S3KeySensor):
    """S3KeySensor whose timeout is templated, so that a param (`sensor_timeout_seconds`) can set it."""

    template_fields: Sequence[str] = (*S3KeySensor.template_fields, "timeout_seconds")
    custom_operator_name = "S3KeySensor"  # what the graph shows: the class name does not fit a node

    def __init__(self, *, timeout_seconds: int | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.timeout_seconds = timeout_seconds

    def execute(self, context: Any) -> None:
        self.timeout = float(self.timeout_seconds)
        return super().execute(context)

    def get_openlineage_facets_on_complete(self, task_instance) -> Any:
        """OpenLineage: the object waited for (an input; its bytes are read by the tasks after it)."""
        from airflow.providers.common.compat.openlineage.facet import Dataset
        from airflow.providers.openlineage.extractors import OperatorLineage

        keys = [self.bucket_key] if isinstance(self.bucket_key, str) else list(self.bucket_key)
        uris = [key if key.startswith("s3://") else f"s3://{self.bucket_name}/{key}" for key in keys]
        return OperatorLineage(inputs=[Dataset(*lineage.s3_dataset(uri)) for uri in uris])


class BuiltInTrainingOperator(SageMakerTrainingOperator):
    """SageMakerTrainingOperator that reattaches instead of paying twice, returns a flat TrainingResult and
    shows the tail of the job's log once.

    - Reattach: the job name derives from the run, so a retried or cleared task finds its own job: Completed
      gives its result, InProgress/Stopping is waited for (deferred), Failed/Stopped fails the task for good
      with the job's reason. Only a run with no job starts one: one CreateTrainingJob per algorithm per run.
    - A failed job fails the task without retries (AirflowFailException): training it again would fail again.
    - XCom: a TrainingResult (ISO 8601 UTC times) instead of the whole description.
    - Log: the job config once (the provider's execute would preprocess and print it a second time).
      Deferred, provider 9.39.0 prints the CloudWatch lines it finds before deferring twice and none
      after. Here the provider prints nothing when deferrable, and once the job has ended, completed or
      failed, the task log shows SageMaker's FailureReason first (when it failed), then the bounded tail of
      the job's CloudWatch log (`job_logs`: how much was left out, and where the whole log is).
    """

    def __init__(self, *, print_log: bool = True, **kwargs: Any) -> None:
        super().__init__(print_log=print_log, action_if_job_exists="fail", **kwargs)
        self.print_job_log = print_log and self.deferrable
        if self.print_job_log:
            self.print_log = False

    def preprocess_config(self) -> None:
        """Once per try: `execute` needs the job's name before the provider's `execute` preprocesses again,
        and each pass logs the whole 45-line job config."""
        if not getattr(self, "_preprocessed", False):
            super().preprocess_config()
            self._preprocessed = True

    def execute(self, context: Any) -> TrainingResult:
        self.preprocess_config()
        name = self.config["TrainingJobName"]
        existing = self._describe(name)
        if existing is None:
            with self._job_log(name), self._job_failure_is_final(name):
                super().execute(context)
            return self.result(name)
        status = existing["TrainingJobStatus"]
        _explain_retry(self.log, context, f"Training job {name}", status)
        self.log.info("Training job %s exists (%s): reattaching instead of starting another.", name, status)
        if status in self.hook.non_terminal_states:
            self.defer(trigger=self._trigger(name), method_name="execute_complete", timeout=self._timeout())
        with self._job_log(name), self._job_failure_is_final(name):
            if status != "Completed":
                raise AirflowFailException(_failure(existing))
        return self.result(name)

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> TrainingResult:
        name = (event or {}).get("job_name") or self.config["TrainingJobName"]
        with self._job_log(name), self._job_failure_is_final(name):
            super().execute_complete(context, event)
        return self.result(name)

    def result(self, job_name: str) -> TrainingResult:
        """The job's TrainingResult; also what the provider's `get_openlineage_facets_on_complete` reads (its
        channels in, its artifact out), which its execute sets only when it waited, not on a reattach."""
        description = self.hook.describe_training_job(job_name)
        self.serialized_training_data = serialize(description)
        return training_result(description)

    def get_openlineage_facets_on_complete(self, task_instance) -> Any:
        """The provider's lineage (each channel in, the artifact out), each dataset once: K-Means' train and test
        channels are the same prefix."""
        found = super().get_openlineage_facets_on_complete(task_instance)
        found.inputs = list({(dataset.namespace, dataset.name): dataset for dataset in found.inputs}.values())
        return found

    def _describe(self, job_name: str) -> dict[str, Any] | None:
        try:
            return self.hook.describe_training_job(job_name)
        except ClientError as error:
            if is_not_found(error):
                return None
            raise

    def _trigger(self, job_name: str) -> SageMakerTrigger:
        return job_trigger(self, job_name, "Training")

    def _timeout(self) -> timedelta | None:
        return timedelta(seconds=self.max_ingestion_time) if self.max_ingestion_time else self.execution_timeout

    def _job_failure_is_final(self, job_name: str) -> contextlib.AbstractContextManager[None]:
        return job_failure_is_final(lambda: self._describe(job_name), "TrainingJobStatus", _failure)

    def _job_log(self, job_name: str) -> contextlib.AbstractContextManager[None]:
        return job_log_after(self.log, job_name, lambda: self._print_job_log(job_name))

    def _print_job_log(self, job_name: str) -> None:
        if not self.print_job_log:
            return
        description = self.hook.describe_training_job(job_name)
        ended = description["TrainingJobStatus"] in ("Failed", "Stopped")
        log_job_end(
            self.log, self.hook, TRAINING_LOG_GROUP, "training", job_name, _failure(description) if ended else None
        )
        self.log.info(secondary_training_status_message(description, None))
        metrics = final_metrics(description)
        if metrics:
            self.log.info(
                "Final metrics of %s: %s",
                job_name,
                ", ".join(f"{name} = {value:.6g}" for name, value in metrics.items()),
            )


def job_trigger(operator: Any, job_name: str, job_type: str) -> SageMakerTrigger:
    """The provider's own trigger for a SageMaker job (`job_type` "Training" or "Transform"), as its operators'
    execute builds it from the operator's connection, polling interval and attempts."""
    return SageMakerTrigger(
        job_name=job_name, job_type=job_type, waiter_delay=operator.check_interval,
        waiter_max_attempts=operator.max_attempts, aws_conn_id=operator.aws_conn_id,
        region_name=operator.region_name, verify=operator.verify, botocore_config=operator.botocore_config,
    )  # fmt: skip


@contextlib.contextmanager
def job_log_after(log, job_name: str, print_job_log: Callable[[], None]) -> Iterator[None]:
    """`print_job_log()` after the wrapped call, also when it failed, unless it deferred (the job still runs).
    A log that cannot be read (e.g. a policy without logs:GetLogEvents) is a warning, not the task's failure."""

    def printed() -> None:
        try:
            print_job_log()
        except ClientError as error:
            log.warning("Could not read the CloudWatch log of job %s: %s", job_name, error)

    try:
        yield
    except TaskDeferred:
        raise
    except Exception:
        printed()
        raise
    printed()


def log_job_end(log, hook: Any, group: str, kind: str, job_name: str, failure: str | None) -> None:
    """Into the task log: `failure` first (as an error), then the bounded tail of the job's log
    (`job_logs.job_log_report`), read with the SageMaker hook's own CloudWatch Logs hook (same connection)."""
    logs = hook.logs_hook.conn
    report = job_log_report(logs, logs.meta.region_name, group, job_name, kind, failure)
    if failure:
        log.error("%s", report.pop(0))
    for line in report:
        log.info("%s", line)


@contextlib.contextmanager
def job_failure_is_final(
    describe: Callable[[], dict[str, Any] | None], status_key: str, failure: Callable[[dict[str, Any]], str]
) -> Iterator[None]:
    """A SageMaker job that ended Failed or Stopped fails the task without retry (it would end so again), with
    `failure(description)` naming the job and SageMaker's reason; a deferral and any other error pass through.
    `describe`: the job's Describe answer, None when it does not exist."""
    try:
        yield
    except (TaskDeferred, AirflowFailException):
        raise
    except Exception:
        described = describe()
        if described and described[status_key] in ("Failed", "Stopped"):
            raise AirflowFailException(failure(described)) from None
        raise


def retry_explanation(try_number: int, resource: str, status: str) -> str | None:
    """Why a try after the first found its resource already there, for the task log; None on a first try.

    What ended the earlier try is not in the task's reach (the Task SDK cannot read the metadata DB), but a
    resource that is there and not Failed says that SageMaker did not fail it: Airflow ended it.
    """
    if try_number <= 1:
        return None
    if status in ("Failed", "Stopped"):
        return f"This is try {try_number}: {resource} is {status}, so the earlier try failed in SageMaker."
    return (
        f"This is try {try_number}: Airflow ran this task again (a retry, or a clear) although {resource} is "
        f"{status}, so SageMaker did not fail the earlier try. Under a real scheduler this is most likely "
        "Airflow 3.3's deferral race (apache/airflow#72716): the scheduler failed the try as 'changed "
        "externally' after its trigger had resumed it. Reattaching: nothing is started or paid twice."
    )


def _explain_retry(log, context: Any, resource: str, status: str) -> None:
    ti = context.get("ti") if hasattr(context, "get") else None
    explanation = retry_explanation(getattr(ti, "try_number", 1) or 1, resource, status)
    if explanation:
        log.warning("%s", explanation)


def _failure(described: dict[str, Any]) -> str:
    """Why a job that ended Failed or Stopped did: its FailureReason, else (a stopped job has none) its
    secondary status and that status's message, e.g. "Stopped (MaxRuntimeExceeded): Training job reached …"."""
    status, secondary = described["TrainingJobStatus"], described.get("SecondaryStatus")
    reason = described.get("FailureReason")
    if not reason:
        messages = [t.get("StatusMessage") for t in described.get("SecondaryStatusTransitions", [])]
        reason = next((message for message in reversed(messages) if message), "(no reason given)")
    shown = f"{status} ({secondary})" if secondary and secondary != status else status
    return f"SageMaker training job {described['TrainingJobName']} is {shown}: {reason}"


class ReattachingEndpointOperator(SageMakerEndpointOperator):
    """SageMakerEndpointOperator that a retry can run again: what the run already created is reused.

    Model and endpoint config that exist are not created again; an endpoint InService is reused, one
    Creating/Updating is waited for (deferred when the operator is deferrable, as the provider's own wait for
    a new endpoint is), and one Failed fails the task for good with its reason.
    """

    def execute(self, context: Any) -> dict:
        endpoint = self.config["Endpoint"]["EndpointName"]
        described = self._describe(self.hook.conn.describe_endpoint, EndpointName=endpoint)
        if described is None:
            for key, describe, name in (
                ("Model", self.hook.conn.describe_model, "ModelName"),
                ("EndpointConfig", self.hook.conn.describe_endpoint_config, "EndpointConfigName"),
            ):
                if self._describe(describe, **{name: self.config[key][name]}) is not None:
                    self.log.info("%s %s exists: reusing it.", key, self.config[key][name])
                    self.config = {k: v for k, v in self.config.items() if k != key}
            return super().execute(context)
        status = described["EndpointStatus"]
        _explain_retry(self.log, context, f"Endpoint {endpoint}", status)
        self.log.info("Endpoint %s exists (%s): reattaching instead of creating it again.", endpoint, status)
        if status == "Failed":
            raise AirflowFailException(f"Endpoint {endpoint} is Failed: {described.get('FailureReason', '')}")
        if status != "InService" and self.deferrable:
            self.defer(
                trigger=SageMakerTrigger(
                    job_name=endpoint, job_type="endpoint", waiter_delay=self.check_interval,
                    aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify,
                    botocore_config=self.botocore_config,
                ),
                method_name="execute_complete",
                timeout=timedelta(seconds=self.max_ingestion_time),
            )  # fmt: skip
        if status != "InService":
            self.hook.conn.get_waiter("endpoint_in_service").wait(
                EndpointName=endpoint,
                WaiterConfig={
                    "Delay": self.check_interval,
                    "MaxAttempts": max(1, int((self.max_ingestion_time or 3600) // self.check_interval)),
                },
            )
        return {"Endpoint": {"EndpointName": endpoint, "EndpointStatus": "InService"}}

    def get_openlineage_facets_on_complete(self, task_instance) -> Any:
        """OpenLineage: the endpoint serves the model artifact of its training job (an input)."""
        from airflow.providers.openlineage.extractors import OperatorLineage

        model = self.config.get("Model") or {}  # a retry that reused the model dropped it from the config
        artifact = model.get("PrimaryContainer", {}).get("ModelDataUrl")
        return OperatorLineage(inputs=[self.path_to_s3_dataset(artifact)] if artifact else [])

    @staticmethod
    def _describe(describe, **name: str) -> dict[str, Any] | None:
        try:
            return describe(**name)
        except ClientError as error:
            if is_not_found(error):
                return None
            raise


CREATED_XCOM = "endpoint_created"  # EndpointTeardownOperator: the endpoint's CreationTime, across its deferral


class EndpointTeardownOperator(BaseOperator):
    """Teardown of an endpoint `plan`: delete the endpoint, its config and its model; gone already is fine.

    Holds no worker while SageMaker deletes the endpoint (20-60 s on AWS): the task issues DeleteEndpoint
    (again while SageMaker refuses it, e.g. while the endpoint is Creating), defers to EndpointDeletedTrigger,
    and resumes to verify the endpoint gone, delete config and model and return the EndpointLifetime the
    run's cost reads. A wait that ended in error or timed out resumes too: the endpoint's delete is then retried
    in the worker as before, config and model deleted all the same, and TeardownIncomplete names what is left.
    A retry starts over: an endpoint already Deleting is waited for, one already gone is fine.
    """

    template_fields: Sequence[str] = ("plan", "aws_conn_id")

    def __init__(
        self,
        *,
        plan: EndpointPlan,
        aws_conn_id: str | None = "aws_default",
        botocore_config: dict | None = None,
        check_interval: float = 30,
        timeout_seconds: float = 1800,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.plan, self.aws_conn_id, self.botocore_config = plan, aws_conn_id, botocore_config
        self.check_interval, self.timeout_seconds = check_interval, timeout_seconds

    def execute(self, context: Any) -> EndpointLifetime:
        import time

        from include.airflow_popseg import steps
        from include.airflow_popseg.context import RunContext

        run, deadline = RunContext.current(), time.monotonic() + self.timeout_seconds
        created, deleting = steps.start_endpoint_delete(run, self.plan, deadline)
        if deleting:
            # Kept for the resume in an XCom of this try, not in the deferral's kwargs: `dag.test()` resumes with
            # the trigger's event alone (the triggerer keeps them).
            context["ti"].xcom_push(key=CREATED_XCOM, value=created)
            self.defer(
                trigger=EndpointDeletedTrigger(
                    endpoint_name=self.plan["Endpoint"]["EndpointName"], waiter_delay=self.check_interval,
                    waiter_max_attempts=max(1, int(self.timeout_seconds // self.check_interval)),
                    aws_conn_id=self.aws_conn_id, botocore_config=self.botocore_config,
                ),
                method_name="execute_complete",
            )  # fmt: skip
        return steps.finish_endpoint_delete(run, self.plan, created, None, deadline)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> EndpointLifetime:
        import time

        from include.airflow_popseg import steps
        from include.airflow_popseg.context import RunContext

        if event.get("status") != "success":
            self.log.warning(
                "Waiting for endpoint %s to be deleted ended without it gone (%s: %s); deleting it from the worker",
                self.plan["Endpoint"]["EndpointName"], event.get("status"), event.get("message"),
            )  # fmt: skip
        created = context["ti"].xcom_pull(task_ids=self.task_id, key=CREATED_XCOM)
        deadline = time.monotonic() + self.timeout_seconds
        return steps.finish_endpoint_delete(RunContext.current(), self.plan, created, event.get("gone_at"), deadline)


class ReattachingTransformOperator(SageMakerTransformOperator):
    """SageMakerTransformOperator (deferrable) that a retry or a clear runs again without a second job.

    The job name derives from the run: a job that exists is reattached to (Completed: done; InProgress or
    Stopping: waited for, deferred), and one Failed or Stopped fails the task for good with SageMaker's reason,
    as does a job that fails while deferred (the provider raises a bare RuntimeError). A model the run already
    created is reused. Returns the job's name and where it wrote its `.out` objects, not the whole description.
    Once the job has ended, the task log shows its FailureReason first (when it failed), then the bounded tail
    of its CloudWatch log, as for training jobs (`print_log=False`: neither).
    """

    def __init__(self, *, print_log: bool = True, **kwargs: Any) -> None:
        super().__init__(check_if_job_exists=False, check_if_model_exists=False, **kwargs)
        self.print_job_log = print_log

    def execute(self, context: Any) -> dict[str, str]:
        self.preprocess_config()
        name = self.config["Transform"]["TransformJobName"]
        described = self._describe(self.hook.conn.describe_transform_job, TransformJobName=name)
        if described is None:
            model = self.config["Model"]["ModelName"]
            if self._describe(self.hook.conn.describe_model, ModelName=model) is not None:
                self.log.info("Model %s exists: reusing it.", model)
                self.config = {key: value for key, value in self.config.items() if key != "Model"}
            with self._job_log(name), self._job_failure_is_final(name):
                super().execute(context)
            return self.result(name)
        status = described["TransformJobStatus"]
        _explain_retry(self.log, context, f"Transform job {name}", status)
        self.log.info("Transform job %s exists (%s): reattaching instead of starting another.", name, status)
        if status in ("InProgress", "Stopping"):
            self.defer(
                trigger=job_trigger(self, name, "Transform"),
                method_name="execute_complete",
                timeout=timedelta(seconds=self.max_ingestion_time) if self.max_ingestion_time else None,
            )
        with self._job_log(name):
            if status != "Completed":
                raise AirflowFailException(_transform_failure(described))
        return self.result(name)

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, str]:
        name = (event or {}).get("job_name") or self.config["Transform"]["TransformJobName"]
        with self._job_log(name), self._job_failure_is_final(name):
            super().execute_complete(context, event)
        return self.result(name)

    def result(self, job_name: str) -> dict[str, str]:
        described = self.hook.describe_transform_job(job_name)
        if described["TransformJobStatus"] != "Completed":
            raise AirflowFailException(_transform_failure(described))
        self.serialized_transform = serialize(described)  # for get_openlineage_facets_on_complete
        return {"job_name": job_name, "output": described["TransformOutput"]["S3OutputPath"]}

    def get_openlineage_facets_on_complete(self, task_instance) -> Any:
        """OpenLineage: the job's input files and its model's artifact in, its output prefix out. The provider's
        own looks the artifact up through a model package, which a built-in algorithm's model has not (it
        would log a KeyError's traceback on every run), and misses a reattached job."""
        from airflow.providers.openlineage.extractors import OperatorLineage

        transform = self.serialized_transform
        model = self.hook.describe_model(transform["ModelName"])
        sources = [transform["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]]
        sources += [url for url in [model.get("PrimaryContainer", {}).get("ModelDataUrl")] if url]
        return OperatorLineage(
            inputs=[self.path_to_s3_dataset(uri) for uri in sources],
            outputs=[self.path_to_s3_dataset(transform["TransformOutput"]["S3OutputPath"])],
        )

    def _job_log(self, job_name: str) -> contextlib.AbstractContextManager[None]:
        return job_log_after(self.log, job_name, lambda: self._print_job_log(job_name))

    def _print_job_log(self, job_name: str) -> None:
        if not self.print_job_log:
            return
        described = self.hook.conn.describe_transform_job(TransformJobName=job_name)
        ended = described["TransformJobStatus"] in ("Failed", "Stopped")
        failure = _transform_failure(described) if ended else None
        log_job_end(self.log, self.hook, TRANSFORM_LOG_GROUP, "transform", job_name, failure)

    def _job_failure_is_final(self, job_name: str) -> contextlib.AbstractContextManager[None]:
        describe = self.hook.conn.describe_transform_job
        return job_failure_is_final(
            lambda: self._describe(describe, TransformJobName=job_name), "TransformJobStatus", _transform_failure
        )

    _describe = staticmethod(ReattachingEndpointOperator._describe)


def _transform_failure(described: dict[str, Any]) -> str:
    return (
        f"SageMaker transform job {described['TransformJobName']} is {described['TransformJobStatus']}: "
        f"{described.get('FailureReason') or '(no reason given)'}"
    )
