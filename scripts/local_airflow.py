"""`make airflow`: the real Airflow UI on 127.0.0.1 against the local emulator, no Docker; Ctrl-C stops it all.

Starts the emulator with its data kept in AIRFLOW_HOME, seeds it (bucket and census sample, and your
`DATA=path.csv` beside it; the AWS connection and the `popseg_role_arn` Variable come from the environment),
runs Airflow's parts as `airflow standalone` does (api-server, scheduler, triggerer, dag-processor,
LocalExecutor) with the api-server bound to 127.0.0.1, its base URL set and its secrets kept in AIRFLOW_HOME,
unpauses `population_segmentation` (on a first start its scheduled run succeeds: everything it needs is
seeded), and prints the URL and the login. Ctrl-C (SIGINT) or SIGTERM stops Airflow's processes, then the
emulator, which saves its data. A restart finds every run, report and login as it left them.

    .venv/bin/python scripts/local_airflow.py [--port 8080] [--home airflow_home] [--executor celery]

`--executor celery` (`make airflow EXECUTOR=celery`) runs what docker-compose.yaml runs instead: a
CeleryExecutor with two workers, Postgres as the metadata DB and Redis as the broker, both private to
AIRFLOW_HOME (scripts/celery_services.py; Debian's postgresql and redis-server must be installed).

Also the pieces `make run` (scripts/run_local.py) and bench/scheduler_soak.py share: the emulator, the
Airflow environment, and starting and stopping Airflow's parts.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import suppress
from pathlib import Path

from aws_emulator.connection import connection_env
from aws_emulator.sagemaker.latency import LatencyProfile
from include.airflow_popseg.settings import DAG_ID
from scripts import celery_services, seed_emulator
from scripts.celery_services import free_port as free_port  # re-exported: one definition for both scripts

PROJECT_ROOT = Path(__file__).resolve().parent.parent

BIN = Path(sys.executable).parent
# Memory settings for processes that handle whole census files (see README "Performance"):
# - numpy asks the kernel for transparent huge pages on large arrays; where THP defrag is "madvise" (as on
#   many Linux hosts) each such allocation may stall on compaction: 272 MB filled in 0.43 s, not 0.16 s.
# - `airflow dags test` runs every task in one process (a real worker starts one per task), so memory that
#   the allocators keep after a task would add up: glibc keeps freed blocks under its dynamic mmap
#   threshold (up to 32 MiB) and one arena per thread; Arrow's jemalloc pool keeps its own.
MEMORY_ENV = {
    "NUMPY_MADVISE_HUGEPAGE": "0",
    "MALLOC_MMAP_THRESHOLD_": str(1 << 20),  # blocks ≥ 1 MiB are mapped, and unmapped when freed
    "MALLOC_ARENA_MAX": "2",
    "ARROW_DEFAULT_MEMORY_POOL": "system",
}
ADMIN = "admin"
# Loggers whose INFO lines repeat without news in every task log (README "Logs"); their warnings still show.
QUIET_LOGGERS = "airflow.providers.amazon.aws.utils.connection_wrapper=WARNING"


def start_emulator(
    log_path: Path, data_dir: Path | None = None, latency: LatencyProfile | None = None
) -> tuple[subprocess.Popen, str]:
    """The emulator on a free loopback port, in its own session (a Ctrl-C reaches only our supervisor).

    With `data_dir` its S3 objects and SageMaker state are saved there when it stops and restored when it starts;
    with `latency` its jobs and endpoints take SageMaker's times divided by its scale (aws_emulator/README.md).
    """
    keep = ["--data-dir", str(data_dir)] if data_dir else []
    slow = ["--latency", f"aws:{latency.scale!r}", "--latency-seed", str(latency.seed)] if latency else []
    process = subprocess.Popen(
        [sys.executable, "-m", "aws_emulator", "--port", "0", *keep, *slow],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=log_path.open("w"),
        text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **MEMORY_ENV},
        start_new_session=True,
    )
    first = process.stdout.readline().strip()
    if "listening on" not in first:
        process.kill()
        raise SystemExit(f"the emulator did not start; see {log_path}")
    url = first.rsplit(" ", 1)[1]
    print(f"AWS emulator: {url} (log: {log_path})", flush=True)
    return process, url


def stop(process: subprocess.Popen, timeout: float = 60) -> None:
    """SIGTERM, then SIGKILL after `timeout` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def airflow_env(url: str, airflow_home: Path) -> dict[str, str]:
    """Airflow on SQLite in `airflow_home`; the AWS connection points at the emulator (dummy keys)."""
    return {**os.environ, **airflow_settings(airflow_home), **MEMORY_ENV, **connection_env(url)}


