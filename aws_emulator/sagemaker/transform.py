"""Runs batch transform jobs in a worker pool: the model's built-in predictor over every S3 object of the
input, one `.out` object per input object, through InProgress to Completed, Failed or Stopped.

Each input object is split (`SplitType`) into records, the records are packed into requests
(`BatchStrategy`) of at most `MaxPayloadInMB`, and each request goes through the same parsing, prediction
and rendering as InvokeEndpoint (`inference_formats`), with the job's `ContentType` and `Accept`. The
answers are assembled (`AssembleWith`) into `<S3OutputPath>/<path relative to the input prefix>.out`, written
only once the whole object succeeded. An object that fails is logged and the others still run; the job then
fails with SageMaker's "ClientError: See job logs for more information". DataProcessing filters and
joins the records around each request (`data_processing.py`). The job's log goes to
`/aws/sagemaker/TransformJobs` with the `[sagemaker logs]` lines SageMaker writes there.
"""

from __future__ import annotations

import datetime
import json
import logging
import struct
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from aws_emulator.algorithms import ClientError, ModelLoadError
from aws_emulator.algorithms.base import Predictor
from aws_emulator.aws_clients import AwsClients, S3Error, parse_s3_uri
from aws_emulator.inference_formats import InvalidRequest, parse_request, render_response
from aws_emulator.sagemaker.data_processing import DataProcessing, RecordsMismatch
from aws_emulator.sagemaker.hosting import load_predictor
from aws_emulator.sagemaker.latency import LatencyProfile, wait_until
from aws_emulator.sagemaker.models import TRANSFORM_NON_TERMINAL, SageMakerBackends, TransformJob
from aws_emulator.sagemaker.training import JobLog, _manifest_uris
from include.sagemaker_formats.recordio import MAGIC

log = logging.getLogger("popseg.emulator.transform")
LOG_GROUP = "/aws/sagemaker/TransformJobs"
TRANSFORM_WORKERS = 4
"""Transform jobs that run at once. Each job of the pipeline transforms one stage (PCA, then K-Means), so
two run at most; four leave room for a notebook's job beside a DAG run. Jobs beyond wait InProgress."""
PAYLOAD_UNIT_BYTES = 1024 * 1024
"""One MB of MaxPayloadInMB. SageMaker's 6 MB InvokeEndpoint cap is 6 × 2^20 bytes (botocore's BodyBlob max),
and the SDK's local mode counts MaxPayloadInMB in the same unit."""
MAX_DECOMPRESSED_BYTES = 1 << 30
"""The most a `CompressionType: Gzip` input object may inflate to (1 GiB, the largest census the pipeline
takes): a small object that inflates beyond it fails its job instead of filling the emulator's memory."""
FAILURE_REASON = "ClientError: See job logs for more information"
"""SageMaker's FailureReason when inference failed on an input object; the why is in the job's log."""
_RECORDIO_HEADER = struct.Struct("<II")
DATA_PROCESSING_ERRORS = (ValueError, KeyError, IndexError, TypeError, AttributeError, RecordsMismatch)
"""What a filter or join meets in records it cannot read (a short CSV row, a line that is not JSON, a key
or column missing): the object fails with it, as SageMaker fails a job whose filters do not fit its data."""


class TransformStopped(Exception):
    """StopTransformJob was called: the job ends Stopped, outputs written so far stay."""


