"""A real `airflow api-server` for the view's tests: its users, a token for each, and GETs that keep errors."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests.support.paths import PROJECT_ROOT


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    status, _, body = http_response(url, headers)
    return status, body


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs) -> None:
        return None  # the redirect itself is the answer


# How long a request may wait for the api-server's answer: a guard against a server that hangs, not a measure.
# A view's first request loads its modules and reads S3, which took 8-17 s with two test workers and other work
# on two cores; 10 s failed tests there.
REQUEST_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 60  # then it is killed: a test's own failure, not its server's slow exit, is what it reports


def http_response(
    url: str, headers: dict[str, str] | None = None, follow: bool = True, timeout: float = REQUEST_TIMEOUT_SECONDS
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of a GET, also for error statuses; `follow=False` answers a redirect itself.
    Header names as the api-server sends them: lower case."""
    opener = urllib.request.build_opener() if follow else urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=timeout) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


# Users of the api-server tests: a viewer (read access to every DAG) and a user with no role, who can
# authenticate but may read nothing. Their passwords are the user names.
API_USERS = {"viewer": "viewer", "nobody": ""}


@contextlib.contextmanager
def running_api_server(aws_env: dict, log_dir: Path, **extra_env: str) -> Iterator[str]:
    """A real `airflow api-server` on a free loopback port with the API_USERS; yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    passwords = log_dir / "passwords.json"
    passwords.write_text(json.dumps({user: user for user in API_USERS}))
    env = {
        **os.environ,
        **aws_env,
        "PYTHONPATH": str(PROJECT_ROOT),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, r in API_USERS.items()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        **extra_env,
    }
    with (log_dir / "api-server.log").open("w") as log:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "airflow"), "api-server", "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(240):
                if server.poll() is not None:  # e.g. another process took the port between the probe and its bind
                    log_file = log_dir / "api-server.log"
                    raise RuntimeError(f"the api-server on port {port} exited {server.returncode}; see {log_file}")
                with contextlib.suppress(OSError):
                    if http_get(f"{base}/api/v2/version")[0] == 200:
                        break
                time.sleep(0.5)
            yield base
        finally:
            server.terminate()  # it first finishes the requests under way, which take seconds on a busy machine
            try:
                server.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def api_token(base: str, user: str) -> str:
    """A JWT for one of the API_USERS, from the simple auth manager's token endpoint."""
    request = urllib.request.Request(
        f"{base}/auth/token",
        data=json.dumps({"username": user, "password": user}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as answer:
        return json.loads(answer.read())["access_token"]
