"""The sweeper's task: find what popseg runs left in SageMaker and S3, ask Airflow about their runs,
sweep what no live run needs, and log a table of everything found with the reason for each action.

Imported inside the task (it pulls in numpy through segmentation_aws.endpoints).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from include.airflow_popseg import settings
from include.airflow_popseg.context import RunContext
from include.airflow_popseg.handoffs import SweepReport
from include.segmentation_aws import sweep as sweeping

log = logging.getLogger(__name__)


def sweep(run: RunContext, ti) -> SweepReport:
    """Sweep per the run's params; `ti` is the running task instance (it asks Airflow for run states).

    Returns the report: {"dry_run", "counts": {action: {kind: n}}, "items": [{kind, name, action, reason}]}.
    """
    params = run.params
    policy = sweeping.Policy(
        now=datetime.now(UTC),
        ttl_hours=params["ttl_hours"],
        keep_succeeded_days=params["keep_succeeded_days"],
        keep_failed_days=params["keep_failed_days"],
    )
    sagemaker, s3 = run.sagemaker(), run.store.client
    found = sweeping.find(sagemaker, s3, params["bucket"], params["output_prefix"])
    decisions = sweeping.decide(found, lambda run_id: run_state(ti, run_id), policy)
    dry_run, why = dry_run_decision(bool(params["dry_run"]), settings.sweeper_deletes())
    log.info("%s", why)
    sweeping.execute(decisions, sagemaker, s3, params["bucket"], dry_run, poll_seconds=settings.CHECK_INTERVAL)
    summary: SweepReport = sweeping.report(decisions, dry_run)
    log.info("%s%s", "DRY RUN: nothing was changed\n" if dry_run else "", sweeping.table(decisions, dry_run))
    log.info("counts by action and kind: %s", summary["counts"])
    return summary


def dry_run_decision(dry_run_param: bool, deletes_opted_in: bool) -> tuple[bool, str]:
    """Whether this sweep is a dry run, and the sentence that says why (logged first in the task log)."""
    option = "[popseg] sweeper_deletes (AIRFLOW__POPSEG__SWEEPER_DELETES)"
    if not deletes_opted_in:
        return True, f"DRY RUN: this deployment has not opted in to deleting ({option} is off); nothing is changed"
    if dry_run_param:
        return True, "DRY RUN: the run's dry_run param is true; nothing is changed"
    return False, f"Sweeping for real: {option} is on and the run's dry_run param is false"


def run_state(ti, run_id: str) -> str | None:
    """The state of a population_segmentation run, through the Task SDK (tasks cannot read the metadata DB);
    None when Airflow has no such run (deleted, or another Airflow's)."""
    if ti.get_dr_count(dag_id=settings.DAG_ID, run_ids=[run_id]) == 0:
        return None
    state = ti.get_dagrun_state(settings.DAG_ID, run_id)
    return getattr(state, "value", state)  # a DagRunState: "running", "success", …
