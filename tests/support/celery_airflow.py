"""A distributed Airflow on this machine, as `make airflow EXECUTOR=celery` starts it (scripts/local_airflow.py):
the emulator, a private Postgres and Redis, `airflow db migrate`, api-server, scheduler, dag-processor,
triggerer and two named Celery workers. Without Debian's postgresql and redis-server a test skips, except
under CI=true (.ci/run installs them) where it fails."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from include.airflow_popseg.settings import DAG_ID
from scripts import celery_services, local_airflow

# A task whose worker died is failed (and retried) after this long without a heartbeat; its supervisor
# heartbeats every 5 s ([workers] min_heartbeat_interval), so a live task is never mistaken for a dead one.
HEARTBEAT_TIMEOUT_SECONDS = 20


def servers_or_skip() -> None:
    """Skip (fail under CI=true) when postgresql or redis-server is not installed."""
    if missing := celery_services.missing_servers():
        reason = f"the CeleryExecutor test needs Debian's {' and '.join(missing)} (apt-get install {' '.join(missing)})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)


@dataclass
class CeleryAirflow:
    base: str
    token: str
    database_url: str
    workers: dict[str, subprocess.Popen]  # name → its `airflow celery worker` process (a group leader)
    emulator_url: str

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        return local_airflow.api(self.base, method, path, self.token, body)

    def run_when_finished(self, run_id: str, timeout: float = 900) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")
            if run["state"] in ("success", "failed"):
                return run
            time.sleep(2)
        raise AssertionError(f"run {run_id} did not finish within {timeout:.0f} s: {run['state']}")

    def task_instances(self, run_id: str) -> list[dict]:
        """The run's task instances as the metadata DB holds them (Postgres, read directly)."""
        import sqlalchemy

        engine = sqlalchemy.create_engine(self.database_url, poolclass=sqlalchemy.pool.NullPool)
        with engine.connect() as connection:
            rows = connection.execute(
                sqlalchemy.text(
                    "SELECT task_id, map_index, state, hostname, queue, try_number FROM task_instance "
                    "WHERE dag_id = :dag AND run_id = :run"
                ),
                {"dag": DAG_ID, "run": run_id},
            )
            return [dict(row._mapping) for row in rows]

    def kill_worker(self, name: str) -> None:
        """SIGKILL to the worker's whole process group: the worker and the task processes it runs, at once."""
        os.killpg(self.workers[name].pid, signal.SIGKILL)
        self.workers[name].wait()


@contextmanager
def celery_airflow() -> Iterator[CeleryAirflow]:
    """Everything started once, the scheduled run of the unpaused DAG being the first run; all stopped after."""
    servers_or_skip()
    # Postgres runs as its own user under root: AIRFLOW_HOME must be a folder that user can enter.
    home = Path(tempfile.mkdtemp(prefix="popseg-celery-"))
    home.chmod(0o711)
    emulator, url = local_airflow.start_emulator(home / "emulator.log")
    servers: list[subprocess.Popen] = []
    processes: list[subprocess.Popen] = []
    try:
        local_airflow.seed(url, None)
        servers, celery, workers = local_airflow.start_celery(home, durable=False)
        port = local_airflow.free_port()
        env = {
            **local_airflow.served_env(url, home, port),
            **celery,
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT_SECONDS),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            # 2 s polls: quick against the emulator, and not the sub-second trigger that races the scheduler.
            "AIRFLOW__POPSEG__CHECK_INTERVAL": "2",
        }
        processes = local_airflow.start_airflow(env, port, workers)
        base = f"http://127.0.0.1:{port}"
        token = local_airflow.wait_until_up(base, local_airflow.admin_password(home), processes)
        yield CeleryAirflow(
            base=base,
            token=token,
            database_url=celery["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"],
            workers={process.name: process for process in processes if process.name in workers},
            emulator_url=url,
        )
    finally:
        local_airflow.stop_airflow(processes)
        for server in reversed(servers):
            local_airflow.stop(server)
        local_airflow.stop(emulator)
        with suppress(OSError):
            shutil.rmtree(home)