class ObjectFailed(Exception):
    """One input object cannot be transformed; `lines` are the `[sagemaker logs]` lines saying why."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__(lines[0])
        self.lines = lines


@dataclass(frozen=True)
class InputObject:
    uri: str  # s3://bucket/key
    output_uri: str  # where its .out goes


class TransformRunner:
    def __init__(
        self,
        backends: SageMakerBackends,
        clients: AwsClients,
        launch_seconds: float = 0.5,
        workers: int = TRANSFORM_WORKERS,
        latency: LatencyProfile | None = None,
    ) -> None:
        """`launch_seconds`: how long a job stays InProgress before its first request, as instances launch
        (the emulator's `transition_seconds`), so that waiters and StopTransformJob see it running; under a
        `latency` profile, its modelled launch divided by the profile's scale instead."""
        self.backends = backends
        self.clients = clients
        self.launch_seconds = launch_seconds
        self.latency = latency
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="emulator-transform")

    def submit(self, job: TransformJob) -> None:
        self.pool.submit(self._run, job)

    def shutdown(self) -> None:
        """Ask running jobs to stop, drop queued ones, and wait for the workers to end."""
        for backend in list(self.backends.values()):
            with backend.lock:
                for job in backend.transform_jobs.values():
                    if job.status in TRANSFORM_NON_TERMINAL:
                        job.stop_requested = True
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _run(self, job: TransformJob) -> None:
        """Run the job, flush its log, then set its final status: a waiter that sees the job end finds its
        whole log."""
        job_log = JobLog(self.clients, job, group=LOG_GROUP)
        try:
            status, reason = self._transform(job, job_log)
        except TransformStopped:
            status, reason = "Stopped", None
        except (ClientError, ModelLoadError, S3Error) as exc:
            _sagemaker_log(job_log, str(exc))
            status, reason = "Failed", f"ClientError: {exc}"
        except Exception as exc:  # a fault of ours must fail the job, never the server
            log.exception("transform job %s failed unexpectedly", job.name)
            status, reason = "Failed", f"InternalServerError: {type(exc).__name__}: {exc}"
        job_log.flush()
        self.backends[job.region].transform_ended(job, status, reason)
        log.info("transform job %s %s%s", job.name, status, f": {reason}" if reason else "")

    def _transform(self, job: TransformJob, job_log: JobLog) -> tuple[str, str | None]:
        """(final status, FailureReason) of a job that ran to its end."""
        with self.backends[job.region].lock:
            job.started()
        launch = self.launch_seconds
        if self.latency is not None:
            modelled = self.latency.transform_launch(job.name)
            launch = self.latency.real(modelled)
            log.info("transform job %s: modelled AWS seconds before its first request %s", job.name, modelled)
        wait_until(job.transform_start_time + launch, lambda: self._stop_requested(job))
        self._check_stop(job)
        predictor = load_predictor(self.clients, job.model)
        request = job.request
        _sagemaker_log(
            job_log,
            f"MaxConcurrentTransforms={request.get('MaxConcurrentTransforms', 1)}, "
            f"MaxPayloadInMB={job.max_payload_mb}, BatchStrategy={_upper_snake(job.batch_strategy)}",
        )
        if job.max_payload_mb == 0:
            raise ClientError(
                "MaxPayloadInMB=0 asks for HTTP chunked encoding, which the built-in algorithms do not support"
            )
        split = request["TransformInput"].get("SplitType", "None")
        if split == "TFRecord":
            raise ClientError("SplitType TFRecord: the built-in PCA and K-Means read no TFRecord data")
        processing = DataProcessing.of(request)
        objects = self._inputs(request)
        failed = 0
        for item in objects:
            self._check_stop(job)
            try:
                output = self._transform_object(job, predictor, item, processing)
            except ObjectFailed as failure:
                failed += 1
                for line in failure.lines:
                    _sagemaker_log(job_log, f"{_shown_uri(item.uri)}: {line}")
                continue
            self.clients.write(item.output_uri, output)
        return ("Failed", FAILURE_REASON) if failed else ("Completed", None)

    def _inputs(self, request: dict) -> list[InputObject]:
        """The input objects in key order, each with its output URI: the key relative to the input
        prefix (up to its last `/`), under S3OutputPath, with `.out` appended."""
        source = request["TransformInput"]["DataSource"]["S3DataSource"]
        uri, kind = source["S3Uri"], source["S3DataType"]
        if kind == "S3Prefix":
            uris = self.clients.list_keys(uri)
            root = uri
        elif kind == "ManifestFile":
            manifest = self.clients.read(uri)
            uris = _manifest_uris(manifest, uri)  # refuses a manifest without its {"prefix": …} first
            root = json.loads(manifest)[0]["prefix"]
        else:
            raise ClientError(f"S3DataType {kind} is not supported for built-in algorithms")
        if not uris:
            raise ClientError(f"No S3 objects found under the input S3Uri {uri}")
        prefix = parse_s3_uri(root)[1]
        folder = prefix[: prefix.rfind("/") + 1]
        output = request["TransformOutput"]["S3OutputPath"].rstrip("/")
        objects = []
        for item in uris:
            key = parse_s3_uri(item)[1]
            relative = key[len(folder) :] if key.startswith(folder) else key
            objects.append(InputObject(uri=item, output_uri=f"{output}/{relative}.out"))
        return objects

    def _transform_object(
        self, job: TransformJob, predictor: Predictor, item: InputObject, processing: DataProcessing | None
    ) -> bytes:
        """The assembled answers for one input object; ObjectFailed when any request fails."""
        request = job.request
        blob = self.clients.read(item.uri)
        if request["TransformInput"].get("CompressionType") == "Gzip":
            blob = _gunzip(blob)
        content_type = request["TransformInput"].get("ContentType")
        accept = request.get("TransformOutput", {}).get("Accept")
        line = request.get("TransformOutput", {}).get("AssembleWith") == "Line"
        limit = job.max_payload_mb * PAYLOAD_UNIT_BYTES
        answers: list[bytes] = []
        for payload in _payloads(blob, request["TransformInput"].get("SplitType", "None"), job.batch_strategy, limit):
            self._check_stop(job)
            body = payload if processing is None else _processed(processing.filter_input, payload)
            try:
                rows = parse_request(body, content_type, predictor.feature_dim)
                answer, answer_type = render_response(predictor.predict(rows), accept)
            except InvalidRequest as invalid:
                raise ObjectFailed([f"ClientError: {invalid.status}", "Message:", invalid.message]) from invalid
            if processing is not None:
                answer = _processed(processing.join_and_filter, payload, answer, answer_type)
            answers.append(answer)
            if line and not answer.endswith(b"\n"):
                answers.append(b"\n")
        return b"".join(answers)

    def _check_stop(self, job: TransformJob) -> None:
        if self._stop_requested(job):
            raise TransformStopped()

    def _stop_requested(self, job: TransformJob) -> bool:
        with self.backends[job.region].lock:
            return job.stop_requested


