"""The orphan sweeper: what popseg left behind in SageMaker and S3, and whether its run still needs it.

A run's endpoint teardown deletes what it deployed, but a worker killed at the wrong moment (or a
teardown that itself failed) leaves an endpoint that bills by the hour. The sweeper lists what carries
popseg's tags, asks Airflow about each resource's run (`run_state`), and decides, with a reason per item:

SageMaker endpoints, endpoint configs, models, training and batch transform jobs still in progress, tagged `popseg:run`:
  - swept when older than `ttl_hours`, whatever its run says: a run whose process was killed stays
    "running" in Airflow until the scheduler notices, and never under `airflow dags test`;
  - swept when its run (tag `popseg:run-id`) is finished (success or failed) or unknown to Airflow;
  - kept while its run is queued or running, or when it carries no run id (swept after the TTL).
  Swept means deleted; a training or transform job cannot be deleted, it is stopped.
Intermediates `<output_prefix>/work/<token>/` (their run id is in `work/<token>/run-id`):
  - kept while the run is queued or running (a run older than `ttl_hours` counts as failed);
  - deleted `keep_succeeded_days` after the last write of a succeeded run, `keep_failed_days` after the
    last write of a failed or dead run (kept that long for inspection), or of one whose run is unknown.

`decide` is pure; `find` and `execute` take boto3 clients and make the calls (none in a dry run).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from botocore.exceptions import ClientError

from include.segmentation.printable import printable
from include.segmentation_aws.endpoints import delete_endpoint_stack, ignore_missing
from include.segmentation_aws.layout import RUN_ID_MARKER, work_root
from include.segmentation_aws.names import NAME_PREFIX, RUN_ID_TAG, RUN_TAG
from include.segmentation_aws.sagemaker_errors import is_not_found

log = logging.getLogger(__name__)

ENDPOINT, ENDPOINT_CONFIG, MODEL, TRAINING_JOB, WORK = "endpoint", "endpoint-config", "model", "training-job", "work"
TRANSFORM_JOB = "transform-job"
JOBS = (TRAINING_JOB, TRANSFORM_JOB)  # stopped while in progress (a job that ended cannot be deleted, nor bills)
DELETE, STOP, KEEP = "delete", "stop", "keep"
LIVE = ("queued", "running")  # Airflow DagRun states of a run that may still use its resources
MAX_DELETE_KEYS = 1000  # DeleteObjects' limit per request

RunState = Callable[[str], "str | None"]  # run id -> Airflow DagRun state, None when Airflow has no such run


@dataclass(frozen=True)
class Resource:
    """One thing popseg made: a SageMaker resource by name, or a run's work prefix by S3 key prefix."""

    kind: str  # ENDPOINT, ENDPOINT_CONFIG, MODEL, TRAINING_JOB, TRANSFORM_JOB or WORK
    name: str
    created: datetime  # tz-aware; for WORK the newest object's LastModified (the run's last write)
    tags: dict[str, str]  # for WORK: {RUN_TAG: token, RUN_ID_TAG: run id from the marker, if any}
    status: str | None = None  # EndpointStatus or TrainingJobStatus
    keys: tuple[str, ...] = ()  # WORK only: every object under the prefix

    @property
    def run_id(self) -> str | None:
        return self.tags.get(RUN_ID_TAG)


@dataclass(frozen=True)
class Policy:
    now: datetime  # tz-aware
    ttl_hours: float = 24.0
    keep_succeeded_days: float = 1.0
    keep_failed_days: float = 3.0


@dataclass(frozen=True)
class Decision:
    resource: Resource
    action: str  # DELETE, STOP or KEEP
    reason: str

    def row(self) -> dict[str, str]:
        """What the sweeper reports of one item (kind, name, action, reason)."""
        return {"kind": self.resource.kind, "name": self.resource.name, "action": self.action, "reason": self.reason}


def decide(resources: Iterable[Resource], run_state: RunState, policy: Policy) -> list[Decision]:
    """One decision per resource; `run_state` is asked at most once per run id."""
    states: dict[str, str | None] = {}

    def state(run_id: str) -> str | None:
        if run_id not in states:
            states[run_id] = run_state(run_id)
        return states[run_id]

    return [
        (_decide_work if r.kind == WORK else _decide_sagemaker)(r, state, policy)
        for r in sorted(resources, key=lambda r: (r.kind, r.name))
    ]


