"""Upload a census file into a running emulator: the bundled synthetic sample, or yours.

    .venv/bin/python scripts/seed_emulator.py --data path/to/census.csv [--key census/mine.csv] [--url URL]

`make upload DATA=path.csv` runs it against the emulator that `make airflow` started (its URL is in
`airflow_home/emulator.url`). Your file goes to `census/<its file name>` unless --key says otherwise, so the
bundled sample at the DAG's default key stays as it is; trigger a run with that key as its "Census file".
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from include.segmentation_aws.defaults import DEFAULT_BUCKET, DEFAULT_CENSUS_FILE, DEFAULT_OUTPUT_PREFIX

PROJECT_ROOT = Path(__file__).resolve().parent.parent

BUCKET, INPUT_KEY = DEFAULT_BUCKET, DEFAULT_CENSUS_FILE  # the DAG's defaults: the sample goes where a run reads
AIRFLOW_HOME = PROJECT_ROOT / "airflow_home"  # the default of `make airflow`, `make run` and `make upload`
URL_FILE = "emulator.url"  # in AIRFLOW_HOME: where `make airflow` writes the URL of the emulator it started


def upload_census(url: str, data: str | None = None, key: str | None = None, bucket: str = BUCKET) -> str:
    """Upload `data` (a CSV path) to `key`, or the bundled synthetic sample to INPUT_KEY; returns its S3 URI.

    `key` defaults to INPUT_KEY: `make run` segments its file at the DAG's default key (or its CONF's)."""
    from aws_emulator.connection import client
    from include.segmentation.synthetic import bundled_sample_csv
    from include.segmentation_aws.store import UPLOADS

    s3 = client("s3", url)
    s3.create_bucket(Bucket=bucket)
    key = key or INPUT_KEY
    # In parts above 48 MiB, as the DAG writes its files: it must, past the emulator's per-request cap.
    if data:
        s3.upload_file(str(data), bucket, key, Config=UPLOADS)
    else:
        s3.put_object(Bucket=bucket, Key=key, Body=bundled_sample_csv())
    return f"s3://{bucket}/{key}"


def sample_is_seeded(url: str) -> bool:
    """Whether the DAG's default key already holds a file (the sample, or a file the user put there)."""
    return object_exists(url, BUCKET, INPUT_KEY)


def object_exists(url: str, bucket: str, key: str) -> bool:
    from botocore.exceptions import ClientError

    from aws_emulator.connection import client

    try:
        client("s3", url).head_object(Bucket=bucket, Key=key)
    except ClientError:
        return False
    return True


def own_file_key(data: str) -> str:
    """Where a user's own file goes by default: census/<its file name>, beside the sample, never over it."""
    name = Path(data).name
    if not name or name == Path(INPUT_KEY).name:
        name = f"uploaded-{name or 'census.csv'}"
    return f"census/{name}"


def own_results_folder(key: str) -> str:
    """A results folder of its own for a user's file (segmentation-<its name>): each run compares itself with
    the last one in its folder, so a file beside the sample must not be compared with the sample's runs."""
    stem = re.sub(r"[^a-z0-9]+", "-", Path(key).stem.lower()).strip("-") or "own"
    return f"{DEFAULT_OUTPUT_PREFIX}-{stem[:100]}"


def running_emulator_url(airflow_home: Path) -> str:
    """The URL of the emulator `make airflow` runs with `airflow_home`; SystemExit when none is recorded."""
    path = airflow_home / URL_FILE
    if not path.is_file():
        raise SystemExit(f"no emulator URL in {path}: is `make airflow` running? (or pass --url)")
    return path.read_text().strip()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="the emulator's URL (default: the one `make airflow` is running)")
    parser.add_argument("--home", default=str(AIRFLOW_HOME), help="make airflow's AIRFLOW_HOME")
    parser.add_argument("--data", help="census CSV (default: the synthetic sample, to the DAG's default key)")
    parser.add_argument("--key", help="S3 key in the popseg bucket (default: census/<the file's name>)")
    arguments = parser.parse_args()
    url = arguments.url or running_emulator_url(Path(arguments.home))
    key = arguments.key or (own_file_key(arguments.data) if arguments.data else None)
    print(f"uploaded {upload_census(url, arguments.data, key)}")
    if arguments.data:
        print(f'Trigger population_segmentation with "Census file" (input_key) = {key}')
