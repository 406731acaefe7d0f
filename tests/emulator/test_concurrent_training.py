"""Mapped training jobs overlap: a k sweep's jobs all train at once, as on SageMaker, instead of queueing."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from aws_emulator.algorithms import ALGORITHMS
from aws_emulator.connection import client
from aws_emulator.sagemaker.training import TRAINING_WORKERS
from aws_emulator.server import running_emulator
from include.sagemaker_formats.recordio import encode_dense
from tests.support.sagemaker_requests import KMEANS_IMAGE, REGION, training_request, wait_for_job

SWEEP_JOBS = 14  # the most candidates a sweep trains (12), and a PCA job and a retry beside them
BARRIER_SECONDS = 120  # far above the time 14 small jobs need to reach training; only a queue waits this long


class _TrainsTogether:
    """The built-in K-Means, whose `train` waits until `parties` jobs are training at the same moment:
    a job that is queued behind the others breaks the barrier, and every job fails naming it."""

    def __init__(self, parties: int) -> None:
        self.inner = ALGORITHMS["kmeans"]
        self.name = self.inner.name
        self.metric_definitions = self.inner.metric_definitions
        self.barrier = threading.Barrier(parties, timeout=BARRIER_SECONDS)

    def validate(self, hyperparameters):
        return self.inner.validate(hyperparameters)

    def train(self, config, train, test, log, should_stop):
        self.barrier.wait()
        return self.inner.train(config, train, test, log, should_stop)

    def load(self, model_tar_gz):
        return self.inner.load(model_tar_gz)


def test_the_pool_trains_a_full_sweep_at_once() -> None:
    assert TRAINING_WORKERS >= SWEEP_JOBS


@pytest.mark.slow
def test_jobs_submitted_together_are_all_training_at_the_same_time(monkeypatch) -> None:
    monkeypatch.setitem(ALGORITHMS, "kmeans", _TrainsTogether(SWEEP_JOBS))
    rows = np.random.default_rng(0).normal(size=(500, 4)).astype("float32")
    with running_emulator() as emulator:
        s3, sagemaker = client("s3", emulator.endpoint_url, REGION), client("sagemaker", emulator.endpoint_url, REGION)
        s3.create_bucket(Bucket="sweep")
        s3.put_object(Bucket="sweep", Key="train/part-0.rec", Body=encode_dense(rows))
        names = [f"kmeans-k{k}" for k in range(2, 2 + SWEEP_JOBS)]
        for k, name in enumerate(names, start=2):
            hyperparameters = {"feature_dim": "4", "k": str(k)}
            sagemaker.create_training_job(
                **training_request(name, KMEANS_IMAGE, hyperparameters, "s3://sweep/train/", "s3://sweep/models/")
            )
        jobs = [wait_for_job(sagemaker, name) for name in names]
    assert [(j["TrainingJobStatus"], j.get("FailureReason")) for j in jobs] == [("Completed", None)] * SWEEP_JOBS
    training = [next(t for t in j["SecondaryStatusTransitions"] if t["Status"] == "Training") for j in jobs]
    # Every job entered Training before any job left it.
    assert max(t["StartTime"] for t in training) < min(t["EndTime"] for t in training)
