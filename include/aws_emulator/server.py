"""One HTTP endpoint for every AWS service the pipeline uses.

Routing: `X-Amz-Target: SageMaker.*` goes to our control plane; `POST /endpoints/{name}/invocations`
signed for `sagemaker` goes to our runtime; everything else (S3, IAM, STS, CloudWatch Logs, …) goes to
moto's server app in the same process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from include.aws_emulator.aws_clients import AwsClients
from include.aws_emulator.persistence import StateStore
from include.aws_emulator.sagemaker.hosting import Hosting
from include.aws_emulator.sagemaker.models import SageMakerBackend
from include.aws_emulator.sagemaker.responses import ControlPlane
from include.aws_emulator.sagemaker.runtime import Runtime
from include.aws_emulator.sagemaker.training import TrainingRunner

log = logging.getLogger("popseg.emulator")

_INVOCATIONS = re.compile(r"/endpoints/(?P<name>[^/]+)/invocations")
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request")
DEFAULT_REGION = "us-east-1"


class EmulatorApp:
    """The WSGI application: routes each request to SageMaker (ours) or moto."""

    def __init__(self, control_plane: ControlPlane, runtime: Runtime, default_region: str = DEFAULT_REGION) -> None:
        self.control_plane = control_plane
        self.runtime = runtime
        self.default_region = default_region
        self.moto = DomainDispatcherApplication(create_backend_app)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        scope = _SCOPE.search(request.headers.get("Authorization", ""))
        region = scope.group("region") if scope else self.default_region
        service = scope.group("service") if scope else None
        target = request.headers.get("X-Amz-Target", "")
        if target.startswith("SageMaker."):
            return self._control_plane(request, target.split(".", 1)[1], region)(environ, start_response)
        invocation = _INVOCATIONS.fullmatch(request.path)
        if invocation and request.method == "POST" and service in ("sagemaker", None):
            return self._invoke(request, invocation.group("name"), region)(environ, start_response)
        operation = target.rsplit(".", 1)[-1] if target else f"{request.method} {request.path}"
        return self._moto(service, operation, environ, start_response)

    def _control_plane(self, request: Request, operation: str, region: str) -> Response:
        body = request.get_data()
        status, document = self.control_plane.handle(operation, body, region)
        outcome = status if status == 200 else f"{status} {document.get('__type')}"
        log.info("sagemaker %s %s -> %s", operation, _resource(body), outcome)
        return Response(
            json.dumps(document),
            status=status,
            content_type="application/x-amz-json-1.1",
            headers={"x-amzn-RequestId": str(uuid.uuid4())},
        )

    def _invoke(self, request: Request, name: str, region: str) -> Response:
        headers = {key.lower(): value for key, value in request.headers.items()}
        answer = self.runtime.invoke(name, request.get_data(), headers, region)
        outcome = answer.status if answer.status == 200 else f"{answer.status} {answer.headers.get('x-amzn-ErrorType')}"
        log.info("sagemaker-runtime InvokeEndpoint %s -> %s", name, outcome)
        return Response(answer.body, status=answer.status, headers=answer.headers)

    def _moto(self, service: str | None, operation: str, environ: dict[str, Any], start_response: Any) -> Any:
        def logged_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            log.info("%s %s -> %s", service or "aws", operation, status.split(" ")[0])
            return start_response(status, headers, exc_info)

        return self.moto(environ, logged_start_response)


class _QuietHandler(MotoRequestHandler):
    """moto's handler (it keeps S3 metadata headers with underscores) without werkzeug's access log:
    the app logs one line per call itself."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class Emulator:
    """The server, its SageMaker backend and workers; `start()` serves in a background thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        data_dir: str | Path | None = None,
        region: str = DEFAULT_REGION,
        transition_seconds: float = 0.5,
    ) -> None:
        self.backend = SageMakerBackend()
        self._app = _LateApp()
        self.server = make_server(host, port, self._app, threaded=True, request_handler=_QuietHandler)
        self.endpoint_url = f"http://{host}:{self.server.port}"
        clients = AwsClients(self.endpoint_url)
        self.runner = TrainingRunner(self.backend, clients)
        self.hosting = Hosting(self.backend, clients, transition_seconds)
        self._app.app = EmulatorApp(
            ControlPlane(self.backend, self.runner, self.hosting), Runtime(self.backend), region
        )
        self.store = StateStore(Path(data_dir), self.backend, clients, self.hosting) if data_dir else None
        self._thread: threading.Thread | None = None

    def start(self) -> Emulator:
        self._thread = threading.Thread(target=self.server.serve_forever, name="emulator", daemon=True)
        self._thread.start()
        if self.store is not None:
            self.store.restore()
        return self

    def stop(self) -> None:
        """Stop running jobs, save state when persistent, then stop serving."""
        self.runner.shutdown()
        if self.store is not None:
            self.store.save()
        self.server.shutdown()
        if self._thread is not None:
            self._thread.join()
        self.server.server_close()


class _LateApp:
    """Lets the server bind (and so learn its port) before the app that needs the URL exists."""

    app: EmulatorApp

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


@contextlib.contextmanager
def running_emulator(data_dir: str | Path | None = None, transition_seconds: float = 0.5) -> Iterator[Emulator]:
    """An emulator on a free loopback port for the duration of the block: `.endpoint_url`."""
    emulator = Emulator(data_dir=data_dir, transition_seconds=transition_seconds).start()
    try:
        yield emulator
    finally:
        emulator.stop()


def _resource(body: bytes) -> str:
    """The resource a control-plane call names, for the log line."""
    try:
        params = json.loads(body or b"{}")
    except ValueError:
        return "-"
    if not isinstance(params, dict):
        return "-"
    for key in ("TrainingJobName", "EndpointName", "EndpointConfigName", "ModelName", "ResourceArn"):
        if key in params:
            return str(params[key])
    return "-"
