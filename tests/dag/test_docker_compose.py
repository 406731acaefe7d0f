"""docker-compose.yaml, checked without a Docker engine: the deployment it describes is whole and points
at things that exist."""

from __future__ import annotations

import importlib.util
import json
import math
import re
import subprocess
import sys
from collections import Counter

import pytest
import yaml
from cryptography.fernet import Fernet

from aws_emulator.connection import airflow_env
from aws_emulator.server import HEALTH_PATH
from tests.support.paths import PROJECT_ROOT

AIRFLOW_SERVICES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker-1": "celery worker",
    "airflow-worker-2": "celery worker",
}
WORKERS = ("airflow-worker-1", "airflow-worker-2")


SECRET_NAME = re.compile(r"SECRET|KEY|PASSWORD|TOKEN|FERNET", re.IGNORECASE)
REQUIRED = re.compile(r"\$\{(?P<name>[A-Z][A-Z0-9_]*):\?[^}]+\}")
# The emulator's credentials are dummies by design (README: "credentials are dummies").
DUMMY_VALUES = {"testing"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((PROJECT_ROOT / "docker-compose.yaml").read_text())


def test_the_deployment_has_every_airflow_3_component_two_workers_postgres_redis_and_the_emulator(compose) -> None:
    assert set(compose["services"]) == {
        "postgres", "redis", "emulator", "emulator-init", "airflow-init", *AIRFLOW_SERVICES
    }  # fmt: skip


def test_airflow_services_run_their_component_with_the_celery_executor_on_postgres_and_redis(compose) -> None:
    for name, command in AIRFLOW_SERVICES.items():
        service = compose["services"][name]
        environment = service["environment"]
        assert service["command"] == command
        assert environment["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert environment["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
        # Results in the metadata DB through psycopg2 (SQLAlchemy 2.1's plain postgresql:// means psycopg 3).
        assert re.fullmatch(
            r"db\+postgresql\+psycopg2://airflow:.+@postgres/airflow", environment["AIRFLOW__CELERY__RESULT_BACKEND"]
        )
        assert re.fullmatch(r"redis://:.+@redis:6379/0", environment["AIRFLOW__CELERY__BROKER_URL"])
        assert {"postgres", "redis"} <= set(service["depends_on"]), name


def test_the_two_workers_have_their_own_hostnames_and_each_healthcheck_pings_its_own_celery_node(compose) -> None:
    """ti.hostname and the address the api-server reads a task's log from: one per worker, a service name."""
    workers = [compose["services"][name] for name in WORKERS]
    assert [worker["hostname"] for worker in workers] == list(WORKERS)
    for worker in workers:
        check = " ".join(worker["healthcheck"]["test"])
        assert "celery --app airflow.providers.celery.executors.celery_executor.app inspect ping" in check
        assert '-d "celery@$${HOSTNAME}"' in check
        assert worker["environment"]["DUMB_INIT_SETSID"] == "0"  # a warm shutdown lets running tasks finish


def test_the_deployment_installs_the_celery_provider_and_postgres_drivers_pinned() -> None:
    pinned = dict(
        line.split("==") for line in (PROJECT_ROOT / "requirements.txt").read_text().splitlines() if "==" in line
    )
    for name in ("apache-airflow-providers-celery", "celery[redis]", "psycopg2-binary", "asyncpg"):
        assert re.fullmatch(r"\d+(\.\d+)+", pinned.get(name, "")), name


def test_redis_keeps_nothing_requires_its_password_and_is_not_published(compose) -> None:
    redis = compose["services"]["redis"]
    assert "ports" not in redis
    command = " ".join(redis["entrypoint"])
    assert 'requirepass %s\\n" "$$REDIS_PASSWORD"' in command  # on standard input: no command line shows it
    assert '--save "" --appendonly no' in command
    assert REQUIRED.fullmatch(redis["environment"]["REDIS_PASSWORD"])
    assert redis["environment"]["REDISCLI_AUTH"] == redis["environment"]["REDIS_PASSWORD"]  # its healthcheck


def test_the_image_is_airflow_3_3_2_with_our_pinned_requirements(compose) -> None:
    service = compose["services"]["airflow-scheduler"]
    assert service["image"] == "popseg-airflow:3.3.2"
    dockerfile = (PROJECT_ROOT / service["build"]["dockerfile"]).read_text()
    assert re.search(r"^FROM apache/airflow:3\.3\.2(-python3\.11)? AS airflow$", dockerfile, re.MULTILINE)
    assert "apache-airflow==3.3.2" in (PROJECT_ROOT / "requirements.txt").read_text()


def _stage(dockerfile: str, target: str) -> str:
    """The instructions of one `FROM … AS target` stage of a multi-stage Dockerfile."""
    stages = re.split(r"^(?=FROM )", dockerfile, flags=re.MULTILINE)
    return next(stage for stage in stages if re.match(rf"FROM \S+ AS {target}$", stage, re.MULTILINE))


def test_the_airflow_image_installs_the_deployment_requirements_and_nothing_of_the_emulator(compose) -> None:
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    for name in [*AIRFLOW_SERVICES, "airflow-init"]:
        service = compose["services"][name]
        assert service["build"]["target"] == "airflow", name
        # Only dags/, include/ and plugins/ reach an Airflow container, as on MWAA or Astronomer.
        assert sorted(volume.split(":")[0] for volume in service["volumes"]) == ["./dags", "./include", "./plugins"]
    airflow_stage = _stage(dockerfile, "airflow")
    assert re.findall(r"-r (\S+)", airflow_stage) == ["/tmp/requirements.txt"]
    assert "emulator" not in airflow_stage
    for name in ("emulator", "emulator-init"):
        assert compose["services"][name]["build"]["target"] == "emulator", name
    assert re.findall(r"-r (\S+)", _stage(dockerfile, "emulator")) == ["/tmp/requirements-emulator.txt"]


def test_long_running_services_have_healthchecks(compose) -> None:
    for name, service in compose["services"].items():
        if name not in {"airflow-init", "emulator-init"}:
            assert service.get("healthcheck", {}).get("test"), name


def test_dags_include_and_plugins_are_mounted_from_the_project(compose) -> None:
    for name in AIRFLOW_SERVICES:
        mounts = dict(volume.split(":")[:2] for volume in compose["services"][name]["volumes"])
        for folder in ("dags", "include", "plugins"):
            assert mounts[f"./{folder}"] == f"/opt/airflow/{folder}"
            assert (PROJECT_ROOT / folder).is_dir()


def test_commands_point_at_modules_and_scripts_that_exist(compose) -> None:
    emulator = compose["services"]["emulator"]
    assert emulator["entrypoint"][:2] == ["python", "-m"]
    assert importlib.util.find_spec(emulator["entrypoint"][2]) is not None
    assert " ".join(compose["services"]["airflow-init"]["command"]) == "-c airflow db migrate"
    seed = compose["services"]["emulator-init"]
    (script,) = re.findall(r"/opt/airflow/(scripts/\S+\.py)", " ".join(seed["entrypoint"]))
    assert (PROJECT_ROOT / script).is_file()
    assert seed["command"] == ["--url", "http://emulator:4566"]
    assert seed["depends_on"] == {"emulator": {"condition": "service_healthy"}}


def test_the_aws_connection_points_at_the_emulator_service_with_dummy_keys(compose) -> None:
    environment = compose["services"]["airflow-scheduler"]["environment"]
    connection = json.loads(environment["AIRFLOW_CONN_AWS_DEFAULT"])
    assert connection["extra"]["endpoint_url"] == "http://emulator:4566"
    assert connection["login"] == "testing"
    assert "4566" in compose["services"]["emulator"]["command"]
    assert environment["PYTHONPATH"] == "/opt/airflow"


def test_every_airflow_service_gets_the_connection_and_role_the_python_helper_gives(compose) -> None:
    def decoded(environment: dict[str, str]) -> dict:
        return {key: json.loads(v) if key.startswith("AIRFLOW_CONN_") else v for key, v in environment.items()}

    expected = airflow_env("http://emulator:4566")
    for name in [*AIRFLOW_SERVICES, "airflow-init"]:
        environment = compose["services"][name]["environment"]
        assert decoded({key: environment.get(key) for key in expected}) == decoded(expected), name
        # No AWS_* keys: they would outlive a switch to real AWS and shadow its credential chain.
        assert not any(key.startswith("AWS_") for key in environment), name


def test_task_logs_leave_out_the_providers_repeated_credentials_line_here_and_under_make_airflow(compose) -> None:
    """One "credentials retrieved" INFO line per AWS hook (22 in a make run) says nothing new: both quiet it."""
    from scripts import local_airflow

    levels = local_airflow.airflow_env("http://emulator:4566", PROJECT_ROOT / "airflow_home")
    assert levels["AIRFLOW__LOGGING__NAMESPACE_LEVELS"] == local_airflow.QUIET_LOGGERS
    for name in AIRFLOW_SERVICES:
        environment = compose["services"][name]["environment"]
        assert environment["AIRFLOW__LOGGING__NAMESPACE_LEVELS"] == local_airflow.QUIET_LOGGERS, name


def test_ports_are_published_on_loopback_only(compose) -> None:
    for service in compose["services"].values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:")


def _environments(compose: dict) -> dict[str, dict[str, str]]:
    return {name: service.get("environment", {}) for name, service in compose["services"].items()}


def test_every_secret_is_required_from_the_environment_never_written_in_the_file(compose) -> None:
    for service, environment in _environments(compose).items():
        for name, value in environment.items():
            if SECRET_NAME.search(name):
                assert REQUIRED.fullmatch(str(value)), f"{service}: {name} must be ${{VAR:?message}}, not a literal"
        database = environment.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
        if database:
            password = re.fullmatch(r"postgresql\+psycopg2://airflow:(.+)@postgres/airflow", database).group(1)
            assert REQUIRED.fullmatch(password), service
        results = environment.get("AIRFLOW__CELERY__RESULT_BACKEND")
        if results:
            password = re.fullmatch(r"db\+postgresql\+psycopg2://airflow:(.+)@postgres/airflow", results).group(1)
            assert REQUIRED.fullmatch(password), service
        broker = environment.get("AIRFLOW__CELERY__BROKER_URL")
        if broker:
            assert REQUIRED.fullmatch(re.fullmatch(r"redis://:(.+)@redis:6379/0", broker).group(1)), service


def test_airflow_services_share_one_jwt_secret_api_key_and_fernet_key(compose) -> None:
    names = ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY", "AIRFLOW__CORE__FERNET_KEY")
    environments = _environments(compose)
    values = {tuple(environments[s][n] for n in names) for s in [*AIRFLOW_SERVICES, "airflow-init"]}
    assert len(values) == 1
    assert not any(SECRET_NAME.search(name) for name in environments["emulator"])


def test_env_example_lists_every_required_variable_with_empty_values_only(compose) -> None:
    required = set(m.group("name") for m in REQUIRED.finditer((PROJECT_ROOT / "docker-compose.yaml").read_text()))
    assignments = _dotenv((PROJECT_ROOT / ".env.example").read_text())
    assert set(assignments) == required
    assert set(assignments.values()) == {""}


class ComposeInterpolationError(ValueError):
    """What `docker compose` stops with when a `${VAR:?message}` has no value."""


# docker compose's interpolation (compose-go `template`): `$$` is a literal `$`; `${VAR:?message}` stops when VAR is
# unset or empty, `${VAR?message}` only when it is unset; `${VAR}` is VAR or "". Only these forms are in the file.
_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?\?)(?P<message>[^}]*))?\})"
)


