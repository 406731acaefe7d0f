"""The SageMaker Python SDK v2 in a virtualenv of its own, and running a script with it against the emulator.

The SDK v2 pins packages (attrs, protobuf, packaging) older than Airflow's, so it cannot share .venv; the
first use makes .venv-sdk-v2/ from requirements-sdk-v2.txt (about a minute), later uses reuse it while that
file is unchanged. Test processes running side by side (pytest-xdist) make it one at a time: the first takes
.venv-sdk-v2.lock and builds, the others wait on the lock and then find it made.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from aws_emulator.connection import credentials_env
from tests.support.paths import PROJECT_ROOT

REQUIREMENTS = PROJECT_ROOT / "requirements-sdk-v2.txt"
VENV = PROJECT_ROOT / ".venv-sdk-v2"
LOCK = PROJECT_ROOT / ".venv-sdk-v2.lock"  # beside the venv, not in it: `venv --clear` empties the venv
INSTALL_TIMEOUT_SECONDS = 900  # a cold install downloads the SDK and its dependencies


def sdk_v2_python() -> Path:
    """The interpreter of .venv-sdk-v2/, made or remade when requirements-sdk-v2.txt changed."""
    python = VENV / "bin" / "python"
    stamp = VENV / ".installed"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    with _exclusive(LOCK):  # another process may be making it: wait, then check again
        if stamp.exists() and stamp.read_text() == wanted and python.exists():
            return python
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)],
            check=True,
            timeout=INSTALL_TIMEOUT_SECONDS,
            env=_clean_env(),
        )
        stamp.write_text(wanted)
    return python


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` (made if absent) for the block, across processes; the kernel drops it when
    its holder dies, so a killed run leaves nothing to clean up."""
    with path.open("a") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        yield


def run_with_sdk_v2(script: Path, endpoint_url: str, *args: str, timeout: float = 600) -> str:
    """stdout of `script` run by the SDK v2's interpreter, every AWS client of it pointed at the emulator
    (AWS_ENDPOINT_URL, the dummy keys); fails with its stderr's tail when it exits non-zero."""
    env = {**_clean_env(), **credentials_env(), "AWS_ENDPOINT_URL": endpoint_url, "SAGEMAKER_SUPPRESS_V2_WARNING": "1"}
    done = subprocess.run(
        [str(sdk_v2_python()), str(script), *args], capture_output=True, text=True, timeout=timeout, env=env
    )
    if done.returncode != 0:
        raise AssertionError(f"{script.name} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return done.stdout


def _clean_env() -> dict[str, str]:
    """The environment without this virtualenv's traces, so the other interpreter imports only its own."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
