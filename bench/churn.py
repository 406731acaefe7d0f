"""K-Means' own run-to-run churn on the real census: how many counties change segment between two trainings
on the same data, the floor under the stability gate's `max_churn`.

Run from the project root: `python bench/churn.py [--runs 10] [--k 8]`. It reads the ACS 2015 census from
../shared/data/census/acs2015_county_data.csv (skipped, with a message, when absent), prepares it as the DAG's
preprocess does (complete rows, 0–1 scaling), trains the emulator's PCA on it and keeps the components that
explain 80 % of the variance (7), as the DAG's defaults do. Then:

  emulator  the emulator's K-Means (aws_emulator/algorithms/kmeans.py, called directly, no HTTP) with the
            DAG's hyperparameters, trained --runs times: first on the rows in the census's order, then on
            shuffled copies (its seed is fixed, so only the row order changes what it finds)
  sklearn   scikit-learn's KMeans with n_init=1 and a different seed per run, for comparison

Each run's clusters are matched to the first run's with include.segmentation.continuity.match_ids (what the
DAG does against the previous published run) and compared with continuity.churn: the share of counties whose
segment changed and the adjusted Rand index. Printed per run, then the median and the largest.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
CENSUS = ROOT.parent / "shared" / "data" / "census" / "acs2015_county_data.csv"
VARIANCE_THRESHOLD = 0.80  # the DAG's default variance_threshold


def components(path: Path, k: int) -> pd.DataFrame:
    """The census's kept PCA components: (n_counties, n_kept) float32 indexed by State-County, `c_1` first."""
    from aws_emulator.algorithms.pca import PCAAlgorithm
    from include.sagemaker_formats.artifacts import read_pca_model
    from include.segmentation import analysis, census
    from include.segmentation_aws import requests

    prepared = census.prepare(path.read_bytes(), str(path), k)
    x = prepared.scaled
    algorithm = PCAAlgorithm()
    hyperparameters = requests.pca_hyperparameters(x.shape[1], len(x))
    trained = algorithm.train(algorithm.validate(_strings(hyperparameters)), x, None, _quiet, _never)
    model = read_pca_model(trained.model_tar_gz)
    kept = analysis.components_for_threshold(model.singular_values, VARIANCE_THRESHOLD)
    projected = analysis.project(x, model, kept).astype("float32")
    return pd.DataFrame(projected, index=prepared.features.index, columns=analysis.component_names(kept))


def emulator_clusters(frame: pd.DataFrame, k: int, runs: int) -> list[np.ndarray]:
    """(n,) raw clusters per run, in the frame's row order: run 0 trained on that order, the others on shuffles."""
    from aws_emulator.algorithms.kmeans import KMeansAlgorithm, KMeansPredictor
    from include.sagemaker_formats.artifacts import read_kmeans_model
    from include.segmentation_aws import requests

    x = frame.to_numpy("float32")
    algorithm = KMeansAlgorithm()
    config = algorithm.validate(_strings(requests.kmeans_hyperparameters(x.shape[1], k, len(x))))
    rng = np.random.default_rng(0)
    clusters = []
    for run in range(runs):
        order = np.arange(len(x)) if run == 0 else rng.permutation(len(x))
        trained = algorithm.train(config, x[order], None, _quiet, _never)
        predictor = KMeansPredictor(read_kmeans_model(trained.model_tar_gz))
        clusters.append(predictor.predict(x)["closest_cluster"].ravel().astype(np.int64))
    return clusters


def sklearn_clusters(frame: pd.DataFrame, k: int, runs: int) -> list[np.ndarray]:
    """(n,) clusters per run of scikit-learn's KMeans, n_init=1, seed = the run's number."""
    from sklearn.cluster import KMeans

    x = frame.to_numpy("float32")
    return [KMeans(n_clusters=k, n_init=1, random_state=seed).fit_predict(x).astype(np.int64) for seed in range(runs)]


def compare(name: str, index: pd.Index, clusters: list[np.ndarray], k: int) -> None:
    """Print each run's churn and adjusted Rand index against the first run, then the median and the largest."""
    from include.segmentation import continuity

    first = pd.Series(clusters[0], index=index)  # a first run keeps K-Means' numbering
    shares, rands = [], []
    print(f"\n{name}: {len(index):,} counties, k = {k}, each run against run 0")
    for run, raw in enumerate(clusters[1:], start=1):
        ids = continuity.match_ids(first, pd.Series(raw, index=index), k, next_id=k)
        change = continuity.churn(first, pd.Series(ids.stable(raw), index=index))
        shares.append(change.changed_share)
        rands.append(change.adjusted_rand)
        print(
            f"  run {run:2}: churn {100 * change.changed_share:5.1f} % ({change.changed:,} counties), "
            f"adjusted Rand {change.adjusted_rand:.3f}, new IDs {list(ids.new) or 'none'}"
        )
    print(
        f"  median churn {100 * statistics.median(shares):.1f} %, max {100 * max(shares):.1f} %; "
        f"median adjusted Rand {statistics.median(rands):.3f}, min {min(rands):.3f}"
    )


def _strings(hyperparameters: dict[str, object]) -> dict[str, str]:
    """As the training request carries them (requests.training_request): strings, booleans in lower case."""
    return {
        key: str(value).lower() if isinstance(value, bool) else str(value) for key, value in hyperparameters.items()
    }


def _quiet(line: str) -> None:
    """The algorithms' log lines are not wanted here."""


def _never() -> bool:
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="trainings per K-Means, the first included")
    parser.add_argument("--k", type=int, default=8, help="segments (the DAG's default: 8)")
    args = parser.parse_args()
    if not CENSUS.exists():
        print(f"{CENSUS} is absent (../shared holds the real census): nothing measured")
        return 0
    frame = components(CENSUS, args.k)
    print(f"{CENSUS.name}: {len(frame):,} complete counties, {frame.shape[1]} PCA components kept (80 % variance)")
    compare(
        "emulator K-Means (DAG hyperparameters, shuffled rows)",
        frame.index,
        emulator_clusters(frame, args.k, args.runs),
        args.k,
    )
    compare("scikit-learn KMeans (n_init=1, seeds 0…)", frame.index, sklearn_clusters(frame, args.k, args.runs), args.k)
    return 0


if __name__ == "__main__":
    sys.exit(main())
