"""`make run`: the whole DAG with `airflow dags test` against the local emulator, results in output/.

Checks the trigger conf (CONF='{"k": 9}') as a UI trigger would, starts the emulator, uploads the census (the
bundled synthetic sample, or DATA=path.csv), points the DAG's AWS connection at the emulator with dummy
credentials, runs the DAG with the conf, downloads the results to output/<run_id>/ and output/latest/, prints
a summary, and stops what it started.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

from boto3.s3.transfer import TransferConfig

from aws_emulator.connection import client
from include.airflow_popseg.settings import DAG_ID
from include.segmentation import inputs
from include.segmentation.cost_text import cost_text
from include.segmentation_aws.defaults import DEFAULT_BUCKET, DEFAULT_OUTPUT_PREFIX
from include.segmentation_aws.layout import LATEST, PLOTS, REPORT, RUN_DOCUMENT, SEGMENTS, latest_key, results_prefix
from include.segmentation_aws.published_runs import RUN_ID
from scripts import seed_emulator
from scripts.local_airflow import EMULATOR_DATA, airflow_env, airflow_settings, start_emulator, stop

PROJECT_ROOT = Path(__file__).resolve().parent.parent

BUCKET, OUTPUT_PREFIX = DEFAULT_BUCKET, DEFAULT_OUTPUT_PREFIX  # where a run with the DAG's defaults writes
# A conf holding every param is under 3 KB (the longest values: input_key ≤ 1024 bytes, output_prefix ≤ 512);
# the bound is checked before the text is parsed.
MAX_CONF_BYTES = 16 << 10
WHOLE_OBJECT = TransferConfig(multipart_threshold=2**63)
"""Each result is streamed to disk by one GetObject, never held in memory: ranged gets (boto3's way above
8 MiB) carry no checksum, while a whole-object get lets botocore check the object's full checksum."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # `make run DATA=…` passes the path through the environment, never through a shell command line.
    parser.add_argument(
        "--data",
        default=os.environ.get("DATA") or None,
        help="census CSV to segment (default: $DATA, else the bundled synthetic sample)",
    )
    parser.add_argument(
        "--conf",
        default=os.environ.get("CONF") or None,
        help="the run's trigger conf, a JSON object of params (default: $CONF)",
    )
    parser.add_argument("--output", default=str(PROJECT_ROOT / "output"))
    parser.add_argument("--home", default=str(seed_emulator.AIRFLOW_HOME), help="AIRFLOW_HOME for the run")
    args = parser.parse_args()
    airflow_home = Path(args.home).resolve()
    airflow_home.mkdir(parents=True, exist_ok=True)
    conf = read_conf(args.conf)
    if conf:  # before anything starts: a refused conf costs no emulator, upload or Airflow run
        os.environ.update(airflow_settings(airflow_home))
        check_conf(conf, load_dag())
    refuse_while_make_airflow_runs(airflow_home)
    started = time.perf_counter()
    # The emulator keeps its S3 and SageMaker in make airflow's data dir: a second make run finds the first
    # run's results (and skips an unchanged input), and make airflow's view lists make run's runs.
    emulator, url = start_emulator(airflow_home / "emulator.log", data_dir=airflow_home / EMULATOR_DATA)
    bucket = conf.get("bucket", BUCKET)
    prefix = conf.get("output_prefix", OUTPUT_PREFIX)
    try:
        # No deadline: Airflow 3.3.2's `dags test` fails a succeeded run of a DAG with a DeadlineAlert (its
        # deserialized DAG holds the alert's dict where update_state looks for its id). `make airflow` keeps it.
        env = {**airflow_env(url, airflow_home), "AIRFLOW__POPSEG__DEADLINE_HOURS": "0"}
        os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
        upload_census(url, args.data, bucket, conf.get("input_key"))
        run(["airflow", "db", "migrate"], env, airflow_home / "db-migrate.log")
        print("Running population_segmentation with `airflow dags test` against the emulator …", flush=True)
        log = airflow_home / "dags-test.log"
        conf_arguments = ["--conf", json.dumps(conf)] if conf else []
        code = run(["airflow", "dags", "test", DAG_ID, *conf_arguments], env, log, check=False)
        finished = _finished_line(log)
        run_id = finished_run_id(finished)
        document = read_run_document(url, bucket, prefix, run_id) if run_id else None
        state = (document or {}).get("state", "published")
        output = Path(args.output)
        if code != 0 or "state=success" not in finished:
            if document is not None and state == "held":
                held = download_results(url, output, bucket, prefix, run_id=run_id, as_latest=False)
                summarise_held(document, held, f"s3://{bucket}/{results_prefix(prefix, run_id)}")
                return 1
            print(f"\nThe run failed (exit {code}). Last lines of {log}:\n", file=sys.stderr)
            print("\n".join(log.read_text().splitlines()[-40:]), file=sys.stderr)
            return 1
        seconds = time.perf_counter() - started
        if document is not None and state == "unchanged":
            standing = download_results(url, output, bucket, prefix)  # latest.json still names the run that stands
            summarise_unchanged(document, standing, seconds)
        else:
            summarise(download_results(url, output, bucket, prefix, run_id=run_id), seconds)
        return 0
    finally:
        stop(emulator)


