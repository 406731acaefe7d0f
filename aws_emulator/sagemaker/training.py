"""Runs training jobs in a worker pool: channels from S3, the built-in algorithm, the artifact back to S3,
the container's log lines to CloudWatch Logs and the metrics read from them to CloudWatch, through the
real lifecycle of statuses."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from botocore.exceptions import ClientError as BotoClientError

from aws_emulator.algorithms import ClientError, TrainingStopped, algorithm_for_image
from aws_emulator.algorithms.channels import decode_channel
from aws_emulator.aws_clients import AwsClients, S3Error, parse_s3_uri
from aws_emulator.sagemaker.latency import LatencyProfile, wait_until
from aws_emulator.sagemaker.metrics import NAMESPACE, MetricScanner
from aws_emulator.sagemaker.models import TRAINING_NON_TERMINAL, SageMakerBackends, TrainingJob, TransformJob

log = logging.getLogger("popseg.emulator.training")
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
TRAINING_WORKERS = 16
"""Jobs that train at once. SageMaker runs every job on instances of its own, so a k sweep's mapped jobs
(at most 12 candidates) train side by side; 16 leaves room for a PCA job or a retry beside a full sweep.
Jobs beyond this queue in `Starting`. The jobs of a sweep are small (the components of the counties);
the pipeline's large jobs (PCA on the full table) run one at a time."""


class JobLog:
    """The container's stdout: lines buffered and flushed to `group` (`/aws/sagemaker/TrainingJobs` for a
    training job, `/aws/sagemaker/TransformJobs` for a transform job); once the
    algorithm is known (`metrics` set), each line is also scanned with its metric definitions and the
    values found go to CloudWatch metrics on each flush, as SageMaker sends them."""

    def __init__(self, clients: AwsClients, job: TrainingJob | TransformJob, group: str = LOG_GROUP) -> None:
        self.client = clients.client("logs", job.region)
        self.cloudwatch = clients.client("cloudwatch", job.region)
        self.job_name = job.name
        self.group = group
        self.stream = f"{job.name}/algo-1-{int(job.creation_time)}"
        self.pending: list[dict[str, Any]] = []
        self.created = False
        self.metrics: MetricScanner | None = None

    def write(self, line: str) -> None:
        now = time.time()
        self.pending.append({"timestamp": int(now * 1000), "message": line})
        if self.metrics is not None:
            self.metrics.scan(line, now)

    def flush(self) -> None:
        try:
            if not self.created:
                with contextlib.suppress(self.client.exceptions.ResourceAlreadyExistsException):
                    self.client.create_log_group(logGroupName=self.group)
                self.client.create_log_stream(logGroupName=self.group, logStreamName=self.stream)
                self.created = True
            while self.pending:
                batch, self.pending = self.pending[:5000], self.pending[5000:]
                self.client.put_log_events(logGroupName=self.group, logStreamName=self.stream, logEvents=batch)
        except BotoClientError:
            log.exception("could not write the log of %s", self.stream)
        if self.metrics is None:
            return
        try:
            for batch in self.metrics.take_datapoints(self.job_name):
                self.cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=batch)
        except BotoClientError:
            log.exception("could not send the metrics of %s to CloudWatch", self.job_name)