def airflow_settings(airflow_home: Path) -> dict[str, str]:
    """Airflow's settings for our local runs: SQLite in `airflow_home`, this project's dags/ and plugins/.
    Enough to parse the DAG (`make run` checks a trigger conf against it before the emulator starts)."""
    return {
        "PYTHONPATH": str(PROJECT_ROOT),
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__POPSEG__CHECK_INTERVAL": "0.5",  # the emulator's jobs and endpoints are ready within a second
        # The provider logs "credentials retrieved" at INFO for every AWS hook a task builds (4 in a training task).
        "AIRFLOW__LOGGING__NAMESPACE_LEVELS": QUIET_LOGGERS,
        # The sweeper lists what it would sweep and deletes nothing, even when the trigger form unpauses it.
        "AIRFLOW__POPSEG__SWEEPER_DELETES": "False",
    }


def served_env(url: str, airflow_home: Path, port: int) -> dict[str, str]:
    """`airflow_env` plus what a real api-server, scheduler and triggerer need, serving on 127.0.0.1:`port`.

    Tasks reach the Execution API at the base URL (unset, they try localhost:8080: `Connection refused`).
    One JWT secret for every component, so the api-server accepts the tokens the scheduler hands tasks.
    """
    base = f"http://127.0.0.1:{port}"
    kept = local_secrets(airflow_home)
    return {
        **airflow_env(url, airflow_home),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # components re-run `airflow …` by name
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API_AUTH__JWT_SECRET": kept["jwt_secret"],
        "AIRFLOW__API__SECRET_KEY": kept["api_secret_key"],
        "AIRFLOW__API__BASE_URL": base,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # The LocalExecutor starts `parallelism` worker processes (default 32, ≈ 1.5 GB idle on a laptop); a run
        # of the DAG has at most 3 tasks ready at once, and deferred ones hold no worker.
        "AIRFLOW__CORE__PARALLELISM": "4",
    }


def start_celery(home: Path, durable: bool = True) -> tuple[list[subprocess.Popen], dict[str, str], dict[str, dict]]:
    """Postgres and Redis for a CeleryExecutor, kept in `home`/postgres and `home`/redis: (their processes, what
    to add to `served_env`, each worker's own environment). SystemExit naming the missing Debian packages."""
    if missing := celery_services.missing_servers():
        raise SystemExit(f"EXECUTOR=celery needs {' and '.join(missing)}: apt-get install {' '.join(missing)}")
    postgres = celery_services.start_postgres(home / "postgres", home / "postgres.log", durable=durable)
    try:
        redis = celery_services.start_redis(home / "redis", home / "redis.log")
    except BaseException:
        stop(postgres.process)
        raise
    workers = {name: celery_services.worker_env(name, home / "workers") for name in celery_services.WORKERS}
    return [postgres.process, redis.process], celery_services.celery_env(postgres, redis), workers


SECRETS_FILE = "local_secrets.json"


def local_secrets(airflow_home: Path) -> dict[str, str]:
    """The api-server's JWT and session secrets, generated once into AIRFLOW_HOME (mode 0600) and reused, so a
    restart keeps everyone logged in and every token valid. Local to this machine: never a deployment's secrets."""
    path = airflow_home / SECRETS_FILE
    if path.exists():
        with suppress(ValueError, KeyError, TypeError):
            kept = json.loads(path.read_text())
            return {"jwt_secret": str(kept["jwt_secret"]), "api_secret_key": str(kept["api_secret_key"])}
    generated = {"jwt_secret": secrets.token_urlsafe(64), "api_secret_key": secrets.token_urlsafe(64)}
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(json.dumps(generated) + "\n")
    return generated


# Airflow's parts, as `airflow standalone` runs them, minus the log servers: those bind every interface on
# fixed ports (8793, 8794), and with a LocalExecutor the api-server reads task logs from disk anyway.
COMPONENTS = {
    "api-server": lambda port: ["api-server", "--host", "127.0.0.1", "--port", str(port)],
    "scheduler": lambda port: ["scheduler", "--skip-serve-logs"],
    "triggerer": lambda port: ["triggerer", "--skip-serve-logs"],
    "dag-processor": lambda port: ["dag-processor"],
}


