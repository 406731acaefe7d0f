"""The policy files of iam/: well formed, no wildcard actions, scoped resources, and the refusals a reader
of them relies on (PassRole only to SageMaker, nothing outside the run's names and prefixes)."""

from __future__ import annotations

import json
import re

import pytest
from parliament import analyze_policy_string

from include.airflow_popseg import settings
from tests.support.iam.evaluator import PLACEHOLDER, Request, evaluate, statements
from tests.support.iam.policies import FILES, RESOURCE_STAR, SERVICE_SIDE_SIDS, Deployment, load
from tests.support.iam.reference import defines_condition_key

D = Deployment()
IDENTITY_POLICIES = ("airflow", "execution-role", "view")
ROLE_ARN = f"arn:aws:iam::{D.Account}:role/{D.ExecutionRoleName}"
SAGEMAKER = f"arn:aws:sagemaker:{D.Region}:{D.Account}"
PLACEHOLDERS = {
    "Account", "Region", "Bucket", "InputPrefix", "OutputPrefix", "ExecutionRoleName", "ImageAccount",
    "TrainingMaxSeconds", "AlertsTopicArn",
}  # fmt: skip


def _list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def allowed(name: str, action: str, resource: str, **context: str | tuple[str, ...]) -> bool:
    return evaluate(load(name, D), Request(action, resource, context)).allowed


@pytest.mark.parametrize("name", list(FILES))
def test_each_file_is_a_policy_with_unique_sids_and_only_documented_placeholders(name) -> None:
    text = FILES[name].read_text()
    document = json.loads(text)
    assert document["Version"] == "2012-10-17"
    sids = [statement["Sid"] for statement in statements(document)]
    assert len(sids) == len(set(sids)) and all(re.fullmatch(r"[A-Za-z0-9]+", sid) for sid in sids)
    assert set(PLACEHOLDER.findall(text)) <= PLACEHOLDERS
    assert all(f"`${{{p}}}`" in (FILES[name].parent / "README.md").read_text() for p in PLACEHOLDER.findall(text))


@pytest.mark.parametrize("name", IDENTITY_POLICIES)
def test_no_action_is_a_wildcard_and_no_statement_is_negated(name) -> None:
    for statement in statements(load(name, D)):
        assert statement["Effect"] == "Allow" and "NotAction" not in statement and "NotResource" not in statement
        assert not [a for a in _list(statement["Action"]) if "*" in a or "?" in a], statement["Sid"]


@pytest.mark.parametrize("name", IDENTITY_POLICIES)
def test_resource_star_only_where_aws_offers_no_resource_level_permission(name) -> None:
    for statement in statements(load(name, D)):
        if "*" in _list(statement["Resource"]):
            assert set(_list(statement["Action"])) <= RESOURCE_STAR.get((name, statement["Sid"]), set())


@pytest.mark.parametrize("name", IDENTITY_POLICIES)
def test_each_policy_fits_the_managed_policy_size_limit(name) -> None:
    assert len(re.sub(r"\s", "", FILES[name].read_text())) <= 6144


def test_the_exception_lists_name_statements_that_exist() -> None:
    for (name, sid), _ in RESOURCE_STAR.items():
        assert sid in {s["Sid"] for s in statements(load(name, D))}
    for name, sids in SERVICE_SIDE_SIDS.items():
        assert sids <= {s["Sid"] for s in statements(load(name, D))}


def test_the_execution_role_can_be_passed_to_sagemaker_only() -> None:
    assert allowed("airflow", "iam:PassRole", ROLE_ARN, **{"iam:PassedToService": "sagemaker.amazonaws.com"})
    assert not allowed("airflow", "iam:PassRole", ROLE_ARN, **{"iam:PassedToService": "ec2.amazonaws.com"})
    assert not allowed("airflow", "iam:PassRole", ROLE_ARN)
    other = f"arn:aws:iam::{D.Account}:role/admin"
    assert not allowed("airflow", "iam:PassRole", other, **{"iam:PassedToService": "sagemaker.amazonaws.com"})


def test_every_pass_role_statement_is_conditioned_on_sagemaker() -> None:
    for name in IDENTITY_POLICIES:
        for statement in statements(load(name, D)):
            if any(a.lower() == "iam:passrole" for a in _list(statement["Action"])):
                assert _list(statement["Resource"]) == [ROLE_ARN]
                assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}