def _processed(step: Callable[..., bytes], *args: object) -> bytes:
    """A DataProcessing step; ObjectFailed when the records do not fit its filter or join."""
    try:
        return step(*args)
    except DATA_PROCESSING_ERRORS as exc:
        raise ObjectFailed(["ClientError: 400", "Message:", f"DataProcessing: {type(exc).__name__}: {exc}"]) from exc


def _payloads(blob: bytes, split: str, strategy: str, limit: int) -> Iterator[bytes]:
    """The request bodies of one object: the whole object (SplitType None), else its records packed one
    per request (SingleRecord) or as many as fit in `limit` bytes (MultiRecord), in input order.

    Raises ObjectFailed for a body over `limit` bytes, naming the record and its size."""
    if split == "None":
        if len(blob) > limit:
            raise ObjectFailed(
                ["ClientError: 413", "Message:", _too_large("The object (SplitType None is one request)", blob, limit)]
            )
        if blob:
            yield blob
        return
    ends = _line_ends(blob) if split == "Line" else _recordio_ends(blob)
    starts = np.concatenate(([0], ends[:-1]))
    sizes = ends - starts
    too_large = np.flatnonzero(sizes > limit)
    if len(too_large):
        index = int(too_large[0])
        record = f"Record {index} (bytes {int(starts[index])}..{int(ends[index])})"
        raise ObjectFailed(
            ["ClientError: 413", "Message:", _too_large(record, blob[starts[index] : ends[index]], limit)]
        )
    if strategy == "SingleRecord":
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            if not blob[start:end].isspace():
                yield blob[start:end]
        return
    first = 0
    while first < len(ends):
        # The last record that still ends within `limit` bytes of this request's start.
        last = int(np.searchsorted(ends, starts[first] + limit, side="right"))
        yield blob[int(starts[first]) : int(ends[last - 1])]
        first = last


