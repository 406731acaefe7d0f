"""Sweep what popseg runs left behind: endpoints, endpoint configs and models of runs that are no longer
running (or older than `ttl_hours`), training jobs of such runs (stopped), and the `work/` intermediates
of finished runs after a few days (failed runs' kept longer, for inspection).

A run's own teardown deletes its endpoints; this catches what a killed worker or a failed teardown left.
It deletes only where the deployment opted in (`[popseg] sweeper_deletes = True`): until then every run,
scheduled or triggered, is a dry run whose log lists what it would sweep.
The task log holds a table of every item found, what was done to it and why. Wiring only: the work is in
`include.airflow_popseg.sweeper` and `include.segmentation_aws.sweep`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, get_current_context, task

from include.airflow_popseg.context import RunContext
from include.airflow_popseg.handoffs import SweepReport
from include.airflow_popseg.params import bucket_param, output_prefix_param
from include.airflow_popseg.settings import SWEEPER_DAG_ID
from include.airflow_popseg.trigger_conf import refuse_unknown_keys

DOC_MD = """
### popseg sweeper

Finds what population_segmentation runs left behind in SageMaker (endpoints, endpoint configs, models, training
jobs still running) and their `work/` files in S3, and deletes what no running run needs. Its log lists every
item found, what was done to it and why.

**It deletes nothing until the deployment opts in** (`[popseg] sweeper_deletes = True`, or the environment
variable `AIRFLOW__POPSEG__SWEEPER_DELETES=true`): until then every run, scheduled or triggered, is a dry run.
Read a dry run's table first, then opt in.
"""

# bucket and output_prefix as the main DAG declares them (params.py): the sweeper looks where the runs write.
PARAMS = {
    "dry_run": Param(False, type="boolean", title="Dry run",
                     description="List what would be swept and change nothing. Every sweep is a dry run until the "
                                 "deployment sets [popseg] sweeper_deletes = True"),
    "ttl_hours": Param(24, type="number", minimum=0, title="Resource age limit (hours)",
                       description="Sweep SageMaker resources older than this even if their run still shows "
                                   "running (0: all of them)"),
    "keep_succeeded_days": Param(1, type="number", minimum=0, title="Keep a succeeded run's work files (days)",
                                 description="Days a succeeded run's work/ files are kept after their last write"),
    "keep_failed_days": Param(3, type="number", minimum=0, title="Keep a failed run's work files (days)",
                              description="Days a failed or killed run's work/ files are kept, for inspection"),
    "bucket": bucket_param("S3 bucket the segmentation runs write to"),
    "output_prefix": output_prefix_param("The runs' results folder: <prefix>/work/<token>/ is swept"),
}  # fmt: skip


@dag(
    dag_id=SWEEPER_DAG_ID,
    description="Delete SageMaker resources and work/ files that popseg runs left behind",
    schedule="@hourly",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    params=PARAMS,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=5)},
    tags=["sagemaker", "cleanup"],
    doc_md=DOC_MD,
)
def popseg_sweeper():
    @task
    def sweep() -> SweepReport:
        """Find, decide, sweep (unless dry_run), log the table; returns counts and items. Safe to retry:
        what is already gone is skipped."""
        from include.airflow_popseg import sweeper

        context = get_current_context()
        refuse_unknown_keys(context["dag_run"].conf or {}, PARAMS)  # a misspelt "dry_run" must not delete
        return sweeper.sweep(RunContext.current(), context["ti"])

    sweep()


popseg_sweeper()
