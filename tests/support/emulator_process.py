"""The emulator as `python -m aws_emulator` runs it: a child process on a free loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.paths import PROJECT_ROOT


@contextmanager
def emulator_process(*args: str) -> Iterator[tuple[subprocess.Popen, str]]:
    """`python -m aws_emulator --port 0 ARGS`; yields (the process, its URL) and kills it if it still runs."""
    process = subprocess.Popen(
        [sys.executable, "-m", "aws_emulator", "--port", "0", *args],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    try:
        first = process.stdout.readline().strip()
        assert first.startswith("popseg AWS emulator listening on http://127.0.0.1:"), first
        yield process, first.rsplit(" ", 1)[1]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
