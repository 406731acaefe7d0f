"""The alert messages and when an alert is sent: what the person paged at night reads."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest

from include.airflow_popseg import alerts

DAG_ID, RUN_ID = "population_segmentation", "scheduled__2026-12-06T02:00:00+00:00"


@pytest.fixture(autouse=True)
def _base_url(monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.org/")
    monkeypatch.delenv(f"AIRFLOW_VAR_{alerts.TOPIC_VARIABLE.upper()}", raising=False)


def _failed_ti(task_id: str = "train_kmeans", map_index: int = -1) -> SimpleNamespace:
    return SimpleNamespace(dag_id=DAG_ID, run_id=RUN_ID, task_id=task_id, map_index=map_index)


def test_a_failure_message_names_the_task_the_reason_and_the_runs_link() -> None:
    failure = RuntimeError("Training job popseg-kmeans-abc failed: FailureReason: init_method 'forgy' unknown")
    subject, message = alerts.failure_message(
        DAG_ID, RUN_ID, "train_kmeans[1]", alerts.reason(failure), alerts.run_link(DAG_ID, RUN_ID, "train_kmeans", 1)
    )
    assert subject == "[popseg] population_segmentation failed at train_kmeans[1]"
    assert "task train_kmeans[1] failed" in message
    assert "Reason: RuntimeError: Training job popseg-kmeans-abc failed: FailureReason: init_method" in message
    link = "https://airflow.example.org/dags/population_segmentation/runs/scheduled__2026-12-06T02%3A00%3A00%2B00%3A00"
    assert f"Run: {link}/tasks/train_kmeans/mapped/1\n" in message


def test_the_runs_link_is_its_grid_page_under_the_configured_base_url() -> None:
    assert (
        alerts.run_link(DAG_ID, "manual__x")
        == "https://airflow.example.org/dags/population_segmentation/runs/manual__x"
    )


def test_a_reason_with_control_characters_stays_one_line() -> None:
    shown = alerts.reason(ValueError("row 7\nINFO - all good\x1b[2K"))
    assert shown == "ValueError: row 7\\nINFO - all good\\x1b[2K"


def test_a_long_reason_is_cut_and_says_how_much_is_left_in_the_log() -> None:
    shown = alerts.reason(ValueError("x" * 10_000))
    assert shown.startswith("ValueError: xxx") and len(shown) < alerts.MAX_REASON_CHARS + 80
    assert shown.endswith(
        f"… ({10_000 + len('ValueError: ') - alerts.MAX_REASON_CHARS:,} more characters in the task's log)"
    )


def test_a_task_failed_without_an_exception_says_so() -> None:
    assert "no exception recorded" in alerts.reason(None)


def test_a_subject_is_ascii_under_snss_limit() -> None:
    subject, _ = alerts.failure_message(DAG_ID, RUN_ID, "t" * 200 + "é\n", "why", "link")
    assert len(subject) < alerts.MAX_SUBJECT_CHARS and subject.isascii() and "\n" not in subject


def test_a_success_message_says_the_run_succeeded_how_long_it_took_and_its_link() -> None:
    start = datetime(2026, 12, 6, 2, 0)
    subject, message = alerts.success_message(DAG_ID, RUN_ID, start, start + timedelta(minutes=31, seconds=5), "L")
    assert subject == "[popseg] population_segmentation succeeded"
    assert message == f"population_segmentation: run {RUN_ID} succeeded in 31 min 05 s.\nRun: L\n"


def test_a_deadline_message_names_the_run_its_deadline_and_state() -> None:
    subject, message = alerts.deadline_message(DAG_ID, RUN_ID, "2026-12-06T06:00:00Z", "running", "L")
    assert subject == "[popseg] population_segmentation missed its deadline"
    assert "is not done by its deadline 2026-12-06T06:00:00Z (state: running)" in message and "Run: L" in message


def test_without_the_variable_a_failure_sends_nothing_and_raises_nothing(monkeypatch) -> None:
    def no_notifier(*args):
        raise AssertionError("no topic is configured: nothing may be published")

    monkeypatch.setattr(alerts, "_notifier", no_notifier)
    alerts.on_task_failure({"ti": _failed_ti(), "exception": RuntimeError("boom")})


def test_with_the_variable_a_failure_is_published_to_its_topic(monkeypatch) -> None:
    sent = []
    monkeypatch.setenv(f"AIRFLOW_VAR_{alerts.TOPIC_VARIABLE.upper()}", "arn:aws:sns:us-east-1:123456789012:popseg-x")
    monkeypatch.setattr(
        alerts,
        "_notifier",
        lambda topic, subject, message: SimpleNamespace(notify=lambda c: sent.append((topic, message))),
    )
    alerts.on_task_failure({"ti": _failed_ti("preprocess"), "exception": ValueError("row 3: empty County")})
    [(topic, message)] = sent
    assert topic == "arn:aws:sns:us-east-1:123456789012:popseg-x"
    assert "task preprocess failed" in message and "Reason: ValueError: row 3: empty County" in message


def test_an_exception_text_holding_a_template_is_sent_as_it_is_not_rendered(monkeypatch) -> None:
    from airflow.providers.amazon.aws.notifications.sns import SnsNotifier

    sent = []
    monkeypatch.setenv(f"AIRFLOW_VAR_{alerts.TOPIC_VARIABLE.upper()}", "arn:aws:sns:us-east-1:123456789012:popseg-x")
    monkeypatch.setattr(SnsNotifier, "notify", lambda self, context: sent.append(self.message))
    alerts.on_task_failure({"ti": _failed_ti(), "exception": ValueError("{{ 7 * 7 }}")})
    assert "Reason: ValueError: {{ 7 * 7 }}" in sent[0]


def test_the_deadline_alert_is_hours_after_the_logical_date_and_calls_back_in_the_triggerer() -> None:
    from airflow.sdk import AsyncCallback, DeadlineReference

    alert = alerts.deadline_alert(4)
    assert alert.reference == DeadlineReference.DAGRUN_LOGICAL_DATE and alert.interval == timedelta(hours=4)
    assert isinstance(alert.callback, AsyncCallback)
    assert alert.callback.path == "include.airflow_popseg.alerts.on_deadline_missed"


def test_without_the_variable_a_missed_deadline_sends_nothing_and_raises_nothing(monkeypatch) -> None:
    import asyncio

    def no_notifier(*args):
        raise AssertionError("no topic is configured: nothing may be published")

    monkeypatch.setattr(alerts, "_notifier", no_notifier)
    run = {"dag_id": DAG_ID, "dag_run_id": RUN_ID, "state": "running"}
    asyncio.run(alerts.on_deadline_missed(context={"dag_run": run, "deadline": {"deadline_time": "06:00"}}))


def test_with_the_variable_a_succeeded_run_is_published_with_its_link(monkeypatch) -> None:
    sent = []
    monkeypatch.setenv(f"AIRFLOW_VAR_{alerts.TOPIC_VARIABLE.upper()}", "arn:aws:sns:us-east-1:123456789012:popseg-x")
    monkeypatch.setattr(
        alerts,
        "_notifier",
        lambda topic, subject, message: SimpleNamespace(notify=lambda c: sent.append((subject, message))),
    )
    start = datetime(2026, 12, 6, 2, 0)
    run = SimpleNamespace(dag_id=DAG_ID, run_id=RUN_ID, start_date=start, end_date=start + timedelta(hours=1))
    alerts.on_run_success({"dag_run": run})
    [(subject, message)] = sent
    assert subject == "[popseg] population_segmentation succeeded" and "succeeded in 1 h 00 min" in message
    assert "Run: https://airflow.example.org/dags/population_segmentation/runs/scheduled__" in message