def _decide_sagemaker(resource: Resource, state: RunState, policy: Policy) -> Decision:
    age = policy.now - resource.created
    sweep = STOP if resource.kind in JOBS else DELETE
    if RUN_TAG not in resource.tags:
        return Decision(resource, KEEP, f"not tagged {RUN_TAG}: not popseg's")
    if resource.status in ("Deleting", "Stopping"):
        return Decision(resource, KEEP, f"already {resource.status}")
    if age >= timedelta(hours=policy.ttl_hours):
        return Decision(resource, sweep, f"{_hours(age)} old, over ttl_hours={policy.ttl_hours:g}")
    if resource.run_id is None:
        return Decision(resource, KEEP, f"no {RUN_ID_TAG} tag: left until it is ttl_hours old")
    run_state = state(resource.run_id)
    if run_state in LIVE:
        return Decision(resource, KEEP, f"run {resource.run_id} is {run_state}")
    if run_state is None:
        return Decision(resource, sweep, f"run {resource.run_id} is unknown to Airflow")
    return Decision(resource, sweep, f"run {resource.run_id} is {run_state}")


def _decide_work(resource: Resource, state: RunState, policy: Policy) -> Decision:
    age = policy.now - resource.created
    run_id = resource.run_id
    run_state = state(run_id) if run_id else None
    if run_state in LIVE and age < timedelta(hours=policy.ttl_hours):
        return Decision(resource, KEEP, f"run {run_id} is {run_state}")
    if run_state == "success":
        keep, why = policy.keep_succeeded_days, f"run {run_id} succeeded"
    elif run_state in LIVE:
        keep, why = policy.keep_failed_days, f"run {run_id} is {run_state} but silent for over ttl_hours"
    else:
        keep = policy.keep_failed_days
        why = f"run {run_id} is {run_state or 'unknown to Airflow'}" if run_id else f"no {RUN_ID_MARKER} marker"
    setting = "keep_succeeded_days" if run_state == "success" else "keep_failed_days"
    if age >= timedelta(days=keep):
        return Decision(resource, DELETE, f"{why}; last write {_hours(age)} ago, over {setting}={keep:g}")
    return Decision(resource, KEEP, f"{why}; last write {_hours(age)} ago, kept for {setting}={keep:g}")


def _hours(age: timedelta) -> str:
    return f"{age.total_seconds() / 3600:.1f} h"


# --- Finding and sweeping, given boto3 clients -------------------------------------------------------------

_LISTS = {  # kind -> (ListX operation, result key, name field, status field)
    ENDPOINT: ("list_endpoints", "Endpoints", "EndpointName", "EndpointStatus"),
    ENDPOINT_CONFIG: ("list_endpoint_configs", "EndpointConfigs", "EndpointConfigName", None),
    MODEL: ("list_models", "Models", "ModelName", None),
    TRAINING_JOB: ("list_training_jobs", "TrainingJobSummaries", "TrainingJobName", "TrainingJobStatus"),
    TRANSFORM_JOB: ("list_transform_jobs", "TransformJobSummaries", "TransformJobName", "TransformJobStatus"),
}


def find(sagemaker, s3, bucket: str, output_prefix: str) -> list[Resource]:
    """Every popseg-named endpoint, endpoint config and model, training and transform jobs in progress, and each run's
    work prefix in `bucket` under `output_prefix`."""
    return [*find_sagemaker(sagemaker), *find_work(s3, bucket, output_prefix)]


def find_sagemaker(client) -> list[Resource]:
    found = []
    for kind, (operation, key, name_field, status_field) in _LISTS.items():
        arguments = {"NameContains": NAME_PREFIX}  # server-side filter; keeps list and ListTags calls few
        if kind in JOBS:
            arguments["StatusEquals"] = "InProgress"  # only a running job bills; finished ones cannot be deleted
        for page in client.get_paginator(operation).paginate(**arguments):
            for summary in page[key]:
                if not summary[name_field].startswith(NAME_PREFIX):
                    continue
                arn = next(value for field, value in summary.items() if field.endswith("Arn"))
                tags = _tags(client, arn)
                if tags is None:
                    continue  # deleted since it was listed (a teardown may run while the sweeper does)
                status = summary.get(status_field) if status_field else None
                found.append(Resource(kind, summary[name_field], summary["CreationTime"], tags, status))
    return found


def _tags(client, arn: str) -> dict[str, str] | None:
    """The resource's tags; None when it no longer exists."""
    try:
        pages = list(client.get_paginator("list_tags").paginate(ResourceArn=arn))
    except ClientError as error:
        if is_not_found(error):
            log.info("%s is gone: %s", printable(arn), printable(error))
            return None
        raise
    return {tag["Key"]: tag["Value"] for page in pages for tag in page["Tags"]}


