"""Alerts: a failed task, a succeeded run and a missed deadline published to the deployment's SNS topic.

The topic is an Airflow Variable (`popseg_alerts_sns_topic_arn`), read when an alert is sent, never when the
DAG file is parsed: without it nothing is sent and nothing fails. The message goes out through the Amazon
provider's `SnsNotifier` over the DAG's AWS connection (`popseg_aws_conn_id`).

- A failed task (the tasks' `on_failure_callback`, called once retries are spent) names the task, the reason
  (its exception, bounded and with control characters escaped, as a log line is) and the link to its run.
  Each failed task sends its own message: Airflow keeps a task's exception only in the task's own callback.
- A succeeded run (the DAG's `on_success_callback`) says so, with its link.
- A run not done `[popseg] deadline_hours` after its logical date (Airflow's DeadlineAlert, evaluated by the
  scheduler; this callback runs in the triggerer) names the run, its deadline and its link.

The message is handed to `SnsNotifier.notify`, not to the notifier's `__call__`, which would render it as a
Jinja template: an exception text holding `{{ ... }}` must be sent as it is, not evaluated.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from include.segmentation.printable import printable

log = logging.getLogger(__name__)

TOPIC_VARIABLE = "popseg_alerts_sns_topic_arn"

MAX_REASON_CHARS = 2000
"""The most characters of a failed task's exception a message quotes (the start, where Python puts the type
and the message): enough for a FailureReason or a validation error naming row and column; the whole
traceback stays in the task's log, behind the link. SNS itself takes 256 KiB."""

MAX_SUBJECT_CHARS = 100
"""SNS's limit on a subject (email's subject line): fewer than 100 ASCII characters, no line breaks."""


def run_link(dag_id: str, run_id: str, task_id: str | None = None, map_index: int | None = None) -> str:
    """The run's page in the Airflow UI (its grid), or one task's, from `[api] base_url`."""
    from airflow.configuration import conf

    base = conf.get("api", "base_url", fallback="http://localhost:8080/").rstrip("/")
    link = f"{base}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
    if task_id is not None:
        link += f"/tasks/{quote(task_id, safe='')}"
        if map_index is not None and map_index >= 0:
            link += f"/mapped/{map_index}"
    return link


def reason(exception: BaseException | str | None) -> str:
    """The exception as `Type: message`, one line (control characters escaped), at most MAX_REASON_CHARS."""
    if exception is None:
        return "no exception recorded (the task was failed from outside: marked failed, timed out or killed)"
    text = exception if isinstance(exception, str) else f"{type(exception).__name__}: {exception}"
    shown = printable(text)
    if len(shown) > MAX_REASON_CHARS:
        shown = f"{shown[:MAX_REASON_CHARS]}… ({len(shown) - MAX_REASON_CHARS:,} more characters in the task's log)"
    return shown


def _subject(text: str) -> str:
    ascii_only = printable(text).encode("ascii", "replace").decode()
    return ascii_only if len(ascii_only) < MAX_SUBJECT_CHARS else f"{ascii_only[: MAX_SUBJECT_CHARS - 4]}..."


def failure_message(dag_id: str, run_id: str, task: str, why: str, link: str) -> tuple[str, str]:
    """(subject, message) for a failed task of a run; `why` comes from `reason`."""
    message = (
        f"{printable(dag_id)}: task {printable(task)} failed, so run {printable(run_id)} fails.\n"
        f"Reason: {why}\n"
        f"Run: {link}\n"
    )
    return _subject(f"[popseg] {dag_id} failed at {task}"), message


def success_message(dag_id: str, run_id: str, started: Any, ended: Any, link: str) -> tuple[str, str]:
    """(subject, message) for a succeeded run."""
    took = f" in {_duration(ended - started)}" if started is not None and ended is not None else ""
    message = f"{printable(dag_id)}: run {printable(run_id)} succeeded{took}.\nRun: {link}\n"
    return _subject(f"[popseg] {dag_id} succeeded"), message


def deadline_message(dag_id: str, run_id: str, deadline: Any, state: str | None, link: str) -> tuple[str, str]:
    """(subject, message) for a run still not done at its deadline."""
    message = (
        f"{printable(dag_id)}: run {printable(run_id)} is not done by its deadline {printable(deadline)} "
        f"(state: {printable(state or 'unknown')}).\nRun: {link}\n"
    )
    return _subject(f"[popseg] {dag_id} missed its deadline"), message


def _duration(delta: timedelta) -> str:
    minutes, seconds = divmod(round(delta.total_seconds()), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {seconds:02d} s"


def topic_arn() -> str | None:
    """The SNS topic alerts go to, from its Variable at the time of the alert; None when unset or empty."""
    from airflow.sdk import Variable

    return (Variable.get(TOPIC_VARIABLE, default=None) or "").strip() or None


def _notifier(topic: str, subject: str, message: str):
    from airflow.providers.amazon.aws.notifications.sns import SnsNotifier

    from include.airflow_popseg.settings import conn_id

    return SnsNotifier(aws_conn_id=conn_id(), target_arn=topic, subject=subject, message=message)


def send(subject: str, message: str, context: Any) -> bool:
    """Publish to the topic; False (and a log line) when no topic is configured."""
    topic = topic_arn()
    if topic is None:
        log.info("No alert sent: the Airflow Variable %s names no SNS topic", TOPIC_VARIABLE)
        return False
    _notifier(topic, subject, message).notify(context)
    log.info("Alert sent to %s: %s", topic, subject)
    return True


def on_task_failure(context: Any) -> None:
    """A task's on_failure_callback (retries spent): publish which task failed, why, and the run's link."""
    ti = context["ti"]
    map_index = getattr(ti, "map_index", -1)
    shown_index = getattr(ti, "rendered_map_index", None) or map_index  # k=8 (map_index_template), else 0, 1 …
    task = ti.task_id if map_index is None or map_index < 0 else f"{ti.task_id}[{shown_index}]"
    link = run_link(ti.dag_id, ti.run_id, ti.task_id, map_index)
    send(*failure_message(ti.dag_id, ti.run_id, task, reason(context.get("exception")), link), context)


def on_run_success(context: Any) -> None:
    """The DAG's on_success_callback: publish that the run succeeded, and its link."""
    run = context["dag_run"]
    link = run_link(run.dag_id, run.run_id)
    send(*success_message(run.dag_id, run.run_id, run.start_date, run.end_date, link), context)


async def on_deadline_missed(context: dict, **_: Any) -> None:
    """A DeadlineAlert's callback, run in the triggerer with the scheduler's context (`dag_run` as the REST
    API shows it, `deadline`): publish that the run is not done in time."""
    from asgiref.sync import sync_to_async

    run = context["dag_run"]
    topic = await sync_to_async(topic_arn)()
    if topic is None:
        log.info("No deadline alert sent: the Airflow Variable %s names no SNS topic", TOPIC_VARIABLE)
        return
    link = run_link(run["dag_id"], run["dag_run_id"])
    deadline = context.get("deadline", {}).get("deadline_time")
    subject, message = deadline_message(run["dag_id"], run["dag_run_id"], deadline, run.get("state"), link)
    notifier = await sync_to_async(_notifier)(topic, subject, message)
    await notifier.async_notify(context)
    log.info("Deadline alert sent to %s: %s", topic, subject)


def deadline_alert(hours: float):
    """The nightly run's DeadlineAlert: `hours` after its logical date, on_deadline_missed in the triggerer."""
    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
        interval=timedelta(hours=hours),
        callback=AsyncCallback(on_deadline_missed),
        name="popseg_nightly_deadline",
    )
