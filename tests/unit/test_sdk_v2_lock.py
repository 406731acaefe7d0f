"""Test processes running side by side (pytest-xdist) make the SDK v2's virtualenv one at a time."""

from __future__ import annotations

import subprocess
import sys

from tests.support.sdk_v2 import _exclusive

# A second process asks for the same lock without waiting: it says whether it got it.
_TRY_LOCK = """
import fcntl, sys
with open(sys.argv[1], "a") as file:
    try:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print("held elsewhere")
    else:
        print("taken")
"""


def _other_process_tries(path) -> str:
    return subprocess.run([sys.executable, "-c", _TRY_LOCK, str(path)], capture_output=True, text=True).stdout.strip()


def test_while_one_process_makes_the_venv_another_cannot_take_the_lock(tmp_path) -> None:
    lock = tmp_path / ".venv-sdk-v2.lock"
    with _exclusive(lock):
        assert _other_process_tries(lock) == "held elsewhere"
    assert _other_process_tries(lock) == "taken"
