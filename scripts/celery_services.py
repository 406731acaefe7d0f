"""What a distributed Airflow needs besides Airflow, on this machine: a private Postgres (the metadata DB and
Celery's result backend) and a private Redis (Celery's broker), each on a free loopback port with its own
password, and the environment that turns `airflow_env` into a CeleryExecutor deployment with named workers.

`make airflow EXECUTOR=celery` (scripts/local_airflow.py) and tests/dag/test_celery_executor.py use it.
Debian's packages provide the servers: postgresql (binaries in /usr/lib/postgresql/<version>/bin) and
redis-server. Postgres refuses to run as root, so under root its processes run as the `postgres` user.

`hostname()` is the workers' [core] hostname_callable: two workers on one machine would otherwise record the
same `ti.hostname`. It is imported by every task process, so this module imports nothing heavy at the top.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

# The worker names `make airflow EXECUTOR=celery` and the test start: two, as docker-compose.yaml does.
WORKERS = ("worker-1", "worker-2")
WORKER_HOSTNAME_VARIABLE = "POPSEG_WORKER_HOSTNAME"
HOSTNAME_CALLABLE = "scripts.celery_services.hostname"
# Two task processes per worker: a run has at most 3 tasks ready at once, and each is ≈ 200 MB.
WORKER_CONCURRENCY = 2
POSTGRES_USER = "postgres"  # Debian's unprivileged user for the server when we are root
DATABASE = "airflow"
START_TIMEOUT_SECONDS = 60  # initdb plus the first start take ≈ 3 s; a loaded CI machine, much longer


def hostname() -> str:
    """This worker's name (POPSEG_WORKER_HOSTNAME), else the machine's, as Airflow's default getfqdn gives it."""
    return os.environ.get(WORKER_HOSTNAME_VARIABLE) or socket.getfqdn()


def postgres_bin() -> Path | None:
    """The folder of Debian's newest Postgres server binaries, or one on PATH; None when not installed."""
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True):
        if (folder / "initdb").is_file() and (folder / "postgres").is_file():
            return folder
    found = shutil.which("initdb")
    return Path(found).parent if found and (Path(found).parent / "postgres").is_file() else None


def redis_server() -> str | None:
    return shutil.which("redis-server")


def missing_servers() -> list[str]:
    """What of postgresql and redis-server is not installed here (their Debian package names)."""
    return [name for name, found in (("postgresql", postgres_bin()), ("redis-server", redis_server())) if not found]


def _secret(path: Path) -> str:
    """A password generated once into `path` (0600) and reused, so a restart finds the same database."""
    import secrets

    if path.exists() and (kept := path.read_text().strip()):
        return kept
    password = secrets.token_urlsafe(24)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(password + "\n")
    return password


def free_port() -> int:
    """A loopback port nothing listens on now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Postgres:
    process: subprocess.Popen
    port: int
    password: str

    @property
    def url(self) -> str:
        """SQLAlchemy's URL for Airflow's metadata DB."""
        return f"postgresql+psycopg2://airflow:{self.password}@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def result_backend(self) -> str:
        """Celery's database result backend, in the same database (as the official docker-compose does)."""
        return f"db+postgresql+psycopg2://airflow:{self.password}@127.0.0.1:{self.port}/{DATABASE}"


def _as_server_user() -> dict:
    """Popen's arguments that run a Postgres binary unprivileged: as `postgres` when we are root."""
    return {"user": POSTGRES_USER, "group": POSTGRES_USER} if os.geteuid() == 0 else {}


def _own(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, POSTGRES_USER, POSTGRES_USER)