def _interpolate(text: str, env: dict[str, str]) -> str:
    def value(match: re.Match) -> str:
        if match.group("escaped"):
            return "$"
        name, op = match.group("name"), match.group("op")
        missing = name not in env or (op == ":?" and env[name] == "")
        if op and missing:
            raise ComposeInterpolationError(f"required variable {name} is missing a value: {match.group('message')}")
        return env.get(name, "")

    return _INTERPOLATION.sub(value, text)


def _dotenv(text: str) -> dict[str, str]:
    """`NAME=value` lines as docker compose reads an env file (`NAME=` is the empty string); comments skipped."""
    return dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", text, re.MULTILINE))


def test_a_copied_env_example_is_refused_by_the_compose_files_required_variables() -> None:
    compose_text = (PROJECT_ROOT / "docker-compose.yaml").read_text()
    copied = _dotenv((PROJECT_ROOT / ".env.example").read_text())
    with pytest.raises(ComposeInterpolationError, match=r"required variable POSTGRES_PASSWORD is missing a value"):
        _interpolate(compose_text, copied)
    for name in copied:  # each one alone stops it, not only the first the file names
        with pytest.raises(ComposeInterpolationError, match=f"required variable {name} is missing a value"):
            _interpolate(compose_text, {**copied, **{other: "x" for other in copied if other != name}})


