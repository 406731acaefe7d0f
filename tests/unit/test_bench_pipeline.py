"""bench/pipeline.py's own machinery: the synthetic census written in blocks (bounded memory at 10 M rows) is one
valid census, and each task is given the peaks of the sampling intervals it overlaps."""

from __future__ import annotations

from bench import pipeline
from include.segmentation import census
from include.segmentation.synthetic import scaled_census


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
