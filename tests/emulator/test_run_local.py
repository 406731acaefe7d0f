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
