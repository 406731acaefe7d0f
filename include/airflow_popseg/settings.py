"""popseg's settings in Airflow, in one place: the DAG, the Segmentation view and the report link read them here.

Deployment settings are Airflow config (`[popseg]` section, or AIRFLOW__POPSEG__* variables); the
connection and the role are Airflow Variables, so that they can be changed without a deploy.
"""

from __future__ import annotations

import re

from airflow.configuration import conf

DAG_ID = "population_segmentation"
SWEEPER_DAG_ID = "popseg_sweeper"  # deletes what runs of DAG_ID left behind
PUBLISH_TASK_ID = "publish"
# Updated when latest.json moves: a run's results became the latest (what downstream DAGs schedule on).
RESULTS_ASSET_NAME = "population_segmentation_results"
RESULTS_ASSET_URI = "popseg://population_segmentation/latest"
# Updated for every run that recorded itself under runs/<run_id>/: published, held by the churn gate, or
# unchanged (skipped). Its events are the Segmentation view's index of runs.
RUNS_ASSET_NAME = "population_segmentation_runs"
RUNS_ASSET_URI = "popseg://population_segmentation/runs"
UNCHANGED_TASK_ID = "record_unchanged"  # records a skipped run on the runs Asset, as publish records the others
PROMOTE_TASK_ID = "promote"  # moves latest.json (and updates the results Asset) unless the churn gate holds it
VIEW_URL_PREFIX = "/segmentation"  # where the api-server mounts the Segmentation view

CONN_ID_VARIABLE = "popseg_aws_conn_id"
# The Segmentation view's own connection (unset: the DAG's), for an identity with iam/segmentation-view-policy.json.
VIEW_CONN_ID_VARIABLE = "popseg_view_aws_conn_id"
ROLE_ARN_VARIABLE = "popseg_role_arn"
DEFAULT_CONN_ID = "aws_default"
# The same, rendered at run time, for operator arguments Airflow templates.
CONN_ID_TEMPLATE = f"{{{{ var.value.get('{CONN_ID_VARIABLE}', '{DEFAULT_CONN_ID}') }}}}"

# Polling cadence in seconds, fractions allowed: 0.5 s under `make run` against the local emulator (whose jobs
# and endpoints are ready in well under a second), 30 s on AWS (`[popseg] check_interval`).
CHECK_INTERVAL = conf.getfloat("popseg", "check_interval", fallback=30)
# A training job's limit: SageMaker stops it after this (MaxRuntimeInSeconds) and the operator waits as long.
TRAINING_MAX_MINUTES = conf.getint("popseg", "training_max_minutes", fallback=120)
# The instance types a run may ask for (`[popseg] training_instance_types` / `endpoint_instance_types`,
# comma-separated; the first is the param's default): a trigger cannot buy an ml.p5.48xlarge. The trigger form
# offers exactly these, check_params refuses any other, and iam/airflow-policy.json's sagemaker:InstanceTypes
# conditions list the same defaults (extend both together).
DEFAULT_TRAINING_INSTANCE_TYPES = ("ml.c5.xlarge", "ml.c5.2xlarge", "ml.m5.xlarge", "ml.m5.2xlarge")
DEFAULT_ENDPOINT_INSTANCE_TYPES = ("ml.t2.medium", "ml.m5.large", "ml.c5.large", "ml.c5.xlarge")
_INSTANCE_TYPE = re.compile(r"ml\.[a-z0-9]+\.[a-z0-9]+")


