"""Every AWS call of whole runs, recorded against the emulator, is allowed by the policy of whoever made
it, and every statement of those policies is needed by some call.

The DAG's calls (hooks, operators, deferred triggers) are checked against iam/airflow-policy.json; the
emulator's workers reading training data and writing artifacts and logs act as SageMaker with the
execution role and are checked against iam/sagemaker-execution-role.json.
"""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict

import boto3
import pytest

from include.segmentation.synthetic import synthetic_census
from include.segmentation_aws import requests
from tests.iam.aws_calls import AIRFLOW, EXECUTION_ROLE, Call, mark_principal, record_calls, requests_for
from tests.iam.evaluator import Decision, Request, arn_like, evaluate, statements
from tests.iam.policies import SERVICE_SIDE_SIDS, Deployment, load
from tests.iam.reference import resource_types, types_of

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_calls(dag, airflow_db, emulator, aws_env) -> tuple[Deployment, list[Call], dict[str, dict]]:
    """Two whole runs with every AWS call recorded: one whose census lands after the sensor's first miss,
    and one whose K-Means training fails (the failure and cleanup path). Returns each run's task states."""
    s3 = mark_principal(boto3.client("s3", endpoint_url=emulator.endpoint_url, region_name="us-east-1"), "test")
    deployment = Deployment(Bucket=f"popseg-{uuid.uuid4().hex[:10]}")
    s3.create_bucket(Bucket=deployment.Bucket)
    # Versioned, as a careful deployment's input bucket is: the run reads the version it pinned.
    s3.put_bucket_versioning(Bucket=deployment.Bucket, VersioningConfiguration={"Status": "Enabled"})
    body = synthetic_census(400).to_csv(index=False).encode()
    landed = threading.Event()

    def land_census_after_first_miss(call: Call) -> None:
        if call.operation == "HeadObject" and call.error == "404" and not landed.is_set():
            landed.set()
            s3.put_object(Bucket=deployment.Bucket, Key="census/census.csv", Body=body)

    conf = {"bucket": deployment.Bucket, "input_key": "census/census.csv", "output_prefix": deployment.OutputPrefix}
    states = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        calls = record_calls(monkeypatch, on_call=land_census_after_first_miss)
        states["succeeded"] = _states(dag.test(run_conf=conf))
        kmeans = requests.kmeans_hyperparameters  # K-Means refuses "forgy": its job fails
        monkeypatch.setattr(requests, "kmeans_hyperparameters", lambda *a: {**kmeans(*a), "init_method": "forgy"})
        states["failed"] = _states(dag.test(run_conf=conf))
    return deployment, [call for call in calls if call.principal != "test"], states


def _states(run) -> dict[str, str]:
    return {"run": run.state, **{ti.task_id: ti.state for ti in run.get_task_instances()}}


def _decisions(deployment: Deployment, calls: list[Call]) -> dict[str, list[tuple[Call, Request, Decision]]]:
    policies = {AIRFLOW: load("airflow", deployment), EXECUTION_ROLE: load("execution-role", deployment)}
    found = defaultdict(list)
    for call in calls:
        for request in requests_for(call, deployment.Account):
            found[call.principal].append((call, request, evaluate(policies[call.principal], request)))
    return found


def test_the_recorded_runs_exercised_both_principals_the_waiting_sensor_and_the_failure_path(run_calls) -> None:
    _, calls, states = run_calls
    assert states["succeeded"]["run"] == "success"
    assert states["failed"]["train_kmeans"] == "failed" and states["failed"]["delete_pca_endpoint"] == "success"
    assert {call.principal for call in calls} == {AIRFLOW, EXECUTION_ROLE}
    # The census was missing at first: the sensor's "not yet" answers are part of what the policy must allow.
    assert any(call.operation == "HeadObject" and call.error == "404" for call in calls)
    # The deferred sensor and training triggers were recorded too.
    assert {"HeadObject", "DescribeTrainingJob"} <= {call.operation for call in calls if call.deferred}
    teardown = {call.operation for call in calls if call.service == "sagemaker"}
    assert {"DeleteEndpoint", "DeleteEndpointConfig", "DeleteModel"} <= teardown


def test_every_call_of_the_runs_is_allowed_by_its_principals_policy(run_calls) -> None:
    deployment, calls, _ = run_calls
    refused = [
        f"{principal}: {call.service} {call.operation} needs {request.action} on {request.resource}"
        f"{f' with {dict(request.context)}' if request.context else ''}"
        for principal, decided in _decisions(deployment, calls).items()
        for call, request, decision in decided
        if not decision.allowed
    ]
    assert refused == []


@pytest.mark.parametrize("principal, policy", [(AIRFLOW, "airflow"), (EXECUTION_ROLE, "execution-role")])
def test_every_action_and_resource_of_each_statement_is_needed_by_the_runs(run_calls, principal, policy) -> None:
    deployment, calls, _ = run_calls
    allowed = [(req, dec) for _, req, dec in _decisions(deployment, calls)[principal] if dec.allowed]
    service_side = SERVICE_SIDE_SIDS.get(policy, set())
    unused = []
    for statement in statements(load(policy, deployment)):
        sid = statement["Sid"]
        used = [req for req, dec in allowed if sid in dec.allowed_by]
        if sid in service_side:
            assert not used, f"{sid} is listed as service-side but the run used it: drop it from SERVICE_SIDE_SIDS"
            continue
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        resources = [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]
        unused += [f"{sid}: {a}" for a in actions if not any(r.action.lower() == a.lower() for r in used)]
        unused += [f"{sid}: {p}" for p in resources if not any(arn_like(p, r.resource) for r in used)]
    assert unused == []


def test_each_call_maps_to_the_resource_types_aws_authorises_its_actions_on(run_calls) -> None:
    """The call map checked against the Service Authorization Reference, for every call the runs made."""
    deployment, calls, _ = run_calls
    wrong = []
    for call in {(c.service, c.operation, c.error): c for c in calls}.values():  # one call of each kind
        by_action = defaultdict(set)
        for request in requests_for(call, deployment.Account):
            types = resource_types(request.action)
            matched = types_of(request.action, request.resource)
            if (request.resource == "*") != (not types) or (types and not matched):
                wrong.append(f"{call.operation}: {request.action} on {request.resource}")
            by_action[request.action] |= matched
        for action, covered in by_action.items():
            required = {name for name, (needed, _) in resource_types(action).items() if needed}
            if required - covered:
                wrong.append(f"{call.operation}: {action} also needs {sorted(required - covered)}")
    assert wrong == []