def refuse_while_make_airflow_runs(airflow_home: Path) -> None:
    """SystemExit when `make airflow` runs on `airflow_home`: both emulators would keep their data in one
    folder, and the last to stop would overwrite what the other saved."""
    recorded = airflow_home / seed_emulator.URL_FILE
    if not recorded.is_file():
        return
    url = recorded.read_text().strip()
    try:  # a connection, not an HTTP request: no proxy setting can answer for it
        address = urllib.parse.urlsplit(url)
        socket.create_connection((address.hostname or "", address.port or 80), timeout=2).close()
    except (OSError, ValueError):
        return  # left by a make airflow that was killed: nothing listens there
    raise SystemExit(
        f"make airflow is running on {airflow_home} (its emulator answers at {url}): stop it (Ctrl-C) first, or "
        "trigger the DAG in its UI; make run and make airflow share the emulator's data and Airflow's database"
    )


def read_conf(text: str | None) -> dict:
    """CONF's text as a trigger conf: at most MAX_CONF_BYTES of JSON holding one object; {} when unset.
    SystemExit naming the problem otherwise (never echoing the text)."""
    if not text:
        return {}
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_CONF_BYTES:
        raise SystemExit(f"CONF is {size:,} bytes; a trigger conf is at most {MAX_CONF_BYTES:,} bytes of JSON")
    try:
        conf = json.loads(text)
    except RecursionError:
        raise SystemExit("CONF nests too deeply to be a trigger conf (its params are flat values)") from None
    except ValueError as error:
        raise SystemExit(f"CONF is not valid JSON: {error}") from None
    if not isinstance(conf, dict):
        raise SystemExit(
            f"CONF must be a JSON object of param names and values, like '{{\"k\": 9}}', not a JSON "
            f"{JSON_TYPES.get(type(conf), type(conf).__name__)}"
        )
    return conf


JSON_TYPES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}


def load_dag():
    """The DAG as Airflow parses it from dags/ (Airflow's settings must be in the environment first)."""
    from airflow.dag_processing.dagbag import DagBag

    dag_file = PROJECT_ROOT / "dags" / "population_segmentation.py"
    with contextlib.redirect_stdout(io.StringIO()):  # Airflow's "Filling up the DagBag" line; errors are in the bag
        bag = DagBag(dag_folder=str(dag_file))
    if DAG_ID not in bag.dags:
        errors = "; ".join(f"{path}: {error}" for path, error in bag.import_errors.items())
        raise SystemExit(f"{dag_file} did not parse, so CONF cannot be checked: {errors or 'no DAG ' + DAG_ID}")
    return bag.dags[DAG_ID]


def check_conf(conf: dict, dag) -> dict:
    """The run's params once `conf` is merged in; SystemExit with the refusal a trigger of `dag` would give.

    In Airflow's order and words: creating the run validates every param against its schema (what the REST
    API answers 400 with, and what `airflow dags test --conf` raises: both call `create_dagrun`), then the
    DAG's `check_params` task refuses keys that are not params (Airflow ignores them)."""
    from airflow.exceptions import ParamValidationError
    from airflow.sdk.exceptions import AirflowFailException
    from airflow.serialization.serialized_objects import DagSerialization

    from include.airflow_popseg.trigger_conf import refuse_unknown_keys

    scheduler_dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))  # as the API holds it
    try:
        params = scheduler_dag.params.deep_merge(conf).validate()
        refuse_unknown_keys(conf, scheduler_dag.params)
    except (ParamValidationError, AirflowFailException) as error:
        raise SystemExit(f"CONF refused: {error}") from None
    return params


def upload_census(url: str, data: str | None, bucket: str = BUCKET, input_key: str | None = None) -> None:
    """DATA (or the bundled sample) to where the run reads its census: the DAG's default key, or CONF's
    `input_key`. With an `input_key` and no DATA the file must be there already (kept in the emulator's data,
    or put there by `make upload`): SystemExit if not, rather than a sensor waiting for hours."""
    if input_key is not None and input_key != seed_emulator.INPUT_KEY and not data:
        if not seed_emulator.object_exists(url, bucket, input_key):
            raise SystemExit(
                f"CONF's input_key: no census at s3://{bucket}/{input_key} in the emulator; pass DATA=path.csv "
                "to upload one there"
            )
        print(f"Census: s3://{bucket}/{input_key} (kept in the emulator's data)", flush=True)
        return
    uri = seed_emulator.upload_census(url, data, input_key, bucket=bucket)
    print(f"Census: {data or 'bundled synthetic sample (3,220 counties)'} -> {uri}", flush=True)


