"""`--data-dir`: S3 objects and SageMaker state kept on disk across restarts.

Saved when the emulator stops (SIGINT/SIGTERM or `Emulator.stop()`), restored when it starts:
`<dir>/s3/<bucket>/<url-quoted key>` holds object bytes, `<dir>/sagemaker.json` the resources. Jobs
that were still running come back Failed (their worker is gone); endpoints come back InService with
their model reloaded, or Failed with the reason.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from include.aws_emulator.algorithms import ClientError, ModelLoadError
from include.aws_emulator.aws_clients import AwsClients
from include.aws_emulator.sagemaker.hosting import Hosting
from include.aws_emulator.sagemaker.models import (
    Deployment,
    Endpoint,
    EndpointConfig,
    Model,
    SageMakerBackend,
    TrainingJob,
)

log = logging.getLogger("popseg.emulator.persistence")
STATE_FILE = "sagemaker.json"


class StateStore:
    def __init__(self, directory: Path, backend: SageMakerBackend, clients: AwsClients, hosting: Hosting) -> None:
        self.directory = directory
        self.backend = backend
        self.clients = clients
        self.hosting = hosting

    def save(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._save_s3()
        with self.backend.lock:
            state = {
                "training_jobs": [dataclasses.asdict(job) for job in self.backend.training_jobs.values()],
                "models": [dataclasses.asdict(m) for m in self.backend.models.values()],
                "endpoint_configs": [dataclasses.asdict(c) for c in self.backend.endpoint_configs.values()],
                "endpoints": [_endpoint_state(e) for e in self.backend.endpoints.values()],
                "tags": self.backend.tags,
            }
        temporary = self.directory / (STATE_FILE + ".tmp")
        temporary.write_text(json.dumps(state))
        temporary.replace(self.directory / STATE_FILE)
        log.info("saved state to %s", self.directory)

    def restore(self) -> None:
        self._restore_s3()
        path = self.directory / STATE_FILE
        if not path.exists():
            return
        state = json.loads(path.read_text())
        with self.backend.lock:
            for fields in state["training_jobs"]:
                job = TrainingJob(**fields)
                if job.status in ("InProgress", "Stopping"):
                    job.finish("Failed", "Failed", "Training job failed", "AlgorithmError: the emulator restarted")
                self.backend.training_jobs[job.name] = job
            self.backend.models.update({m["name"]: Model(**m) for m in state["models"]})
            self.backend.endpoint_configs.update({c["name"]: EndpointConfig(**c) for c in state["endpoint_configs"]})
            self.backend.tags.update(state["tags"])
        for fields in state["endpoints"]:
            self._restore_endpoint(fields)
        log.info("restored state from %s", self.directory)

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
        with self.backend.lock:
            self.backend.endpoints[endpoint.name] = endpoint

    def _save_s3(self) -> None:
        s3 = self.clients.client("s3")
        root = self.directory / "s3"
        if root.exists():
            shutil.rmtree(root)
        for bucket in s3.list_buckets().get("Buckets", []):
            folder = root / bucket["Name"]
            folder.mkdir(parents=True)
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
                for item in page.get("Contents", []):
                    body = s3.get_object(Bucket=bucket["Name"], Key=item["Key"])["Body"].read()
                    (folder / quote(item["Key"], safe="")).write_bytes(body)

    def _restore_s3(self) -> None:
        root = self.directory / "s3"
        if not root.exists():
            return
        s3 = self.clients.client("s3")
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            s3.create_bucket(Bucket=folder.name)
            for path in sorted(folder.iterdir()):
                s3.put_object(Bucket=folder.name, Key=unquote(path.name), Body=path.read_bytes())


def _endpoint_state(endpoint: Endpoint) -> dict[str, Any]:
    fields = {f.name: getattr(endpoint, f.name) for f in dataclasses.fields(endpoint) if f.name != "deployment"}
    deployment = endpoint.deployment
    fields["deployment"] = (
        None
        if deployment is None
        else {"config_name": deployment.config_name, "variant": deployment.variant, "model": deployment.model}
    )
    return fields
