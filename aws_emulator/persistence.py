"""`--data-dir`: S3 objects and SageMaker state kept on disk across restarts.

Saved when the emulator stops (SIGINT/SIGTERM or `Emulator.stop()`), restored when it starts. Layout:

    <dir>/CURRENT                      the name of the snapshot in use, e.g. "snapshot-1f0c…"
    <dir>/snapshot-<32 hex>/sagemaker.json   the SageMaker resources of every region (each names its own)
    <dir>/snapshot-<32 hex>/s3.json          [{"bucket", "key", "file", "parts", "checksum"}, …] and the buckets
    <dir>/snapshot-<32 hex>/objects/<n>      object bytes, named by a counter, never by the key

A save writes a whole new snapshot beside the old one, then swaps CURRENT (`os.replace`, atomic), then
deletes the old one, so a save that fails part-way leaves the previous snapshot in use. Keys never
become paths, so `..` or `/` in a key cannot reach outside the directory. A restore reads only
regular files named as above inside the snapshot: symlinks and anything else are skipped.

An object comes back as it was uploaded: in one piece, or in parts of the sizes it had ("parts", bytes
each), with its checksum algorithm and type, so a multipart object keeps its composite checksum
(`<value>-<parts>`) and a restore that would change a checksum says so in the log.

Jobs (training and transform) that were still running come back Failed (their worker is gone); endpoints
come back InService with their model reloaded, or Failed with the reason.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from botocore.compat import HAS_CRT

from aws_emulator import s3_checksums
from aws_emulator.algorithms import ClientError, ModelLoadError
from aws_emulator.aws_clients import AwsClients
from aws_emulator.sagemaker.hosting import Hosting
from aws_emulator.sagemaker.models import (
    TRAINING_NON_TERMINAL,
    TRANSFORM_NON_TERMINAL,
    Deployment,
    Endpoint,
    EndpointConfig,
    Model,
    SageMakerBackends,
    TrainingJob,
    TransformJob,
)
from include.segmentation.printable import printable

log = logging.getLogger("popseg.emulator.persistence")
CURRENT = "CURRENT"
STATE_FILE = "sagemaker.json"
S3_MANIFEST = "s3.json"
OBJECTS = "objects"
_SNAPSHOT = re.compile(r"snapshot-[0-9a-f]{32}")
_OBJECT = re.compile(r"[0-9]{1,12}")
_MULTIPART_ETAG = re.compile(r'"?[0-9a-f]{32}-([0-9]{1,5})"?')


class StateStore:
    def __init__(
        self,
        directory: Path,
        backends: SageMakerBackends,
        clients: AwsClients,
        hosting: Hosting,
        max_request_bytes: int | None = None,
    ) -> None:
        """`max_request_bytes`: the server's body cap; a single-part object larger than it (a copy can be)
        cannot be put back in one request and is restored in parts."""
        self.directory = directory
        self.backends = backends
        self.clients = clients
        self.hosting = hosting
        self.max_request_bytes = max_request_bytes

    def save(self) -> None:
        """Write a new snapshot, then make it current; the previous one stays current until then."""
        self.directory.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.directory))
        try:
            self._save_s3(staging)
            state: dict[str, Any] = {"training_jobs": [], "models": [], "endpoint_configs": [], "endpoints": []}
            state["transform_jobs"] = []
            state["tags"] = {}
            for backend in list(self.backends.values()):
                with backend.lock:
                    state["training_jobs"] += [dataclasses.asdict(job) for job in backend.training_jobs.values()]
                    state["models"] += [dataclasses.asdict(m) for m in backend.models.values()]
                    state["endpoint_configs"] += [dataclasses.asdict(c) for c in backend.endpoint_configs.values()]
                    state["endpoints"] += [_endpoint_state(e) for e in backend.endpoints.values()]
                    state["transform_jobs"] += [dataclasses.asdict(job) for job in backend.transform_jobs.values()]
                    state["tags"].update(backend.tags)  # keyed by ARN, which names the region
            (staging / STATE_FILE).write_text(json.dumps(state))
            name = f"snapshot-{uuid.uuid4().hex}"
            staging.rename(self.directory / name)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        pointer = self.directory / f".{CURRENT}.{name}"
        pointer.write_text(name)
        os.replace(pointer, self.directory / CURRENT)
        self._remove_all_but(name)
        log.info("saved state to %s", self.directory / name)

    def restore(self) -> None:
        snapshot = self._current()
        if snapshot is None:
            return
        self._restore_s3(snapshot)
        path = snapshot / STATE_FILE
        if not _regular_file(path, snapshot):
            return
        state = json.loads(path.read_text())
        for fields in state["training_jobs"]:
            job = TrainingJob(**fields)
            if job.status in TRAINING_NON_TERMINAL:
                job.finish("Failed", "Failed", "Training job failed", "AlgorithmError: the emulator restarted")
            self.backends[job.region].training_jobs[job.name] = job
        for fields in state.get("transform_jobs", []):  # absent from snapshots saved before transform jobs
            transform = TransformJob(**fields)
            if transform.status in TRANSFORM_NON_TERMINAL:
                transform.finish("Failed", "InternalServerError: the emulator restarted while the job ran")
            self.backends[transform.region].transform_jobs[transform.name] = transform
        for model in (Model(**fields) for fields in state["models"]):
            self.backends[model.region].models[model.name] = model
        for config in (EndpointConfig(**fields) for fields in state["endpoint_configs"]):
            self.backends[config.region].endpoint_configs[config.name] = config
        for resource_arn, tags in state["tags"].items():
            self.backends[resource_arn.split(":")[3]].tags[resource_arn] = tags
        for fields in state["endpoints"]:
            self._restore_endpoint(fields)
        log.info("restored state from %s", snapshot)

    def _current(self) -> Path | None:
        """The snapshot CURRENT names, if CURRENT and the snapshot are real (not symlinked) and well-named."""
        pointer = self.directory / CURRENT
        if not _regular_file(pointer):
            if (self.directory / STATE_FILE).exists() or (self.directory / "s3").exists():
                log.warning("%s holds state in the old layout, which is no longer read", self.directory)
            return None
        name = pointer.read_text().strip()
        snapshot = self.directory / name
        if not _SNAPSHOT.fullmatch(name) or snapshot.is_symlink() or not snapshot.is_dir():
            log.warning("%s names no snapshot in %s; starting empty", pointer, self.directory)
            return None
        return snapshot

    def _remove_all_but(self, keep: str) -> None:
        """Delete older snapshots and staging left by an interrupted save; symlinks are not followed."""
        for path in self.directory.iterdir():
            if path.name != keep and (_SNAPSHOT.fullmatch(path.name) or path.name.startswith(".staging-")):
                if path.is_symlink() or not path.is_dir():
                    continue
                shutil.rmtree(path, ignore_errors=True)

    def _restore_endpoint(self, fields: dict[str, Any]) -> None:
        deployment = Deployment(**fields.pop("deployment")) if fields.get("deployment") else None
        endpoint = Endpoint(**fields)
        if endpoint.status in ("Creating", "Updating", "InService") and deployment is not None:
            try:
                self.hosting.load(deployment)
                endpoint.deployment, endpoint.status = deployment, "InService"
            except (ClientError, ModelLoadError) as exc:
                endpoint.status, endpoint.failure_reason = "Failed", f"Failed to reload the model: {exc}"
        elif endpoint.status != "Failed":
            endpoint.status, endpoint.failure_reason = "Failed", "The emulator restarted during a transition"
        backend = self.backends[endpoint.region]
        with backend.lock:
            backend.endpoints[endpoint.name] = endpoint

    def _save_s3(self, snapshot: Path) -> None:
        """Every object streamed to `objects/<n>` (boto3's transfer, so large ones in parts), and the manifest."""
        s3 = self.clients.client("s3")
        (snapshot / OBJECTS).mkdir()
        buckets: list[str] = []
        objects: list[dict[str, str]] = []
        for bucket in s3.list_buckets().get("Buckets", []):
            buckets.append(bucket["Name"])
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
                for item in page.get("Contents", []):
                    file = str(len(objects))
                    s3.download_file(bucket["Name"], item["Key"], str(snapshot / OBJECTS / file))
                    layout = _object_layout(s3, bucket["Name"], item["Key"])
                    objects.append({"bucket": bucket["Name"], "key": item["Key"], "file": file, **layout})
        (snapshot / S3_MANIFEST).write_text(json.dumps({"buckets": buckets, "objects": objects}))

    def _restore_s3(self, snapshot: Path) -> None:
        manifest = snapshot / S3_MANIFEST
        if not _regular_file(manifest, snapshot):
            return
        listing = json.loads(manifest.read_text())
        s3 = self.clients.client("s3")
        for bucket in listing["buckets"]:
            s3.create_bucket(Bucket=bucket)
        for entry in listing["objects"]:
            path = snapshot / OBJECTS / str(entry["file"])
            if not _OBJECT.fullmatch(str(entry["file"])) or not _regular_file(path, snapshot):
                log.warning(
                    "skipped %s: %s is not a regular file",
                    printable(f"s3://{entry['bucket']}/{entry['key']}"),
                    path.name,
                )
                continue
            if "parts" not in entry:  # a snapshot written before layouts were kept
                s3.upload_file(str(path), entry["bucket"], entry["key"])
                continue
            parts = entry["parts"]
            if not parts and self.max_request_bytes is not None and path.stat().st_size > self.max_request_bytes:
                log.warning(
                    "%s is larger than one request may be; it comes back in parts, with a composite checksum",
                    printable(f"s3://{entry['bucket']}/{entry['key']}"),
                )
                s3.upload_file(str(path), entry["bucket"], entry["key"])
                continue
            _upload_as_before(s3, path, entry["bucket"], entry["key"], parts, entry.get("checksum"))


def _object_layout(s3, bucket: str, key: str) -> dict[str, Any]:
    """{"parts": [size of each part, bytes] ([] for a single-part object), "checksum": {"algorithm", "type",
    "value"} or None}, read with HeadObject (per part for a multipart object, whose ETag ends in -<parts>)."""
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    multipart = _MULTIPART_ETAG.fullmatch(head["ETag"])
    count = int(multipart.group(1)) if multipart else 0
    parts = [
        s3.head_object(Bucket=bucket, Key=key, PartNumber=number)["ContentLength"] for number in range(1, count + 1)
    ]
    algorithm = next((name for name in s3_checksums.ALGORITHMS if head.get(f"Checksum{name}")), None)
    checksum = None
    if algorithm is not None:
        checksum = {"algorithm": algorithm, "type": head.get("ChecksumType"), "value": head[f"Checksum{algorithm}"]}
    return {"parts": parts, "checksum": checksum}


def _upload_as_before(s3, path: Path, bucket: str, key: str, parts: list[int], checksum: dict | None) -> None:
    """Upload `path` in one piece, or in `parts` (sizes in bytes, read one part at a time), with the saved
    checksum algorithm and type when this process can compute it; logs a checksum that came out different."""
    algorithm = checksum["algorithm"] if checksum else None
    if algorithm is not None and algorithm not in ("CRC32", "SHA1", "SHA256") and not HAS_CRT:
        log.warning(
            "%s: %s needs awscrt, absent here; restoring with CRC32", printable(f"s3://{bucket}/{key}"), algorithm
        )
        algorithm = None
    with_algorithm = {"ChecksumAlgorithm": algorithm} if algorithm else {}
    with path.open("rb") as body:
        if not parts:
            s3.put_object(Bucket=bucket, Key=key, Body=body, **with_algorithm)
        else:
            kind = {"ChecksumType": checksum["type"]} if algorithm and checksum and checksum.get("type") else {}
            upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, **with_algorithm, **kind)["UploadId"]
            completed = []
            for number, size in enumerate(parts, start=1):
                answer = s3.upload_part(
                    Bucket=bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=body.read(size),
                    **with_algorithm,
                )
                part_checksums = {
                    f"Checksum{n}": answer[f"Checksum{n}"] for n in s3_checksums.ALGORITHMS if f"Checksum{n}" in answer
                }
                completed.append({"PartNumber": number, "ETag": answer["ETag"], **part_checksums})
            s3.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": completed}
            )
    if checksum is not None:
        now = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED").get(f"Checksum{checksum['algorithm']}")
        if now != checksum["value"]:
            log.warning(
                "%s came back with checksum %s, not %s", printable(f"s3://{bucket}/{key}"), now, checksum["value"]
            )


def _regular_file(path: Path, root: Path | None = None) -> bool:
    """A regular file, not a symlink, and (given `root`) inside `root` once every link on the way is resolved."""
    if path.is_symlink() or not path.is_file():
        return False
    return root is None or path.resolve().is_relative_to(root.resolve())


def _endpoint_state(endpoint: Endpoint) -> dict[str, Any]:
    fields = {f.name: getattr(endpoint, f.name) for f in dataclasses.fields(endpoint) if f.name != "deployment"}
    deployment = endpoint.deployment
    fields["deployment"] = (
        None
        if deployment is None
        else {"config_name": deployment.config_name, "variant": deployment.variant, "model": deployment.model}
    )
    return fields