def _line_ends(blob: bytes) -> np.ndarray:
    """(n_records,) int64: the byte after each line's `\\n` (or the end of an unterminated last line)."""
    ends = np.flatnonzero(np.frombuffer(blob, dtype=np.uint8) == ord("\n")) + 1
    if not len(blob) or (len(ends) and ends[-1] == len(blob)):
        return ends.astype(np.int64)
    return np.append(ends, len(blob)).astype(np.int64)


def _recordio_ends(blob: bytes) -> np.ndarray:
    """(n_records,) int64: the byte after each RecordIO record (header, payload, padding).

    Records of one length (the dense rows an encoder writes) are found without a loop per record; any
    other stream is walked record by record. Raises ObjectFailed naming the record and byte offset of bad
    framing."""
    if len(blob) < _RECORDIO_HEADER.size:
        if blob:
            raise ObjectFailed(
                ["ClientError: 400", "Message:", f"record 0 at byte 0: truncated header ({len(blob)} of 8 bytes)"]
            )
        return np.zeros(0, dtype=np.int64)
    first = _framed_length(blob, 0, 0)
    if len(blob) % first == 0:
        words = np.frombuffer(blob, dtype="<u4").reshape(-1, first // 4)
        if (words[:, 0] == MAGIC).all() and (words[:, 1] == words[0, 1]).all():
            return np.arange(first, len(blob) + 1, first, dtype=np.int64)
    ends, offset, index = [], 0, 0
    while offset < len(blob):
        offset += _framed_length(blob, offset, index)
        ends.append(offset)
        index += 1
    return np.asarray(ends, dtype=np.int64)


def _framed_length(blob: bytes, offset: int, index: int) -> int:
    """Bytes of the RecordIO record at `offset`: 8 of header, the payload, padding to 4."""

    def bad(problem: str) -> ObjectFailed:
        return ObjectFailed(["ClientError: 400", "Message:", f"record {index} at byte {offset}: {problem}"])

    if len(blob) - offset < _RECORDIO_HEADER.size:
        raise bad(f"truncated header ({len(blob) - offset} of 8 bytes)")
    magic, word = _RECORDIO_HEADER.unpack_from(blob, offset)
    if magic != MAGIC:
        raise bad(f"bad magic 0x{magic:08X}, expected 0x{MAGIC:08X}")
    length = word & ((1 << 29) - 1)
    framed = 8 + length + (-length % 4)
    if offset + framed > len(blob):
        raise bad(f"truncated payload ({len(blob) - offset - 8} of {framed - 8} bytes present)")
    return framed


def _gunzip(blob: bytes) -> bytes:
    """A Gzip input object inflated, at most MAX_DECOMPRESSED_BYTES."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(blob, MAX_DECOMPRESSED_BYTES + 1)
    except zlib.error as exc:
        raise ObjectFailed(["ClientError: 400", "Message:", f"CompressionType Gzip, but not gzip data: {exc}"]) from exc
    if len(data) > MAX_DECOMPRESSED_BYTES:
        raise ObjectFailed(
            ["ClientError: 413", "Message:", f"inflates to more than {MAX_DECOMPRESSED_BYTES:,} bytes, the most read"]
        )
    return data


def _too_large(what: str, data: bytes, limit: int) -> str:
    return f"{what} is {len(data):,} bytes, more than MaxPayloadInMB allows ({limit:,} bytes)"


def _sagemaker_log(job_log: JobLog, message: str) -> None:
    """A line as SageMaker's data plane writes it: `2020-03-25T07:57:45.857:[sagemaker logs]: …`."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    job_log.write(f"{now}:[sagemaker logs]: {message}")


def _shown_uri(uri: str) -> str:
    """An input object as the log names it: `bucket/key`."""
    bucket, key = parse_s3_uri(uri)
    return f"{bucket}/{key}"


def _upper_snake(name: str) -> str:
    """MultiRecord -> MULTI_RECORD, as the log shows the strategy."""
    return "".join(f"_{c}" if c.isupper() and i else c for i, c in enumerate(name)).upper()
