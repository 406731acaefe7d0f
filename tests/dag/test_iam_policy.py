"""Every AWS call of whole runs, recorded against the emulator, is allowed by the policy of whoever made
it, and every statement of those policies is needed by some call.

The DAG's calls (hooks, operators, deferred triggers) are checked against iam/airflow-policy.json; the
emulator's workers reading training data and writing artifacts, transform outputs and logs act as SageMaker
with the execution role and are checked against iam/sagemaker-execution-role.json.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
import time
import uuid
from collections import defaultdict

import boto3
import numpy as np
import pytest

from aws_emulator.connection import ROLE_ARN, client
from include.airflow_popseg import alerts
from include.sagemaker_formats.artifacts import read_kmeans_model
from include.sagemaker_formats.recordio import encode_dense
from include.segmentation.synthetic import synthetic_census
from include.segmentation_aws import requests
from include.segmentation_aws.names import RUN_ID_TAG, RUN_TAG
from tests.support.iam.aws_calls import AIRFLOW, EXECUTION_ROLE, Call, mark_principal, record_calls, requests_for
from tests.support.iam.evaluator import Decision, Request, arn_like, evaluate, statements
from tests.support.iam.policies import SERVICE_SIDE_SIDS, Deployment, load
from tests.support.iam.reference import resource_types, types_of
from tests.support.sns_topic import SubscribedTopic

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_calls(dag, sweeper_dag, airflow_db, emulator, aws_env) -> tuple[Deployment, list[Call], dict[str, dict]]:
    """Three runs with every AWS call recorded: one by batch transform whose census lands after the sensor's
    first miss, one that finds nothing changed (it records itself and trains nothing), and one by endpoint
    forced to retrain, sweeping k, whose K-Means candidate jobs fail (the failure and cleanup path); then a
    sweep, after leftovers of a run Airflow does not know were planted. Returns each run's task states."""
    s3 = mark_principal(boto3.client("s3", endpoint_url=emulator.endpoint_url, region_name="us-east-1"), "test")
    topic = SubscribedTopic.create(emulator.endpoint_url)  # alerts of the failed and succeeded runs go there
    deployment = Deployment(Bucket=f"popseg-{uuid.uuid4().hex[:10]}", AlertsTopicArn=topic.arn)
    s3.create_bucket(Bucket=deployment.Bucket)
    # Versioned, as a careful deployment's input bucket is: the run reads the version it pinned.
    s3.put_bucket_versioning(Bucket=deployment.Bucket, VersioningConfiguration={"Status": "Enabled"})
    body = synthetic_census(400).to_csv(index=False).encode()
    landed = threading.Event()

    leftover_transform: list[dict] = []  # planted as the sweep lists training jobs, just before transform jobs

    def on_call(call: Call) -> None:
        if call.operation == "HeadObject" and call.error == "404" and not landed.is_set():
            landed.set()
            s3.put_object(Bucket=deployment.Bucket, Key="census/census.csv", Body=body)
        if call.operation == "ListTrainingJobs" and call.principal == AIRFLOW and leftover_transform:
            # A transform job ends on its own: created now, it is still running when the sweep lists and stops
            # it, however fast this machine (created before the sweeper DAG started, it could finish first).
            sagemaker = mark_principal(client("sagemaker", emulator.endpoint_url), "test")
            sagemaker.create_transform_job(**leftover_transform.pop())

    conf = {"bucket": deployment.Bucket, "input_key": "census/census.csv", "output_prefix": deployment.OutputPrefix}
    by_batch = {**conf, "transform": "batch"}  # transform jobs instead of endpoints; the failed run keeps endpoints
    states = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv(f"AIRFLOW_VAR_{alerts.TOPIC_VARIABLE.upper()}", topic.arn)
        calls = record_calls(monkeypatch, on_call=on_call)
        states["succeeded"] = _states(dag.test(run_conf=by_batch))
        states["unchanged"] = _states(dag.test(run_conf=by_batch))  # the same census: nothing retrained
        kmeans = requests.kmeans_hyperparameters  # K-Means refuses "forgy": its job fails
        monkeypatch.setattr(requests, "kmeans_hyperparameters", lambda *a: {**kmeans(*a), "init_method": "forgy"})
        # ... as a k sweep: the candidates' mapped jobs are recorded too.
        by_endpoint = {**conf, "transform": "endpoint"}  # said: a conf value sticks to the DAG's Param in-process
        states["failed"] = _states(dag.test(run_conf={**by_endpoint, "force": True, "k_min": 3, "k_max": 4}))
        leftover_transform.append(_plant_leftovers(emulator.endpoint_url, deployment))
        sweep_conf = {"bucket": deployment.Bucket, "output_prefix": deployment.OutputPrefix, "dry_run": False,
                      "ttl_hours": 24, "keep_succeeded_days": 0, "keep_failed_days": 0}  # fmt: skip
        states["sweep"] = _states(sweeper_dag.test(run_conf=sweep_conf))
    return deployment, [call for call in calls if call.principal != "test"], states


