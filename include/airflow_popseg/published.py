"""The index of published runs: the publish task's Asset events, read from Airflow's database.

Each run that published everything left one event on `population_segmentation_results` whose extra is
its summary (`published_runs.run_summary`). Listing them costs one query and no S3 call, and each names
its own bucket and prefix, so runs that used other params are found where they are.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from include.airflow_popseg.settings import DAG_ID, PUBLISH_TASK_ID, RESULTS_ASSET_NAME
from include.segmentation.printable import printable
from include.segmentation_aws.published_runs import NotPublished, PublishedRun

log = logging.getLogger(__name__)

MAX_LISTED = 500  # newest runs the view lists


def published_runs(limit: int = MAX_LISTED) -> list[PublishedRun]:
    """The newest `limit` published runs, newest first; events that are not valid summaries are skipped."""
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
    """The latest publication of `run_id`; NotPublished when there is none."""
    for event in _events(limit=1, run_id=run_id):
        return _run(event)
    raise NotPublished(f"Run {run_id} has published no results (no publish task of it succeeded)")


def _run(event) -> PublishedRun:
    run = PublishedRun.from_summary(event.extra, event.timestamp)
    if run.run_id != event.source_run_id:
        raise NotPublished(f"the summary names run {run.run_id!r}, the event came from {event.source_run_id!r}")
    return run


def _events(limit: int, run_id: str | None = None) -> list:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    # Only events the DAG's own publish task emitted: anyone with asset write access can post others.
    query = (
        select(AssetEvent)
        .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
        .where(
            AssetModel.name == RESULTS_ASSET_NAME,
            AssetEvent.source_dag_id == DAG_ID,
            AssetEvent.source_task_id == PUBLISH_TASK_ID,
        )
        .order_by(AssetEvent.timestamp.desc(), AssetEvent.id.desc())
        .limit(limit)
    )
    if run_id is not None:
        query = query.where(AssetEvent.source_run_id == run_id)
    with create_session() as session:
        events = list(session.scalars(query))
        session.expunge_all()
    return events
