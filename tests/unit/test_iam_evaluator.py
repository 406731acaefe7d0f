"""The test-only IAM evaluator and the map from AWS calls to IAM requests, on small policies built here."""

from __future__ import annotations

import json

import pytest

from tests.support.iam.aws_calls import AIRFLOW, Call, UnmappedOperation, requests_for
from tests.support.iam.evaluator import PolicyError, Request, arn_like, evaluate, load_policy
from tests.support.iam.policies import Deployment, load

BUCKET_ARN = "arn:aws:s3:::my.bucket"


def policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action, resource, **extra) -> dict:
    return {"Sid": extra.pop("Sid", "A"), "Effect": "Allow", "Action": action, "Resource": resource, **extra}


def test_actions_match_case_insensitively_with_wildcards() -> None:
    document = policy(allow(["s3:Get*", "sagemaker:InvokeEndpoint"], "*"))
    assert evaluate(document, Request("S3:getobject", "arn:aws:s3:::b/k")).allowed
    assert evaluate(document, Request("sagemaker:invokeendpoint", "*")).allowed
    assert not evaluate(document, Request("s3:PutObject", "arn:aws:s3:::b/k")).allowed


def test_nothing_matching_is_an_implicit_deny() -> None:
    document = policy(allow("s3:GetObject", f"{BUCKET_ARN}/a/*"))
    decision = evaluate(document, Request("s3:GetObject", f"{BUCKET_ARN}/b/x"))
    assert not decision.allowed and decision.allowed_by == () and decision.denied_by == ()


def test_an_explicit_deny_wins_over_an_allow() -> None:
    document = policy(
        allow("s3:*", f"{BUCKET_ARN}/*", Sid="All"),
        {"Sid": "NoSecrets", "Effect": "Deny", "Action": "s3:GetObject", "Resource": f"{BUCKET_ARN}/secret/*"},
    )
    assert evaluate(document, Request("s3:GetObject", f"{BUCKET_ARN}/public/x")).allowed_by == ("All",)
    decision = evaluate(document, Request("s3:GetObject", f"{BUCKET_ARN}/secret/x"))
    assert not decision.allowed and decision.denied_by == ("NoSecrets",)


def test_a_dot_in_an_arn_is_a_dot_not_a_wildcard() -> None:
    assert arn_like(f"{BUCKET_ARN}/*", "arn:aws:s3:::my.bucket/a/b")
    assert not arn_like(f"{BUCKET_ARN}/*", "arn:aws:s3:::myxbucket/a")


def test_arn_wildcards_stay_within_their_segment() -> None:
    pattern = "arn:aws:sagemaker:*:123456789012:endpoint/popseg-*"
    assert arn_like(pattern, "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/popseg-pca-1")
    assert not arn_like(pattern, "arn:aws:sagemaker:eu-west-1:210987654321:endpoint/popseg-pca-1")
    assert not arn_like("arn:aws:sagemaker:*:endpoint/x", "arn:aws:sagemaker:eu-west-1:1:endpoint/x")
    # The resource part keeps its colons: a log stream is within its group's ":*".
    group = "arn:aws:logs:us-east-1:1:log-group:/aws/sagemaker/TrainingJobs:*"
    assert arn_like(group, "arn:aws:logs:us-east-1:1:log-group:/aws/sagemaker/TrainingJobs:log-stream:popseg-x")
    assert not arn_like(group, "arn:aws:logs:us-east-1:1:log-group:/aws/sagemaker/Endpoints/x:*")


def test_not_action_and_not_resource_match_everything_else() -> None:
    document = policy({"Sid": "A", "Effect": "Allow", "NotAction": "s3:Delete*", "NotResource": f"{BUCKET_ARN}/x"})
    assert evaluate(document, Request("s3:GetObject", f"{BUCKET_ARN}/y")).allowed
    assert not evaluate(document, Request("s3:DeleteObject", f"{BUCKET_ARN}/y")).allowed
    assert not evaluate(document, Request("s3:GetObject", f"{BUCKET_ARN}/x")).allowed


def test_string_equals_needs_the_key_present_and_equal() -> None:
    document = policy(allow("iam:PassRole", "*", Condition={"StringEquals": {"iam:PassedToService": "a.com"}}))
    assert evaluate(document, Request("iam:PassRole", "r", {"iam:PassedToService": "a.com"})).allowed
    assert evaluate(document, Request("iam:PassRole", "r", {"IAM:passedtoservice": "a.com"})).allowed  # key case
    assert not evaluate(document, Request("iam:PassRole", "r", {"iam:PassedToService": "b.com"})).allowed
    assert not evaluate(document, Request("iam:PassRole", "r")).allowed