LEFTOVER = "popseg-kmeans-leftover"
GONE_RUN = "manual__2026-01-01T00:00:00+00:00"  # a run id Airflow does not know: its resources are swept


def _plant_leftovers(endpoint_url: str, deployment: Deployment) -> dict:
    """As the test, not Airflow: an endpoint stack and a training job in progress tagged with a run Airflow does
    not know, and their work/ prefix, so that the sweep lists, stops and deletes every kind of thing. Returns the
    CreateTransformJob request of a leftover batch transform job of the same run, to create during the sweep."""
    s3, sagemaker = (mark_principal(client(service, endpoint_url), "test") for service in ("s3", "sagemaker"))
    work = f"{deployment.OutputPrefix}/work/leftover/"
    rows = np.random.default_rng(0).random((400_000, 8), dtype=np.float32)  # long enough to stop mid-training
    s3.put_object(Bucket=deployment.Bucket, Key=f"{work}kmeans-train/train.rec", Body=encode_dense(rows))
    tags = {RUN_TAG: "leftover", RUN_ID_TAG: GONE_RUN}
    artifact = next(
        f"s3://{deployment.Bucket}/{item['Key']}"
        for item in s3.list_objects_v2(Bucket=deployment.Bucket, Prefix=f"{deployment.OutputPrefix}/work/")["Contents"]
        if item["Key"].endswith("model.tar.gz") and "/popseg-kmeans-" in item["Key"]
    )
    plan = requests.endpoint_request(
        endpoint_name=LEFTOVER, training_job_name=LEFTOVER, model_data_uri=artifact, algorithm="kmeans",
        region=deployment.Region, role_arn=ROLE_ARN, instance_type="ml.t2.medium", tags=tags,
    )  # fmt: skip
    sagemaker.create_model(**plan["Model"])
    sagemaker.create_endpoint_config(**plan["EndpointConfig"])
    sagemaker.create_endpoint(**plan["Endpoint"])
    job = requests.training_request(
        name=LEFTOVER, algorithm="kmeans", region=deployment.Region, role_arn=ROLE_ARN,
        train_uri=f"s3://{deployment.Bucket}/{work}kmeans-train/", output_uri=f"s3://{deployment.Bucket}/{work}models/",
        hyperparameters={"feature_dim": 8, "k": 8, "mini_batch_size": 50, "epochs": 10},
        instance_type="ml.m5.large", max_runtime_seconds=3600, tags=tags,
    )  # fmt: skip
    sagemaker.create_training_job(**job)
    while sagemaker.describe_training_job(TrainingJobName=LEFTOVER)["SecondaryStatus"] != "Training":
        time.sleep(0.05)
    # The leftover model's K-Means over rows of its own width, one request a record: still running at the sweep.
    bucket, key = artifact.removeprefix("s3://").split("/", 1)
    width = read_kmeans_model(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).shape[1]
    rows = np.random.default_rng(1).random((400_000, width), dtype=np.float32)
    s3.put_object(Bucket=deployment.Bucket, Key=f"{work}kmeans-components/part-00000.rec", Body=encode_dense(rows))
    transform = requests.batch_request(
        job_name=LEFTOVER, training_job_name=LEFTOVER, model_data_uri=artifact, algorithm="kmeans",
        region=deployment.Region, role_arn=ROLE_ARN, input_uri=f"s3://{deployment.Bucket}/{work}kmeans-components/",
        output_uri=f"s3://{deployment.Bucket}/{work}kmeans-batch/", instance_type="ml.m5.xlarge", tags=tags,
    )["Transform"]  # fmt: skip
    return {**transform, "BatchStrategy": "SingleRecord"}


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
    assert {states["succeeded"][f"batch_{algorithm}"] for algorithm in ("pca", "kmeans")} == {"success"}
    assert states["failed"]["deploy_pca"] == "success"  # the failed run transformed by endpoint
    assert states["unchanged"]["record_unchanged"] == "success" and states["unchanged"]["train_pca"] == "skipped"
    assert states["failed"]["train_kmeans"] == "failed" and states["failed"]["delete_pca_endpoint"] == "success"
    candidates = {
        call.params["TrainingJobName"].split("-")[2] for call in calls if call.operation == "CreateTrainingJob"
    }
    assert {"k3", "k4"} <= candidates  # the sweep's mapped jobs were created under the policy
    assert {call.principal for call in calls} == {AIRFLOW, EXECUTION_ROLE}
    # The census was missing at first: the sensor's "not yet" answers are part of what the policy must allow.
    assert any(call.operation == "HeadObject" and call.error == "404" for call in calls)
    # The deferred sensor, training and transform triggers were recorded too.
    assert {"HeadObject", "DescribeTrainingJob", "DescribeTransformJob"} <= {c.operation for c in calls if c.deferred}
    teardown = {call.operation for call in calls if call.service == "sagemaker"}
    assert {"DeleteEndpoint", "DeleteEndpointConfig", "DeleteModel"} <= teardown
    # Airflow read the tail of both kinds of job log (ReadJobLogs' `Tra*Jobs` stands for these two groups).
    read = {
        call.params["logGroupName"] for call in calls if call.operation == "GetLogEvents" and call.principal == AIRFLOW
    }
    assert read == {"/aws/sagemaker/TrainingJobs", "/aws/sagemaker/TransformJobs"}


