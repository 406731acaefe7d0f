"""A listener for `bench/pipeline.py --airflow scheduler`: the peak RSS of every task process, as it stops.

Loaded only by that bench (its AIRFLOW__CORE__PLUGINS_FOLDER is this folder; the project's plugins/ holds the
Segmentation view, which a run does not need). Airflow 3's task runner runs each try of a task in a process of
its own, forked by the worker's supervisor, and a deferred task resumes in a new one; in that process
`on_task_instance_running` notes which task it runs and its RSS then, and `before_stopping`, the task runner's
last hook (called for every end: success, failure, retry, deferral), appends one JSON line to the file
$POPSEG_TASK_MEMORY: the task, its map index and try, the process's peak RSS (VmHWM in /proc/self/status: the
kernel's high-water mark since the fork, exact however short the peak), its RSS at the task's start and the
transparent huge pages it holds as it stops (AnonHugePages in /proc/self/smaps_rollup: 2 MiB pages, counted whole
in its RSS however little of each is used), bytes.
Appends of one short line with O_APPEND do not interleave between processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import ClassVar

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

OUTPUT = "POPSEG_TASK_MEMORY"
_running: dict = {}  # this process's task (one per task process)


def _status() -> dict[str, int]:
    """This process's VmHWM and VmRSS, bytes."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            fields[name] = int(value.split()[0]) * 1024
    return fields


def _huge_pages() -> int:
    """This process's anonymous memory in transparent huge pages, bytes (0 where the kernel does not say)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
            name, _, value = line.partition(":")
            if name == "AnonHugePages":
                return int(value.split()[0]) * 1024
    return 0


@hookimpl
def on_task_instance_running(previous_state, task_instance) -> None:
    _running.update(
        task=task_instance.task_id,
        map_index=task_instance.map_index,
        try_number=task_instance.try_number,
        run_id=task_instance.run_id,
        pid=os.getpid(),
        start_rss=_status().get("VmRSS", 0),
    )


@hookimpl
def before_stopping(component) -> None:
    path = os.environ.get(OUTPUT)
    if not path or _running.get("pid") != os.getpid():
        return  # not a task process the bench watches (or one that never started its task)
    line = json.dumps({**_running, "peak": _status().get("VmHWM", 0), "huge_pages": _huge_pages()}) + "\n"
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(descriptor, line.encode())
    finally:
        os.close(descriptor)


class TaskMemoryPlugin(AirflowPlugin):
    name = "popseg_bench_task_memory"
    listeners: ClassVar[list[ModuleType]] = [sys.modules[__name__]]
