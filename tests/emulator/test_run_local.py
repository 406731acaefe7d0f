"""`make run`'s download of the results: the run id and keys from S3 never write outside output/."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from scripts import run_local
from scripts.local_airflow import EMULATOR_DATA
from tests.support.paths import PROJECT_ROOT


@pytest.fixture
def results_bucket(s3):
    s3.create_bucket(Bucket=run_local.BUCKET)
    yield s3
    for item in s3.list_objects_v2(Bucket=run_local.BUCKET).get("Contents", []):
        s3.delete_object(Bucket=run_local.BUCKET, Key=item["Key"])


def _publish(s3, run_id: str, files: dict[str, bytes]) -> None:
    s3.put_object(Bucket=run_local.BUCKET, Key="segmentation/latest.json", Body=json.dumps({"run_id": run_id}))
    _record(s3, run_id, files)


def _record(s3, run_id: str, files: dict[str, bytes]) -> None:
    """A run's files under runs/<run_id>/, latest.json left where it is (a held or unchanged run)."""
    for name, data in files.items():
        s3.put_object(Bucket=run_local.BUCKET, Key=f"segmentation/runs/{run_id}/{name}", Body=data)


def test_the_results_land_under_output(emulator, results_bucket, tmp_path) -> None:
    _publish(results_bucket, "manual__1", {"run.json": b"{}", "plots/a.png": b"png"})
    run_dir = run_local.download_results(emulator.endpoint_url, tmp_path / "output")
    assert run_dir == (tmp_path / "output" / "manual__1").resolve()
    assert (run_dir / "plots" / "a.png").read_bytes() == b"png"
    assert (tmp_path / "output" / "latest" / "run.json").read_bytes() == b"{}"


@pytest.mark.parametrize("run_id", ["..", "../../victim", "/etc", "a/b", ""])
def test_a_run_id_that_is_not_an_airflow_run_id_is_refused_and_nothing_is_touched(
    emulator, results_bucket, tmp_path, run_id
) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine")
    results_bucket.put_object(
        Bucket=run_local.BUCKET, Key="segmentation/latest.json", Body=json.dumps({"run_id": run_id})
    )
    with pytest.raises(SystemExit, match="not an Airflow run id"):
        run_local.download_results(emulator.endpoint_url, tmp_path / "output" / "sub")
    assert (victim / "keep.txt").read_text() == "mine" and not (tmp_path / "output").exists()


def test_a_key_that_climbs_out_of_the_run_is_refused(emulator, results_bucket, tmp_path) -> None:
    _publish(results_bucket, "manual__2", {"../../../../escaped.txt": b"x"})
    with pytest.raises(SystemExit, match="not inside"):
        run_local.download_results(emulator.endpoint_url, tmp_path / "output")
    assert not list(tmp_path.rglob("escaped.txt"))


def test_a_refused_run_leaves_the_previous_results_in_output_latest(emulator, results_bucket, tmp_path) -> None:
    output = tmp_path / "output"
    _publish(results_bucket, "manual__1", {"run.json": b"first", "plots/a.png": b"png"})
    run_local.download_results(emulator.endpoint_url, output)
    _publish(results_bucket, "manual__2", {"run.json": b"second", "../../../../escaped.txt": b"x"})
    with pytest.raises(SystemExit, match="not inside"):
        run_local.download_results(emulator.endpoint_url, output)
    assert (output / "latest" / "run.json").read_bytes() == b"first"
    assert (output / "latest" / "plots" / "a.png").read_bytes() == b"png"
    assert sorted(p.name for p in output.iterdir()) == ["latest", "manual__1"]  # no manual__2/, no staging left


