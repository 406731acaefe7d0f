"""Training metrics as SageMaker derives them from a job's log, free of HTTP.

SageMaker reads each metric from the training container's stdout/stderr with the regular expression
of its `MetricDefinitions` entry (for a built-in algorithm, the definitions the service attaches to
the image), sends every value it finds to CloudWatch (namespace `/aws/sagemaker/TrainingJobs`,
dimension `TrainingJobName`) and, when the job completes, lists the value each metric had in the
final iteration (its last match) in `DescribeTrainingJob.FinalMetricDataList`. One rule for every
algorithm: the algorithms only write log lines, never metric values.
"""

from __future__ import annotations

import math
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

NAMESPACE = "/aws/sagemaker/TrainingJobs"
DIMENSION = "TrainingJobName"
PUT_METRIC_DATA_MAX_ITEMS = 1000  # CloudWatch's limit of MetricData entries in one PutMetricData call
MAX_PENDING_DATAPOINTS = 10_000
"""Datapoints held between two flushes of a job's log. The built-ins write a handful of metric lines
per epoch and the log is flushed after each phase, so this is only reached by a runaway log; the
oldest are then dropped (and counted) rather than growing without bound."""


@dataclass
class MetricScanner:
    """Scans log lines with a job's metric definitions: the last value of each metric, and the
    datapoints not yet sent to CloudWatch.

    definitions: [{"Name": …, "Regex": …}] as DescribeTrainingJob shows them. A line can feed several
    metrics; a match whose first group is not a finite number is ignored (CloudWatch takes no NaN or
    infinity, and a metric value is a number).
    """

    definitions: list[dict[str, str]]
    latest: dict[str, tuple[float, float]] = field(default_factory=dict)  # name -> (value, timestamp s)
    pending: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_PENDING_DATAPOINTS))
    dropped: int = 0

    def __post_init__(self) -> None:
        self._compiled = [(d["Name"], re.compile(d["Regex"])) for d in self.definitions]

    def scan(self, line: str, timestamp: float) -> None:
        for name, pattern in self._compiled:
            found = pattern.search(line)
            if found is None or not found.groups():
                continue
            try:
                value = float(found.group(1))
            except (TypeError, ValueError):
                continue
            if not math.isfinite(value):
                continue
            self.latest[name] = (value, timestamp)
            if len(self.pending) == self.pending.maxlen:
                self.dropped += 1  # the deque drops the oldest
            self.pending.append({"MetricName": name, "Value": value, "Timestamp": timestamp})

    def final_metric_data_list(self) -> list[dict[str, Any]]:
        """FinalMetricDataList: each defined metric that the log reported, in definition order, with
        its last value and the time of the line that reported it."""
        return [
            {"MetricName": name, "Value": self.latest[name][0], "Timestamp": self.latest[name][1]}
            for name, _ in self._compiled
            if name in self.latest
        ]

    def take_datapoints(self, job_name: str) -> list[list[dict[str, Any]]]:
        """The pending datapoints as PutMetricData `MetricData` batches for the job, and forget them."""
        points = list(self.pending)
        self.pending.clear()
        data = [
            {
                "MetricName": point["MetricName"],
                "Dimensions": [{"Name": DIMENSION, "Value": job_name}],
                "Timestamp": point["Timestamp"],
                "Value": point["Value"],
            }
            for point in points
        ]
        return [data[i : i + PUT_METRIC_DATA_MAX_ITEMS] for i in range(0, len(data), PUT_METRIC_DATA_MAX_ITEMS)]
