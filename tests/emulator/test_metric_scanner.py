"""Reading metrics from a job's log with its metric definitions, as SageMaker does (aws_emulator/README.md)."""

from __future__ import annotations

from aws_emulator.sagemaker.metrics import MAX_PENDING_DATAPOINTS, PUT_METRIC_DATA_MAX_ITEMS, MetricScanner

DEFINITIONS = [
    {"Name": "train:loss", "Regex": r"train loss=(\S+)"},
    {"Name": "test:loss", "Regex": r"test loss=(\S+)"},
    {"Name": "train:progress", "Regex": r"completed (\S+) %"},
]


def _scanned(*lines: str) -> MetricScanner:
    scanner = MetricScanner(DEFINITIONS)
    for second, line in enumerate(lines):
        scanner.scan(line, float(second))
    return scanner


def test_the_final_value_is_the_last_match_stamped_with_its_lines_time() -> None:
    scanner = _scanned("train loss=0.9", "noise", "train loss=0.5", "done")
    assert scanner.final_metric_data_list() == [{"MetricName": "train:loss", "Value": 0.5, "Timestamp": 2.0}]


def test_final_metrics_follow_the_definitions_order_and_omit_metrics_never_logged() -> None:
    scanner = _scanned("completed 100.0 % of epochs", "train loss=0.5")
    assert [m["MetricName"] for m in scanner.final_metric_data_list()] == ["train:loss", "train:progress"]


def test_a_capture_that_is_not_a_finite_number_is_ignored() -> None:
    scanner = _scanned("train loss=0.5", "train loss=abc", "train loss=nan", "train loss=inf")
    assert scanner.final_metric_data_list()[0]["Value"] == 0.5


def test_every_value_found_is_a_cloudwatch_datapoint_of_the_job_once() -> None:
    scanner = _scanned("train loss=0.9", "train loss=0.5 test loss=0.7")
    (batch,) = scanner.take_datapoints("job-1")
    assert [(d["MetricName"], d["Value"], d["Timestamp"]) for d in batch] == [
        ("train:loss", 0.9, 0.0),
        ("train:loss", 0.5, 1.0),
        ("test:loss", 0.7, 1.0),
    ]
    assert all(d["Dimensions"] == [{"Name": "TrainingJobName", "Value": "job-1"}] for d in batch)
    assert scanner.take_datapoints("job-1") == []


def test_datapoints_are_batched_within_put_metric_datas_limit_and_bounded_between_flushes() -> None:
    scanner = _scanned(*[f"train loss={i}" for i in range(MAX_PENDING_DATAPOINTS + 5)])
    assert scanner.dropped == 5
    batches = scanner.take_datapoints("job-1")
    assert max(len(b) for b in batches) == PUT_METRIC_DATA_MAX_ITEMS
    assert sum(len(b) for b in batches) == MAX_PENDING_DATAPOINTS
    assert batches[0][0]["Value"] == 5.0  # the oldest were dropped
