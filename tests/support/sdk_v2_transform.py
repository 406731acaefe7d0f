"""Run by the SageMaker SDK v2's interpreter (tests/support/sdk_v2.py), not by pytest: the notebook's way of
projecting a whole file with batch transform. Trains PCA with `PCA.fit(record_set)`, then
`pca.transformer(...).transform(s3_uri, content_type="text/csv", split_type="Line")` and `.wait()`, as on AWS.
Prints one line `RESULT <json>`: the training and transform job names, the input rows' URIs and the
output path.

argv: role ARN, bucket (created here).
"""

import json
import sys

import boto3
import numpy as np
import sagemaker
from sagemaker import PCA

ROWS = 300
FEATURES = 5


def main(role: str, bucket: str) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    # default_bucket: the SDK would otherwise ask STS for the account at AWS's own address.
    session = sagemaker.Session(default_bucket=bucket)
    rows = np.random.default_rng(1).normal(size=(ROWS, FEATURES)).astype("float32")
    pca = PCA(
        role=role,
        instance_count=1,
        instance_type="ml.m5.large",
        num_components=2,
        sagemaker_session=session,
    )
    pca.fit(pca.record_set(rows), logs=False)
    # Two CSV files under one prefix, as a dataset split into parts.
    for part, chunk in enumerate((rows[:120], rows[120:])):
        body = "".join(",".join(repr(float(v)) for v in row) + "\n" for row in chunk)
        s3.put_object(Bucket=bucket, Key=f"batch/input/part-{part}.csv", Body=body.encode())
    output_path = f"s3://{bucket}/batch/output"
    transformer = pca.transformer(
        instance_count=1,
        instance_type="ml.m5.large",
        output_path=output_path,
        accept="application/jsonlines",
        assemble_with="Line",
    )
    transformer.transform(f"s3://{bucket}/batch/input/", content_type="text/csv", split_type="Line")
    transformer.wait()
    result = {
        "training_job": pca.latest_training_job.name,
        "transform_job": transformer.latest_transform_job.name,
        "output_path": output_path,
        "rows": rows.tolist(),
    }
    print("\nRESULT " + json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:])
