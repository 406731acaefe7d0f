"""A k sweep's k_selection.json for a synthetic run, as choose_k writes it: scikit-learn's K-Means per k on the
run's components, measured by k_choice, with SageMaker's test:msd and test:ssd as it reports them when the test
channel is the training rows (the mean and the sum of the squared distances to the nearest centroid)."""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans

from devtools.synthetic_run import RunFrames
from include.segmentation import k_choice


def sweep_metrics(results: RunFrames, ks: list[int]) -> list[k_choice.CandidateMetrics]:
    """One CandidateMetrics per k, from K-Means fitted (seed 0) on the run's segments' c_* columns."""
    components = results.segments.filter(regex=r"^c_\d+$").to_numpy(dtype="float64")
    metrics = []
    for k in ks:
        centroids = KMeans(k, n_init=2, random_state=0).fit(components).cluster_centers_
        within_ss, silhouette, sizes = k_choice.measure(components, centroids)
        msd = within_ss / len(components)
        metrics.append(
            k_choice.CandidateMetrics(
                k=k,
                job_name=f"popseg-kmeans-k{k}-manual-test",
                test_msd=msd,
                test_ssd=within_ss,
                train_msd=float(np.float32(msd)),  # as the log line prints it
                within_ss=within_ss,
                silhouette=silhouette,
                sizes=sizes,
            )
        )
    return metrics


def selection(results: RunFrames, ks: list[int], rule: str) -> dict:
    """k_selection.json of a sweep over `ks` chosen by `rule` (one k: fixed)."""
    metrics = sweep_metrics(results, ks)
    return k_choice.selection_document(metrics, k_choice.choose(metrics, rule))
