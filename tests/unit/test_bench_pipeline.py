"""bench/pipeline.py's own machinery: the synthetic census written in blocks (bounded memory at 10 M rows) is one
valid census; each task is given the peaks of the sampling intervals it overlaps (`airflow dags test`), or, under
the scheduler, the largest peak its own processes reported (bench/task_memory_plugin)."""

from __future__ import annotations

import json

import pytest

from bench import pipeline
from include.segmentation import census
from include.segmentation.synthetic import scaled_census
from tests.support import huge_pages


def test_a_census_written_in_blocks_is_one_census_of_unique_keys(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(pipeline, "GENERATE_ROWS", 1_000)
    path = pipeline.synthetic_census(2_500, tmp_path)
    frame = census.load_census(path)  # validated: unique State-County keys among them
    assert len(frame) == 2_500
    assert not list(tmp_path.glob("*.partial"))


def test_a_census_of_one_block_is_scaled_census_as_before(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(pipeline, "GENERATE_ROWS", 1_000)
    written = pipeline.synthetic_census(1_000, tmp_path).read_bytes()
    assert written == scaled_census(1_000).to_csv(index=False).encode()


def test_a_task_gets_the_peaks_of_the_intervals_it_overlaps() -> None:
    memory = pipeline.RunMemory(root=0)
    memory.intervals = [
        pipeline.Interval(0.0, 1.0, airflow_peak=100, airflow_rss=90, emulator_peak=10),
        pipeline.Interval(1.0, 2.0, airflow_peak=300, airflow_rss=120, emulator_peak=50),
        pipeline.Interval(2.0, 3.0, airflow_peak=200, airflow_rss=110, emulator_peak=20),
    ]
    assert memory.task(2.2, 2.8) == (200, 110, 20)
    assert memory.task(1.5, 2.5) == (300, 120, 50)  # a task across two intervals: the larger peak
    assert memory.airflow_peak() == 300
    assert memory.emulator_peak() == 50


def test_a_task_process_reports_its_task_and_its_own_peak_as_it_stops(tmp_path, monkeypatch) -> None:
    from types import SimpleNamespace

    from bench.task_memory_plugin import task_memory

    reports = tmp_path / "task-memory.jsonl"
    monkeypatch.setenv(task_memory.OUTPUT, str(reports))
    monkeypatch.setattr(task_memory, "_running", {})
    ti = SimpleNamespace(task_id="preprocess", map_index=-1, try_number=2, run_id="manual__1")
    task_memory.on_task_instance_running(previous_state=None, task_instance=ti)
    held = bytearray(64 << 20)  # 64 MiB touched after the task started: the peak is above the start
    task_memory.before_stopping(component=None)
    del held
    (record,) = [json.loads(line) for line in reports.read_text().splitlines()]
    assert (record["task"], record["map_index"], record["try_number"]) == ("preprocess", -1, 2)
    assert record["peak"] >= record["start_rss"] + (64 << 20) * 0.9


def test_a_task_process_reports_the_huge_pages_it_holds(tmp_path, monkeypatch) -> None:
    import ctypes
    from types import SimpleNamespace

    from bench.task_memory_plugin import task_memory

    if not huge_pages.kernel_gives_huge_pages():
        pytest.skip("this kernel gives no process transparent huge pages")
    reports = tmp_path / "task-memory.jsonl"
    monkeypatch.setenv(task_memory.OUTPUT, str(reports))
    monkeypatch.setattr(task_memory, "_running", {})
    ti = SimpleNamespace(task_id="transform_with_pca", map_index=-1, try_number=1, run_id="manual__1")
    task_memory.on_task_instance_running(previous_state=None, task_instance=ti)
    libc = ctypes.CDLL(None)
    with huge_pages.allowed():  # an in-process task may have turned them off in this test worker
        # 64 MiB of private anonymous memory advised for huge pages (as numpy advises its arrays of 4 MiB and
        # more, unless NUMPY_MADVISE_HUGEPAGE=0 was set as it was imported), touched
        size, libc.mmap.restype = 64 << 20, ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
        region = libc.mmap(None, size, 3, 0x22, -1, 0)  # PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS
        libc.madvise(ctypes.c_void_p(region), ctypes.c_size_t(size), 14)  # MADV_HUGEPAGE
        ctypes.memset(region, 1, size)
        task_memory.before_stopping(component=None)
        libc.munmap(ctypes.c_void_p(region), ctypes.c_size_t(size))
    (record,) = [json.loads(line) for line in reports.read_text().splitlines()]
    assert record["huge_pages"] >= 2 << 20


def test_a_component_that_ran_no_task_reports_nothing(tmp_path, monkeypatch) -> None:
    from bench.task_memory_plugin import task_memory

    monkeypatch.setenv(task_memory.OUTPUT, str(tmp_path / "task-memory.jsonl"))
    monkeypatch.setattr(task_memory, "_running", {})
    task_memory.before_stopping(component=None)  # the scheduler's, the dag-processor's …
    assert not (tmp_path / "task-memory.jsonl").exists()


def test_each_task_gets_the_largest_peak_of_its_processes(tmp_path) -> None:
    lines = [
        {"task": "train_pca", "peak": 200, "start_rss": 150},  # deferred …
        {"task": "train_pca", "peak": 180, "start_rss": 160},  # … and resumed in a new process
        {"task": "preprocess", "peak": 500, "start_rss": 150, "huge_pages": 4 << 20},
    ]
    path = tmp_path / "task-memory.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    processes = pipeline.TaskProcesses.read(path, {"scheduler": 100})
    assert processes.tasks == {"train_pca": (200, 150), "preprocess": (500, 150)}
    assert (processes.processes, processes.peak()) == (3, 500)
    assert processes.huge_pages == {"train_pca": 0, "preprocess": 4 << 20}
