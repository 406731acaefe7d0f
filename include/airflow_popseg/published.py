"""The index of runs: the Asset events that record them, read from Airflow's database.

Each run that recorded itself left an event on the runs Asset (`population_segmentation_runs`) whose extra is
its summary (`published_runs.run_summary`): from the publish task for a run that trained (published, or held
by the churn gate), from the record_unchanged task for a run that found nothing changed. Runs from before the
runs Asset left theirs on the results Asset (`population_segmentation_results`), from the publish task. When
one run id has several events (a cleared and re-run run), the newest is the run. Listing them costs one query
and no S3 call, and each names its own bucket and prefix, so runs that used other params are found where they
are.
"""

from __future__ import annotations

import logging

from sqlalchemy import and_, func, or_, select

from include.airflow_popseg.settings import (
    DAG_ID,
    PUBLISH_TASK_ID,
    RESULTS_ASSET_NAME,
    RUNS_ASSET_NAME,
    UNCHANGED_TASK_ID,
)
from include.segmentation.printable import printable
from include.segmentation_aws.published_runs import NotPublished, PublishedRun

log = logging.getLogger(__name__)

MAX_LISTED = 500  # newest runs the view lists


def published_runs(limit: int = MAX_LISTED) -> list[PublishedRun]:
    """The newest `limit` runs, newest first, each as its newest event records it; events that are not valid
    summaries are skipped."""
    runs = []
    for event in _events(limit=limit):
        try:
            runs.append(_run(event))
        except NotPublished as reason:
            log.warning(
                "Skipping asset event %s of run %s: %s", event.id, printable(event.source_run_id), printable(reason)
            )
    return runs


def published_run(run_id: str) -> PublishedRun:
    """`run_id` as its newest event records it; NotPublished when there is none."""
    for event in _events(limit=1, run_id=run_id):
        return _run(event)
    raise NotPublished(f"Run {run_id} has recorded no results (no publish or record_unchanged task of it succeeded)")


def _run(event) -> PublishedRun:
    run = PublishedRun.from_summary(event.extra, event.timestamp)
    if run.run_id != event.source_run_id:
        raise NotPublished(f"the summary names run {run.run_id!r}, the event came from {event.source_run_id!r}")
    return run


def _events(limit: int, run_id: str | None = None) -> list:
    """The newest event of each of the newest `limit` runs (of `run_id` only, when given), newest first."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    # Only events the DAG's own tasks emitted: anyone with asset write access can post others. The results
    # Asset's events from publish are runs from before the runs Asset (promote updates it now, with no summary).
    recorded = or_(
        and_(AssetModel.name == RUNS_ASSET_NAME, AssetEvent.source_task_id.in_((PUBLISH_TASK_ID, UNCHANGED_TASK_ID))),
        and_(AssetModel.name == RESULTS_ASSET_NAME, AssetEvent.source_task_id == PUBLISH_TASK_ID),
    )
    newest_first = (AssetEvent.timestamp.desc(), AssetEvent.id.desc())
    ranked = (
        select(
            AssetEvent.id,
            func.row_number().over(partition_by=AssetEvent.source_run_id, order_by=newest_first).label("rank"),
        )
        .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
        .where(AssetEvent.source_dag_id == DAG_ID, recorded)
    )
    if run_id is not None:
        ranked = ranked.where(AssetEvent.source_run_id == run_id)
    newest = ranked.subquery()
    query = (
        select(AssetEvent)
        .join(newest, newest.c.id == AssetEvent.id)
        .where(newest.c.rank == 1)
        .order_by(*newest_first)
        .limit(limit)
    )
    with create_session() as session:
        events = list(session.scalars(query))
        session.expunge_all()
    return events