def run(command: list[str], env: dict[str, str], log: Path, check: bool = True) -> int:
    executable = Path(sys.executable).parent / command[0]
    with log.open("w") as handle:
        code = subprocess.call([str(executable), *command[1:]], env=env, stdout=handle, stderr=subprocess.STDOUT)
    if check and code:
        raise SystemExit(f"{' '.join(command)} failed (exit {code}); see {log}")
    return code


def _finished_line(log: Path) -> str:
    lines = [line for line in log.read_text().splitlines() if "DagRun Finished" in line]
    return lines[-1] if lines else ""


FINISHED_RUN_ID = re.compile(r"\brun_id=([^,\s]+),")


def finished_run_id(finished_line: str) -> str | None:
    """The run id in `airflow dags test`'s "DagRun Finished: dag_id=…, run_id=…, …" line; None without one.
    (After an unchanged run latest.json still names the earlier run, so the run just made is read from here.)"""
    match = FINISHED_RUN_ID.search(finished_line)
    return match.group(1) if match and RUN_ID.fullmatch(match.group(1)) else None


MAX_RUN_DOCUMENT_BYTES = 16 << 20  # run.json lists at most LISTED counties per list: a few hundred KB at most


def read_run_document(url: str, bucket: str, prefix: str, run_id: str) -> dict | None:
    """runs/<run_id>/run.json as a dict; None when the run wrote none (it failed before publishing)."""
    from botocore.exceptions import ClientError

    key = results_prefix(prefix, run_id) + RUN_DOCUMENT
    try:
        response = client("s3", url).get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response["Error"]["Code"] in ("NoSuchKey", "NoSuchBucket", "404"):
            return None
        raise
    with response["Body"] as body:
        if response["ContentLength"] > MAX_RUN_DOCUMENT_BYTES:
            raise SystemExit(
                f"s3://{bucket}/{key} is {response['ContentLength']:,} bytes; a run.json is at most "
                f"{MAX_RUN_DOCUMENT_BYTES:,}"
            )
        document = json.loads(body.read())
    if not isinstance(document, dict):
        raise SystemExit(f"s3://{bucket}/{key} is not a JSON object")
    return document


def download_results(
    url: str,
    output: Path,
    bucket: str = BUCKET,
    output_prefix: str = OUTPUT_PREFIX,
    run_id: str | None = None,
    as_latest: bool = True,
) -> Path:
    """A run's files into output/<run_id>/ and (`as_latest`) output/latest/; nothing is written outside output/.

    `run_id` defaults to the run latest.json names. Everything is checked first (the run id, then every key's
    target), then downloaded into a staging folder in output/; only a complete download replaces
    output/<run_id>/ and output/latest/, so a refused or failed run leaves the previous results where they were.
    A held run (`as_latest=False`) leaves output/latest/ as it was, as it leaves latest.json."""
    s3 = client("s3", url)
    if run_id is None:
        latest = json.loads(s3.get_object(Bucket=bucket, Key=latest_key(output_prefix))["Body"].read())
        run_id = str(latest.get("run_id"))
        if not RUN_ID.fullmatch(run_id) or run_id in (".", ".."):
            raise SystemExit(f"{LATEST} names run {run_id!r}, which is not an Airflow run id; nothing downloaded")
    elif not RUN_ID.fullmatch(run_id) or run_id in (".", ".."):
        raise SystemExit(f"{run_id!r} is not an Airflow run id; nothing downloaded")
    prefix = results_prefix(output_prefix, run_id)
    run_dir, latest_dir = inside(output, run_id), inside(output, "latest")
    keys = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", [])
    ]
    for key in keys:
        inside(run_dir, key[len(prefix) :])  # refused before anything is deleted or written
    output.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=output))
    try:
        for key in keys:
            target = inside(staging / "run", key[len(prefix) :])
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, key, str(target), Config=WHOLE_OBJECT)
        (staging / "run").mkdir(exist_ok=True)  # a run that published nothing still gets its (empty) folder
        folders = [(run_dir, "run")]
        if as_latest:
            shutil.copytree(staging / "run", staging / "latest")
            folders.append((latest_dir, "latest"))
        for folder, name in folders:
            shutil.rmtree(folder, ignore_errors=True)
            (staging / name).rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return run_dir