def test_a_generated_env_passes_the_compose_files_required_variables(tmp_path) -> None:
    example = (PROJECT_ROOT / ".env.example").read_text()
    one_liner = re.search(r"^#\s+(\(set -C; python3 .*)$", example, re.MULTILINE).group(1)
    subprocess.run(["bash", "-c", one_liner.replace("python3", f"'{sys.executable}'", 1)], cwd=tmp_path, check=True)
    generated = _dotenv((tmp_path / ".env").read_text())
    interpolated = yaml.safe_load(_interpolate((PROJECT_ROOT / "docker-compose.yaml").read_text(), generated))
    environment = interpolated["services"]["airflow-apiserver"]["environment"]
    assert environment["AIRFLOW__API_AUTH__JWT_SECRET"] == generated["AIRFLOW_JWT_SECRET"]
    assert f":{generated['POSTGRES_PASSWORD']}@" in environment["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]


def test_the_documented_one_liner_writes_every_secret_and_never_overwrites(compose, tmp_path) -> None:
    example = (PROJECT_ROOT / ".env.example").read_text()
    one_liner = re.search(r"^#\s+(\(set -C; python3 .*)$", example, re.MULTILINE).group(1)
    assert one_liner in (PROJECT_ROOT / "README.md").read_text()
    command = one_liner.replace("python3", f"'{sys.executable}'", 1)
    subprocess.run(["bash", "-c", command], cwd=tmp_path, check=True)
    secrets = dict(line.split("=", 1) for line in (tmp_path / ".env").read_text().splitlines())
    assert set(secrets) == set(re.findall(r"^([A-Z][A-Z0-9_]*)=", example, re.MULTILINE))
    assert len(secrets["AIRFLOW_JWT_SECRET"]) >= math.ceil(64 * 4 / 3)  # 64 random bytes, base64
    assert len(secrets["AIRFLOW_API_SECRET_KEY"]) >= math.ceil(64 * 4 / 3)
    Fernet(secrets["AIRFLOW_FERNET_KEY"].encode())  # a valid key, or this raises
    assert all(re.fullmatch(r"[A-Za-z0-9_=-]+", value) for value in secrets.values())  # safe in a database URL
    assert subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True).returncode != 0
    assert dict(line.split("=", 1) for line in (tmp_path / ".env").read_text().splitlines()) == secrets