def test_a_download_that_fails_midway_leaves_the_previous_results_in_output_latest(
    emulator, results_bucket, tmp_path, monkeypatch
) -> None:
    output = tmp_path / "output"
    _publish(results_bucket, "manual__1", {"run.json": b"first"})
    run_local.download_results(emulator.endpoint_url, output)
    _publish(results_bucket, "manual__2", {"run.json": b"second", "segments.csv": b"s"})
    real_client = run_local.client

    def failing_client(service, url):
        s3 = real_client(service, url)
        download = s3.download_file

        def download_file(bucket, key, target, **kwargs):
            if key.endswith("segments.csv"):
                raise ConnectionError(f"connection lost while reading {key}")
            return download(bucket, key, target, **kwargs)

        s3.download_file = download_file
        return s3

    monkeypatch.setattr(run_local, "client", failing_client)
    with pytest.raises(ConnectionError, match="segments.csv"):
        run_local.download_results(emulator.endpoint_url, output)
    assert (output / "latest" / "run.json").read_bytes() == b"first"
    assert sorted(p.name for p in output.iterdir()) == ["latest", "manual__1"]


def test_make_run_hands_data_to_the_script_through_the_environment_only() -> None:
    hostile = '"; touch /tmp/popseg-pwned; echo "'
    printed = subprocess.run(
        ["make", "-n", "run", f"DATA={hostile}"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "scripts/run_local.py" in printed and "popseg-pwned" not in printed


@pytest.mark.parametrize(
    ("sha256", "says"),
    [
        ("5c932e0bf821de46f7e1cfda5b3945055ffb5f8e28608acc83b55f423afd7dfa", "(bundled synthetic sample: made-up"),
        ("0" * 64, None),
    ],
)
def test_the_summary_names_the_input_and_says_when_it_is_the_bundled_sample(tmp_path, capsys, sha256, says) -> None:
    run = {
        "run_id": "manual__x", "input": "s3://popseg/census/acs2015_county_data.csv", "input_sha256": sha256,
        "rows_in": 3220, "rows": 3218, "dropped": ["a", "b"], "n_components": 7, "explained_variance": 0.8017,
        "billable_seconds": 4,
    }  # fmt: skip
    (tmp_path / "run.json").write_text(json.dumps(run))
    (tmp_path / "segments.csv").write_text("State-County,segment\nTexas-Travis,0\n")
    run_local.summarise(tmp_path, 30.0)
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("Input: "))
    assert line.startswith("Input: s3://popseg/census/acs2015_county_data.csv")
    assert (says in line) if says else line == "Input: s3://popseg/census/acs2015_county_data.csv"


def test_the_summary_gives_the_runs_estimated_cost_or_why_it_has_none(tmp_path, capsys) -> None:
    run = {
        "run_id": "manual__x", "input": "s3://popseg/census/c.csv", "rows_in": 3, "rows": 3, "dropped": [],
        "n_components": 2, "explained_variance": 0.8, "billable_seconds": 4,
        "cost": {"total": None, "priced_total": 0, "items": [{"usd": None}],
                 "no_price": ["the price table has no prices for region us-east-1"]},
    }  # fmt: skip
    (tmp_path / "run.json").write_text(json.dumps(run))
    (tmp_path / "segments.csv").write_text("State-County,segment\nTexas-Travis,0\n")
    run_local.summarise(tmp_path, 30.0)
    assert (
        "Estimated cost on AWS (on-demand): no price (the price table has no prices for region us-east-1)"
        in capsys.readouterr().out.splitlines()
    )


# --- CONF: the trigger conf, refused before anything starts -----------------------------------------------------


@pytest.fixture(scope="module")
def dag():
    """The DAG as `make run` parses it to check a conf (the session's Airflow settings from tests/conftest.py)."""
    return run_local.load_dag()


def test_an_unset_conf_is_an_empty_trigger_conf() -> None:
    assert run_local.read_conf(None) == {} and run_local.read_conf("") == {}


def test_a_conf_that_is_not_json_is_refused_naming_where() -> None:
    with pytest.raises(SystemExit, match=r"CONF is not valid JSON: Expecting property name .*line 1 column 2"):
        run_local.read_conf("{k: 9}")


@pytest.mark.parametrize(("text", "kind"), [("[9]", "array"), ('"k"', "string"), ("9", "number"), ("null", "null")])
def test_a_conf_that_is_not_a_json_object_is_refused_naming_its_type(text, kind) -> None:
    with pytest.raises(SystemExit, match=f"CONF must be a JSON object of param names and values.*not a JSON {kind}$"):
        run_local.read_conf(text)


def test_a_conf_over_the_size_bound_is_refused_with_its_size_and_the_bound() -> None:
    text = json.dumps({"input_key": "x" * run_local.MAX_CONF_BYTES})
    with pytest.raises(SystemExit, match=f"CONF is {len(text):,} bytes; .* at most {run_local.MAX_CONF_BYTES:,} bytes"):
        run_local.read_conf(text)


def test_a_deeply_nested_conf_is_refused_without_a_traceback() -> None:
    with pytest.raises(SystemExit, match="CONF nests too deeply"):
        run_local.read_conf('{"k": ' + "[" * 5000 + "]" * 5000 + "}")


def test_a_value_outside_its_param_schema_is_refused_with_the_triggers_message(dag) -> None:
    with pytest.raises(SystemExit) as refused:
        run_local.check_conf({"k": 60}, dag)
    # What POST /dags/{id}/dagRuns answers 400 with, and `airflow dags test --conf` raises: create_dagrun's check.
    assert str(refused.value).startswith(
        "CONF refused: Invalid input for param k: 60 is greater than the maximum of 50"
    )


def test_a_value_of_the_wrong_type_is_refused_with_the_triggers_message(dag) -> None:
    with pytest.raises(SystemExit, match=r"^CONF refused: Invalid input for param k: 'nine' is not of type 'integer'"):
        run_local.check_conf({"k": "nine"}, dag)


def test_an_unknown_key_is_refused_with_check_params_message(dag) -> None:
    with pytest.raises(SystemExit, match=r"^CONF refused: Unknown trigger parameter: 'kk' \(did you mean 'k'\?\)\."):
        run_local.check_conf({"kk": 9}, dag)


def test_a_valid_conf_gives_the_runs_params(dag) -> None:
    params = run_local.check_conf({"k": 9}, dag)
    assert params["k"] == 9 and params["bucket"] == run_local.BUCKET


def test_a_refused_conf_starts_no_emulator_and_exits_non_zero(tmp_path) -> None:
    home = tmp_path / "home"
    finished = subprocess.run(
        [sys.executable, "scripts/run_local.py", "--home", str(home), "--output", str(tmp_path / "output")],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "CONF": '{"k": 60}'},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode == 1
    assert "CONF refused: Invalid input for param k: 60 is greater than the maximum of 50" in finished.stderr
    assert not (home / "emulator.log").exists() and not (home / EMULATOR_DATA).exists()
    assert not (tmp_path / "output").exists()


def test_make_run_hands_conf_to_the_script_through_the_environment_unexpanded() -> None:
    hostile = '{"input_key": "\'; touch /tmp/popseg-pwned; echo \'", "x": "$(shell echo popseg-expanded)"}'
    printed = subprocess.run(
        ["make", "-n", "run", f"CONF={hostile}"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "scripts/run_local.py" in printed and "popseg-pwned" not in printed
    exported = subprocess.run(
        ["make", "-s", "--eval", "show-conf: ; @printf '%s' \"$$CONF\"", "show-conf", f"CONF={hostile}"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert exported == hostile


# --- The run just made, and what the summary says for each state ----------------------------------------------

FINISHED = (
    "2026-12-06T05:39:03.000667Z [info     ] DagRun Finished: dag_id=population_segmentation, logical_date=2026-12-06 "
    "05:38:33.772277+00:00, run_id=manual__2026-12-06T05:38:35.117808+00:00, run_start_date=2026-12-06 "
    "05:38:33.772277+00:00, state=success, run_type=manual, [airflow.models.dagrun.DagRun] loc=dagrun.py:1315"
)


def test_the_run_just_made_is_read_from_airflow_dags_tests_finished_line() -> None:
    assert run_local.finished_run_id(FINISHED) == "manual__2026-12-06T05:38:35.117808+00:00"


def test_a_finished_line_without_a_run_id_names_no_run() -> None:
    assert run_local.finished_run_id("") is None
    assert run_local.finished_run_id("DagRun Finished: dag_id=x, run_id=../../etc, state=success") is None


def _published_run(**continuity) -> dict:
    return {
        "run_id": "manual__2", "state": "published", "input": "s3://popseg/census/c.csv", "input_sha256": "0" * 64,
        "rows_in": 3220, "rows": 3218, "dropped": ["a", "b"], "n_components": 7, "explained_variance": 0.8017,
        "billable_seconds": 4, "continuity": continuity,
    }  # fmt: skip


def _results_folder(folder, run: dict):
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps(run))
    (folder / "segments.csv").write_text("State-County,segment\nTexas-Travis,0\nOhio-Ross,3\n")
    return folder


def test_a_run_that_retrained_prints_its_churn_since_the_previous_run(tmp_path, capsys) -> None:
    churn = {"shared": 3218, "changed": 396, "changed_share": 0.12306, "adjusted_rand": 0.8712}
    run = _published_run(previous_run="manual__1", churn=churn)
    run_local.summarise(_results_folder(tmp_path / "manual__2", run), 30.0)
    printed = capsys.readouterr().out
    assert "Churn since manual__1: 12.3 % of 3,218 counties changed segment (adjusted Rand 0.87)\n" in printed


def test_a_run_with_no_county_in_common_says_so_rather_than_a_churn_of_zero(tmp_path, capsys) -> None:
    churn = {"shared": 0, "changed": 0, "changed_share": 0.0, "adjusted_rand": 0.0, "added": 3218, "removed": 3218}
    run_local.summarise(
        _results_folder(tmp_path / "manual__2", _published_run(previous_run="manual__1", churn=churn)), 1
    )
    assert "Churn since manual__1: no county in common (3,218 added, 3,218 removed)" in capsys.readouterr().out


def test_counties_added_or_removed_are_counted_beside_the_churn(tmp_path, capsys) -> None:
    churn = {"shared": 3000, "changed": 30, "changed_share": 0.01, "adjusted_rand": 0.98, "added": 2, "removed": 218}
    run_local.summarise(
        _results_folder(tmp_path / "manual__2", _published_run(previous_run="manual__1", churn=churn)), 1
    )
    assert "(adjusted Rand 0.98); 2 counties added, 218 removed\n" in capsys.readouterr().out


def test_a_first_run_says_it_is_the_first(tmp_path, capsys) -> None:
    run_local.summarise(_results_folder(tmp_path / "manual__2", _published_run(previous_run=None, churn=None)), 30.0)
    assert "Churn: first run in this results folder" in capsys.readouterr().out


def test_an_unchanged_run_says_since_which_run_and_points_at_the_results_that_stand(tmp_path, capsys) -> None:
    standing = _results_folder(tmp_path / "output" / "manual__1", _published_run(previous_run=None, churn=None))
    run = {
        "run_id": "manual__2", "state": "unchanged", "unchanged_since": "manual__1",
        "input": "s3://popseg/census/c.csv", "fingerprint": {"census": {"sha256": "0" * 64}, "settings": "ab"},
    }  # fmt: skip
    run_local.summarise_unchanged(run, standing, 3.0)
    printed = capsys.readouterr().out.splitlines()
    assert "Unchanged since manual__1: nothing was retrained (force with CONF='{\"force\": true}')" in printed
    assert f"Results: {standing}/ (also {tmp_path / 'output' / 'latest'}/)" in printed


def test_a_held_run_prints_the_gates_message_and_where_its_results_are(tmp_path, capsys) -> None:
    refusal = "1,287 of the 3,218 counties … changed segment: churn 40.0 %, above max_churn = 30.0 %."
    run = {**_published_run(previous_run="manual__1", churn={"shared": 3218, "changed": 1287,
                                                             "changed_share": 0.39993, "adjusted_rand": 0.41}),
           "state": "held", "gate": {"max_churn": 0.3, "refusal": refusal}}  # fmt: skip
    held = tmp_path / "output" / "manual__2"
    run_local.summarise_held(run, held, "s3://popseg/segmentation/runs/manual__2/")
    printed = capsys.readouterr().err
    assert f"Run manual__2 was held by the stability gate: {refusal}\n" in printed
    assert f"Held results: s3://popseg/segmentation/runs/manual__2/ (downloaded to {held}/;" in printed


def test_a_held_runs_download_leaves_output_latest_as_it_was(emulator, results_bucket, tmp_path) -> None:
    output = tmp_path / "output"
    _publish(results_bucket, "manual__1", {"run.json": b"first"})
    run_local.download_results(emulator.endpoint_url, output)
    _record(results_bucket, "manual__2", {"run.json": b"held"})
    held = run_local.download_results(emulator.endpoint_url, output, run_id="manual__2", as_latest=False)
    assert (held / "run.json").read_bytes() == b"held"
    assert (output / "latest" / "run.json").read_bytes() == b"first"


def test_the_run_document_of_the_run_just_made_is_read_from_its_own_folder(emulator, results_bucket) -> None:
    _record(results_bucket, "manual__3", {"run.json": b'{"state": "unchanged"}'})
    read = run_local.read_run_document(emulator.endpoint_url, run_local.BUCKET, "segmentation", "manual__3")
    assert read == {"state": "unchanged"}
    assert run_local.read_run_document(emulator.endpoint_url, run_local.BUCKET, "segmentation", "manual__4") is None


# --- State kept between make runs ------------------------------------------------------------------------------


def test_make_run_keeps_the_emulators_state_in_make_airflows_data_dir(tmp_path, monkeypatch) -> None:
    started = {}

    def start_emulator(log_path, data_dir=None):
        started["data_dir"] = data_dir
        raise RuntimeError("stopped before the emulator starts")

    monkeypatch.setattr(run_local, "start_emulator", start_emulator)
    monkeypatch.setattr(sys, "argv", ["run_local.py", "--home", str(tmp_path), "--output", str(tmp_path / "out")])
    monkeypatch.delenv("CONF", raising=False)
    with pytest.raises(RuntimeError, match="stopped before"):
        run_local.main()
    assert started["data_dir"] == tmp_path.resolve() / EMULATOR_DATA


def test_what_one_emulator_stored_the_next_one_started_on_its_data_dir_finds(tmp_path) -> None:
    from aws_emulator.connection import client
    from scripts.local_airflow import start_emulator, stop

    process, url = start_emulator(tmp_path / "emulator.log", data_dir=tmp_path / EMULATOR_DATA)
    try:
        s3 = client("s3", url)
        s3.create_bucket(Bucket="kept")
        s3.put_object(Bucket="kept", Key="segmentation/latest.json", Body=b'{"run_id": "manual__1"}')
    finally:
        stop(process)
    process, url = start_emulator(tmp_path / "emulator.log", data_dir=tmp_path / EMULATOR_DATA)
    try:
        body = client("s3", url).get_object(Bucket="kept", Key="segmentation/latest.json")["Body"].read()
    finally:
        stop(process)
    assert body == b'{"run_id": "manual__1"}'


def test_make_run_is_refused_while_make_airflow_runs_on_the_same_home(emulator, tmp_path) -> None:
    (tmp_path / "emulator.url").write_text(emulator.endpoint_url + "\n")
    with pytest.raises(SystemExit, match="make airflow is running on .*: stop it"):
        run_local.refuse_while_make_airflow_runs(tmp_path)


def test_a_url_left_by_a_killed_make_airflow_does_not_stop_make_run(tmp_path) -> None:
    from scripts.local_airflow import free_port

    (tmp_path / "emulator.url").write_text(f"http://127.0.0.1:{free_port()}\n")
    run_local.refuse_while_make_airflow_runs(tmp_path)  # nothing listens there: no refusal