def test_the_recorded_sweep_listed_stopped_and_deleted_every_kind_of_leftover(run_calls) -> None:
    _, calls, states = run_calls
    assert states["sweep"]["run"] == "success"
    swept = {(call.operation, call.params.get("ResourceArn", "").split(":")[-1].split("/")[0]) for call in calls}
    kinds = ("endpoint", "endpoint-config", "model", "training-job", "transform-job")
    assert {("ListTags", kind) for kind in kinds} <= swept
    operations = {call.operation for call in calls if not call.error}
    assert {"StopTrainingJob", "StopTransformJob", "DeleteObjects", "ListTrainingJobs", "ListTransformJobs",
            "ListEndpoints"} <= operations  # fmt: skip


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


def _on_p5(call: Call) -> Call:
    """The same recorded call asking for ml.p5.48xlarge instances (what an unchecked trigger could buy)."""
    params = copy.deepcopy(call.params)
    if call.operation == "CreateTrainingJob":
        params["ResourceConfig"]["InstanceType"] = "ml.p5.48xlarge"
    elif call.operation == "CreateTransformJob":
        params["TransformResources"]["InstanceType"] = "ml.p5.48xlarge"
    else:
        for variant in params["ProductionVariants"]:
            variant["InstanceType"] = "ml.p5.48xlarge"
    return dataclasses.replace(call, params=params)


def test_the_recorded_creates_met_the_cost_guard_rails_and_the_same_on_p5_would_be_denied(run_calls) -> None:
    """The guard rails were evaluated on the DAG's real requests, not vacuously: each create carried its
    instance types, runtime limit, isolation, model and run tag, and was allowed by the conditioned statement."""
    deployment, calls, _ = run_calls
    policy = load("airflow", deployment)
    guarded = ("CreateTrainingJob", "CreateEndpointConfig", "CreateTransformJob")
    creates = [c for c in calls if c.principal == AIRFLOW and c.operation in guarded]
    assert {c.operation for c in creates} == set(guarded)
    for call in creates:
        request = requests_for(call, deployment.Account)[0]
        assert request.context["sagemaker:InstanceTypes"] and request.context["aws:RequestTag/popseg:run"]
        if call.operation == "CreateTrainingJob":
            assert request.context["sagemaker:NetworkIsolation"] == "true"
            assert int(request.context["sagemaker:MaxRuntimeInSeconds"]) <= int(deployment.TrainingMaxSeconds)
        if call.operation == "CreateTransformJob":
            assert request.context["sagemaker:ModelArn"].split(":")[-1].startswith("model/popseg-")
        assert evaluate(policy, request).allowed
        assert not evaluate(policy, requests_for(_on_p5(call), deployment.Account)[0]).allowed


def test_every_recorded_create_carried_the_run_tag(run_calls) -> None:
    _, calls, _ = run_calls
    creates = [
        c for c in calls if c.principal == AIRFLOW and c.operation.startswith("Create") and c.service == "sagemaker"
    ]
    assert {"CreateTrainingJob", "CreateModel", "CreateEndpointConfig", "CreateEndpoint", "CreateTransformJob"} <= {
        c.operation for c in creates
    }
    assert all(RUN_TAG in {tag["Key"] for tag in c.params.get("Tags", [])} for c in creates)