def _instance_types(key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    listed = conf.get("popseg", key, fallback=",".join(default))
    types = tuple(dict.fromkeys(part.strip() for part in listed.split(",") if part.strip()))
    wrong = [t for t in types if not _INSTANCE_TYPE.fullmatch(t)]
    if not types or wrong:
        raise ValueError(
            f"[popseg] {key} (AIRFLOW__POPSEG__{key.upper()}) must list SageMaker instance types like ml.c5.xlarge, "
            f"comma-separated; got {listed!r}"
        )
    return types


TRAINING_INSTANCE_TYPES = _instance_types("training_instance_types", DEFAULT_TRAINING_INSTANCE_TYPES)
ENDPOINT_INSTANCE_TYPES = _instance_types("endpoint_instance_types", DEFAULT_ENDPOINT_INSTANCE_TYPES)
# How long a teardown keeps deleting (and verifying) an endpoint, its config and model before it fails the
# run with TeardownIncomplete and leaves the rest to the sweeper.
TEARDOWN_TIMEOUT_SECONDS = conf.getint("popseg", "teardown_timeout_seconds", fallback=1800)
# How many InvokeEndpoint requests the transform and assign tasks keep in flight on their endpoint
# (`[popseg] invoke_concurrency`, 1 to 64): 4 keeps one ml.t2.medium instance busy without queueing.
INVOKE_CONCURRENCY_BOUNDS = (1, 64)
INVOKE_CONCURRENCY = conf.getint("popseg", "invoke_concurrency", fallback=4)
if not INVOKE_CONCURRENCY_BOUNDS[0] <= INVOKE_CONCURRENCY <= INVOKE_CONCURRENCY_BOUNDS[1]:
    raise ValueError(
        f"[popseg] invoke_concurrency (AIRFLOW__POPSEG__INVOKE_CONCURRENCY) must be 1 to 64, got {INVOKE_CONCURRENCY}"
    )


# The nightly run's deadline: an alert (include/airflow_popseg/alerts.py) when a run is not done this many hours
# after its logical date (`[popseg] deadline_hours`; 0: no deadline). 4 h: a 02:00 run is late at 06:00, while
# the seed notebook's AWS timings make a whole run about half an hour.
DEADLINE_HOURS = conf.getfloat("popseg", "deadline_hours", fallback=4)
if not 0 <= DEADLINE_HOURS <= 24 * 7:
    raise ValueError(
        f"[popseg] deadline_hours (AIRFLOW__POPSEG__DEADLINE_HOURS) must be 0 to 168, got {DEADLINE_HOURS}"
    )


# The price table each run's cost is estimated from (`[popseg] price_table`, a path on the workers; README, Cost):
# popseg's own (include/segmentation_aws/prices.json) when unset. Read when a run is documented, so a new table
# needs no deploy. A table that cannot be read fails nothing: every line of the estimate says "no price" and why
# (the file, row and field), and the task logs it as an error.
PRICE_TABLE_OPTION = ("popseg", "price_table")


def price_table_path() -> str | None:
    """The deployment's price table, or None for the one shipped with popseg."""
    return conf.get(*PRICE_TABLE_OPTION, fallback=None) or None


# Retries: every task that is safe to repeat (all of them, see README "Reliability") retries with
# exponential backoff; failures that would repeat (bad input, a failed job) fail at once instead.
RETRIES = conf.getint("popseg", "retries", fallback=2)
RETRY_DELAY_SECONDS = conf.getint("popseg", "retry_delay_seconds", fallback=60)
# Training and deploy tasks reattach to what their run already started, so a retry costs a Describe call: they
# retry after seconds, not a minute. Under a real scheduler Airflow 3.3's deferral race (README "Reliability")
# fails such a task while its job runs on; with the general delay every race cost the night a minute or more.
REATTACH_RETRY_DELAY_SECONDS = conf.getfloat("popseg", "reattach_retry_delay_seconds", fallback=5)
# Every AWS client: botocore's standard mode retries throttling, 5xx and connection errors with backoff.
BOTOCORE_CONFIG = {"retries": {"mode": "standard", "max_attempts": 5}}
# The sagemaker-runtime client: a pooled connection per request in flight (botocore keeps 10 by default).
RUNTIME_BOTOCORE_CONFIG = {**BOTOCORE_CONFIG, "max_pool_connections": max(10, INVOKE_CONCURRENCY)}


# The sweeper deletes only where the deployment opted in (`[popseg] sweeper_deletes = True`, or
# AIRFLOW__POPSEG__SWEEPER_DELETES=true): without it every sweep is a dry run, whatever its `dry_run` param says.
# Airflow's trigger form unpauses a DAG by default, and an unpaused sweeper starts a scheduled run at once: a
# user who only wanted a dry run must not get a real sweep. Read at run time, so a change needs no deploy.
SWEEPER_DELETES_OPTION = ("popseg", "sweeper_deletes")


def sweeper_deletes() -> bool:
    """Whether this deployment lets the sweeper delete and stop (off unless set)."""
    return conf.getboolean(*SWEEPER_DELETES_OPTION, fallback=False)


def conn_id() -> str:
    """The AWS connection id, read at run time from its Variable."""
    from airflow.sdk import Variable

    return Variable.get(CONN_ID_VARIABLE, default=DEFAULT_CONN_ID)


def view_conn_id() -> str:
    """The Segmentation view's AWS connection id, read per request from its Variable; the DAG's when unset."""
    from airflow.sdk import Variable

    return Variable.get(VIEW_CONN_ID_VARIABLE, default=None) or conn_id()
