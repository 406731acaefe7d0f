"""A small synthetic segmentation run, computed locally, as the report and the browser test need it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans

from include.sagemaker_formats.artifacts import PCAModel
from include.segmentation import analysis, census, report, results, segment_statistics
from include.segmentation.census import KEY_NAME
from include.segmentation.scaling import MinMaxScaling
from include.segmentation.synthetic import MAX_COUNTIES, synthetic_census

KMEANS_FIT_ROWS = 20_000  # K-Means is fitted on at most this many rows, then every row is assigned


@dataclass(frozen=True)
class RunFrames:
    """What a run published, as whole frames: the files steps.build_report reads."""

    run: dict  # run.json
    variance: dict  # explained_variance.json
    features: pd.DataFrame  # (counties, 34) original units, indexed by State-County
    weights: pd.DataFrame  # pca_components.csv: feature, c_1…c_n
    centroids: pd.DataFrame  # centroids.csv: segment, counties, c_1…c_n
    profiles: pd.DataFrame  # segment_profiles.csv: segment, counties, population, per feature mean/median [unit]
    segments: pd.DataFrame  # segments.csv: State-County, segment, distance, c_1…c_n
    counties: pd.DataFrame  # counties.parquet: CensusId (county FIPS), State, County, indexed by State-County
    k_selection: dict | None = None  # k_selection.json

    def report_results(self, block_rows: int = 65_536) -> report.RunResults:
        """The report's inputs: the rows summarised a block of `block_rows` at a time, the traits and median
        distances as extract_attributes computes them (segment_statistics), from the frames in memory."""
        segments = self.segments.set_index(KEY_NAME).reindex(self.features.index)  # in the features' order
        statistics = segment_statistics.segment_statistics(
            segment_statistics.in_blocks(
                self.features, segments["segment"].to_numpy(dtype="int64"), segments["distance"].to_numpy()
            ),
            self.profiles["segment"],
        )
        return report.RunResults(
            run=self.run,
            variance=self.variance,
            weights=self.weights,
            centroids=self.centroids,
            profiles=self.profiles,
            rows=report.summarise_frames(self.features, self.counties, self.segments, block_rows),
            traits=statistics.traits,
            median_distances=segment_statistics.distance_medians_of(statistics.summary_document()),
            k_selection=self.k_selection,
        )


def build_report(frames: RunFrames) -> tuple[str, dict[str, bytes]]:
    """report.build_report of a run's frames: (report.html, {"plots/<name>.png": bytes})."""
    return report.build_report(frames.report_results())


def census_rows(rows: int) -> pd.DataFrame:
    """A synthetic census of any size: blocks of synthetic_census (seed = block number). Rows past the first block
    get CensusIds that are no county FIPS code (7 digits) and County names suffixed with their block, as a file of
    areas finer than counties would have; the first block is the real-looking county file."""
    blocks = []
    for block, start in enumerate(range(0, rows, MAX_COUNTIES)):
        frame = synthetic_census(min(MAX_COUNTIES, rows - start), seed=block, missing_rows=2 if block == 0 else 0)
        if block:
            frame["CensusId"] = 1_000_000 + start + np.arange(len(frame))
            frame["County"] = frame["County"] + f" #{block}"
        blocks.append(frame)
    return pd.concat(blocks, ignore_index=True)


def census_run(census_file: bytes, k: int = 8) -> RunFrames:
    """synthetic_run's pipeline (numpy PCA, scikit-learn K-Means) on a census file, e.g. the real one."""
    return synthetic_run(k=k, census_file=census_file)


def synthetic_run(counties: int = 300, k: int = 4, census_file: bytes | None = None) -> RunFrames:
    """PCA by numpy and K-Means by scikit-learn on a synthetic census (or `census_file`), shaped like published
    results. Up to MAX_COUNTIES rows the census goes through census.prepare as a CSV; above, through
    census.clean directly (a million-row CSV round trip would be most of the time)."""
    if census_file is not None:
        prepared = census.prepare(census_file, "s3://b/census.csv", k=k)
        counties = prepared.rows_in
    elif counties <= MAX_COUNTIES:
        prepared = census.prepare(synthetic_census(counties).to_csv(index=False).encode(), "s3://b/census.csv", k=k)
    else:
        cleaned = census.clean(census_rows(counties))
        scaling = MinMaxScaling.fit(cleaned.features)
        prepared = census.PreparedCensus(counties, cleaned.features, scaling, cleaned.dropped, cleaned.counties)
    x = prepared.scaled.astype("float64")
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    model = PCAModel.from_largest_first(s[:33], vt[:33].T, mean)
    variance = analysis.summarise_variance(model.singular_values, 0.8)
    n = variance.n_components
    components = results.components_frame(prepared.features.index, analysis.project(x, model, n))
    points = components.to_numpy()
    if len(points) > KMEANS_FIT_ROWS:
        fitted = points[np.random.default_rng(0).choice(len(points), KMEANS_FIT_ROWS, replace=False)]
    else:
        fitted = points
    kmeans = KMeans(k, n_init=4, random_state=0).fit(fitted)
    distances = kmeans.transform(points)  # (rows, k) to every centroid
    segments = results.segments_frame(
        components,
        {"closest_cluster": distances.argmin(axis=1)[:, None], "distance_to_cluster": distances.min(axis=1)[:, None]},
    )
    training = results.TrainingJob("job", "s3://b/m", billable_seconds=3)
    run = results.run_document(
        run_id="manual__test",
        params={"k": k},
        input_uri="s3://b/census.csv",
        input_sha256="ab" * 32,
        input_etag=None,
        input_version_id=None,
        rows_in=counties,
        rows=len(prepared.features),
        features=34,
        dropped=prepared.dropped,
        n_components=n,
        explained_variance=variance.explained,
        training_jobs={"pca": training, "kmeans": training},
        endpoints={"pca": "e1", "kmeans": "e2"},
    )
    attributes = results.attribute_frames(model, kmeans.cluster_centers_, prepared.features, segments, k, n)
    return RunFrames(
        run=run,
        variance=variance.to_dict(),
        features=prepared.features,
        counties=prepared.counties,
        weights=attributes["pca_components.csv"],
        centroids=attributes["centroids.csv"],
        profiles=attributes["segment_profiles.csv"],
        segments=segments,
    )