@pytest.mark.parametrize(
    "action, resource",
    [
        ("sagemaker:CreateTrainingJob", "training-job/other-team-job"),
        ("sagemaker:DeleteEndpoint", "endpoint/production-model"),
        ("sagemaker:InvokeEndpoint", "endpoint/production-model"),
        ("sagemaker:DeleteModel", "model/production-model"),
        ("sagemaker:StopTrainingJob", "training-job/other-team-job"),
        ("sagemaker:StopTransformJob", "transform-job/other-team-job"),
        ("sagemaker:DescribeTransformJob", "transform-job/other-team-job"),
        ("sagemaker:ListTags", "endpoint/production-model"),
    ],
)
def test_airflow_cannot_touch_sagemaker_resources_outside_the_run_prefix(action, resource) -> None:
    assert not allowed("airflow", action, f"{SAGEMAKER}:{resource}")


def test_the_sweeper_deletes_intermediates_only_never_results_or_the_census() -> None:
    assert allowed("airflow", "s3:DeleteObject", f"arn:aws:s3:::{D.Bucket}/segmentation/work/t1/cleaned.parquet")
    for key in ("segmentation/runs/r1/report.html", "segmentation/latest.json", "census/census.csv"):
        assert not allowed("airflow", "s3:DeleteObject", f"arn:aws:s3:::{D.Bucket}/{key}")


def test_airflow_writes_only_under_the_output_prefix() -> None:
    assert allowed("airflow", "s3:PutObject", f"arn:aws:s3:::{D.Bucket}/segmentation/runs/r1/report.html")
    assert allowed("airflow", "s3:PutObject", f"arn:aws:s3:::{D.Bucket}/segmentation/latest.json")
    assert not allowed("airflow", "s3:PutObject", f"arn:aws:s3:::{D.Bucket}/census/census.csv")
    assert not allowed("airflow", "s3:PutObject", f"arn:aws:s3:::{D.Bucket}/segmentation/other.json")
    assert not allowed("airflow", "s3:DeleteObject", f"arn:aws:s3:::{D.Bucket}/segmentation/latest.json")
    assert not allowed("airflow", "s3:GetObject", "arn:aws:s3:::another-bucket/census/census.csv")


def test_the_execution_role_reads_the_run_work_area_and_writes_models_and_transform_outputs_only() -> None:
    work = f"arn:aws:s3:::{D.Bucket}/segmentation/work/t1"
    assert allowed("execution-role", "s3:GetObject", f"{work}/pca-train/train.rec")
    assert allowed("execution-role", "s3:PutObject", f"{work}/models/popseg-pca-t1/output/model.tar.gz")
    assert allowed("execution-role", "s3:PutObject", f"{work}/pca-batch/part-00000.rec.out")
    assert allowed("execution-role", "s3:PutObject", f"{work}/kmeans-batch/part-00000.rec.out")
    assert not allowed("execution-role", "s3:PutObject", f"{work}/pca-train/train.rec")
    assert not allowed("execution-role", "s3:GetObject", f"arn:aws:s3:::{D.Bucket}/census/census.csv")
    assert not allowed("execution-role", "s3:PutObject", f"arn:aws:s3:::{D.Bucket}/segmentation/latest.json")
    assert not allowed("execution-role", "s3:ListBucket", f"arn:aws:s3:::{D.Bucket}", **{"s3:prefix": "census/"})


def test_the_view_reads_published_run_files() -> None:
    assert allowed("view", "s3:GetObject", f"arn:aws:s3:::{D.Bucket}/segmentation/runs/r1/report.html")
    assert allowed("view", "s3:GetObject", f"arn:aws:s3:::{D.Bucket}/segmentation/runs/r1/plots/segment_sizes.png")


@pytest.mark.parametrize("action", ["s3:PutObject", "s3:DeleteObject"])
def test_the_view_cannot_change_a_published_file(action) -> None:
    assert not allowed("view", action, f"arn:aws:s3:::{D.Bucket}/segmentation/runs/r1/report.html")


@pytest.mark.parametrize(
    "key", ["census/census.csv", "segmentation/work/t1/cleaned.parquet", "segmentation/latest.json", "other/runs/x"]
)
def test_the_view_reads_nothing_outside_the_published_runs(key) -> None:
    assert not allowed("view", "s3:GetObject", f"arn:aws:s3:::{D.Bucket}/{key}")
    assert not allowed("view", "s3:GetObject", "arn:aws:s3:::other-bucket/segmentation/runs/r1/report.html")


@pytest.mark.parametrize("prefix", [None, "", "census/", "segmentation/runs/"])
def test_the_view_lists_nothing(prefix) -> None:
    """Its index is the publish task's Asset events: it never lists the bucket."""
    context = {} if prefix is None else {"s3:prefix": prefix}
    assert not allowed("view", "s3:ListBucket", f"arn:aws:s3:::{D.Bucket}", **context)


