"""Recording the operation name of every AWS API call a test's process makes (boto3 clients, in order)."""

from __future__ import annotations

import pytest


def record_operations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A list that receives the operation name of every botocore API call made from now until `monkeypatch`
    is undone, e.g. ["HeadObject", "CreateTrainingJob", …]."""
    import botocore.client

    calls: list[str] = []
    real_call = botocore.client.BaseClient._make_api_call
    monkeypatch.setattr(
        botocore.client.BaseClient,
        "_make_api_call",
        lambda client, operation, params: calls.append(operation) or real_call(client, operation, params),
    )
    return calls