def test_dot_env_is_ignored_by_git() -> None:
    assert subprocess.run(["git", "check-ignore", "--quiet", ".env"], cwd=PROJECT_ROOT).returncode == 0


def _entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def literal_secrets(text: str) -> list[str]:
    """Names assigned a literal that looks generated: a secret-like name, `=` or `:`, then a whole token of
    16+ characters of base64/hex alphabet mixing case or digits with high entropy (not `${VAR}`, not a dummy)."""
    found = []
    for match in re.finditer(
        # The token is a whole part of the name (`fernet_key`, `JWT_SECRET`), not inside a word (`monkeypatch`).
        r"\b(?P<name>(?:\w*_)?(?:SECRET|KEY|PASSWORD|TOKEN|FERNET)(?:_\w*)?)[\"']?\s*[:=]\s*"
        r"(?P<quote>[\"']?)(?P<value>[\w+/=.~-]{16,})(?P=quote)(?=[\s,;)}\]#]|$)",
        text,
        re.IGNORECASE,
    ):
        value = match.group("value")
        classes = sum(bool(re.search(pattern, value)) for pattern in ("[a-z]", "[A-Z]", "[0-9]"))
        if value not in DUMMY_VALUES and classes >= 2 and _entropy(value) >= 3.5:
            found.append(match.group("name"))
    return found


def test_the_scan_catches_a_committed_secret_and_passes_references() -> None:
    generated = "q3Jx0dVwV8lJm2rVfVZ1pC6qY8Xo9aKp3h5Qz7LwUeA="
    assert literal_secrets(f"AIRFLOW__API_AUTH__JWT_SECRET: {generated}\n") == ["AIRFLOW__API_AUTH__JWT_SECRET"]
    assert literal_secrets(f'fernet_key = "{generated}"') == ["fernet_key"]
    assert literal_secrets(f"AIRFLOW_FERNET_KEY={generated}") == ["AIRFLOW_FERNET_KEY"]
    assert literal_secrets("AIRFLOW__API__SECRET_KEY: ${AIRFLOW_API_SECRET_KEY:?set it}\n") == []
    assert literal_secrets('"login": "testing", "password": "testing", key = make_key(bucket_name_value)') == []
    assert literal_secrets("def record(monkeypatch: pytest.MonkeyPatch, on_call) -> None:") == []


def test_no_tracked_file_assigns_a_literal_secret() -> None:
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=PROJECT_ROOT, capture_output=True, check=True).stdout
    offenders = {}
    for name in filter(None, tracked.decode().split("\0")):
        path = PROJECT_ROOT / name
        if not path.is_file() or path.stat().st_size > 1_000_000:
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        if found := literal_secrets(text):
            offenders[name] = found
    assert offenders == {}


def test_the_emulator_healthcheck_uses_its_own_route_not_moto_api(compose) -> None:
    check = " ".join(compose["services"]["emulator"]["healthcheck"]["test"])
    assert f"http://localhost:4566{HEALTH_PATH}" in check
    assert "moto-api" not in (PROJECT_ROOT / "docker-compose.yaml").read_text()
