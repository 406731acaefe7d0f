"""The emulator serves InvokeEndpoint calls of one endpoint side by side, as SageMaker's instances do, and
`endpoints.transform` with several requests in flight answers what one at a time answers."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from include.sagemaker_formats.recordio import decode_labels, encode_dense
from include.segmentation_aws import endpoints
from tests.support.sagemaker_requests import PCA_IMAGE, REGION, deploy

CALLERS = 4


class _GatedPredictor:
    """Wraps an endpoint's predictor: each call waits until CALLERS calls are inside predict at once.

    Were the emulator to serialise invocations, the first call would wait alone and the barrier break."""

    def __init__(self, predictor) -> None:
        self.predictor = predictor
        self.feature_dim = predictor.feature_dim
        self.barrier = threading.Barrier(CALLERS, timeout=30)
        self.broken = False

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        try:
            self.barrier.wait()
        except threading.BrokenBarrierError:
            self.broken = True
        return self.predictor.predict(x)


def _invoke(runtime, endpoint: str, rows: np.ndarray) -> np.ndarray:
    """One InvokeEndpoint as the DAG's tasks make it (endpoints.invoker): rows -> projections."""
    return decode_labels(endpoints.invoker(runtime, endpoint)(encode_dense(rows)))["projection"]


def test_invocations_of_one_endpoint_run_at_the_same_time_and_answer_as_sequential_ones(
    emulator, sagemaker, runtime, pca_job
) -> None:
    name = deploy(
        sagemaker, f"pca-parallel-{uuid.uuid4().hex[:6]}", PCA_IMAGE, pca_job["ModelArtifacts"]["S3ModelArtifacts"]
    )
    rng = np.random.default_rng(11)
    blocks = [rng.random((500, 6), dtype=np.float32) for _ in range(CALLERS)]
    sequential = [_invoke(runtime, name, rows) for rows in blocks]

    deployment = emulator.backends[REGION].endpoints[name].deployment
    gated = _GatedPredictor(deployment.predictor)
    deployment.predictor = gated
    try:
        with ThreadPoolExecutor(max_workers=CALLERS) as pool:
            concurrent = list(pool.map(lambda rows: _invoke(runtime, name, rows), blocks))
    finally:
        deployment.predictor = gated.predictor
        sagemaker.delete_endpoint(EndpointName=name)

    assert not gated.broken, "the emulator served the invocations one at a time"
    for alone, together in zip(sequential, concurrent, strict=True):
        assert np.array_equal(alone, together)


def test_transform_with_requests_in_flight_equals_one_at_a_time(runtime, pca_endpoint) -> None:
    rows = np.random.default_rng(12).random((5000, 6), dtype=np.float32)
    invoke = endpoints.invoker(runtime, pca_endpoint)
    one_at_a_time = endpoints.transform(rows, invoke, max_bytes=20_000, concurrency=1)
    in_flight = endpoints.transform(rows, invoke, max_bytes=20_000, concurrency=8)
    assert np.array_equal(in_flight["projection"], one_at_a_time["projection"])
