"""Allocator settings a task applies to its own process, so that the memory a streamed block frees goes back to
the system and a task's peak does not drift with the number of blocks it reads.

Each task try runs in a process of its own (every executor forks one per try), so the settings touch no other
task. Without them, on a worker with the defaults, `preprocess` peaked 14 % higher at 10 M rows than at 1 M
(463 → 528 MiB; `bench/pipeline.py --airflow scheduler --allocators default`), where with them it is flat:
- glibc's malloc serves a block of at least its mmap threshold by mmap and unmaps it when freed, but after such a
  free it raises the threshold to that block's size (up to 32 MiB), so the next blocks of that size come from
  the heap, whose top it keeps. A fixed threshold (set by mallopt, not raised) keeps returning them; two arenas
  (not 8 per core) keep the worker's threads from each holding a heap of their own.
- pyarrow's default pool (mimalloc or jemalloc) keeps the pages freed buffers leave; its system pool is
  glibc's malloc, with the settings above.
- numpy asks the kernel for transparent huge pages for every array of 4 MiB and more (madvise), and a huge page
  is resident whole, 2 MiB, however little of it is used: with the defaults each large task's process held 12 to
  38 MiB of them as it stopped, at 1 M rows (`bench/pipeline.py --airflow scheduler --allocators default`).
  NUMPY_MADVISE_HUGEPAGE=0 turns numpy's advice off, but only as numpy is imported, so the process turns them
  off for itself instead (prctl PR_SET_THP_DISABLE, Linux ≥ 3.15: no new huge pages for this process).
A deployment's own choice wins: a setting given by the environment (MALLOC_MMAP_THRESHOLD_, MALLOC_ARENA_MAX,
ARROW_DEFAULT_MEMORY_POOL, NUMPY_MADVISE_HUGEPAGE) is left as it is. Elsewhere than glibc (musl, macOS) only
Arrow's pool is set.
"""

from __future__ import annotations

import ctypes
import os
import platform

MMAP_THRESHOLD_BYTES = 1 << 20  # blocks of 1 MiB and more are mapped, and unmapped when freed
ARENAS = 2
# mallopt's parameter numbers (glibc's malloc.h), and prctl's option that turns transparent huge pages off for
# the calling process (linux/prctl.h)
_M_MMAP_THRESHOLD, _M_ARENA_MAX = -3, -8
_PR_SET_THP_DISABLE = 41

_settled = False


def return_freed_memory() -> None:
    """Apply the settings to this process, once; later calls do nothing."""
    global _settled
    if _settled:
        return
    _settled = True
    if platform.libc_ver()[0] == "glibc":
        libc = ctypes.CDLL(None)
        if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
            libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        if "MALLOC_ARENA_MAX" not in os.environ:
            libc.mallopt(_M_ARENA_MAX, ARENAS)
        if "NUMPY_MADVISE_HUGEPAGE" not in os.environ:
            # prctl is variadic: its arguments are unsigned longs, each passed whole (the kernel refuses a set
            # upper half in the unused ones). -1 (EINVAL) before Linux 3.15: nothing changes.
            libc.prctl(_PR_SET_THP_DISABLE, *(ctypes.c_ulong(value) for value in (1, 0, 0, 0)))
    if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
        import pyarrow

        pyarrow.set_memory_pool(pyarrow.system_memory_pool())
