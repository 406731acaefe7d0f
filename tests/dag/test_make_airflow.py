"""`make airflow`: the UI on loopback with a login that works, runs that succeed under a real scheduler and
triggerer (the one unpausing schedules, and one triggered over the REST API), your own census file uploaded
beside the sample, Ctrl-C leaves nothing behind, and a restart keeps every run, report and login."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from contextlib import closing

import psutil
import pytest

from include.segmentation.synthetic import synthetic_census
from tests.support.paths import PROJECT_ROOT

pytestmark = pytest.mark.slow

DAG_RUNS = "/api/v2/dags/population_segmentation/dagRuns"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _call(base: str, method: str, path: str, token: str | None = None, body: dict | None = None) -> dict:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _banner(supervisor: subprocess.Popen) -> str:
    """What the supervisor printed up to its "Press Ctrl-C" line (or until it exited)."""
    printed = []
    for line in supervisor.stdout:
        printed.append(line)
        if line.startswith("Press Ctrl-C"):
            break
    return "".join(printed)


def _runs_when_finished(base: str, token: str, timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = _call(base, "GET", DAG_RUNS, token)["dag_runs"]
        if runs and all(run["state"] in ("success", "failed") for run in runs):
            return runs
        time.sleep(5)
    return runs


def _start(port: int, home, **env: str) -> subprocess.Popen:
    """`make airflow` with the nightly deadline on (its default, 4 h), which the session turns off for
    dag.test() (tests/conftest.py): the real scheduler finishes a succeeded run of the DAG with its DeadlineAlert."""
    env = {"AIRFLOW__POPSEG__DEADLINE_HOURS": "4", **env}
    return subprocess.Popen(
        [sys.executable, "scripts/local_airflow.py", "--port", str(port), "--home", str(home)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **env},
    )


def _stop(supervisor: subprocess.Popen, processes: set[psutil.Process], port: int) -> None:
    """Ctrl-C, then: the supervisor exited 0, every process it started is gone, the port is free."""
    supervisor.send_signal(signal.SIGINT)  # what Ctrl-C sends
    supervisor.wait(timeout=180)
    assert supervisor.returncode == 0
    _, alive = psutil.wait_procs(list(processes), timeout=10)
    assert not alive, [p.info for p in alive]
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past our own connections' TIME_WAIT
        probe.bind(("127.0.0.1", port))  # nothing listens there any more


def _report_status(base: str, token: str, run_id: str) -> int:
    path = f"/segmentation/runs/{urllib.parse.quote(run_id, safe='')}/report"
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status


def _deadline_alerts(home) -> list[str]:
    """The names of the DeadlineAlerts the dag-processor stored with the serialized DAG."""
    with closing(sqlite3.connect(home / "airflow.db")) as db:
        return [name for (name,) in db.execute("SELECT name FROM deadline_alert")]


# Two whole runs under a real scheduler, then a restart: on a shared 2-core machine (load 10 and more) the runs
# alone took 9.5 minutes, past the suite's 10-minute default once start-up and the restart are added.
@pytest.mark.timeout(1500)
def test_make_airflow_serves_on_loopback_runs_the_dag_stops_cleanly_and_restarts_as_it_left(tmp_path) -> None:
    port, home = _free_port(), tmp_path / "home"
    own = tmp_path / "my county data.csv"
    own.write_text(synthetic_census(300).to_csv(index=False))
    supervisor = _start(port, home, DATA=str(own))
    processes: set[psutil.Process] = set()
    try:
        banner = _banner(supervisor)
        base = f"http://127.0.0.1:{port}"
        assert f"Airflow UI: {base}\n" in banner, banner
        assert "Census: bundled synthetic sample -> s3://popseg/census/acs2015_county_data.csv" in banner
        assert "Your census: " + str(own) + " -> s3://popseg/census/my county data.csv" in banner
        # Its own results folder: each night compares itself with the last run of its folder, not the sample's.
        assert '"Census file" = census/my county data.csv and "Results folder" = segmentation-my-county-data' in banner
        assert "its run for the latest 02:00 UTC interval starts now" in banner
        login = re.search(r"^Login: admin / (\S+)$", banner, re.MULTILINE)
        assert login, banner
        listening = {c.laddr.ip for c in psutil.net_connections("tcp") if c.status == "LISTEN" and c.laddr.port == port}
        assert listening == {"127.0.0.1"}
        assert (home / "local_secrets.json").stat().st_mode & 0o777 == 0o600

        token = _call(base, "POST", "/auth/token", body={"username": "admin", "password": login[1]})["access_token"]
        assert _call(base, "GET", "/api/v2/dags/population_segmentation", token)["is_paused"] is False
        conf = {"k": 4, "input_key": "census/my county data.csv", "output_prefix": "segmentation-my-county-data"}
        triggered = _call(base, "POST", DAG_RUNS, token, {"logical_date": None, "conf": conf})
        processes.update(psutil.Process(supervisor.pid).children(recursive=True))

        runs = _runs_when_finished(base, token, timeout=900)
        processes.update(psutil.Process(supervisor.pid).children(recursive=True))
        states = {run["run_type"]: run["state"] for run in runs}
        # The run unpausing scheduled (the latest interval) succeeds too: everything it needs was seeded.
        assert states == {"scheduled": "success", "manual": "success"}, runs
        assert triggered["dag_run_id"] in {run["dag_run_id"] for run in runs}
        assert _report_status(base, token, triggered["dag_run_id"]) == 200
    finally:
        _stop(supervisor, processes, port)
    assert _deadline_alerts(home) == ["popseg_nightly_deadline"]  # both runs succeeded with the deadline on

    # A restart: the emulator's data, Airflow's database and the login secrets were all kept.
    supervisor, processes = _start(port, home), set()
    try:
        banner = _banner(supervisor)
        assert "(kept from an earlier start)" in banner and "its 2 earlier run(s) and their reports are kept" in banner
        processes.update(psutil.Process(supervisor.pid).children(recursive=True))
        assert _call(base, "GET", "/api/v2/dags/population_segmentation", token)["is_paused"] is False  # old token
        assert _report_status(base, token, triggered["dag_run_id"]) == 200
    finally:
        _stop(supervisor, processes, port)
