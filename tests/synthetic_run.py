"""A small synthetic segmentation run, computed locally, as the report and the browser test need it."""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans

from include.sagemaker_formats.artifacts import PCAModel
from include.segmentation import analysis, census, report, results
from include.segmentation.synthetic import synthetic_census


def synthetic_run(counties: int = 300, k: int = 4) -> report.RunResults:
    """PCA by numpy and K-Means by scikit-learn on a synthetic census, shaped like published results."""
    prepared = census.prepare(synthetic_census(counties).to_csv(index=False).encode(), "s3://b/census.csv", k=k)
    x = prepared.scaled.astype("float64")
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    model = PCAModel.from_largest_first(s[:33], vt[:33].T, mean)
    variance = analysis.summarise_variance(model.singular_values, 0.8)
    n = variance.n_components
    components = results.components_frame(prepared.features.index, analysis.project(x, model, n))
    kmeans = KMeans(k, n_init=4, random_state=0).fit(components.to_numpy())
    distances = np.linalg.norm(components.to_numpy()[:, None] - kmeans.cluster_centers_[None], axis=2).min(axis=1)
    segments = results.segments_frame(
        components, {"closest_cluster": kmeans.labels_[:, None], "distance_to_cluster": distances[:, None]}
    )
    training = {"job_name": "job", "model_artifact": "s3://b/m", "billable_seconds": 3}
    counts = {"rows_in": counties, "rows": len(prepared.features), "features": 34, "input_sha256": "ab" * 32}
    run = results.run_document(
        params={"k": k},
        run_id="manual__test",
        prepared=counts,
        chosen={"kept_components": n, "explained": variance.explained},
        trainings={"pca": training, "kmeans": training},
        endpoints={"pca": "e1", "kmeans": "e2"},
        dropped=prepared.dropped,
        input_uri="s3://b/census.csv",
    )
    attributes = results.attribute_frames(model, kmeans.cluster_centers_, prepared.features, segments, k, n)
    return report.RunResults(
        run=run,
        variance=variance.to_dict(),
        features=prepared.features,
        counties=prepared.counties,
        weights=attributes["pca_components.csv"],
        centroids=attributes["centroids.csv"],
        profiles=attributes["segment_profiles.csv"],
        segments=segments,
    )
