"""Create the `popseg` bucket in an emulator and upload a census file (default: the synthetic sample)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BUCKET, INPUT_KEY = "popseg", "census/acs2015_county_data.csv"


def upload_census(url: str, data: str | None = None) -> str:
    """Upload `data` (a CSV path) or the bundled synthetic sample; returns its S3 URI."""
    from include.aws_emulator.connection import client
    from include.segmentation.synthetic import synthetic_census
    from include.segmentation_aws.store import UPLOADS

    s3 = client("s3", url)
    s3.create_bucket(Bucket=BUCKET)
    # In parts above 48 MiB, as the DAG writes its files: it must, past the emulator's per-request cap.
    if data:
        s3.upload_file(str(data), BUCKET, INPUT_KEY, Config=UPLOADS)
    else:
        s3.put_object(Bucket=BUCKET, Key=INPUT_KEY, Body=synthetic_census().to_csv(index=False).encode())
    return f"s3://{BUCKET}/{INPUT_KEY}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="the emulator's URL, e.g. http://emulator:4566")
    parser.add_argument("--data", help="census CSV (default: the synthetic sample)")
    arguments = parser.parse_args()
    print(f"uploaded {upload_census(arguments.url, arguments.data)}")
