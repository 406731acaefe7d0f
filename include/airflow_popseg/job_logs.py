"""A SageMaker job's CloudWatch log, bounded for the task log: the tail of each of the job's streams, how many
lines were left out before it, and where the whole log is.

Where SageMaker writes ("Log Amazon SageMaker Events with Amazon CloudWatch", SageMaker Developer Guide):
training jobs to `/aws/sagemaker/TrainingJobs`, one stream per instance, `<job name>/algo-<n>-<epoch>`;
batch transform jobs to `/aws/sagemaker/TransformJobs`, `<job name>/<instance id>-<epoch>` and, for the
data plane, `<job name>/<instance id>-<epoch>/data-log`. Every stream of a job starts with `<job name>/`.

Nothing here reads a log whole: GetLogEvents is asked from the end (`startFromHead=False`) with a `limit`,
and the lines before the tail are counted page by page, at most COUNT_PAGES pages, without keeping them.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import quote

TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
TRANSFORM_LOG_GROUP = "/aws/sagemaker/TransformJobs"

# The tail of a job's log that the task log shows, whichever bound is reached first. 200 lines hold a
# built-in algorithm's last epochs, its final metrics and, on failure, the traceback or the data-plane
# error lines; 64 KiB keeps one task's log readable in Airflow's UI when lines are long (a stack of
# JSON records), and is a sixteenth of the 1 MB one GetLogEvents page may return.
TAIL_LINES = 200
TAIL_BYTES = 64 * 1024

# Streams of one job read at most (a stream per instance, and a data-log per instance for a transform
# job): more instances than the pipeline ever runs (2 for training). The budget above is shared among them.
MAX_STREAMS = 8

# Counting the lines before the tail reads GetLogEvents pages of COUNT_PAGE_LINES events (the API's
# largest limit) and stops after COUNT_PAGES of them, then says "more than": at most ~10 MB transferred,
# one page (≤ 1 MB) in memory at a time, a handful of calls against GetLogEvents' 25 per second.
COUNT_PAGE_LINES = 10_000
COUNT_PAGES = 10


@dataclasses.dataclass(frozen=True)
class StreamTail:
    """The last lines of one log stream. `earlier`: how many lines come before them, None when more than
    `counted_up_to` (counting stopped); `cut_lines`: lines of the tail whose start was cut off to fit."""

    group: str
    stream: str
    lines: list[str]
    earlier: int | None
    counted_up_to: int
    cut_lines: int = 0

    def left_out(self) -> str:
        if self.earlier is None:
            return f"more than {self.counted_up_to} earlier lines left out"
        return f"{self.earlier} earlier line{'s' if self.earlier != 1 else ''} left out"


def console_url(region: str, group: str, stream: str) -> str:
    """The CloudWatch console's page of one log stream (its `#logsV2:` fragment escapes `%` as `$25`)."""

    def escaped(name: str) -> str:
        return quote(quote(name, safe=""), safe="").replace("%", "$")

    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#logsV2:log-groups/log-group/{escaped(group)}/log-events/{escaped(stream)}"
    )


def job_streams(logs: Any, group: str, job_name: str) -> list[str]:
    """The names of the job's streams (at most MAX_STREAMS), in name order; [] when the group or the
    job's streams do not exist yet (a job that failed before its container wrote a line)."""
    try:
        answer = logs.describe_log_streams(
            logGroupName=group, logStreamNamePrefix=f"{job_name}/", orderBy="LogStreamName", limit=MAX_STREAMS
        )
    except logs.exceptions.ResourceNotFoundException:
        return []
    return [stream["logStreamName"] for stream in answer["logStreams"]]


def stream_tail(logs: Any, group: str, stream: str, max_lines: int, max_bytes: int) -> StreamTail:
    """The last lines of `stream`: at most `max_lines` lines and `max_bytes` bytes of UTF-8 (a single line
    longer than that keeps its end), and the count of the lines before them."""
    page = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=False, limit=max_lines)
    messages = [event["message"] for event in page["events"]]
    kept: list[str] = []
    size, cut = 0, 0
    for message in reversed(messages):
        encoded = message.encode()
        if size + len(encoded) > max_bytes:
            if not kept:  # one line longer than the whole budget: its end, where the error usually is
                kept.append("…" + encoded[-(max_bytes - len("…".encode())) :].decode(errors="ignore"))
                cut = 1
            break
        kept.append(message)
        size += len(encoded)
    kept.reverse()
    earlier, counted = _count_before(logs, group, stream, page)
    return StreamTail(group, stream, kept, None if earlier is None else earlier + len(messages) - len(kept),
                      counted, cut)  # fmt: skip


def _count_before(logs: Any, group: str, stream: str, page: dict[str, Any]) -> tuple[int | None, int]:
    """How many events come before `page` (None: more than the second value, where counting stopped)."""
    if not page["events"]:
        return 0, 0
    token, counted = page.get("nextBackwardToken"), 0
    for _ in range(COUNT_PAGES):
        if not token:
            return counted, counted
        earlier = logs.get_log_events(
            logGroupName=group, logStreamName=stream, startFromHead=False, limit=COUNT_PAGE_LINES, nextToken=token
        )
        counted += len(earlier["events"])
        if earlier.get("nextBackwardToken") == token:  # the start of the stream (a page may be empty before it)
            return counted, counted
        token = earlier.get("nextBackwardToken")
    return None, counted


def job_log_report(logs: Any, region: str, group: str, job_name: str, kind: str, failure: str | None) -> list[str]:
    """What the task log shows of a job that ended, line by line: `failure` (SageMaker's FailureReason, as
    the operator words it) first when the job failed, then for each stream where its whole log is, how much
    was left out, and its tail. The TAIL_LINES/TAIL_BYTES budget is shared among the job's streams."""
    report = [failure] if failure else []
    streams = job_streams(logs, group, job_name)
    if not streams:
        report.append(f"CloudWatch log of {kind} job {job_name}: no stream under {group}/{job_name}/ (yet).")
        return report
    lines, size = max(1, TAIL_LINES // len(streams)), max(1024, TAIL_BYTES // len(streams))
    for stream in streams:
        tail = stream_tail(logs, group, stream, lines, size)
        cut = f"; the start of {tail.cut_lines} longer line cut off" if tail.cut_lines else ""
        report.append(
            f"CloudWatch log of {kind} job {job_name}, last {len(tail.lines)} lines ({tail.left_out()}{cut}). "
            f"Whole log: log group {group}, stream {stream}, {console_url(region, group, stream)}"
        )
        report += tail.lines
    return report
