"""A DAG run whose deadline has passed, and what the scheduler and the triggerer then do, without either.

The scheduler's loop finds deadlines past their time (`Deadline.deadline_time < now`, not yet missed) and calls
`Deadline.handle_miss`, which queues the alert's callback as a trigger; the triggerer runs that trigger
(`CallbackTrigger.run`). Here the same two steps run in the test's process, on a run created as the scheduler
creates one (`create_dagrun`, which evaluates the DAG's DeadlineAlerts into Deadline rows).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime

from tests.support.paths import PROJECT_ROOT


def sync_dags_to_db(**settings: str) -> None:
    """The dags/ folder serialized into the metadata DB, as the DAG processor (and `dag.test()`) does, parsed in a
    process of its own with these `[popseg]` settings (`deadline_hours="4"`: the session's own parse has none)."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    env.update({f"AIRFLOW__POPSEG__{key.upper()}": value for key, value in settings.items()})
    script = "from tests.support.deadlines import _sync_in_this_process; _sync_in_this_process()"
    synced = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=PROJECT_ROOT)
    assert synced.returncode == 0, synced.stderr


def _sync_in_this_process() -> None:
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.utils.session import create_session

    manager = DagBundlesManager()
    with create_session() as session:
        manager.sync_bundles_to_db(session=session)
    for bundle in manager.get_all_dag_bundles():
        if not bundle.is_initialized:
            bundle.initialize()
        bag = BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name)
        sync_bag_to_db(bag, bundle.name, bundle.version)


def scheduled_run(dag_id: str, logical_date: datetime) -> str:
    """A scheduled, running DAG run of `logical_date` created as the scheduler creates one; its run id."""
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    with create_session() as session:
        dag = SerializedDagModel.get_dag(dag_id, session=session)
        run = dag.create_dagrun(
            run_id=f"scheduled__{logical_date.isoformat()}",
            logical_date=logical_date,
            data_interval=dag.timetable.infer_manual_data_interval(run_after=logical_date),
            run_after=logical_date,
            run_type=DagRunType.SCHEDULED,
            triggered_by=DagRunTriggeredByType.TEST,
            state=DagRunState.RUNNING,
            session=session,
        )
        return run.run_id


def run_missed_deadline_callbacks(dag_id: str, run_id: str) -> list[dict]:
    """The scheduler's step for each passed deadline of the run (handle_miss), then the triggerer's (the
    queued CallbackTrigger's run); the trigger events' payloads."""
    from airflow.models import DagRun
    from airflow.models.deadline import Deadline
    from airflow.triggers.callback import CallbackTrigger
    from airflow.utils.session import create_session
    from sqlalchemy import select

    triggers = []
    with create_session() as session:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
        for deadline in session.scalars(
            select(Deadline).where(
                Deadline.dagrun_id == run.id, Deadline.deadline_time < datetime.now(UTC), ~Deadline.missed
            )
        ):
            deadline.handle_miss(session)
            data = deadline.callback.data
            triggers.append(CallbackTrigger(callback_path=data["path"], callback_kwargs=dict(data["kwargs"])))

    async def run_all() -> list[dict]:
        return [event.payload for trigger in triggers async for event in trigger.run()]

    return asyncio.run(run_all())


def delete_run(dag_id: str, run_id: str) -> None:
    """The run gone from the metadata DB (its deadlines and callbacks with it), so no other test sees it."""
    from airflow.models import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        for run in session.scalars(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)):
            session.delete(run)
