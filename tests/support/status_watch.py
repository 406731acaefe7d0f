"""Watching a SageMaker resource pass through its states, as a client polling Describe* sees them."""

from __future__ import annotations

import time
from collections.abc import Callable

from botocore.exceptions import ClientError

GONE = "(gone)"
"""What `statuses_seen` records once Describe* answers that the resource no longer exists."""


def statuses_seen(describe: Callable[[], dict], key: str, until: set[str], attempts: int = 3000) -> list[str]:
    """The distinct values of `describe()[key]` in the order seen, polling every 0.02 s until one in `until`
    (included) or until the resource is gone (`GONE` is then the last entry)."""
    seen: list[str] = []
    for _ in range(attempts):
        try:
            status = describe()[key]
        except ClientError as error:
            if error.response["Error"]["Code"] != "ValidationException":
                raise
            status = GONE
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in until or status == GONE:
            return seen
        time.sleep(0.02)
    raise TimeoutError(f"{key} still {seen[-1]!r} after {attempts} polls; seen {seen}")
