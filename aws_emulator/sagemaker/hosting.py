"""Brings endpoints up and down in a worker pool: the model artifact is fetched from S3 and loaded by
its built-in algorithm; Creating/Updating/Deleting each take a short real time, so waiters see them, or
under a latency profile (`latency.py`) their modelled AWS time divided by its scale."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from aws_emulator.algorithms import ClientError, ModelLoadError, algorithm_for_image
from aws_emulator.algorithms.base import Predictor
from aws_emulator.aws_clients import AwsClients, S3Error
from aws_emulator.sagemaker.latency import LatencyProfile, wait_until
from aws_emulator.sagemaker.models import Deployment, Endpoint, SageMakerBackends

log = logging.getLogger("popseg.emulator.hosting")


class Hosting:
    def __init__(
        self,
        backends: SageMakerBackends,
        clients: AwsClients,
        transition_seconds: float = 0.5,
        workers: int = 4,
        latency: LatencyProfile | None = None,
    ) -> None:
        """`latency`: Creating/Updating and Deleting last their modelled share instead of `transition_seconds`."""
        self.backends = backends
        self.clients = clients
        self.transition_seconds = transition_seconds
        self.latency = latency
        self._stopping = threading.Event()
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="emulator-hosting")

    def deploy(self, endpoint: Endpoint, deployment: Deployment) -> None:
        """Load the deployment's model, then put the endpoint InService (or Failed, with the reason)."""
        self.pool.submit(self._deploy, endpoint, deployment)

    def delete(self, endpoint: Endpoint) -> None:
        self.pool.submit(self._delete, endpoint)

    def shutdown(self) -> None:
        """Let transitions under way finish (each takes about `transition_seconds`), so saved state is whole;
        under a latency profile they finish at once rather than after minutes."""
        if self.latency is not None:
            self._stopping.set()
        self.pool.shutdown(wait=True)

    def load(self, deployment: Deployment) -> None:
        """Load synchronously (used when restoring endpoints from disk)."""
        deployment.predictor = load_predictor(self.clients, deployment.model)
        deployment.resolution_time = time.time()

    def _deploy(self, endpoint: Endpoint, deployment: Deployment) -> None:
        backend = self.backends[endpoint.region]
        started = time.time()
        seconds = self.transition_seconds
        if self.latency is not None:
            modelled = self.latency.endpoint_creating(endpoint.name, deployment.config_name)
            seconds = self.latency.real(modelled)
            log.info("endpoint %s: modelled AWS seconds to InService %s", endpoint.name, modelled)
        try:
            self.load(deployment)
        except (ClientError, ModelLoadError) as exc:
            self._wait(started + seconds)
            backend.deployment_failed(endpoint, f"Failed to deploy the model: {exc}")
            log.info("endpoint %s failed: %s", endpoint.name, exc)
            return
        except Exception as exc:  # a broken artifact must fail the endpoint, never the server
            log.exception("endpoint %s failed unexpectedly", endpoint.name)
            backend.deployment_failed(endpoint, f"Failed to deploy the model: {type(exc).__name__}: {exc}")
            return
        self._wait(started + seconds)
        backend.deployed(endpoint, deployment)
        log.info("endpoint %s InService", endpoint.name)

    def _delete(self, endpoint: Endpoint) -> None:
        seconds = self.transition_seconds
        if self.latency is not None:
            seconds = self.latency.real(self.latency.endpoint_deleting(endpoint.name))
        self._wait(time.time() + seconds)
        self.backends[endpoint.region].remove_endpoint(endpoint)
        log.info("endpoint %s deleted", endpoint.name)

    def _wait(self, deadline: float) -> None:
        wait_until(deadline, self._stopping.is_set)


def load_predictor(clients: AwsClients, model: dict) -> Predictor:
    """The built-in predictor of a model (its DescribeModel): the artifact read from S3 and loaded by the
    algorithm of the container's image. Endpoints and transform jobs load models this one way.

    Raises ClientError (no built-in image, no ModelDataUrl, no object there) or ModelLoadError."""
    container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
    algorithm = algorithm_for_image(container.get("Image", ""))
    uri = container.get("ModelDataUrl")
    if not uri:
        raise ClientError("The model has no ModelDataUrl")
    try:
        artifact = clients.read(uri)
    except S3Error as exc:
        raise ClientError(f"Could not find model data at {uri}.") from exc
    return algorithm.load(artifact)
