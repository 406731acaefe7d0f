"""The running task's view of its run: params, S3 layout, SageMaker names, one store, region and role."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from include.airflow_popseg import allocators, lineage, settings
from include.segmentation_aws.defaults import DEFAULT_REGION
from include.segmentation_aws.layout import RunLayout
from include.segmentation_aws.names import RunNames
from include.segmentation_aws.store import RunStore


@dataclass(frozen=True)
class RunContext:
    """What every task of a run needs, built from Airflow's task context by `current()`."""

    params: dict
    run_id: str
    conn_id: str

    @classmethod
    def current(cls) -> RunContext:
        """The running task's run; its process's allocators are settled first (allocators.return_freed_memory:
        every task builds its context before it reads a row)."""
        from airflow.sdk import get_current_context

        allocators.return_freed_memory()
        context = get_current_context()
        return cls(params=dict(context["params"]), run_id=context["run_id"], conn_id=settings.conn_id())

    @functools.cached_property
    def names(self) -> RunNames:
        return RunNames.for_run(self.run_id)

    @functools.cached_property
    def layout(self) -> RunLayout:
        return RunLayout(self.params["bucket"], self.params["output_prefix"], self.run_id, self.names.token)

    @property
    def store(self) -> RunStore:
        return RunStore(_s3_client(self.conn_id), self.params["bucket"], lineage.TASK)

    @property
    def input_uri(self) -> str:
        return f"s3://{self.params['bucket']}/{self.params['input_key']}"

    @functools.cached_property
    def region(self) -> str:
        from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

        return (
            SageMakerHook(aws_conn_id=self.conn_id, config=settings.BOTOCORE_CONFIG).conn_region_name or DEFAULT_REGION
        )

    @property
    def role_arn(self) -> str:
        """The SageMaker execution role: the `role_arn` param, else the Variable; refused when neither is set."""
        from airflow.sdk import Variable

        role = self.params.get("role_arn") or Variable.get(settings.ROLE_ARN_VARIABLE, default=None)
        if not role:
            raise ValueError(
                f"No SageMaker execution role: set the {settings.ROLE_ARN_VARIABLE} Variable or the role_arn param"
            )
        return role

    def sagemaker_runtime(self):
        """A sagemaker-runtime client (InvokeEndpoint) through the run's connection."""
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        return AwsBaseHook(
            aws_conn_id=self.conn_id, client_type="sagemaker-runtime", config=settings.RUNTIME_BOTOCORE_CONFIG
        ).conn

    def sagemaker(self):
        from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

        return SageMakerHook(aws_conn_id=self.conn_id, config=settings.BOTOCORE_CONFIG).conn


@functools.cache
def _s3_client(conn_id: str):
    """One S3 client per connection and process: a task writes many objects."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=conn_id, config=settings.BOTOCORE_CONFIG).get_conn()