def inside(root: Path, relative: str) -> Path:
    """`root / relative`, refused (SystemExit) unless it is strictly inside `root`."""
    base = root.resolve()
    path = (base / relative).resolve()
    if path == base or not path.is_relative_to(base):
        raise SystemExit(f"refusing to write {relative!r}: it is not inside {root}")
    return path


def summarise(run_dir: Path, seconds: float) -> None:
    """A run that retrained and published: what it read, what it made, and how far it moved since the last."""
    run = json.loads((run_dir / RUN_DOCUMENT).read_text())
    print(f"\nRun {run['run_id']} succeeded in {seconds:.0f} s.")
    _describe(run, run_dir)
    billed = run.get("billable_instance_seconds", run["billable_seconds"])
    print(f"Billable SageMaker seconds: {run['billable_seconds']} wall-clock, {billed} instance-seconds")
    print(f"Estimated cost on AWS (on-demand): {cost_text(run.get('cost'))}")
    _point_at(run_dir)


def summarise_unchanged(run: dict, standing_dir: Path, seconds: float) -> None:
    """A run that found its input and settings unchanged: nothing trained; the earlier run's results stand."""
    since = run.get("unchanged_since")
    print(f"\nRun {run['run_id']} finished in {seconds:.0f} s.")
    print(f"Unchanged since {since}: nothing was retrained (force with CONF='{{\"force\": true}}')")
    census = (run.get("fingerprint") or {}).get("census") or {}
    print(f"Input: {inputs.describe(str(run.get('input')), run.get('input_sha256') or census.get('sha256'))}")
    print("The results that stand:")
    _point_at(standing_dir)


def summarise_held(run: dict, held_dir: Path, held_uri: str) -> None:
    """A run the stability gate held: its results are written but latest.json (and output/latest/) did not move."""
    refusal = (run.get("gate") or {}).get("refusal") or "the stability gate held it"
    print(f"\nRun {run['run_id']} was held by the stability gate: {refusal}", file=sys.stderr)
    churn = churn_line(run)
    if churn:
        print(churn, file=sys.stderr)
    print(
        f"Held results: {held_uri} (downloaded to {held_dir}/; {held_dir.parent / 'latest'}/ did not move)",
        file=sys.stderr,
    )
    print(f"Report: {held_dir / REPORT}", file=sys.stderr)


def churn_line(run: dict) -> str | None:
    """How far the segmentation moved since the previous published run; None for a run.json without continuity."""
    continuity = run.get("continuity")
    if not isinstance(continuity, dict):
        return None
    previous, churn = continuity.get("previous_run"), continuity.get("churn")
    if previous is None or churn is None:
        return "Churn: first run in this results folder (segment IDs are K-Means' own numbering)"
    added, removed = churn.get("added", 0), churn.get("removed", 0)
    if not churn["shared"]:
        return (
            f"Churn since {previous}: no county in common ({added:,} added, {removed:,} removed), so nothing to "
            "compare: every segment ID is new"
        )
    line = (
        f"Churn since {previous}: {100 * churn['changed_share']:.1f} % of {churn['shared']:,} counties changed "
        f"segment (adjusted Rand {churn['adjusted_rand']:.2f})"
    )
    return line + (f"; {added:,} counties added, {removed:,} removed" if added or removed else "")


def _describe(run: dict, run_dir: Path) -> None:
    import pandas as pd

    sizes = pd.read_csv(run_dir / SEGMENTS)["segment"].value_counts().sort_index()
    print(f"Input: {inputs.describe(run['input'], run.get('input_sha256'))}")
    print(f"Rows: {run['rows_in']:,} in, {run['rows']:,} segmented ({len(run['dropped'])} incomplete dropped)")
    print(f"PCA: {run['n_components']} components keep {run['explained_variance']:.4f} of the variance")
    by_batch = (run.get("params") or {}).get("transform") == "batch"
    print("Transformed by: " + ("batch transform jobs (no endpoint)" if by_batch else "real-time endpoints (deleted)"))
    choice = run.get("k_selection") or {}
    if len(choice.get("candidates") or []) > 1:
        tried = ", ".join(map(str, choice["candidates"]))
        print(f"k = {choice['chosen_k']} chosen by the {choice['rule']} rule among k = {tried}")
    print("Segments: " + ", ".join(f"{segment}: {count}" for segment, count in sizes.items()))
    churn = churn_line(run)
    if churn:
        print(churn)


def _point_at(run_dir: Path) -> None:
    print(f"Results: {run_dir}/ (also {run_dir.parent / 'latest'}/)")
    print(f"Report: {run_dir.parent / 'latest' / REPORT} (plots in {run_dir.parent / 'latest' / PLOTS}/)")


if __name__ == "__main__":
    sys.exit(main())
