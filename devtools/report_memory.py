"""steps.build_report in a child process of its own on a synthetic run's work files: its peak RSS, seconds and
rows, for the report's memory test (tests/unit/test_report_memory.py) and bench/report.py.

`write_run` puts the files the task reads into a directory, as the pipeline leaves them: cleaned.parquet,
counties.parquet and the matched segments at `rows` rows (row groups of different sizes, as each task writes its
own), the small tables and documents of a 3,220-row synthetic run (its segment_summary.json too: the traits
and median distances extract_attributes computes). The child reads them through LocalStore (a RunStore on
that directory: the files are not in its memory) and runs the task.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

from devtools.preprocess_memory import measured_child

PROJECT_ROOT = Path(__file__).resolve().parent.parent
K = 6
COMPONENTS = 4
# Row groups of each file: unlike sizes, so that the counties and the segments are paired across their ends.
ROW_GROUPS = {"cleaned.parquet": 65_536, "counties.parquet": 50_000, "segments-matched.parquet": 40_000}


class LocalStore:
    """The part of RunStore that steps.build_report uses, on files under `root` (URIs are paths under it)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def read(self, uri: str) -> bytes:
        return (self.root / uri).read_bytes()

    def read_json(self, uri: str) -> object:
        return json.loads(self.read(uri))

    def read_frame(self, uri: str):
        import pandas as pd

        data = io.BytesIO(self.read(uri))
        return pd.read_parquet(data) if uri.endswith(".parquet") else pd.read_csv(data)

    def open_read(self, uri: str):
        return (self.root / uri).open("rb")

    def write(self, key: str, data: bytes) -> str:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return key


def write_run(root: Path, rows: int) -> dict:
    """The work files of a run of `rows` rows under `root`: the task's arguments (handoffs) as steps hands them."""
    import numpy as np

    from devtools.synthetic_run import census_rows, synthetic_run
    from include.segmentation import census, results

    small = synthetic_run(3_220, K)
    store = LocalStore(root)
    cleaned = census.clean(census_rows(rows))
    rng = np.random.default_rng(0)
    n = len(cleaned.features)
    segments = cleaned.counties.index.to_frame(index=False)
    segments["segment"] = rng.integers(0, K, n)
    segments["distance"] = rng.uniform(0, 2, n)
    for c in range(1, COMPONENTS + 1):
        segments[f"c_{c}"] = rng.standard_normal(n)
    segments["cluster"] = segments["segment"]
    for name, frame in (
        ("cleaned.parquet", cleaned.features),
        ("counties.parquet", cleaned.counties),
        ("segments-matched.parquet", segments),
    ):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(root / name, row_group_size=ROW_GROUPS[name])
    for name in (results.WEIGHTS, results.CENTROIDS, results.PROFILES):
        attribute = {results.WEIGHTS: small.weights, results.CENTROIDS: small.centroids}.get(name, small.profiles)
        store.write(name, results.csv_bytes(attribute))
    store.write("run.json", json.dumps(small.run).encode())
    store.write("explained_variance.json", json.dumps(small.variance).encode())
    store.write("k_selection.json", b"null")
    small_results = small.report_results()
    summary = {  # what extract_attributes writes (segment_statistics.SegmentStatistics.summary_document)
        "segments": sorted(small_results.median_distances),
        "distance_medians": [small_results.median_distances[s] for s in sorted(small_results.median_distances)],
        "traits": small_results.traits.to_document(),
    }
    store.write(results.SEGMENT_SUMMARY, json.dumps(summary).encode())
    return {
        "rows": n,
        "prepared": {"cleaned": "cleaned.parquet", "counties": "counties.parquet"},
        "chosen": {"explained_variance": "explained_variance.json"},
        "chosen_k": {"selection": "k_selection.json"},
        "matched": {"segments": "segments-matched.parquet"},
        "attributes": {
            name: name for name in (results.WEIGHTS, results.CENTROIDS, results.PROFILES, results.SEGMENT_SUMMARY)
        },
        "documented": {"run.json": "run.json"},
    }


def measure(root: Path, handoffs: dict, env: dict[str, str] | None = None) -> dict:
    """steps.build_report on the run write_run put under `root`, in a fresh child: {"rows", "seconds",
    "peak_mib", "report_bytes"}. `env` adds to the child's environment (SETTLED_ALLOCATORS, say)."""
    request = json.dumps({"root": str(root), "handoffs": handoffs})
    return measured_child("devtools.report_memory", request, env=env)


def build(root: Path, handoffs: dict) -> dict:
    """steps.build_report, in this process, on the run write_run put under `root`: its answer (file name -> path
    under `root`)."""
    from types import SimpleNamespace

    from include.airflow_popseg import steps

    run = SimpleNamespace(store=LocalStore(root), layout=SimpleNamespace(work=lambda name: f"out/{name}"))
    names = ("prepared", "chosen", "chosen_k", "matched", "attributes", "documented")
    return steps.build_report(run, *(handoffs[name] for name in names))


def _child(request: dict) -> None:
    import logging
    import time

    logging.disable(logging.WARNING)  # the task's log lines would go to stdout, where the result goes
    root, handoffs = Path(request["root"]), request["handoffs"]
    wall = time.perf_counter()
    written = build(root, handoffs)
    seconds = time.perf_counter() - wall
    report = (root / written["report.html"]).stat().st_size
    print(json.dumps({"rows": handoffs["rows"], "seconds": seconds, "report_bytes": report}))


if __name__ == "__main__":
    _child(json.loads(sys.argv[1]))
