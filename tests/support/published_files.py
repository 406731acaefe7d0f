"""Published runs for the Segmentation view's tests: a run's files put where it publishes them, and the summary
its publish task would record for them (with the sha256 of each file the view serves, hashed here on its own)."""

from __future__ import annotations

import hashlib
import json

from include.segmentation_aws.layout import latest_key, results_prefix
from include.segmentation_aws.published_runs import SERVED, run_summary

EARLIER_RUN = "manual__earlier"


def earlier_run(s3, bucket: str, rows_in: int, output_prefix: str = "segmentation") -> bytes:
    """A run published in `bucket` before fingerprints were recorded: latest.json names it, its run.json has no
    fingerprint (the next run retrains), `rows_in` census rows (the row-count gate compares with them) and no
    segments.csv (the next run's segment numbers start afresh).
    Returns latest.json's bytes, to check that a failed run leaves them as they were."""
    results = results_prefix(output_prefix, EARLIER_RUN)
    document = {"run_id": EARLIER_RUN, "rows_in": rows_in, "rows": rows_in - 2}
    s3.put_object(Bucket=bucket, Key=results + "run.json", Body=json.dumps(document).encode())
    latest = json.dumps({"run_id": EARLIER_RUN, "results": f"s3://{bucket}/{results}"}).encode()
    s3.put_object(Bucket=bucket, Key=latest_key(output_prefix), Body=latest)
    return latest


def publish_files(s3, run: dict, results_uri: str, files: dict[str, bytes]) -> dict:
    """Put `files` (name under runs/<run_id>/ -> bytes) at `results_uri` (s3://bucket/<prefix>/runs/<run_id>/);
    return the run's summary as publish records it."""
    bucket, prefix = results_uri.removeprefix("s3://").split("/", 1)
    for name, data in files.items():
        s3.put_object(Bucket=bucket, Key=prefix + name, Body=data)
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in files.items() if SERVED.fullmatch(name)}
    return run_summary(run, results_uri, digests)


def legacy_summary(run: dict, results_uri: str) -> dict:
    """The summary of a run published before publish recorded digests: no `sha256` at all."""
    summary = run_summary(run, results_uri, {})
    del summary["sha256"]
    return summary


def trained_run(run: dict, previous_run: str | None = None, churn: float | None = None, refusal: str | None = None):
    """`run` as the DAG's run.json records a run that trained (issue 21's spec): matched to `previous_run` with
    `churn` (its changed share; ARI 1 - churn, a stand-in), held when the churn gate gave a `refusal`."""
    measured = None if churn is None else {"changed_share": churn, "adjusted_rand": round(1 - churn, 4)}
    return {
        **run,
        "state": "held" if refusal else "published",
        "continuity": {"previous_run": previous_run, "churn": measured},
        "gate": {"max_churn": 0.4, "refusal": refusal},
    }


def unchanged_run(run: dict, run_id: str, since: str) -> dict:
    """The run.json of run `run_id` that found nothing changed since run `since`, whose run.json is `run`: the
    figures copied from it, nothing else of it."""
    copied = ("rows_in", "rows", "features", "n_components", "explained_variance", "input", "params")
    return {
        "run_id": run_id,
        "state": "unchanged",
        "unchanged_since": since,
        "fingerprint": {"census": {}, "settings": "0" * 64},
        **{key: run[key] for key in copied if key in run},
    }