class TrainingRunner:
    def __init__(
        self,
        backends: SageMakerBackends,
        clients: AwsClients,
        workers: int = TRAINING_WORKERS,
        latency: LatencyProfile | None = None,
    ) -> None:
        """`latency`: each secondary status lasts at least its modelled share (`_step` waits it out)."""
        self.backends = backends
        self.clients = clients
        self.latency = latency
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="emulator-training")

    def submit(self, job: TrainingJob) -> None:
        self.pool.submit(self._run, job)

    def shutdown(self) -> None:
        """Ask running jobs to stop, drop queued ones, and wait for the workers to end."""
        for backend in list(self.backends.values()):
            with backend.lock:
                for job in backend.training_jobs.values():
                    if job.status in TRAINING_NON_TERMINAL:
                        job.stop_reason = job.stop_reason or "Stopped"
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _run(self, job: TrainingJob) -> None:
        job_log = JobLog(self.clients, job)
        try:
            self._train(job, job_log)
        except TrainingStopped:
            self._stopped(job)
        except (ClientError, S3Error) as exc:
            self._failed(job, f"ClientError: {exc}")
        except Exception as exc:  # an algorithm fault must fail the job, never the server
            log.exception("training job %s failed unexpectedly", job.name)
            self._failed(job, f"AlgorithmError: {type(exc).__name__}: {exc}")
        finally:
            job_log.flush()

    def _train(self, job: TrainingJob, job_log: JobLog) -> None:
        request = job.request
        if self.latency is not None:
            phases = self.latency.training_phases(job.name)
            with self.backends[job.region].lock:
                job.modelled_phases, job.latency_scale = phases, self.latency.scale
            log.info("training job %s: modelled AWS seconds %s", job.name, phases)
        self._step(job, note="Launching requested ML instances")
        algorithm = algorithm_for_image(request["AlgorithmSpecification"]["TrainingImage"])
        with self.backends[job.region].lock:
            job.metric_definitions = algorithm.metric_definitions
        job_log.metrics = MetricScanner(algorithm.metric_definitions)
        config = algorithm.validate(request.get("HyperParameters", {}))
        self._step(job, note="Preparing the instances for training")
        self._check_stop(job)

        self._step(job, status="Downloading", message="Downloading input data", training_started=True)
        instances = int(request["ResourceConfig"].get("InstanceCount", 1))
        if instances > 1:
            job_log.write(f"Distributed training on {instances} instances, algo-1 to algo-{instances}")
        channels = {
            c["ChannelName"]: self._read_channel(c, instances, job_log) for c in request.get("InputDataConfig", [])
        }
        if "train" not in channels:
            raise ClientError(f"No 'train' channel among the input channels ({', '.join(channels) or 'none'})")
        self._check_stop(job)

        self._step(job, status="Training", message="Downloading the training image")
        self._step(job, note="Training image download completed. Training in progress.")
        job_log.write(f"Running {algorithm.name} on {channels['train'].shape[0]} records in the train channel")
        job_log.flush()
        output = algorithm.train(
            config, channels["train"], channels.get("test"), job_log.write, lambda: self._should_stop(job)
        )
        job_log.flush()

        self._step(job, status="Uploading", message="Uploading generated training model")
        self.clients.write(job.model_artifact_uri, output.model_tar_gz)
        self._check_stop(job)
        self._wait_out_status(job)
        with self.backends[job.region].lock:
            job.final_metrics = job_log.metrics.final_metric_data_list()
            job.finish("Completed", "Completed", "Training job completed")
        log.info("training job %s Completed", job.name)

    def _read_channel(self, channel: dict[str, Any], instances: int, job_log: JobLog) -> np.ndarray:
        """(n_rows, d) float32 of every object of the channel, whatever its S3DataDistributionType.

        Sharded or not, the built-in PCA and K-Means merge what each instance summarised of its shard into
        one model of all the data, so one process training on the union gives that model. Fewer objects
        than instances is no error on SageMaker (the extra instances get no data and are billed idle):
        the job's log says so.
        """
        source = channel["DataSource"]["S3DataSource"]
        uri, kind = source["S3Uri"], source["S3DataType"]
        if kind == "S3Prefix":
            uris = self.clients.list_keys(uri)
        elif kind == "ManifestFile":
            uris = _manifest_uris(self.clients.read(uri), uri)
        elif kind == "S3Object":
            uris = [uri]
        else:
            raise ClientError(f"S3DataType {kind} is not supported for built-in algorithms")
        if not uris:
            raise ClientError(f"No S3 objects found under the {channel['ChannelName']!r} channel's S3Uri {uri}")
        if source.get("S3DataDistributionType") == "ShardedByS3Key" and instances > 1:
            name = channel["ChannelName"]
            job_log.write(f"Channel {name!r}: {len(uris)} S3 objects sharded by key over {instances} instances")
            if len(uris) < instances:
                job_log.write(
                    f"Channel {name!r}: {instances - len(uris)} of {instances} instances get no data "
                    f"(fewer S3 objects than instances) and are billed idle"
                )
        blobs = [self.clients.read(u) for u in uris]
        return decode_channel(blobs, channel.get("ContentType"), channel["ChannelName"])

    def _step(
        self, job: TrainingJob, status: str | None = None, message: str = "", note: str = "", training_started=False
    ) -> None:
        if status:
            self._wait_out_status(job)
        with self.backends[job.region].lock:
            if training_started:
                job.training_start_time = time.time()
            if status:
                job.transition(status, message)
            if note:
                job.note(note)

    def _wait_out_status(self, job: TrainingJob) -> None:
        """Under a latency profile, stay in the current secondary status until its modelled share
        (`modelled / scale`) has passed since it began; TrainingStopped if a stop comes meanwhile."""
        with self.backends[job.region].lock:
            current = job.transitions[-1]
            modelled = job.modelled_phases.get(current["Status"])
            if modelled is None or self.latency is None:
                return
            deadline = current["StartTime"] + self.latency.real(modelled)
        if not wait_until(deadline, lambda: self._should_stop(job)):
            raise TrainingStopped()

    def _should_stop(self, job: TrainingJob) -> bool:
        limit = job.request["StoppingCondition"].get("MaxRuntimeInSeconds")
        with self.backends[job.region].lock:
            if job.stop_reason is None and limit and time.time() - job.creation_time > int(limit):
                job.stop_reason = "MaxRuntimeExceeded"
            return job.stop_reason is not None

    def _check_stop(self, job: TrainingJob) -> None:
        if self._should_stop(job):
            raise TrainingStopped()

    def _stopped(self, job: TrainingJob) -> None:
        with self.backends[job.region].lock:
            if job.stop_reason == "MaxRuntimeExceeded":
                limit = job.request["StoppingCondition"]["MaxRuntimeInSeconds"]
                job.finish("Stopped", "MaxRuntimeExceeded", f"Training job reached its MaxRuntimeInSeconds ({limit} s)")
            else:
                job.finish("Stopped", "Stopped", "Training job stopped")
        log.info("training job %s Stopped (%s)", job.name, job.stop_reason)

    def _failed(self, job: TrainingJob, reason: str) -> None:
        with self.backends[job.region].lock:
            job.finish("Failed", "Failed", "Training job failed", failure_reason=reason[:1024])
        log.info("training job %s Failed: %s", job.name, reason)


def _manifest_uris(manifest: bytes, uri: str) -> list[str]:
    """The objects an SDK `record_set()` manifest lists: `[{"prefix": …}, "key", …]`."""
    try:
        entries = json.loads(manifest)
        prefix = entries[0]["prefix"]
        keys = entries[1:]
        parse_s3_uri(prefix)
    except (ValueError, KeyError, IndexError, TypeError, S3Error) as exc:
        raise ClientError(f"Manifest {uri} is not a list starting with a {{'prefix': …}} object: {exc}") from exc
    return [prefix.rstrip("/") + "/" + str(key).lstrip("/") for key in keys]
