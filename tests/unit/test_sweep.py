"""What the sweeper deletes, stops and leaves, and why, decided without AWS or Airflow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from include.segmentation_aws.names import RUN_ID_TAG, RUN_TAG, RunNames
from include.segmentation_aws.sweep import (
    DELETE,
    ENDPOINT,
    ENDPOINT_CONFIG,
    KEEP,
    MODEL,
    STOP,
    TRAINING_JOB,
    TRANSFORM_JOB,
    WORK,
    Policy,
    Resource,
    decide,
    report,
    table,
)

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
POLICY = Policy(now=NOW, ttl_hours=24, keep_succeeded_days=1, keep_failed_days=3)
RUN = "manual__2026-12-02T10:00:00+00:00"
TAGS = RunNames.for_run(RUN).tags(RUN)


def resource(kind=ENDPOINT, age=timedelta(hours=1), tags=TAGS, status=None, name="popseg-pca-x") -> Resource:
    return Resource(kind, name, NOW - age, dict(tags), status)


def one(item: Resource, states: dict[str, str | None], policy: Policy = POLICY):
    [decision] = decide([item], states.get, policy)
    return decision


@pytest.mark.parametrize("kind", [ENDPOINT, ENDPOINT_CONFIG, MODEL])
@pytest.mark.parametrize("state", ["success", "failed"])
def test_a_finished_runs_endpoint_config_and_model_are_deleted_naming_the_run(kind, state) -> None:
    decision = one(resource(kind), {RUN: state})
    assert decision.action == DELETE and decision.reason == f"run {RUN} is {state}"


@pytest.mark.parametrize("state", ["running", "queued"])
def test_a_live_runs_endpoint_is_kept(state) -> None:
    decision = one(resource(), {RUN: state})
    assert decision.action == KEEP and decision.reason == f"run {RUN} is {state}"


def test_a_live_runs_endpoint_older_than_the_ttl_is_deleted_as_its_process_may_be_dead() -> None:
    decision = one(resource(age=timedelta(hours=25)), {RUN: "running"})
    assert decision.action == DELETE and "over ttl_hours=24" in decision.reason


def test_a_ttl_of_zero_sweeps_everything_tagged() -> None:
    decision = one(resource(age=timedelta(0)), {RUN: "running"}, Policy(now=NOW, ttl_hours=0))
    assert decision.action == DELETE


def test_an_endpoint_whose_run_airflow_does_not_know_is_deleted() -> None:
    decision = one(resource(), {})
    assert decision.action == DELETE and "unknown to Airflow" in decision.reason


@pytest.mark.parametrize("kind", [TRAINING_JOB, TRANSFORM_JOB])
def test_a_job_of_a_dead_run_is_stopped_not_deleted(kind) -> None:
    decision = one(resource(kind, status="InProgress"), {RUN: "failed"})
    assert decision.action == STOP


def test_what_is_already_deleting_or_stopping_is_left() -> None:
    assert one(resource(status="Deleting"), {RUN: "failed"}).reason == "already Deleting"
    assert one(resource(TRAINING_JOB, status="Stopping"), {RUN: "failed"}).action == KEEP


def test_a_resource_without_popsegs_run_tag_is_never_touched_even_past_the_ttl() -> None:
    decision = one(resource(age=timedelta(days=30), tags={"team": "other"}), {})
    assert decision.action == KEEP and "not popseg's" in decision.reason


def test_a_resource_without_a_run_id_tag_waits_for_the_ttl() -> None:
    untagged = {RUN_TAG: "tok"}
    assert one(resource(tags=untagged), {}).action == KEEP
    assert one(resource(tags=untagged, age=timedelta(hours=24)), {}).action == DELETE


def test_run_state_is_asked_once_per_run() -> None:
    asked = []
    decide([resource(k) for k in (ENDPOINT, ENDPOINT_CONFIG, MODEL)], lambda r: asked.append(r) or "failed", POLICY)
    assert asked == [RUN]


def work(age: timedelta, run_id: str | None = RUN) -> Resource:
    tags = {RUN_TAG: "tok", **({RUN_ID_TAG: run_id} if run_id else {})}
    return Resource(WORK, "segmentation/work/tok/", NOW - age, tags, keys=("segmentation/work/tok/run-id",))


def test_a_succeeded_runs_work_is_deleted_after_keep_succeeded_days() -> None:
    assert one(work(timedelta(hours=23)), {RUN: "success"}).action == KEEP
    decision = one(work(timedelta(hours=25)), {RUN: "success"})
    assert decision.action == DELETE and "keep_succeeded_days=1" in decision.reason


def test_a_failed_runs_work_is_kept_for_inspection_for_keep_failed_days() -> None:
    kept = one(work(timedelta(days=2)), {RUN: "failed"})
    assert kept.action == KEEP and "kept for keep_failed_days=3" in kept.reason
    assert one(work(timedelta(days=3)), {RUN: "failed"}).action == DELETE


def test_a_running_runs_work_is_kept_until_silent_past_the_ttl_then_counts_as_failed() -> None:
    assert one(work(timedelta(days=10)), {RUN: "running"}, Policy(now=NOW, ttl_hours=24 * 11)).action == KEEP
    silent = one(work(timedelta(days=2)), {RUN: "running"})
    assert silent.action == KEEP and "silent for over ttl_hours" in silent.reason
    assert one(work(timedelta(days=4)), {RUN: "running"}).action == DELETE


def test_work_without_a_marker_or_a_known_run_is_kept_as_long_as_a_failed_runs() -> None:
    assert one(work(timedelta(days=1), run_id=None), {}).action == KEEP
    assert one(work(timedelta(days=4), run_id=None), {}).reason.startswith("no run-id marker")
    assert one(work(timedelta(days=4)), {}).action == DELETE


def test_the_report_counts_by_action_and_kind_and_the_table_says_would_in_a_dry_run() -> None:
    decisions = decide([resource(), resource(MODEL), work(timedelta(hours=1))], {RUN: "failed"}.get, POLICY)
    assert report(decisions, dry_run=True)["counts"] == {DELETE: {ENDPOINT: 1, MODEL: 1}, KEEP: {WORK: 1}}
    assert table(decisions, dry_run=True).splitlines()[0].startswith("would delete  endpoint")
    assert table(decisions, dry_run=False).splitlines()[0].startswith("delete  endpoint")


def test_a_run_id_sagemaker_refuses_as_a_tag_value_is_left_out_of_the_tags() -> None:
    assert RunNames.for_run(RUN).tags(RUN)[RUN_ID_TAG] == RUN
    assert RUN_ID_TAG not in RunNames.for_run("odd~run").tags("odd~run")
