"""The match_segments and choose_k tasks on synthetic assignments in a moto S3 bucket, with a previous published
run whose segments.csv shares most counties (so that churn is exercised), and digests of what they write.

`match_golden.json` beside this module holds the digests of the tasks as they were before they streamed (commit
113ad12, both reading their inputs whole); `python -m tests.support.match_runs` writes them again from the code
checked out, so that a change to what the tasks write shows as a diff of that file.

The previous run's keys: most of this run's, some gone, some new in this run, and keys a spreadsheet would run as
a formula (written with csv_bytes' leading `'`, as a published segments.csv has them), non-ASCII ones and one that
starts with a `'` of its own.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np

GOLDEN = Path(__file__).with_name("match_golden.json")
PREVIOUS_RUN = "scheduled__previous"
COMPONENTS = 5
CANDIDATES = (3, 4, 5, 6)  # the k sweep choose_k measures
# Keys a spreadsheet would run (csv_bytes quotes them) or that look like it, and non-ASCII ones.
ODD_KEYS = ("=SUM(A1)-County", "+1-County", "-dash-County", "@at-County", "\tTab-County", "＝full width-County",
            "'quoted-County", "Ñandú-County", "'=quoted formula-County")  # fmt: skip

GONE_KEYS = ("=GONE()-County", "@gone-County", "'-gone-County")  # the previous run's only

# name -> (rows of this run, k of this run, the previous run's segments: None for a prefix's first run)
GOLDEN_CASES = {
    "3,220 rows, previous run": (3_220, 8, "previous"),
    "3,220 rows, first run": (3_220, 8, None),
    "120,000 rows, previous run": (120_000, 7, "previous"),
}


def keys(rows: int, seed: int) -> list[str]:
    """`rows` distinct State-County keys, ODD_KEYS among them, in a seeded order."""
    rng = np.random.default_rng(seed)
    plain = [f"State {i % 53:02d}-County {i:07d}" for i in range(rows - len(ODD_KEYS))]
    every = np.array(plain + list(ODD_KEYS), dtype=object)
    return every[rng.permutation(rows)].tolist()


def assignments(rows: int, k: int, seed: int = 3):
    """This run's segments.parquet frame (State-County, segment, distance, c_1…c_n) and components frame
    (c_1…c_n by State-County): components around k centres, each county's nearest centre its segment."""
    import pandas as pd

    from include.segmentation.census import KEY_NAME

    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (k, COMPONENTS))
    truth = rng.integers(0, k, rows)
    components = centres[truth] + rng.normal(0, 1.2, (rows, COMPONENTS))
    squared = ((components[:, None, :] - centres[None]) ** 2).sum(axis=2)
    index = pd.Index(keys(rows, seed), name=KEY_NAME)
    frame = pd.DataFrame(components, index=index, columns=[f"c_{i + 1}" for i in range(COMPONENTS)])
    segments = frame.reset_index()
    segments.insert(1, "segment", squared.argmin(axis=1).astype(int))
    segments.insert(2, "distance", np.sqrt(squared.min(axis=1)))
    return segments, frame


