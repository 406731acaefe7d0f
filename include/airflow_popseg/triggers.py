"""The one trigger the provider lacks: waiting, in the triggerer, for a SageMaker endpoint to be gone.

Built on the provider's AwsBaseWaiterTrigger with botocore's own `endpoint_deleted` waiter (DescribeEndpoint
until it answers ValidationException; EndpointStatus Failed ends the wait), as the provider's SageMakerTrigger
waits for `endpoint_in_service`. It adds one thing: the time the waiter saw the endpoint gone, which the
run's cost counts its hosting up to (at most one `waiter_delay` after SageMaker removed it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook
from airflow.providers.amazon.aws.triggers.base import AwsBaseWaiterTrigger
from airflow.triggers.base import TriggerEvent


class EndpointDeletedTrigger(AwsBaseWaiterTrigger):
    """Fires when DescribeEndpoint no longer finds `endpoint_name`: {"status": "success", "endpoint_name",
    "gone_at": ISO 8601 UTC}; or with the provider's "error" event when it is Failed, Describe fails or
    `waiter_max_attempts` polls have passed."""

    aws_hook_class = SageMakerHook

    def __init__(
        self, *, endpoint_name: str, waiter_delay: float = 30, waiter_max_attempts: int = 60, **kwargs
    ) -> None:
        super().__init__(
            serialized_fields={"endpoint_name": endpoint_name},
            waiter_name="endpoint_deleted",
            waiter_args={"EndpointName": endpoint_name},
            failure_message=f"Error while waiting for endpoint {endpoint_name} to be deleted",
            status_message=f"Endpoint {endpoint_name} not deleted yet",
            status_queries=["EndpointStatus"],
            return_key="endpoint_name",
            return_value=endpoint_name,
            waiter_delay=waiter_delay,
            waiter_max_attempts=waiter_max_attempts,
            **kwargs,
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        async for event in super().run():
            if event.payload.get("status") == "success":
                event = TriggerEvent({**event.payload, "gone_at": datetime.now(UTC).isoformat()})
            yield event