def test_only_sagemaker_of_this_account_can_assume_the_execution_role() -> None:
    (statement,) = statements(load("trust", D))
    assert statement["Effect"] == "Allow" and statement["Action"] == "sts:AssumeRole"
    assert statement["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    # The condition alone, as an identity statement: aws:SourceAccount must be this account, and aws:SourceArn
    # one of its SageMaker resources in the deployment's region (AWS's confused deputy prevention).
    bare = {"Statement": [{k: v for k, v in statement.items() if k != "Principal"} | {"Resource": "*"}]}
    job = f"{SAGEMAKER}:training-job/popseg-pca-t1"

    def assumed(**context: str) -> bool:
        return evaluate(bare, Request("sts:AssumeRole", "*", context)).allowed

    assert assumed(**{"aws:SourceAccount": D.Account, "aws:SourceArn": job})
    assert assumed(**{"aws:SourceAccount": D.Account, "aws:SourceArn": f"{SAGEMAKER}:model/popseg-pca-t1"})
    other = "210987654321"
    assert not assumed(**{"aws:SourceAccount": other, "aws:SourceArn": job.replace(D.Account, other)})
    assert not assumed(**{"aws:SourceAccount": D.Account, "aws:SourceArn": job.replace(D.Region, "eu-west-1")})
    assert not assumed(
        **{"aws:SourceAccount": D.Account, "aws:SourceArn": f"arn:aws:glue:{D.Region}:{D.Account}:job/x"}
    )
    assert not assumed(**{"aws:SourceAccount": D.Account})
    assert not assumed()


# What parliament (a maintained IAM policy linter, with AWS's action reference) may say, and why it is so.
EXPECTED_FINDINGS = {
    "airflow": {("PERMISSIONS_MANAGEMENT_ACTIONS", "iam:passrole")},  # scoped to one role, conditioned
    "execution-role": {("CREDENTIALS_EXPOSURE", "ecr:getauthorizationtoken")},  # needed to pull images
    "view": set(),
}


@pytest.mark.parametrize("name", IDENTITY_POLICIES)
def test_parliament_finds_only_the_expected_findings(name) -> None:
    analysed = analyze_policy_string(json.dumps(load(name, D)), include_community_auditors=True)
    found = {
        (f.issue, action) if f.location.get("actions") else (f.issue, repr(f.detail))
        for f in analysed.findings
        for action in f.location.get("actions") or [None]
    }
    assert found == EXPECTED_FINDINGS[name]


# --- Cost guard rails: what a CreateTrainingJob / CreateEndpointConfig / CreateModel must carry ----------------

JOB = f"{SAGEMAKER}:training-job/popseg-pca-20261123t020000-0123456789abcdef"
CONFIG = f"{SAGEMAKER}:endpoint-config/popseg-pca-20261123t020000-0123456789abcdef"
MODEL = f"{SAGEMAKER}:model/popseg-pca-20261123t020000-0123456789abcdef"
TAGGED = {"aws:RequestTag/popseg:run": "20261123t020000-0123456789abcdef", "aws:TagKeys": ("popseg:run",)}
TRAINING = {
    **TAGGED,
    "sagemaker:InstanceTypes": ("ml.c5.xlarge",),
    "sagemaker:MaxRuntimeInSeconds": D.TrainingMaxSeconds,
    "sagemaker:NetworkIsolation": "true",
}


def test_a_training_job_as_the_dag_requests_it_is_allowed() -> None:
    assert allowed("airflow", "sagemaker:CreateTrainingJob", JOB, **TRAINING)


@pytest.mark.parametrize(
    "changed",
    [
        {"sagemaker:InstanceTypes": ("ml.p5.48xlarge",)},
        {"sagemaker:InstanceTypes": ("ml.c5.xlarge", "ml.p5.48xlarge")},  # an instance group on a GPU
        {"sagemaker:InstanceTypes": None},
        {"sagemaker:MaxRuntimeInSeconds": str(int(D.TrainingMaxSeconds) + 1)},
        {"sagemaker:MaxRuntimeInSeconds": None},  # SageMaker's default would be a day
        {"sagemaker:NetworkIsolation": "false"},
        {"aws:RequestTag/popseg:run": None},  # untagged: the sweeper would never find it
    ],
    ids=["p5", "p5-group", "no-type", "over-time-limit", "no-time-limit", "not-isolated", "untagged"],
)
def test_a_training_job_outside_the_guard_rails_is_refused(changed) -> None:
    context = {key: value for key, value in {**TRAINING, **changed}.items() if value is not None}
    assert not allowed("airflow", "sagemaker:CreateTrainingJob", JOB, **context)


def test_an_endpoint_config_on_an_allowed_instance_type_is_allowed_and_a_p5_refused() -> None:
    assert allowed(
        "airflow", "sagemaker:CreateEndpointConfig", CONFIG, **TAGGED, **{"sagemaker:InstanceTypes": ("ml.t2.medium",)}
    )
    assert not allowed(
        "airflow",
        "sagemaker:CreateEndpointConfig",
        CONFIG,
        **TAGGED,
        **{"sagemaker:InstanceTypes": ("ml.p5.48xlarge",)},
    )
    assert not allowed("airflow", "sagemaker:CreateEndpointConfig", CONFIG, **TAGGED)  # serverless: no instance type
    assert not allowed(
        "airflow", "sagemaker:CreateEndpointConfig", CONFIG, **{"sagemaker:InstanceTypes": ("ml.t2.medium",)}
    )


TRANSFORM_JOB = f"{SAGEMAKER}:transform-job/popseg-pca-20261123t020000-0123456789abcdef"
TRANSFORM = {**TAGGED, "sagemaker:InstanceTypes": ("ml.m5.xlarge",), "sagemaker:ModelArn": MODEL}


def test_a_transform_job_as_the_dag_requests_it_is_allowed() -> None:
    assert allowed("airflow", "sagemaker:CreateTransformJob", TRANSFORM_JOB, **TRANSFORM)


@pytest.mark.parametrize(
    "changed",
    [
        {"sagemaker:InstanceTypes": ("ml.p5.48xlarge",)},
        {"sagemaker:InstanceTypes": None},
        {"sagemaker:ModelArn": f"{SAGEMAKER}:model/not-isolated"},  # a model popseg's CreateModel did not make
        {"sagemaker:ModelArn": None},
        {"aws:RequestTag/popseg:run": None},  # untagged: the sweeper would never stop it
    ],
    ids=["p5", "no-type", "other-model", "no-model", "untagged"],
)
def test_a_transform_job_outside_the_guard_rails_is_refused(changed) -> None:
    context = {key: value for key, value in {**TRANSFORM, **changed}.items() if value is not None}
    assert not allowed("airflow", "sagemaker:CreateTransformJob", TRANSFORM_JOB, **context)


def test_a_model_must_be_network_isolated_and_tagged() -> None:
    assert allowed("airflow", "sagemaker:CreateModel", MODEL, **TAGGED, **{"sagemaker:NetworkIsolation": "true"})
    assert not allowed("airflow", "sagemaker:CreateModel", MODEL, **TAGGED, **{"sagemaker:NetworkIsolation": "false"})
    assert not allowed("airflow", "sagemaker:CreateModel", MODEL, **{"sagemaker:NetworkIsolation": "true"})


@pytest.mark.parametrize("action, resource", [("sagemaker:CreateEndpoint", f"{SAGEMAKER}:endpoint/popseg-pca-1"),
                                              ("sagemaker:AddTags", JOB)])  # fmt: skip
def test_creating_or_tagging_without_the_run_tag_is_refused(action, resource) -> None:
    assert allowed("airflow", action, resource, **TAGGED)
    assert not allowed("airflow", action, resource)
    assert not allowed("airflow", action, resource, **{"aws:RequestTag/owner": "x", "aws:TagKeys": ("owner",)})


def test_the_policys_instance_types_are_the_settings_defaults() -> None:
    listed = {
        statement["Action"]: statement["Condition"]["ForAllValues:StringEquals"]["sagemaker:InstanceTypes"]
        for statement in statements(load("airflow", D))
        if "ForAllValues:StringEquals" in statement.get("Condition", {})
    }
    assert listed == {
        "sagemaker:CreateTrainingJob": list(settings.DEFAULT_TRAINING_INSTANCE_TYPES),
        "sagemaker:CreateTransformJob": list(settings.DEFAULT_TRAINING_INSTANCE_TYPES),  # the training type runs it
        "sagemaker:CreateEndpointConfig": list(settings.DEFAULT_ENDPOINT_INSTANCE_TYPES),
    }


# Global condition keys: AWS defines them for every request, not per action.
GLOBAL_KEYS = {"aws:sourceaccount", "aws:sourcearn"}


@pytest.mark.parametrize("name", list(FILES))
def test_each_condition_key_is_one_aws_defines_for_every_action_of_its_statement(name) -> None:
    """Checked against the Service Authorization Reference as parliament ships it: a key AWS does not put in
    an action's request context would make the statement never match, or (negated) always."""
    undefined = [
        f"{statement['Sid']}: {key} for {action}"
        for statement in statements(load(name, D))
        for keys in statement.get("Condition", {}).values()
        for key in keys
        for action in _list(statement["Action"])
        if key.lower() not in GLOBAL_KEYS and not defines_condition_key(action, key)
    ]
    assert undefined == []