def previous_segments(segments, k: int, seed: int = 11):
    """A previous run's published segments (State-County, CensusId, segment, distance, segment_label): 95 % of
    this run's counties (two of ODD_KEYS new in this run), 2 % counties this run no longer has (GONE_KEYS among
    them), segments numbered with gaps (IDs 0…k+2, as after retirements), 10 % of the shared counties in another
    segment. Also the first ID no run has used."""
    import pandas as pd

    from include.segmentation.census import KEY_NAME

    rng = np.random.default_rng(seed)
    rows = len(segments)
    kept = segments[rng.random(rows) < 0.95]
    kept = kept[~kept[KEY_NAME].isin(ODD_KEYS[:2])]
    gone = pd.DataFrame({KEY_NAME: [f"Gone {i:06d}-County" for i in range(rows // 50)] + list(GONE_KEYS)})
    gone["segment"] = rng.integers(0, k, len(gone))
    gone["distance"] = rng.random(len(gone))
    previous = pd.concat([kept[[KEY_NAME, "segment", "distance"]], gone], ignore_index=True)
    previous = previous.iloc[rng.permutation(len(previous))].reset_index(drop=True)
    ids = rng.permutation(k + 3)[: k + 1]  # k + 1 segments then: one retires, one is new now, or the other way
    old = previous["segment"].to_numpy() % len(ids)
    moved = rng.random(len(previous)) < 0.10
    old[moved] = rng.integers(0, len(ids), moved.sum())
    previous["segment"] = ids[old]
    previous.insert(1, "CensusId", [f"{i:05d}" for i in range(len(previous))])
    previous["segment_label"] = [f"Label, {i % 4}" for i in previous["segment"]]
    return previous, int(ids.max()) + 2


def run_case(client, case: str) -> SimpleNamespace:
    """The bucket holding `case`'s inputs; the run, its handoffs and the tasks' arguments."""
    from tests.support.preprocess_runs import BUCKET

    rows, k, previous = GOLDEN_CASES[case]
    return stage(client, BUCKET, rows, k, previous is not None)


def stage(client, bucket: str, rows: int, k: int, previous: bool, run_id: str = "manual__match") -> SimpleNamespace:
    """This run's segments.parquet (`rows` rows, k clusters), components and CANDIDATES' K-Means models in
    `bucket`, and with `previous` a previous published run's segments.csv: the run, its handoffs and the tasks'
    arguments (`handoffs`: the same as JSON, for a child process)."""
    from include.airflow_popseg.steps import _FrameWriter
    from include.sagemaker_formats.artifacts import write_kmeans_model
    from include.segmentation import results
    from include.segmentation_aws.layout import SEGMENTS, results_prefix

    run = run_of(client, bucket, run_id)
    store = run.store
    segments, components = assignments(rows, k)
    with store.open_write(run.layout.segments) as sink, _FrameWriter(sink, index=False) as frames:
        for start in range(0, rows, 50_000):  # row groups, as assign_segments writes them
            frames.write(segments.iloc[start : start + 50_000].reset_index(drop=True))
    comparison = {"previous_run": None, "previous_results": None, "previous_next_id": 0}
    if previous:
        published, next_id = previous_segments(segments, k)
        prefix = results_prefix("seg", PREVIOUS_RUN)
        store.write(prefix + SEGMENTS, results.csv_bytes(published))
        store.write_json(run.layout.segment_ids, {"next_id": next_id + 1})
        comparison = {
            "previous_run": PREVIOUS_RUN, "previous_results": store.uri(prefix), "previous_next_id": next_id,
            "previous_rows": len(published),
        }  # fmt: skip
    rng = np.random.default_rng(5)
    trainings = []
    for candidate in CANDIDATES:
        centroids = components.to_numpy()[rng.choice(rows, candidate, replace=False)]
        uri = store.write(f"models/kmeans-{candidate}/model.tar.gz", write_kmeans_model(centroids))
        trainings.append(
            {"job_name": f"kmeans-{candidate}", "model_artifact": uri, "hyperparameters": {"k": str(candidate)},
             "final_metrics": {"test:msd": 1.0 / candidate, "test:ssd": 100.0 / candidate}}
        )  # fmt: skip
    with store.open_write(run.layout.components) as sink, _FrameWriter(sink) as frames:
        for start in range(0, rows, 50_000):  # row groups, as the transform writes them
            frames.write(components.iloc[start : start + 50_000])
    transformed = {"components": store.uri(run.layout.components), "train_prefix": "unused"}
    handoffs = {
        "run_id": run_id, "k": k, "comparison": comparison, "trainings": trainings, "transformed": transformed,
        "assigned": {"segments": store.uri(run.layout.segments)},
    }  # fmt: skip
    return SimpleNamespace(
        run=run, handoffs=handoffs, **{key: value for key, value in handoffs.items() if key != "run_id"}
    )


def run_of(client, bucket: str, run_id: str) -> SimpleNamespace:
    """A run of the tasks' shape (params, layout, store) on `bucket` through the S3 client `client`."""
    from include.segmentation_aws.layout import RunLayout
    from include.segmentation_aws.names import RunNames
    from include.segmentation_aws.store import RunStore

    names = RunNames.for_run(run_id)
    return SimpleNamespace(
        params={"bucket": bucket, "output_prefix": "seg", "k_rule": "silhouette"}, run_id=run_id,
        layout=RunLayout(bucket, "seg", run_id, names.token), names=names, store=RunStore(client, bucket),
    )  # fmt: skip


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def match_digests(case: str) -> dict:
    """choose_k, then match_segments with the case's k, on `case`: sha256 of k_selection.json, continuity.json and
    segment_changes.csv/.parquet as bytes, of the matched segments frame as read back (`frame_digest`), and the
    Matched handoff's IDs."""
    from include.airflow_popseg import steps
    from tests.support.preprocess_runs import frame_digest, s3_bucket

    with s3_bucket() as client:
        made = run_case(client, case)
        run, store = made.run, made.run.store
        chosen = steps.choose_k(run, made.trainings, made.transformed)
        matched = steps.match_segments(run, made.assigned, made.comparison, {"k": made.k})
        return {
            "k_selection": _sha(store.read(chosen["selection"])),
            "chosen_k": chosen["k"],
            "matched segments": frame_digest(store.read(matched["segments"])),
            "continuity": _sha(store.read(matched["continuity"])),
            "changes": [_sha(store.read(uri)) for uri in matched["changes"]],
            "segment_ids": matched["segment_ids"],
            "by_cluster": matched["by_cluster"],
        }


def main() -> None:
    GOLDEN.write_text(json.dumps({case: match_digests(case) for case in GOLDEN_CASES}, indent=2) + "\n")


if __name__ == "__main__":
    main()


def duplicated_previous_digests() -> dict:
    """match_segments on the 3,220-row case whose previous segments.csv has ODD_KEYS[0] twice (guarded, as
    csv_bytes writes it)."""
    import pandas as pd

    from include.airflow_popseg import steps
    from include.segmentation import results
    from include.segmentation.census import KEY_NAME
    from include.segmentation_aws.layout import SEGMENTS
    from tests.support.preprocess_runs import s3_bucket

    with s3_bucket() as client:
        made = run_case(client, "3,220 rows, previous run")
        store, uri = made.run.store, f"{made.comparison['previous_results']}{SEGMENTS}"
        twice = pd.DataFrame({KEY_NAME: [ODD_KEYS[0], "A-County", ODD_KEYS[0]], "segment": [1, 2, 3]})
        store.write(uri, results.csv_bytes(twice))
        return steps.match_segments(made.run, made.assigned, made.comparison, {"k": made.k})
