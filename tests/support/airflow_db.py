"""What tests read from and plant in the session's Airflow metadata DB: a task's XCom, a publication."""

from __future__ import annotations

import json


def task_xcom(run, task_id: str):
    """The return value of `task_id` in `run` (a DagRun from dag.test()), as the next task would pull it."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        value = session.scalar(
            select(XComModel.value).where(
                XComModel.dag_id == run.dag_id,
                XComModel.run_id == run.run_id,
                XComModel.task_id == task_id,
                XComModel.key == "return_value",
            )
        )
    return json.loads(value) if isinstance(value, str) else value  # plain JSON: dicts, lists, str, numbers


def record_publication(
    summary: dict, run_id: str | None = None, task_id: str = "publish", asset: str = "population_segmentation_runs"
) -> None:
    """An Asset event on `asset` as task `task_id` of the DAG's run `run_id` records it (a planted run): by
    default on the runs Asset from publish, as the DAG records a run that trained; the record_unchanged task
    records a run that found nothing changed, and runs from before the runs Asset are on the results Asset."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    uris = {
        "population_segmentation_runs": "popseg://population_segmentation/runs",
        "population_segmentation_results": "popseg://population_segmentation/latest",
    }
    with create_session() as session:
        model = session.scalar(select(AssetModel).where(AssetModel.name == asset))
        if model is None:
            model = AssetModel(name=asset, uri=uris[asset])
            session.add(model)
            session.flush()
        event = AssetEvent(
            asset_id=model.id,
            extra=summary,
            source_dag_id="population_segmentation",
            source_task_id=task_id,
            source_run_id=run_id or summary["run_id"],
        )
        session.add(event)
