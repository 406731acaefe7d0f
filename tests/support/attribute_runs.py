"""The extract_attributes task on a preprocessed census in a moto S3 bucket, and digests of everything it writes.

Preprocess runs as the pipeline runs it; the PCA model is made from the scaled rows' SVD and the matched segments
are made here (seeded: every cluster but the last gets counties, so that one segment is empty; segment IDs are
not K-Means' numbers; distances with ties), so that what is compared is the task's reading, statistics and
writing.

`attribute_golden.json` beside this module holds the sha256 of each file the task wrote before it streamed
(commit 113ad12) on `GOLDEN_CASES`; `python -m tests.support.attribute_runs` writes them again from the code
checked out, so that a change to what the task writes shows as a diff of that file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tests.support.preprocess_runs import GOLDEN_CASES as PREPROCESS_CASES
from tests.support.preprocess_runs import run_on, s3_bucket

GOLDEN = Path(__file__).with_name("attribute_golden.json")
KEPT = 5  # components kept for K-Means
NUM_COMPONENTS = 8  # components the PCA "trains"


def _scaled(rows: int, seed: int, missing: int) -> Callable[[], bytes]:
    def make() -> bytes:
        from include.segmentation.synthetic import scaled_census

        return scaled_census(rows, seed=seed, missing_rows=missing).to_csv(index=False).encode()

    return make


# name -> (the census's bytes, the run's params beyond bucket and keys)
GOLDEN_CASES: dict[str, tuple[Callable[[], bytes], dict]] = {
    "bundled sample": PREPROCESS_CASES["bundled sample"],
    "synthetic 100,000 rows": (_scaled(100_000, 11, 40), {"k": 8, "instance_count": 2}),
    "real census": PREPROCESS_CASES["real census"],
}


def _pca_model(run, prepared) -> bytes:
    from include.airflow_popseg import steps
    from include.sagemaker_formats.artifacts import PCAModel, write_pca_model

    blocks = []
    for block, _ in steps.scaled_blocks(run, prepared):  # the first 5,000 rows, whatever steps.READ_ROWS is
        blocks.append(block)
        if sum(len(b) for b in blocks) >= 5000:
            break
    x = np.concatenate(blocks).astype("float64")[:5000]
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    return write_pca_model(PCAModel.from_largest_first(s[:NUM_COMPONENTS], vt[:NUM_COMPONENTS].T, mean))


def matched_segments(keys, k: int, seed: int = 3):
    """A matched segments frame as match_segments writes it (State-County, segment, distance, c_1…c_KEPT,
    cluster) for `keys` in their order, and the stable ID of each cluster (by_cluster): clusters 0…k−2 only,
    IDs a shuffled, gapped numbering."""
    import pandas as pd

    from include.segmentation import analysis, results

    rng = np.random.default_rng(seed)
    rows = len(keys)
    clusters = rng.integers(0, k - 1, rows)  # the last cluster gets no county: an empty segment
    by_cluster = rng.permutation(np.arange(k) * 2 + 1)  # IDs 1, 3, 5…, in no order
    distance = np.round(rng.gamma(2.0, 0.3, rows), 2)  # rounded: ties
    frame = pd.DataFrame({"State-County": np.asarray(keys, dtype=object)})
    frame["segment"] = by_cluster[clusters]
    frame["distance"] = distance
    components = rng.standard_normal((rows, KEPT)).astype("float32")
    for i, name in enumerate(analysis.component_names(KEPT)):
        frame[name] = components[:, i]
    frame[results.CLUSTER] = clusters
    return frame, [int(i) for i in by_cluster]


def attribute_run(case: str, check: Callable | None = None, swapped: int | None = None) -> dict:
    """Preprocess `case`, then extract_attributes on made models and matched segments: {file name: sha256 of
    its bytes}. `check(run, written, matched)` is called with the task's answer and its Matched before the
    bucket goes; `swapped` swaps that row of the matched segments with the next (out of the census's order)."""
    from include.airflow_popseg import steps
    from include.sagemaker_formats.artifacts import write_kmeans_model

    make, params = GOLDEN_CASES[case]
    with s3_bucket() as client:
        run = run_on(client, make(), params)
        prepared = steps.preprocess(run)
        pca_uri = run.store.write(run.layout.work("pca-model.tar.gz"), _pca_model(run, prepared))
        k = params["k"]
        centroids = np.random.default_rng(4).standard_normal((k, KEPT)).astype("float32")
        kmeans_uri = run.store.write(run.layout.work("kmeans-model.tar.gz"), write_kmeans_model(centroids))
        keys = run.store.read_frame(prepared["counties"]).index
        segments, by_cluster = matched_segments(keys, k)
        if swapped is not None:
            segments.iloc[[swapped, swapped + 1]] = segments.iloc[[swapped + 1, swapped]].to_numpy()
        matched = {
            "segments": run.store.write_frame(run.layout.matched_segments, segments),
            "continuity": "unused",
            "changes": [],
            "segment_ids": sorted(by_cluster),
            "by_cluster": by_cluster,
        }
        del segments
        written = steps.extract_attributes(
            run,
            {"job_name": "pca-job", "model_artifact": pca_uri},
            {"job_name": "kmeans-job", "model_artifact": kmeans_uri},
            {"kept_components": KEPT, "explained": 0.9, "explained_variance": "unused"},
            prepared,
            matched,
        )
        if check is not None:
            check(run, written, matched)
        return {name: hashlib.sha256(run.store.read(uri)).hexdigest() for name, uri in sorted(written.items())}


def main() -> None:
    import sys

    cases = sys.argv[1:] or list(GOLDEN_CASES)
    golden = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
    golden.update({case: attribute_run(case) for case in cases})
    GOLDEN.write_text(json.dumps(golden, indent=2) + "\n")


if __name__ == "__main__":
    main()