def test_string_like_allows_any_listed_pattern() -> None:
    condition = {"StringLike": {"s3:prefix": ["out/runs/*", "in/"]}}
    document = policy(allow("s3:ListBucket", BUCKET_ARN, Condition=condition))
    assert evaluate(document, Request("s3:ListBucket", BUCKET_ARN, {"s3:prefix": "out/runs/"})).allowed
    assert evaluate(document, Request("s3:ListBucket", BUCKET_ARN, {"s3:prefix": "in/"})).allowed
    assert not evaluate(document, Request("s3:ListBucket", BUCKET_ARN, {"s3:prefix": "in/x"})).allowed
    assert not evaluate(document, Request("s3:ListBucket", BUCKET_ARN)).allowed


def test_every_key_and_operator_of_a_condition_must_hold() -> None:
    condition = {"StringEquals": {"k:a": "1", "k:b": "2"}, "StringNotLike": {"k:c": "bad*"}}
    document = policy(allow("x:Do", "*", Condition=condition))
    assert evaluate(document, Request("x:Do", "*", {"k:a": "1", "k:b": "2"})).allowed  # absent k:c passes NotLike
    assert not evaluate(document, Request("x:Do", "*", {"k:a": "1"})).allowed
    assert not evaluate(document, Request("x:Do", "*", {"k:a": "1", "k:b": "2", "k:c": "bad-value"})).allowed


def test_if_exists_lets_an_absent_key_pass() -> None:
    document = policy(allow("x:Do", "*", Condition={"StringEqualsIfExists": {"k:a": "1"}}))
    assert evaluate(document, Request("x:Do", "*")).allowed
    assert not evaluate(document, Request("x:Do", "*", {"k:a": "2"})).allowed


