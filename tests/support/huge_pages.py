"""Transparent huge pages in tests: whether this kernel gives any, and this process allowed to take them.

A task turns them off for its own process (include/airflow_popseg/allocators.py, prctl PR_SET_THP_DISABLE), and
the kernel keeps that flag across fork and exec: a test worker that ran a task in-process has it set, and so
has every process it starts after.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PR_SET_THP_DISABLE, PR_GET_THP_DISABLE = 41, 42  # linux/prctl.h
# A `python -c` prologue that clears the flag in a child before it imports anything.
ALLOW_IN_CHILD = f"import ctypes; ctypes.CDLL(None).prctl({PR_SET_THP_DISABLE}, *(ctypes.c_ulong(0),) * 4)\n"


def kernel_gives_huge_pages() -> bool:
    """Whether transparent huge pages are on here (`always` or `madvise`)."""
    setting = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    return setting.exists() and "[never]" not in setting.read_text()


def _prctl(option: int, value: int = 0) -> int:
    return ctypes.CDLL(None).prctl(option, ctypes.c_ulong(value), *(ctypes.c_ulong(0),) * 3)


@contextmanager
def allowed() -> Iterator[None]:
    """This process may take huge pages inside the block; the flag is as it was after it."""
    disabled = _prctl(PR_GET_THP_DISABLE)
    _prctl(PR_SET_THP_DISABLE, 0)
    try:
        yield
    finally:
        _prctl(PR_SET_THP_DISABLE, max(disabled, 0))
