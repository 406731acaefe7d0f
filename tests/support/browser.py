"""Headless Chromium for tests that read a page as a person does: Debian's chromium at /usr/bin/chromium driven
by Playwright. Without them a test skips, except under CI=true where it must run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
# Chromium as root in a sandbox without a network: no sandbox, no GPU, no background traffic.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip


def sync_playwright_or_skip():
    """playwright.sync_api.sync_playwright, or skip (fail under CI=true) when Chromium or Playwright is missing."""
    missing = [
        what for what, ok in (("chromium", Path(CHROMIUM).exists()), ("playwright", _has_playwright())) if not ok
    ]
    if missing:
        reason = f"browser test needs {' and '.join(missing)} ({CHROMIUM}, pip playwright)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    return sync_playwright


def _has_playwright() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True
