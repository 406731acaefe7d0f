"""Run by the SageMaker SDK v2's interpreter (tests/support/sdk_v2.py), not by pytest: the notebook's way of
training K-Means, with a `test` channel, against the emulator. Prints the fit's output (the job's log, as
`logs="All"` shows it) and then one line `RESULT <json>`: the job's name, DescribeTrainingJob's
FinalMetricDataList and the rows of `training_job_analytics.dataframe()`.

argv: role ARN, bucket (created here).
"""

import json
import sys

import boto3
import numpy as np
import sagemaker
from sagemaker import KMeans

ROWS = 600
FEATURES = 5


def main(role: str, bucket: str) -> None:
    boto3.client("s3").create_bucket(Bucket=bucket)
    # default_bucket: the SDK would otherwise ask STS for the account at AWS's own address.
    session = sagemaker.Session(default_bucket=bucket)
    rows = np.random.default_rng(0).normal(size=(ROWS, FEATURES)).astype("float32")
    kmeans = KMeans(
        role=role,
        instance_count=1,
        instance_type="ml.m5.large",
        k=3,
        eval_metrics=["msd", "ssd"],
        sagemaker_session=session,
    )
    kmeans.fit([kmeans.record_set(rows, channel="train"), kmeans.record_set(rows, channel="test")], logs="All")
    name = kmeans.latest_training_job.name
    final = session.sagemaker_client.describe_training_job(TrainingJobName=name)["FinalMetricDataList"]
    analytics = kmeans.training_job_analytics.dataframe()
    result = {
        "job": name,
        "final": {m["MetricName"]: m["Value"] for m in final},
        "analytics": analytics[["metric_name", "value"]].to_dict(orient="records"),
    }
    print("\nRESULT " + json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:])
