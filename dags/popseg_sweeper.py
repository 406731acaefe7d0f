"""Sweep what popseg runs left behind: endpoints, endpoint configs and models of runs that are no longer
running (or older than `ttl_hours`), training jobs of such runs (stopped), and the `work/` intermediates
of finished runs after a few days (failed runs' kept longer, for inspection).

A run's own teardown deletes its endpoints; this catches what a killed worker or a failed teardown left.
The task log holds a table of every item found, what was done to it and why. Wiring only: the work is in
`include.airflow_popseg.sweeper` and `include.segmentation_aws.sweep`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, get_current_context, task

from include.airflow_popseg.context import RunContext
from include.airflow_popseg.settings import SWEEPER_DAG_ID
from include.airflow_popseg.trigger_conf import (
    BUCKET_PATTERN,
    MAX_OUTPUT_PREFIX_BYTES,
    OUTPUT_PREFIX_PATTERN,
    refuse_unknown_keys,
)

# bucket and output_prefix take the main DAG's defaults: the sweeper looks where the runs write.
PARAMS = {
    "dry_run": Param(False, type="boolean", description="Log what would be swept and change nothing"),
    "ttl_hours": Param(24, type="number", minimum=0,
                       description="Sweep SageMaker resources older than this even if their run shows running"),
    "keep_succeeded_days": Param(1, type="number", minimum=0,
                                 description="Days a succeeded run's work/ prefix is kept after its last write"),
    "keep_failed_days": Param(3, type="number", minimum=0,
                              description="Days a failed or dead run's work/ prefix is kept, for inspection"),
    "bucket": Param("popseg", type="string", minLength=3, maxLength=63, pattern=BUCKET_PATTERN,
                    description="S3 bucket the runs write to"),
    "output_prefix": Param("segmentation", type="string", minLength=1, maxLength=MAX_OUTPUT_PREFIX_BYTES,
                           pattern=OUTPUT_PREFIX_PATTERN,
                           description="The runs' output_prefix: <prefix>/work/<token>/ is swept"),
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
    doc_md=__doc__,
)
def popseg_sweeper():
    @task
    def sweep() -> dict:
        """Find, decide, sweep (unless dry_run), log the table; returns counts and items. Safe to retry:
        what is already gone is skipped."""
        from include.airflow_popseg import sweeper

        context = get_current_context()
        refuse_unknown_keys(context["dag_run"].conf or {}, PARAMS)  # a misspelt "dry_run" must not delete
        return sweeper.sweep(RunContext.current(), context["ti"])

    sweep()


popseg_sweeper()
