"""A job's CloudWatch log in the task log: a bounded tail, how much was left out, where the whole log is, and
on failure SageMaker's reason before it (include/airflow_popseg/job_logs.py, against a stubbed client)."""

from __future__ import annotations

from include.airflow_popseg import job_logs
from include.airflow_popseg.job_logs import TRAINING_LOG_GROUP, TRANSFORM_LOG_GROUP, job_log_report
from tests.support.cloudwatch_logs import StubLogs

JOB = "popseg-kmeans-abc"
STREAM = f"{JOB}/algo-1-1765000000"


def _report(streams: dict[str, list[str]], group: str = TRAINING_LOG_GROUP, failure: str | None = None):
    logs = StubLogs({group: streams})
    return logs, job_log_report(logs, "eu-west-1", group, JOB, "training", failure)


def test_a_short_log_is_shown_whole_with_nothing_left_out() -> None:
    _, report = _report({STREAM: ["a", "b", "c"]})
    assert report[0].startswith(f"CloudWatch log of training job {JOB}, last 3 lines (0 earlier lines left out).")
    assert report[1:] == ["a", "b", "c"]


def test_a_long_log_is_cut_to_its_last_lines_and_says_how_many_were_left_out() -> None:
    lines = [f"line {i}" for i in range(25_000)]
    _, report = _report({STREAM: lines})
    assert report[1:] == lines[-job_logs.TAIL_LINES :]
    assert f"last {job_logs.TAIL_LINES} lines ({25_000 - job_logs.TAIL_LINES} earlier lines left out)" in report[0]


def test_long_lines_are_cut_to_the_byte_budget_and_counted_as_left_out() -> None:
    lines = [f"{i:04d}" + "x" * 1020 for i in range(150)]  # 1 KiB each: 64 fit
    _, report = _report({STREAM: lines})
    assert report[1:] == lines[-64:]
    assert "last 64 lines (86 earlier lines left out)" in report[0]


def test_a_line_longer_than_the_budget_keeps_its_end() -> None:
    _, report = _report({STREAM: ["start " + "x" * job_logs.TAIL_BYTES + " the error"]})
    assert report[1].startswith("…") and report[1].endswith(" the error")
    assert len(report[1].encode()) <= job_logs.TAIL_BYTES
    assert "the start of 1 longer line cut off" in report[0]


def test_counting_stops_after_its_pages_and_says_more_than() -> None:
    counted = job_logs.COUNT_PAGES * job_logs.COUNT_PAGE_LINES
    logs, report = _report({STREAM: ["."] * (counted + job_logs.TAIL_LINES + 5)})
    assert f"(more than {counted} earlier lines left out)" in report[0]
    assert len([c for c in logs.calls if c[0] == "GetLogEvents"]) == 1 + job_logs.COUNT_PAGES


def test_every_read_is_from_the_end_and_limited() -> None:
    logs, _ = _report({STREAM: ["."] * 30_000})
    reads = [params for operation, params in logs.calls if operation == "GetLogEvents"]
    assert reads[0]["limit"] == job_logs.TAIL_LINES and "nextToken" not in reads[0]
    assert all(not p["startFromHead"] and p["limit"] <= 10_000 for p in reads)


def test_the_report_says_where_the_whole_log_is() -> None:
    _, report = _report({STREAM: ["a"]})
    assert f"Whole log: log group {TRAINING_LOG_GROUP}, stream {STREAM}, " in report[0]
    assert report[0].endswith(
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:log-groups/log-group/"
        "$252Faws$252Fsagemaker$252FTrainingJobs/log-events/popseg-kmeans-abc$252Falgo-1-1765000000"
    )


def test_a_failed_jobs_reason_comes_before_its_log() -> None:
    reason = f"SageMaker training job {JOB} is Failed: ClientError: k = 1 must be at least 2"
    _, report = _report({STREAM: ["a", "b"]}, failure=reason)
    assert report[0] == reason and report[1].startswith("CloudWatch log of") and report[2:] == ["a", "b"]


def test_a_transform_jobs_streams_share_the_budget() -> None:
    container, data_log = f"{JOB}/i-0abc-1765000000", f"{JOB}/i-0abc-1765000000/data-log"
    lines = [f"line {i}" for i in range(500)]
    logs = StubLogs({TRANSFORM_LOG_GROUP: {container: lines, data_log: lines, "popseg-kmeans-abcd/i-1": ["other"]}})
    report = job_log_report(logs, "eu-west-1", TRANSFORM_LOG_GROUP, JOB, "transform", None)
    headers = [line for line in report if line.startswith("CloudWatch log of transform job")]
    assert [h.split("stream ")[1].split(",")[0] for h in headers] == [container, data_log]
    assert len(report) == 2 + job_logs.TAIL_LINES and "other" not in report


def test_a_job_without_a_stream_says_so() -> None:
    logs = StubLogs({})
    report = job_log_report(logs, "eu-west-1", TRAINING_LOG_GROUP, JOB, "training", "the reason")
    assert report == [
        "the reason",
        f"CloudWatch log of training job {JOB}: no stream under {TRAINING_LOG_GROUP}/{JOB}/ (yet).",
    ]


def test_a_log_that_cannot_be_read_is_a_warning_naming_the_job_not_a_failure(caplog) -> None:
    import logging

    from botocore.exceptions import ClientError

    from include.airflow_popseg.operators import job_log_after

    def denied() -> None:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}, "GetLogEvents")

    log = logging.getLogger("test_job_logs")
    with caplog.at_level(logging.WARNING), job_log_after(log, JOB, denied):
        pass
    assert f"Could not read the CloudWatch log of job {JOB}: " in caplog.text and "AccessDeniedException" in caplog.text
