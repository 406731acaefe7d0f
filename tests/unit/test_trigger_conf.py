"""A trigger's conf: unknown keys are refused by name instead of silently ignored, and params outside their
bounds (instance types, components, S3 names) are refused naming the param, its value and what is allowed."""

from __future__ import annotations

import re

import pytest
from airflow.sdk.exceptions import AirflowFailException

from include.airflow_popseg.trigger_conf import (
    BUCKET_PATTERN,
    bucket_name_problem,
    refuse_params_out_of_bounds,
    refuse_unknown_keys,
)

PARAMS = ("bucket", "input_key", "k", "output_prefix", "variance_threshold")


def test_known_keys_pass() -> None:
    refuse_unknown_keys({"k": 5, "bucket": "popseg"}, PARAMS)
    refuse_unknown_keys({}, PARAMS)


def test_a_misspelled_key_is_refused_with_the_param_it_was_meant_to_be() -> None:
    with pytest.raises(AirflowFailException, match=r"Unknown trigger parameter: 'kk' \(did you mean 'k'\?\)"):
        refuse_unknown_keys({"kk": 5}, PARAMS)


def test_every_unknown_key_is_named_and_the_params_listed() -> None:
    with pytest.raises(AirflowFailException) as refused:
        refuse_unknown_keys({"buckett": "x", "zzz": 1, "k": 3}, PARAMS)
    message = str(refused.value)
    assert "'buckett' (did you mean 'bucket'?)" in message and "'zzz'" in message and "'k'" not in message.split(":")[1]
    assert "bucket, input_key, k, output_prefix, variance_threshold" in message


# --- check_params' bounds: what reaches a run outside the Param schemas is refused before any AWS call --------

CENSUS = "census/acs2015_county_data.csv"  # the DAG's default input_key

TRAINING, ENDPOINT = ("ml.c5.xlarge", "ml.m5.xlarge"), ("ml.t2.medium", "ml.c5.large")
VALID = {
    "bucket": "popseg",
    "input_key": CENSUS,
    "output_prefix": "segmentation",
    "num_components": None,
    "training_instance_type": "ml.c5.xlarge",
    "endpoint_instance_type": "ml.t2.medium",
}


def check(**changed: object) -> None:
    refuse_params_out_of_bounds(
        {**VALID, **changed}, training_instance_types=TRAINING, endpoint_instance_types=ENDPOINT, max_components=34
    )


def test_params_within_bounds_pass() -> None:
    check()
    check(num_components=34, bucket="my.bucket-2026", output_prefix="a")


@pytest.mark.parametrize("name", ["training_instance_type", "endpoint_instance_type"])
def test_an_instance_type_off_the_allow_list_is_refused_naming_it_and_the_allowed_ones(name) -> None:
    allowed = ", ".join(TRAINING if name.startswith("training") else ENDPOINT)
    with pytest.raises(
        AirflowFailException, match=re.escape(f"{name}='ml.p5.48xlarge' is not an allowed instance type ({allowed})")
    ):
        check(**{name: "ml.p5.48xlarge"})


@pytest.mark.parametrize(
    ("sweep", "problem"),
    [
        ({"k_min": 4}, "k_min is set but k_max is not"),
        ({"k_min": 9, "k_max": 4}, "k_min = 9 is above k_max = 4"),
        ({"k_min": 2, "k_max": 20}, "is 19 candidates, more than 12"),
        ({"k_min": 4, "k_max": 5, "k_rule": "elbow"}, "k_rule = 'elbow' needs at least 3 candidates"),
    ],
)
def test_a_k_sweep_the_params_cannot_describe_is_refused_before_any_aws_call(sweep, problem) -> None:
    with pytest.raises(AirflowFailException, match=f"Trigger parameters out of bounds: .*{re.escape(problem)}"):
        check(k=8, **sweep)


def test_a_k_sweep_within_bounds_passes() -> None:
    check(k=8, k_min=2, k_max=13, k_rule="silhouette")
    check(k=8, k_min=4, k_max=6, k_rule="elbow")