def find_work(client, bucket: str, output_prefix: str) -> list[Resource]:
    """One WORK resource per `<output_prefix>/work/<token>/`, with its keys, last write and marker's run id."""
    found = []
    root = work_root(output_prefix)
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=root, Delimiter="/"):
        for common in page.get("CommonPrefixes", []):
            prefix = common["Prefix"]
            objects = [
                item
                for listing in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
                for item in listing.get("Contents", [])
            ]
            if not objects:
                continue
            tags = {RUN_TAG: prefix[len(root) :].rstrip("/")}
            if any(item["Key"] == prefix + RUN_ID_MARKER for item in objects):
                marker = client.get_object(Bucket=bucket, Key=prefix + RUN_ID_MARKER)["Body"].read(1024)
                tags[RUN_ID_TAG] = marker.decode("utf-8", "replace").strip()
            newest = max(item["LastModified"] for item in objects)
            found.append(Resource(WORK, prefix, newest, tags, keys=tuple(item["Key"] for item in objects)))
    return found


def execute(
    decisions: list[Decision], sagemaker, s3, bucket: str, dry_run: bool, poll_seconds: float = 30.0
) -> list[Decision]:
    """Make the calls the decisions ask for (none when `dry_run`): endpoints first, each taking its
    config of the same name with it (as the DAG names them), then configs, models, training jobs, work
    prefixes. One item that fails does not spare the others: every failure is logged, then the first
    is raised. Returns the decisions acted on."""
    order = {ENDPOINT: 0, ENDPOINT_CONFIG: 1, MODEL: 2, TRAINING_JOB: 3, TRANSFORM_JOB: 3, WORK: 4}
    acted = [d for d in decisions if d.action != KEEP]
    if dry_run:
        return acted
    failed: list[tuple[Decision, Exception]] = []
    for decision in sorted(acted, key=lambda d: order[d.resource.kind]):
        try:
            _act(decision.resource, sagemaker, s3, bucket, poll_seconds)
        except Exception as error:  # reported below, after the other items had their turn
            resource = decision.resource
            log.error(
                "could not %s %s %s: %s", decision.action, resource.kind, printable(resource.name), printable(error)
            )
            failed.append((decision, error))
    if failed:
        decision, error = failed[0]
        raise RuntimeError(
            f"{len(failed)} of {len(acted)} sweeps failed, first: {decision.action} {decision.resource.kind} "
            f"{decision.resource.name}: {error}"
        ) from error
    return acted


def _act(resource: Resource, sagemaker, s3, bucket: str, poll_seconds: float) -> None:
    if resource.kind == ENDPOINT:
        delete_endpoint_stack(sagemaker, resource.name, resource.name, None, poll_seconds=poll_seconds)
    elif resource.kind == ENDPOINT_CONFIG:
        ignore_missing(functools.partial(sagemaker.delete_endpoint_config, EndpointConfigName=resource.name))
    elif resource.kind == MODEL:
        ignore_missing(functools.partial(sagemaker.delete_model, ModelName=resource.name))
    elif resource.kind == TRAINING_JOB:
        sagemaker.stop_training_job(TrainingJobName=resource.name)
    elif resource.kind == TRANSFORM_JOB:
        sagemaker.stop_transform_job(TransformJobName=resource.name)
    else:
        delete_keys(s3, bucket, resource.keys)


def delete_keys(client, bucket: str, keys: Iterable[str]) -> None:
    """DeleteObjects in batches of 1000; an error on any key fails the sweep, naming it."""
    keys = list(keys)
    for start in range(0, len(keys), MAX_DELETE_KEYS):
        batch = [{"Key": key} for key in keys[start : start + MAX_DELETE_KEYS]]
        answer = client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
        if answer.get("Errors"):
            first = answer["Errors"][0]
            raise RuntimeError(
                f"could not delete {len(answer['Errors'])} objects in s3://{bucket}, "
                f"e.g. {first.get('Key')}: {first.get('Code')} {first.get('Message')}"
            )


def report(decisions: list[Decision], dry_run: bool) -> dict:
    """Counts by action and kind, and one row per item, for the log and for XCom."""
    counts: dict[str, dict[str, int]] = {}
    for decision in decisions:
        by_kind = counts.setdefault(decision.action, {})
        by_kind[decision.resource.kind] = by_kind.get(decision.resource.kind, 0) + 1
    return {"dry_run": dry_run, "counts": counts, "items": [d.row() for d in decisions]}


def table(decisions: list[Decision], dry_run: bool) -> str:
    """A fixed-width table of what was (or, in a dry run, would be) swept and what was left, and why."""
    if not decisions:
        return "nothing of popseg's found"
    verb = {DELETE: "would delete", STOP: "would stop"} if dry_run else {}
    # Names are S3 keys and resource names as listed: escaped, so that one cannot forge a row of its own.
    rows = [
        (verb.get(d.action, d.action), d.resource.kind, printable(d.resource.name), printable(d.reason))
        for d in decisions
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(f"{a:<{widths[0]}}  {k:<{widths[1]}}  {n:<{widths[2]}}  {why}" for a, k, n, why in rows)
