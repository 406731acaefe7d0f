"""A task settles its process's allocators before it reads a row (include/airflow_popseg/allocators.py): memory a
freed block held goes back to the system, where glibc's raised mmap threshold kept it, and Arrow allocates from
the system pool; a setting the deployment gives in the environment is left as it is. Each case in a fresh child:
the settings are process-wide."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.huge_pages import ALLOW_IN_CHILD, kernel_gives_huge_pages
from tests.support.paths import PROJECT_ROOT

# Frees an 8 MiB block (glibc then raises its mmap threshold past 8 MiB), then allocates and frees 8 MiB in 2 MiB
# blocks under a small live one: prints the MiB of RSS the freed blocks still hold and Arrow's pool.
PROBE = """
import sys
from pathlib import Path
import numpy as np
def rss():
    status = Path("/proc/self/status").read_text().splitlines()
    return int(next(line for line in status if line.startswith("VmRSS")).split()[1]) << 10
if sys.argv[1] == "settled":
    from include.airflow_popseg import allocators
    allocators.return_freed_memory()
big = np.ones(1 << 20); del big
before = rss()
blocks = [np.ones(1 << 18) for _ in range(4)]
small = np.ones(16)
del blocks
import pyarrow
print((rss() - before) >> 20, pyarrow.default_memory_pool().backend_name)
"""
ALLOCATOR_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_ARENA_MAX", "ARROW_DEFAULT_MEMORY_POOL")


def _probe(mode: str, **env: str) -> tuple[int, str]:
    environment = {k: v for k, v in os.environ.items() if k not in ALLOCATOR_SETTINGS}
    environment.update(PYTHONPATH=str(PROJECT_ROOT), **env)
    output = subprocess.run(
        [sys.executable, "-c", PROBE, mode], env=environment, capture_output=True, text=True, check=True
    ).stdout.split()
    return int(output[0]), output[1]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc and /proc are Linux's")
def test_blocks_freed_after_a_large_one_stay_in_the_process_by_default() -> None:
    held, pool = _probe("default")
    assert held >= 6  # of the 8 MiB freed: the case the settings are for
    assert pool != "system"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc and /proc are Linux's")
def test_a_settled_process_gives_freed_blocks_back_and_allocates_arrow_from_the_system_pool() -> None:
    held, pool = _probe("settled")
    assert held <= 1
    assert pool == "system"


def test_the_deployments_own_settings_are_left_as_they_are() -> None:
    _, pool = _probe("settled", ARROW_DEFAULT_MEMORY_POOL="mimalloc")
    assert pool == "mimalloc"


# Touches a 64 MiB numpy array (numpy advises huge pages for it) and prints the MiB of it in huge pages.
# It first clears the "no huge pages" flag it may inherit from this test worker (tests.support.huge_pages), so
# that it starts as a worker's task process does.
HUGE_PROBE = (
    ALLOW_IN_CHILD
    + """
import sys
from pathlib import Path
import numpy as np
if sys.argv[1] == "settled":
    from include.airflow_popseg import allocators
    allocators.return_freed_memory()
block = np.ones(8 << 20)
rollup = Path("/proc/self/smaps_rollup").read_text().splitlines()
print(int(next(line for line in rollup if line.startswith("AnonHugePages")).split()[1]) >> 10)
"""
)


def _huge_pages(mode: str, **env: str) -> int:
    environment = {k: v for k, v in os.environ.items() if k not in (*ALLOCATOR_SETTINGS, "NUMPY_MADVISE_HUGEPAGE")}
    environment.update(PYTHONPATH=str(PROJECT_ROOT), **env)
    return int(
        subprocess.run(
            [sys.executable, "-c", HUGE_PROBE, mode], env=environment, capture_output=True, text=True, check=True
        ).stdout
    )


@pytest.mark.skipif(not kernel_gives_huge_pages(), reason="this kernel gives no process transparent huge pages")
def test_a_settled_process_takes_no_huge_pages_for_numpys_arrays() -> None:
    assert _huge_pages("default") >= 8  # of the 64 MiB: numpy's advice, taken
    assert _huge_pages("settled") == 0


@pytest.mark.skipif(not kernel_gives_huge_pages(), reason="this kernel gives no process transparent huge pages")
def test_a_deployment_that_sets_numpys_huge_page_advice_keeps_it() -> None:
    assert _huge_pages("settled", NUMPY_MADVISE_HUGEPAGE="1") >= 8