@pytest.mark.parametrize("value", [35, 2147483647, 0])
def test_num_components_beyond_the_features_is_refused(value) -> None:
    with pytest.raises(
        AirflowFailException, match=rf"num_components={value} must be 1 to 34 \(the census's features\)"
    ):
        check(num_components=value)


@pytest.mark.parametrize(
    ("bucket", "rule"),
    [
        ("ab", "must be 3 to 63 characters long, not 2"),
        ("p" * 64, "must be 3 to 63 characters long, not 64"),
        ("Popseg", "may hold only lowercase letters, digits, dots and hyphens"),
        ("pop_seg", "may hold only lowercase letters, digits, dots and hyphens"),
        ("-popseg", "must begin and end with a letter or digit"),
        ("popseg.", "must begin and end with a letter or digit"),
        ("a..b", "must not contain two adjacent periods"),
        ("192.168.5.4", "must not be formatted as an IP address"),
        ("xn--popseg", "must not start with the reserved prefix 'xn--'"),
        ("sthree-configurator", "must not start with the reserved prefix 'sthree-'"),
        ("amzn-s3-demo-bucket", "must not start with the reserved prefix 'amzn-s3-demo-'"),
        ("popseg-s3alias", "must not end with the reserved suffix '-s3alias'"),
        ("popseg--ol-s3", "must not end with the reserved suffix '--ol-s3'"),
        ("popseg.mrap", "must not end with the reserved suffix '.mrap'"),
        ("popseg--usw2-az1--x-s3", "must not end with the reserved suffix '--x-s3'"),
        ("popseg--table-s3", "must not end with the reserved suffix '--table-s3'"),
    ],
)
def test_each_s3_bucket_naming_rule_is_enforced_and_named(bucket, rule) -> None:
    assert bucket_name_problem(bucket) == rule
    assert not re.fullmatch(BUCKET_PATTERN, bucket)  # the Param's pattern refuses it too
    with pytest.raises(
        AirflowFailException, match=re.escape(f"bucket={bucket!r} is not a valid S3 bucket name: {rule}")
    ):
        check(bucket=bucket)


@pytest.mark.parametrize("bucket", ["abc", "p" * 63, "my.popseg-bucket.2026", "192.168.5.4x", "xn-popseg", "popseg-s3"])
def test_valid_bucket_names_pass_both_the_rules_and_the_pattern(bucket) -> None:
    assert bucket_name_problem(bucket) is None and re.fullmatch(BUCKET_PATTERN, bucket)


@pytest.mark.parametrize("name", ["input_key", "output_prefix"])
@pytest.mark.parametrize("control", ["\n", "\r", "\x00", "\x1b", "\x7f", "\x85", "\u2028"])
def test_a_control_character_in_a_key_is_refused_and_shown_escaped(name, control) -> None:
    with pytest.raises(
        AirflowFailException, match=f"{name}=.* must be a non-empty S3 key without control characters"
    ) as refused:
        check(**{name: f"census/x{control}INFO forged line"})
    assert control not in str(refused.value)  # the message itself forges no line


def test_an_output_prefix_with_a_leading_or_trailing_slash_is_refused() -> None:
    for prefix in ("/segmentation", "segmentation/", "/"):
        with pytest.raises(AirflowFailException, match="without a leading or trailing '/'"):
            check(output_prefix=prefix)


def test_keys_longer_than_s3_allows_are_refused_in_bytes_not_characters() -> None:
    check(input_key="é" * 512)  # 1024 bytes of UTF-8
    with pytest.raises(AirflowFailException, match="input_key is 1026 bytes of UTF-8; at most 1024 are allowed"):
        check(input_key="é" * 513)
    with pytest.raises(AirflowFailException, match="output_prefix is 514 bytes of UTF-8; at most 512 are allowed"):
        check(output_prefix="é" * 257)


def test_every_problem_is_named_in_one_refusal() -> None:
    with pytest.raises(AirflowFailException) as refused:
        check(training_instance_type="ml.p5.48xlarge", num_components=2147483647, bucket="a..b")
    message = str(refused.value)
    assert "training_instance_type=" in message and "num_components=" in message and "bucket=" in message
