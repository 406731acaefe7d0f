"""The classic notebook's path, with plain boto3 against the emulator, on the real census."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from include.sagemaker_formats.artifacts import read_kmeans_model, read_pca_model
from include.sagemaker_formats.recordio import decode_labels, encode_dense
from tests.support.sagemaker_requests import KMEANS_IMAGE, PCA_IMAGE, deploy, training_request, wait_for_job

PAYLOAD_BYTES = 5_000_000


def _artifact(s3, uri: str) -> bytes:
    bucket, key = uri[len("s3://") :].split("/", 1)
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def _transform(runtime, endpoint: str, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Every row through the endpoint in RecordIO-protobuf payloads under 5 MB."""
    per_row = len(encode_dense(rows[:1]))
    step = max(1, PAYLOAD_BYTES // per_row)
    parts: list[dict[str, np.ndarray]] = []
    for start in range(0, len(rows), step):
        body = encode_dense(rows[start : start + step])
        assert len(body) < PAYLOAD_BYTES
        answer = runtime.invoke_endpoint(
            EndpointName=endpoint,
            ContentType="application/x-recordio-protobuf",
            Accept="application/x-recordio-protobuf",
            Body=body,
        )
        parts.append(decode_labels(answer["Body"].read()))
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


@pytest.mark.slow
def test_notebook_path_reproduces_its_figures_and_leaves_nothing(census_csv, s3, sagemaker, runtime, unique) -> None:
    counties = pd.read_csv(census_csv).dropna()
    counties.index = counties["State"] + "-" + counties["County"]
    features = counties.drop(columns=["CensusId", "State", "County"])
    scaled = ((features - features.min()) / (features.max() - features.min())).to_numpy("float32")
    assert scaled.shape == (3218, 34)

    bucket = unique("notebook")
    s3.create_bucket(Bucket=bucket)

    def train(algorithm: str, image: str, rows: np.ndarray, hyperparameters: dict[str, str]) -> dict:
        """Upload the rows as RecordIO, train on them, wait; the completed job's description."""
        s3.put_object(Bucket=bucket, Key=f"{algorithm}/train.rec", Body=encode_dense(np.ascontiguousarray(rows)))
        name = unique(algorithm)
        sagemaker.create_training_job(
            **training_request(name, image, hyperparameters, f"s3://{bucket}/{algorithm}/", f"s3://{bucket}/models/")
        )
        job = wait_for_job(sagemaker, name)
        assert job["TrainingJobStatus"] == "Completed"
        return job

    pca_job = train("pca", PCA_IMAGE, scaled, {"feature_dim": "34", "mini_batch_size": "500", "num_components": "33"})
    model = read_pca_model(_artifact(s3, pca_job["ModelArtifacts"]["S3ModelArtifacts"]))
    assert np.allclose(model.singular_values[:7], [19.59, 13.04, 11.72, 10.18, 7.99, 7.70, 6.39], atol=0.01)
    shares = model.singular_values**2 / np.sum(model.singular_values**2)
    assert shares[:7].sum() == pytest.approx(0.8017, abs=0.0005)

    pca_endpoint = deploy(sagemaker, unique("pca-endpoint"), PCA_IMAGE, pca_job["ModelArtifacts"]["S3ModelArtifacts"])
    projection = _transform(runtime, pca_endpoint, scaled)["projection"]
    assert np.allclose(projection, (scaled - model.mean) @ model.v, atol=1e-4)
    components = projection[:, ::-1][:, :7]  # c_1 = largest

    kmeans_job = train("kmeans", KMEANS_IMAGE, components, {"feature_dim": "7", "k": "8", "mini_batch_size": "500"})
    centroids = read_kmeans_model(_artifact(s3, kmeans_job["ModelArtifacts"]["S3ModelArtifacts"]))
    kmeans_endpoint = deploy(
        sagemaker, unique("kmeans-endpoint"), KMEANS_IMAGE, kmeans_job["ModelArtifacts"]["S3ModelArtifacts"]
    )
    assignment = _transform(runtime, kmeans_endpoint, np.ascontiguousarray(components))
    distances = np.linalg.norm(components[:, None, :] - centroids[None], axis=2)
    assert np.array_equal(assignment["closest_cluster"].ravel().astype(int), distances.argmin(axis=1))
    assert np.allclose(assignment["distance_to_cluster"].ravel(), distances.min(axis=1), atol=1e-4)
    assert len(np.unique(assignment["closest_cluster"])) == 8

    for name in (pca_endpoint, kmeans_endpoint):
        sagemaker.delete_endpoint(EndpointName=name)
        sagemaker.delete_endpoint_config(EndpointConfigName=name)
        sagemaker.delete_model(ModelName=name)
    for name in (pca_endpoint, kmeans_endpoint):
        sagemaker.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig={"Delay": 1})
        assert not sagemaker.list_endpoints(NameContains=name)["Endpoints"]
        assert not sagemaker.list_endpoint_configs(NameContains=name)["EndpointConfigs"]
        assert not sagemaker.list_models(NameContains=name)["Models"]