def test_an_operator_it_cannot_evaluate_is_refused_not_ignored() -> None:
    document = policy(allow("x:Do", "*", Condition={"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}))
    with pytest.raises(PolicyError, match="DateLessThan"):
        evaluate(document, Request("x:Do", "*", {"aws:CurrentTime": "2026-01-01T00:00:00Z"}))


def test_numeric_operators_compare_numbers_not_strings() -> None:
    document = policy(allow("x:Do", "*", Condition={"NumericLessThanEquals": {"k:n": "7200"}}))
    assert evaluate(document, Request("x:Do", "*", {"k:n": "7200"})).allowed
    assert evaluate(document, Request("x:Do", "*", {"k:n": "900"})).allowed  # "900" > "7200" as strings
    assert not evaluate(document, Request("x:Do", "*", {"k:n": "7201"})).allowed
    assert not evaluate(document, Request("x:Do", "*", {"k:n": "lots"})).allowed
    assert not evaluate(document, Request("x:Do", "*")).allowed


def test_null_false_needs_the_key_present_and_null_true_absent() -> None:
    present = policy(allow("x:Do", "*", Condition={"Null": {"aws:RequestTag/popseg:run": "false"}}))
    assert evaluate(present, Request("x:Do", "*", {"aws:RequestTag/popseg:run": "t1"})).allowed
    assert not evaluate(present, Request("x:Do", "*")).allowed
    absent = policy(allow("x:Do", "*", Condition={"Null": {"k:a": "true"}}))
    assert evaluate(absent, Request("x:Do", "*")).allowed
    assert not evaluate(absent, Request("x:Do", "*", {"k:a": "x"})).allowed


def test_for_all_values_needs_every_request_value_listed_and_passes_an_absent_key() -> None:
    condition = {"ForAllValues:StringEquals": {"sagemaker:InstanceTypes": ["ml.c5.xlarge", "ml.m5.xlarge"]}}
    document = policy(allow("x:Do", "*", Condition=condition))
    assert evaluate(
        document, Request("x:Do", "*", {"sagemaker:InstanceTypes": ("ml.c5.xlarge", "ml.m5.xlarge")})
    ).allowed
    assert not evaluate(
        document, Request("x:Do", "*", {"sagemaker:InstanceTypes": ("ml.c5.xlarge", "ml.p5.48xlarge")})
    ).allowed
    assert evaluate(document, Request("x:Do", "*")).allowed  # vacuously true, as in AWS: hence Null "false" beside it


def test_for_any_value_needs_one_request_value_listed() -> None:
    document = policy(allow("x:Do", "*", Condition={"ForAnyValue:StringLike": {"aws:TagKeys": "popseg:*"}}))
    assert evaluate(document, Request("x:Do", "*", {"aws:TagKeys": ("owner", "popseg:run")})).allowed
    assert not evaluate(document, Request("x:Do", "*", {"aws:TagKeys": ("owner",)})).allowed
    assert not evaluate(document, Request("x:Do", "*")).allowed


def test_a_multivalued_key_under_a_single_valued_operator_is_refused() -> None:
    document = policy(allow("x:Do", "*", Condition={"StringEquals": {"sagemaker:InstanceTypes": "ml.c5.xlarge"}}))
    with pytest.raises(PolicyError, match="sagemaker:InstanceTypes is multivalued"):
        evaluate(document, Request("x:Do", "*", {"sagemaker:InstanceTypes": ("ml.c5.xlarge",)}))


def test_a_principal_in_an_identity_policy_is_refused() -> None:
    with pytest.raises(PolicyError, match="Principal"):
        evaluate(policy(allow("x:Do", "*", Principal="*")), Request("x:Do", "*"))


def test_placeholders_are_substituted_and_an_unknown_one_is_named(tmp_path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(policy(allow("s3:GetObject", "arn:aws:s3:::${Bucket}/${Prefix}/*"))))
    loaded = load_policy(path, {"Bucket": "b", "Prefix": "p"})
    assert loaded["Statement"][0]["Resource"] == "arn:aws:s3:::b/p/*"
    with pytest.raises(PolicyError, match="Prefix"):
        load_policy(path, {"Bucket": "b"})


def call(service: str, operation: str, error: str | None = None, **params) -> Call:
    return Call(AIRFLOW, service, operation, params, "us-east-1", error)


def test_an_operation_without_a_mapping_fails_naming_it() -> None:
    with pytest.raises(UnmappedOperation, match="sagemaker CreateProcessingJob"):
        requests_for(call("sagemaker", "CreateProcessingJob", ProcessingJobName="popseg-x"), "1")


TRAINING_JOB = {
    "TrainingJobName": "PopSeg-PCA",
    "RoleArn": "arn:aws:iam::1:role/popseg-sagemaker",
    "ResourceConfig": {"InstanceType": "ml.c5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
    "StoppingCondition": {"MaxRuntimeInSeconds": 7200},
    "EnableNetworkIsolation": True,
    "Tags": [{"Key": "popseg:run", "Value": "t1"}],
}


def test_create_training_job_also_needs_add_tags_and_pass_role_to_sagemaker() -> None:
    found = requests_for(call("sagemaker", "CreateTrainingJob", **TRAINING_JOB), "1")
    arn = "arn:aws:sagemaker:us-east-1:1:training-job/popseg-pca"  # names are lower case in ARNs
    tags = {"aws:RequestTag/popseg:run": "t1", "aws:TagKeys": ("popseg:run",)}
    assert found == [
        Request(
            "sagemaker:CreateTrainingJob",
            arn,
            {
                **tags,
                "sagemaker:NetworkIsolation": "true",
                "sagemaker:InstanceTypes": ("ml.c5.xlarge",),
                "sagemaker:MaxRuntimeInSeconds": "7200",
            },
        ),
        Request("sagemaker:AddTags", arn, tags),
        Request("iam:PassRole", TRAINING_JOB["RoleArn"], {"iam:PassedToService": "sagemaker.amazonaws.com"}),
    ]


def test_create_transform_job_carries_its_instance_type_and_model_and_also_needs_add_tags() -> None:
    job = {
        "TransformJobName": "PopSeg-PCA-t1",
        "ModelName": "PopSeg-PCA-t1",
        "TransformResources": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
        "TransformOutput": {"S3OutputPath": "s3://b/work/t1/pca-batch/"},
        "Tags": [{"Key": "popseg:run", "Value": "t1"}],
    }
    arn = "arn:aws:sagemaker:us-east-1:1:transform-job/popseg-pca-t1"
    tags = {"aws:RequestTag/popseg:run": "t1", "aws:TagKeys": ("popseg:run",)}
    assert requests_for(call("sagemaker", "CreateTransformJob", **job), "1") == [
        Request(
            "sagemaker:CreateTransformJob",
            arn,
            {
                **tags,
                "sagemaker:InstanceTypes": ("ml.m5.xlarge",),
                "sagemaker:ModelArn": "arn:aws:sagemaker:us-east-1:1:model/popseg-pca-t1",
            },
        ),
        Request("sagemaker:AddTags", arn, tags),
    ]


def test_an_endpoint_config_carries_the_instance_types_of_its_variants() -> None:
    variants = [
        {"VariantName": "a", "InstanceType": "ml.t2.medium"},
        {"VariantName": "b", "InstanceType": "ml.p5.48xlarge"},
    ]
    (creating, _) = requests_for(
        call("sagemaker", "CreateEndpointConfig", EndpointConfigName="popseg-pca-1", ProductionVariants=variants,
             Tags=[{"Key": "popseg:run", "Value": "t1"}]), "1",
    )  # fmt: skip
    assert creating.context["sagemaker:InstanceTypes"] == ("ml.t2.medium", "ml.p5.48xlarge")


def test_a_missing_key_answered_404_also_needed_list_bucket() -> None:
    found = requests_for(call("s3", "HeadObject", "404", Bucket="b", Key="in/x.csv"), "1")
    assert found == [Request("s3:GetObject", "arn:aws:s3:::b/in/x.csv"), Request("s3:ListBucket", "arn:aws:s3:::b")]
    assert requests_for(call("s3", "HeadObject", Bucket="b", Key="in/x.csv"), "1") == found[:1]


def test_copy_reads_the_source_and_writes_the_destination() -> None:
    found = requests_for(call("s3", "CopyObject", CopySource="b/work/a.csv", Bucket="b", Key="runs/r/a.csv"), "1")
    assert found == [
        Request("s3:GetObject", "arn:aws:s3:::b/work/a.csv"),
        Request("s3:PutObject", "arn:aws:s3:::b/runs/r/a.csv"),
    ]


def test_log_group_actions_use_the_group_arn_with_its_trailing_star() -> None:
    found = requests_for(call("logs", "DescribeLogStreams", logGroupName="/aws/sagemaker/TrainingJobs"), "1")
    group = "arn:aws:logs:us-east-1:1:log-group:/aws/sagemaker/TrainingJobs:*"
    assert found == [Request("logs:DescribeLogStreams", group)]


def test_create_endpoint_is_authorised_on_the_endpoint_and_its_config() -> None:
    creating = call("sagemaker", "CreateEndpoint", EndpointName="popseg-pca-1", EndpointConfigName="Cfg")
    found = requests_for(creating, "1")
    assert found == [
        Request("sagemaker:CreateEndpoint", "arn:aws:sagemaker:us-east-1:1:endpoint/popseg-pca-1"),
        Request("sagemaker:CreateEndpoint", "arn:aws:sagemaker:us-east-1:1:endpoint-config/cfg"),
    ]


def _airflow_allows(operation: str, **params) -> bool:
    """Whether iam/airflow-policy.json allows every IAM request of this call, as the recorded-calls test asks."""
    deployment = Deployment()
    policy = load("airflow", deployment)
    return all(
        evaluate(policy, r).allowed for r in requests_for(call("sagemaker", operation, **params), deployment.Account)
    )


def _job(**changed) -> dict:
    role = "arn:aws:iam::123456789012:role/popseg-sagemaker"
    return {**TRAINING_JOB, "TrainingJobName": "popseg-pca-t1", "RoleArn": role, **changed}


def test_a_recorded_training_job_as_the_dag_makes_it_is_allowed() -> None:
    assert _airflow_allows("CreateTrainingJob", **_job())


def test_a_recorded_training_job_on_a_p5_instance_is_denied() -> None:
    resources = {"InstanceType": "ml.p5.48xlarge", "InstanceCount": 20, "VolumeSizeInGB": 10}
    assert not _airflow_allows("CreateTrainingJob", **_job(ResourceConfig=resources))


def test_a_recorded_training_job_without_the_run_tag_is_denied() -> None:
    assert not _airflow_allows("CreateTrainingJob", **_job(Tags=[{"Key": "owner", "Value": "me"}]))
    assert not _airflow_allows("CreateTrainingJob", **{k: v for k, v in _job().items() if k != "Tags"})


def test_a_recorded_endpoint_config_on_a_p5_instance_is_denied() -> None:
    config = {"EndpointConfigName": "popseg-pca-t1", "Tags": [{"Key": "popseg:run", "Value": "t1"}]}
    assert _airflow_allows("CreateEndpointConfig", **config, ProductionVariants=[{"InstanceType": "ml.t2.medium"}])
    assert not _airflow_allows(
        "CreateEndpointConfig", **config, ProductionVariants=[{"InstanceType": "ml.p5.48xlarge"}]
    )
