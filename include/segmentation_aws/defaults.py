"""Where popseg looks when nothing says otherwise: the DAGs' default bucket, census file and results folder,
and the AWS region. The DAGs' params (`include.airflow_popseg.params`), `make run`, `make airflow` and the
emulator's seed script take them from here, so the sample is uploaded where a run with defaults reads it.

Plain values, no imports: the emulator and the scripts read them without Airflow.
"""

from __future__ import annotations

DEFAULT_BUCKET = "popseg"
DEFAULT_CENSUS_FILE = "census/acs2015_county_data.csv"  # the input_key param's default
DEFAULT_OUTPUT_PREFIX = "segmentation"
# The AWS region when nothing names one: the DAG's when its connection names none, and the local emulator's
# (the region of its connection environment, and of a request that does not say).
DEFAULT_REGION = "us-east-1"
