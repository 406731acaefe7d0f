"""The params both DAGs declare: `bucket` and `output_prefix`, one schema each, so the sweeper looks where the
segmentation runs write. Each DAG says in its own words what the folder is to it (`description`) and where the
trigger form shows it (`section`). Parsing-light: Airflow's Param and the trigger-conf patterns only."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param

from include.airflow_popseg.trigger_conf import BUCKET_PATTERN, MAX_OUTPUT_PREFIX_BYTES, OUTPUT_PREFIX_PATTERN
from include.segmentation_aws.defaults import DEFAULT_BUCKET, DEFAULT_OUTPUT_PREFIX


def bucket_param(description: str, **form: Any) -> Param:
    """The S3 bucket the runs read their census from and write to (S3's bucket naming rules)."""
    return Param(DEFAULT_BUCKET, type="string", minLength=3, maxLength=63, pattern=BUCKET_PATTERN,
                 title="S3 bucket", description=description, **form)  # fmt: skip


def output_prefix_param(description: str, **form: Any) -> Param:
    """The runs' results folder in the bucket (no leading or trailing slash, room for the run's own keys)."""
    return Param(DEFAULT_OUTPUT_PREFIX, type="string", minLength=1, maxLength=MAX_OUTPUT_PREFIX_BYTES,
                 pattern=OUTPUT_PREFIX_PATTERN, title="Results folder", description=description, **form)  # fmt: skip