def start_airflow(
    env: dict[str, str], port: int, workers: dict[str, dict[str, str]] | None = None
) -> list[subprocess.Popen]:
    """`airflow db migrate`, then each of COMPONENTS in its own process group, logging to AIRFLOW_HOME/<name>.log;
    then a Celery worker for each name in `workers`, with its own environment on top of `env`."""
    home = Path(env["AIRFLOW_HOME"])
    with (home / "db-migrate.log").open("w") as log:
        if subprocess.call([str(BIN / "airflow"), "db", "migrate"], env=env, stdout=log, stderr=subprocess.STDOUT):
            raise SystemExit(f"airflow db migrate failed; see {home / 'db-migrate.log'}")
    commands = [(name, arguments(port), env) for name, arguments in COMPONENTS.items()]
    commands += [
        (name, celery_services.worker_arguments(name), {**env, **own}) for name, own in (workers or {}).items()
    ]
    processes = []
    for name, arguments, environment in commands:
        process = subprocess.Popen(
            [str(BIN / "airflow"), *arguments],
            env=environment,
            stdout=(home / f"{name}.log").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process.name = name  # for _refuse_exited's message
        processes.append(process)
    return processes


def stop_airflow(processes: list[subprocess.Popen], timeout: float = 60) -> None:
    """SIGTERM to every component's process group at once; SIGKILL to what is left after `timeout` seconds."""
    for process in processes:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    alive = list(processes)
    while alive and time.monotonic() < deadline:
        time.sleep(0.5)
        alive = [process for process in alive if _group_alive(process)]
    for process in alive:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _group_alive(process: subprocess.Popen) -> bool:
    process.poll()  # reaps the leader, so an emptied group reads as gone
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    return True


def admin_password(airflow_home: Path) -> str:
    """The admin's password, generated once into the simple auth manager's file (0600) and reused."""
    path = airflow_home / "simple_auth_manager_passwords.json.generated"
    if path.exists():
        with suppress(ValueError, KeyError):
            return json.loads(path.read_text())[ADMIN]
    password = secrets.token_urlsafe(12)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(json.dumps({ADMIN: password}) + "\n")
    return password


def api(base: str, method: str, path: str, token: str | None = None, body: dict | None = None) -> dict:
    """One JSON call to the api-server at `base`; HTTPError for a non-2xx answer."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def trigger_and_wait(base: str, token: str, conf: dict, timeout: float) -> dict:
    """Trigger a run of the DAG with `conf` and wait for its end (success or failed): the API's record of it.
    SystemExit when it has not ended within `timeout` seconds."""
    runs = f"/api/v2/dags/{DAG_ID}/dagRuns"
    run_id = api(base, "POST", runs, token, {"logical_date": None, "conf": conf})["dag_run_id"]
    print(f"  triggered {run_id} with {json.dumps(conf)} …", flush=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = api(base, "GET", f"{runs}/{run_id}", token)
        if run["state"] in ("success", "failed"):
            return run
        time.sleep(3)
    raise SystemExit(f"run {run_id} did not finish within {timeout:.0f} s")


def wait_until_up(base: str, password: str, processes: list[subprocess.Popen], timeout: float = 300) -> str:
    """A bearer token once the api-server answers and the dag-processor has stored the DAG."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _refuse_exited(processes)
        with suppress(OSError, ValueError):  # not up yet; urllib's errors are OSErrors
            token = api(base, "POST", "/auth/token", body={"username": ADMIN, "password": password})["access_token"]
            api(base, "GET", f"/api/v2/dags/{DAG_ID}", token)
            return token
        time.sleep(2)
    raise SystemExit(f"Airflow did not serve {DAG_ID} within {timeout:.0f} s")


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def _refuse_exited(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is not None:
            raise SystemExit(f"airflow {process.name} exited ({process.returncode}); see its log in AIRFLOW_HOME")


EMULATOR_DATA = "emulator-data"  # in AIRFLOW_HOME: the emulator's S3 and SageMaker, kept across restarts


def seed(url: str, data: str | None) -> None:
    """The bundled sample at the DAG's default key unless a file is there already (kept from an earlier start),
    and the user's own file (`make airflow DATA=…`) beside it, never over it."""
    if seed_emulator.sample_is_seeded(url):
        print(f"Census: s3://{seed_emulator.BUCKET}/{seed_emulator.INPUT_KEY} (kept from an earlier start)", flush=True)
    else:
        print(f"Census: bundled synthetic sample -> {seed_emulator.upload_census(url)}", flush=True)
    if data:
        key = seed_emulator.own_file_key(data)
        print(f"Your census: {data} -> {seed_emulator.upload_census(url, data, key)}", flush=True)
        folder = seed_emulator.own_results_folder(key)
        print(f'  trigger {DAG_ID} with "Census file" = {key} and "Results folder" = {folder}', flush=True)


def runs_line(earlier_runs: int) -> str:
    """What the unpaused DAG does now, truthfully: a first start runs the latest 02:00 interval at once; a
    restart keeps the earlier runs and, catchup being off, runs only the latest interval if it has not run."""
    if earlier_runs == 0:
        return f"{DAG_ID} is unpaused: its run for the latest 02:00 UTC interval starts now. Trigger more from the UI."
    return (
        f"{DAG_ID} is unpaused; its {earlier_runs:,} earlier run(s) and their reports are kept. It runs nightly "
        "at 02:00 UTC (an interval missed while stopped runs now); trigger more from the UI."
    )


def _interrupt(signum: int, frame) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080, help="the UI's port on 127.0.0.1 (default 8080)")
    parser.add_argument("--home", default=str(seed_emulator.AIRFLOW_HOME), help="AIRFLOW_HOME (its database inside)")
    parser.add_argument(
        "--executor", choices=("local", "celery"), default="local",
        help="local: LocalExecutor on SQLite (default); celery: two Celery workers, Postgres and Redis",
    )  # fmt: skip
    args = parser.parse_args()
    if not port_is_free(args.port):
        raise SystemExit(f"127.0.0.1:{args.port} is in use; choose another port: make airflow PORT=8081")
    home = Path(args.home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    # Ctrl-C even when started in the background (a shell then starts us with SIGINT ignored), and SIGTERM
    # (a process manager) stop everything the same way.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    emulator, url = start_emulator(home / "emulator.log", data_dir=home / EMULATOR_DATA)
    url_file = home / seed_emulator.URL_FILE
    url_file.write_text(url + "\n")
    processes: list[subprocess.Popen] = []
    servers: list[subprocess.Popen] = []
    try:
        seed(url, os.environ.get("DATA") or None)
        password = admin_password(home)
        # 5 s polls, not 1 s: a trigger firing within a second of its deferral races the scheduler into a
        # spurious retry (bench/scheduler_soak.py shows it); a person watching the UI does not need 1 s.
        env = {**served_env(url, home, args.port), "AIRFLOW__POPSEG__CHECK_INTERVAL": "5"}
        workers: dict[str, dict] = {}
        if args.executor == "celery":
            servers, celery, workers = start_celery(home)
            env.update(celery)
            print(f"Postgres and Redis for the CeleryExecutor: {home / 'postgres'}, {home / 'redis'}", flush=True)
        print(f"Starting Airflow: {', '.join([*COMPONENTS, *workers])} (logs in {home}) …", flush=True)
        processes = start_airflow(env, args.port, workers)
        base = f"http://127.0.0.1:{args.port}"
        token = wait_until_up(base, password, processes)
        earlier = api(base, "GET", f"/api/v2/dags/{DAG_ID}/dagRuns?limit=1", token)["total_entries"]
        # Everything the DAG needs is seeded, so the run unpausing schedules (the latest interval) succeeds.
        api(base, "PATCH", f"/api/v2/dags/{DAG_ID}", token, {"is_paused": False})
        print(
            f"\nAirflow UI: {base}\nLogin: {ADMIN} / {password}\n{runs_line(earlier)}\n"
            f"Upload another census file while this runs: make upload DATA=path.csv (emulator: {url})\n"
            "Press Ctrl-C to stop Airflow and the emulator (runs, results and logins are kept in "
            f"{home}).",
            flush=True,
        )
        while True:
            _refuse_exited(processes)
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nStopping Airflow and the emulator …", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave processes behind
        stop_airflow(processes)
        for server in reversed(servers):
            stop(server)
        stop(emulator)
        url_file.unlink(missing_ok=True)
        print("Stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
