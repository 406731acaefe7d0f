"""Where the tests find the project and ../shared (golden fixtures and the real census), read in place."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHARED = PROJECT_ROOT.parent / "shared"


def shared_path(relative: str) -> Path:
    """Path of a file under ../shared, read in place and never copied.

    Skips the calling test when it is absent, except under CI=true where its absence is a failure.
    """
    path = SHARED / relative
    if not path.exists():
        reason = f"{path} is absent (../shared holds the golden fixtures and the real census)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path