def start_postgres(folder: Path, log_path: Path, durable: bool = True) -> Postgres:
    """Postgres with its cluster in `folder`/data (created on first use; user `airflow`, password kept in
    `folder`/password), serving 127.0.0.1 on a free port, password-only (scram-sha-256), no other socket
    than one in its data folder. `durable=False` turns off fsync for throw-away clusters (tests)."""
    binaries = postgres_bin()
    if binaries is None:
        raise SystemExit("Postgres is not installed: apt-get install postgresql")
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o711)  # the server user walks into it; nothing in it is listed
    if os.geteuid() == 0 and (closed := [p for p in folder.resolve().parents if not p.stat().st_mode & 0o001]):
        raise SystemExit(
            f"Postgres runs as {POSTGRES_USER}, who cannot enter {closed[0]}: choose a folder it can reach"
        )
    password = _secret(folder / "password")
    data = folder / "data"
    if not (data / "PG_VERSION").exists():
        data.mkdir(mode=0o700, exist_ok=True)
        _own(data)
        pwfile = folder / "initdb-password"
        pwfile.write_text(password + "\n")
        pwfile.chmod(0o600)
        _own(pwfile)
        try:
            initdb = subprocess.run(
                [binaries / "initdb", "-D", data, "-U", "airflow", f"--pwfile={pwfile}", "--auth=scram-sha-256",
                 "--encoding=UTF8", "--locale=C", *(() if durable else ("--no-sync",))],
                capture_output=True, text=True, cwd=folder, **_as_server_user(),
            )  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)
        if initdb.returncode:
            raise SystemExit(f"initdb failed for {data}: {initdb.stderr.strip()[-500:]}")
    port = free_port()
    settings = ["-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={data}"]
    if not durable:
        settings += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    process = subprocess.Popen(
        [binaries / "postgres", "-D", data, "-p", str(port), *settings],
        stdout=log_path.open("w"), stderr=subprocess.STDOUT, cwd=folder, start_new_session=True,
        **_as_server_user(),
    )  # fmt: skip
    postgres = Postgres(process, port, password)
    _create_database(postgres, log_path)
    return postgres


def _create_database(postgres: Postgres, log_path: Path) -> None:
    """Waits for the server to accept the password, then creates the `airflow` database unless it exists."""
    import psycopg2

    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        if postgres.process.poll() is not None:
            raise SystemExit(f"Postgres exited ({postgres.process.returncode}); see {log_path}")
        try:
            connection = psycopg2.connect(
                host="127.0.0.1", port=postgres.port, user="airflow", password=postgres.password, dbname="postgres"
            )
            break
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"Postgres did not accept connections within {START_TIMEOUT_SECONDS} s; see {log_path}"
                ) from None
            time.sleep(0.2)
    connection.autocommit = True  # CREATE DATABASE runs outside a transaction
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
            if cursor.fetchone() is None:
                cursor.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        connection.close()


@dataclass
class Redis:
    process: subprocess.Popen
    port: int
    password: str

    @property
    def url(self) -> str:
        """Celery's broker URL (database 0)."""
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"


def start_redis(folder: Path, log_path: Path) -> Redis:
    """redis-server on 127.0.0.1 and a free port, with a password and no persistence: queued Celery messages do
    not outlive it (the scheduler queues again what was lost). Its configuration, password included, goes in on
    standard input, so no command line shows the password."""
    import redis

    server = redis_server()
    if server is None:
        raise SystemExit("redis-server is not installed: apt-get install redis-server")
    folder.mkdir(parents=True, exist_ok=True)
    password, port = _secret(folder / "redis-password"), free_port()
    process = subprocess.Popen(
        [server, "-"],
        stdin=subprocess.PIPE,
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        cwd=folder,
    )
    process.stdin.write(
        f'bind 127.0.0.1\nport {port}\nrequirepass {password}\nsave ""\nappendonly no\ndir {folder}\n'
        "protected-mode yes\n"
    )
    process.stdin.close()
    client = redis.Redis(host="127.0.0.1", port=port, password=password, socket_timeout=2)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        if process.poll() is not None:
            raise SystemExit(f"redis-server exited ({process.returncode}); see {log_path}")
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"redis-server did not answer within {START_TIMEOUT_SECONDS} s; see {log_path}"
                ) from None
            time.sleep(0.1)
    client.close()
    return Redis(process, port, password)


def celery_env(postgres: Postgres, redis: Redis) -> dict[str, str]:
    """What `served_env` changes for a CeleryExecutor on `postgres` and `redis` (every component takes it)."""
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres.url,
        "AIRFLOW__CELERY__BROKER_URL": redis.url,
        "AIRFLOW__CELERY__RESULT_BACKEND": postgres.result_backend,
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": HOSTNAME_CALLABLE,
    }


def worker_env(name: str, folder: Path) -> dict[str, str]:
    """One worker's own name and its own temporary folder: tasks on two workers share nothing but the metadata
    DB and S3, as on two machines, so a file one task leaves in /tmp for another is not found here either."""
    tmp = folder / name / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    return {WORKER_HOSTNAME_VARIABLE: name, "TMPDIR": str(tmp)}


def worker_arguments(name: str) -> list[str]:
    """`airflow celery worker` as `name`, without the log server (it binds every interface on one fixed port;
    here the api-server reads task logs from AIRFLOW_HOME, which both workers write)."""
    return ["celery", "worker", "--celery-hostname", f"{name}@%h", "--skip-serve-logs"]
