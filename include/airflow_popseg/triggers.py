"""The one trigger the provider lacks: waiting, in the triggerer, for a SageMaker endpoint to be gone.

Built on the provider's AwsBaseWaiterTrigger with botocore's own `endpoint_deleted` waiter (DescribeEndpoint
until it answers ValidationException; EndpointStatus Failed ends the wait), as the provider's SageMakerTrigger
waits for `endpoint_in_service`. It adds one thing: the time the waiter saw the endpoint gone, which the
run's cost counts its hosting up to (at most one `waiter_delay` after SageMaker removed it). And a bound: the
provider's wait retries a throttled or failing DescribeEndpoint (ThrottlingException, InternalFailure...)
without counting an attempt, so a Describe that fails that way every time held the task deferred forever; the
whole wait now ends, in error, after `waiter_max_attempts` + 1 delays, and the teardown goes on in the worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook
from airflow.providers.amazon.aws.triggers.base import AwsBaseWaiterTrigger
from airflow.triggers.base import TriggerEvent


class EndpointDeletedTrigger(AwsBaseWaiterTrigger):
    """Fires when DescribeEndpoint no longer finds `endpoint_name`: {"status": "success", "endpoint_name",
    "gone_at": ISO 8601 UTC}; or with the provider's "error" event when it is Failed, Describe fails or
    `waiter_max_attempts` polls have passed; or with an "error" event of its own when Describe was still being
    retried (throttled, failing) after `waiter_max_attempts` + 1 delays."""

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
        name, bound = self.serialized_fields["endpoint_name"], self.waiter_delay * (self.attempts + 1)
        waited = super().run()
        try:
            async with asyncio.timeout(bound):  # the event is yielded outside: the bound is the wait's alone
                event = await anext(waited)
        except TimeoutError:
            polls = f"{self.attempts} polls every {self.waiter_delay:g} s"
            message = (
                f"Endpoint {name} not seen gone after {bound:g} s ({polls}): "
                "DescribeEndpoint was still being retried (throttled or failing)"
            )
            event = TriggerEvent({"status": "error", "message": message, "endpoint_name": name})
        finally:
            await waited.aclose()  # the provider's client is closed before the event is handed on
        if event.payload.get("status") == "success":
            event = TriggerEvent({**event.payload, "gone_at": datetime.now(UTC).isoformat()})
        yield event
