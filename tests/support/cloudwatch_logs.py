"""A stand-in for a boto3 CloudWatch Logs client holding a few streams, paging GetLogEvents backwards as
AWS documents it (the newest `limit` events first, `nextBackwardToken` to the earlier page, the same token
back at the start of the stream), and recording each call so a test can check what was read."""

from __future__ import annotations

from typing import Any


class ResourceNotFoundException(Exception):
    pass


class StubLogs:
    """`streams`: log group -> stream name -> its messages, oldest first."""

    class exceptions:  # shaped like boto3's client.exceptions
        ResourceNotFoundException = ResourceNotFoundException

    class meta:  # shaped like boto3's client.meta
        region_name = "eu-west-1"

    def __init__(self, streams: dict[str, dict[str, list[str]]]) -> None:
        self.streams = streams
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def describe_log_streams(self, **params: Any) -> dict[str, Any]:
        self.calls.append(("DescribeLogStreams", params))
        if params["logGroupName"] not in self.streams:
            raise ResourceNotFoundException("The specified log group does not exist.")
        names = sorted(n for n in self.streams[params["logGroupName"]] if n.startswith(params["logStreamNamePrefix"]))
        return {"logStreams": [{"logStreamName": name} for name in names[: params.get("limit", 50)]]}

    def get_log_events(self, **params: Any) -> dict[str, Any]:
        self.calls.append(("GetLogEvents", params))
        assert params["startFromHead"] is False and 1 <= params["limit"] <= 10_000, params
        messages = self.streams[params["logGroupName"]][params["logStreamName"]]
        end = int(params["nextToken"][2:]) if "nextToken" in params else len(messages)
        start = max(0, end - params["limit"])
        events = [{"timestamp": 1_000 + i, "message": messages[i]} for i in range(start, end)]
        return {"events": events, "nextBackwardToken": f"b/{start}", "nextForwardToken": f"f/{end}"}
