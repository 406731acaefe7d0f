"""One HTTP endpoint for every AWS service the pipeline uses.

Routing: `X-Amz-Target: SageMaker.*` goes to our control plane; `POST /endpoints/{name}/invocations`
signed for `sagemaker` goes to our runtime; everything else (S3, IAM, STS, CloudWatch Logs, …) goes to
moto's server app in the same process.

Hardened for a developer laptop, where any web page the developer opens can send requests to
127.0.0.1: the Host must be one of ours (defeats DNS rebinding), requests a browser marks as
cross-site (`Origin`, `Sec-Fetch-Site`) are refused and no response carries CORS headers, moto's
`/moto-api/*` (reset, recorder, dashboard) is not served, and bodies are capped before they are read.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import json
import logging
import re
import threading
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import LimitedStream

from aws_emulator import s3_checksums, s3_ranges
from aws_emulator.aws_clients import AwsClients
from aws_emulator.connection import DEFAULT_REGION
from aws_emulator.persistence import StateStore
from aws_emulator.sagemaker.hosting import Hosting
from aws_emulator.sagemaker.latency import LatencyProfile
from aws_emulator.sagemaker.models import SageMakerBackends
from aws_emulator.sagemaker.responses import ControlPlane
from aws_emulator.sagemaker.runtime import INVOKE_ENDPOINT_MAX_BYTES, Runtime
from aws_emulator.sagemaker.training import TrainingRunner
from aws_emulator.sagemaker.transform import TransformRunner
from include.segmentation.printable import printable

log = logging.getLogger("popseg.emulator")

_INVOCATIONS = re.compile(r"/endpoints/(?P<name>[^/]+)/invocations")
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request")

MAX_REQUEST_BYTES = 64 * 1024 * 1024
"""The largest request body the emulator reads, in bytes (64 MiB).

A larger `Content-Length` is answered 413 before a byte of the body is read; a chunked body is read
through a reader that stops at this many bytes plus one. It bounds S3 PutObject and each UploadPart:
files bigger than this (a census may reach 8 GiB) go by multipart upload, which boto3's
`upload_file`/`upload_fileobj` do by themselves above 8 MiB, in 8 MiB parts (the DAG's store above
48 MiB, in 32 MiB parts: `store.UPLOADS`). InvokeEndpoint keeps SageMaker's own, smaller limit
(`runtime.INVOKE_ENDPOINT_MAX_BYTES`, 6 MB) and reads at most that much plus one.
"""

DEFAULT_ALLOWED_HOSTS = ("localhost", "127.0.0.1", "::1", "emulator")
"""Names a request's Host may carry (any port): loopback, and `emulator`, the docker-compose service.

Anything else is a name the developer did not choose, as in DNS rebinding, where a web page's own
domain is made to resolve to 127.0.0.1; those requests get 403.
"""

HEALTH_PATH = "/_emulator/health"
_CONTENT_LENGTH = re.compile(r"[0-9]{1,19}")
"""A Content-Length the emulator reads: ASCII digits only (str.isdigit and int() also take '²' and other
scripts' digits), at most 19 of them, the most a 64-bit length needs; anything else is answered 400."""
_HOST = re.compile(r"(?P<name>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::[0-9]{1,5})?")


class EmulatorApp:
    """The WSGI application: routes each request to SageMaker (ours) or moto."""

    def __init__(
        self,
        control_plane: ControlPlane,
        runtime: Runtime,
        default_region: str = DEFAULT_REGION,
        allowed_hosts: Iterable[str] = DEFAULT_ALLOWED_HOSTS,
        max_request_bytes: int = MAX_REQUEST_BYTES,
    ) -> None:
        self.control_plane = control_plane
        self.runtime = runtime
        self.default_region = default_region
        self.allowed_hosts = frozenset(_host_name(host) for host in allowed_hosts)
        self.max_request_bytes = max_request_bytes
        s3_checksums.install()  # S3's composite/full-object checksums where moto differs
        s3_ranges.install()  # a ranged GET reads its range, not the whole object
        self.moto = DomainDispatcherApplication(create_backend_app)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        def without_cors(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            # moto's flask-cors reflects any Origin; we serve no browser, so no response allows one.
            kept = [(name, value) for name, value in headers if not name.lower().startswith("access-control-")]
            return start_response(status, kept, exc_info)

        refusal = self._refusal(environ)
        if refusal is not None:
            return refusal(environ, without_cors)
        return self._route(environ, without_cors)

    def _refusal(self, environ: dict[str, Any]) -> Response | None:
        """The answer to a request the emulator will not serve, or None; reads no body."""
        host = environ.get("HTTP_HOST", "")
        if _host_name(host) not in self.allowed_hosts:
            allowed = ", ".join(sorted(self.allowed_hosts))
            message = f"Host {host!r} is not allowed; use one of {allowed}, or start the emulator with --allow-host."
            return _refuse(environ, 403, message)
        fetch_site = environ.get("HTTP_SEC_FETCH_SITE", "none")
        if "HTTP_ORIGIN" in environ or fetch_site != "none":
            return _refuse(
                environ,
                403,
                "Requests from web pages (an Origin or Sec-Fetch-Site header) are refused: this serves AWS SDKs only.",
            )
        path = environ.get("PATH_INFO", "")
        if path.startswith("/moto-api"):
            return _refuse(environ, 404, f"{path} is not served; the health check is GET {HEALTH_PATH}.")
        if path == HEALTH_PATH:
            return Response(json.dumps({"status": "ok"}), content_type="application/json")
        return self._cap_body(environ)

    def _cap_body(self, environ: dict[str, Any]) -> Response | None:
        """413 for a body over `max_request_bytes`, judged by Content-Length before reading; a chunked body
        is read here, at most the cap plus one byte, and handed on as a buffer of known length."""
        limit = self.max_request_bytes
        too_large = f"The request body exceeds the emulator's limit of {limit} bytes; upload larger files in parts."
        length = environ.get("CONTENT_LENGTH", "")
        if length and not _CONTENT_LENGTH.fullmatch(length):
            shown = length if len(length) <= 32 else f"{length[:32]}… ({len(length):,} characters)"
            return _refuse(
                environ, 400, f"Content-Length {shown!r} is not a number of bytes: expected 1 to 19 digits 0-9."
            )
        if length and int(length) > limit:
            return _refuse(environ, 413, too_large)
        if "wsgi.input_terminated" not in environ:
            return None  # werkzeug reads exactly Content-Length bytes, or none without it
        # Chunked (the server set input_terminated): Content-Length, if any, does not bound what follows.
        try:
            body = LimitedStream(environ["wsgi.input"], limit + 1, is_max=True).read()
        except RequestEntityTooLarge:
            return _refuse(environ, 413, too_large)
        if len(body) > limit:
            return _refuse(environ, 413, too_large)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        return None

    def _route(self, environ: dict[str, Any], start_response: Any) -> Any:
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
        log.info("sagemaker %s %s -> %s", printable(operation), printable(_resource(body)), outcome)
        return Response(
            json.dumps(document),
            status=status,
            content_type="application/x-amz-json-1.1",
            headers={"x-amzn-RequestId": str(uuid.uuid4())},
        )

    def _invoke(self, request: Request, name: str, region: str) -> Response:
        headers = {key.lower(): value for key, value in request.headers.items()}
        # SageMaker's limit is far below the server's: a body declared larger is refused unread (the
        # runtime judges it by Content-Length), any other is read to at most one byte more than allowed.
        declared = request.content_length or 0
        body = (
            b""
            if declared > INVOKE_ENDPOINT_MAX_BYTES
            else io.BufferedReader(request.stream).read(INVOKE_ENDPOINT_MAX_BYTES + 1)
        )
        answer = self.runtime.invoke(name, body, headers, region)
        outcome = answer.status if answer.status == 200 else f"{answer.status} {answer.headers.get('x-amzn-ErrorType')}"
        log.info("sagemaker-runtime InvokeEndpoint %s -> %s", printable(name), outcome)
        return Response(answer.body, status=answer.status, headers=answer.headers)

    def _moto(self, service: str | None, operation: str, environ: dict[str, Any], start_response: Any) -> Any:
        def logged_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            log.info("%s %s -> %s", service or "aws", printable(operation), status.split(" ")[0])
            return start_response(status, headers, exc_info)

        return self.moto(environ, logged_start_response)


class _QuietHandler(MotoRequestHandler):
    """moto's handler (it keeps S3 metadata headers with underscores) without werkzeug's access log:
    the app logs one line per call itself."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class Emulator:
    """The server, its SageMaker backend and workers; `start()` serves in a background thread.

    Every thread it starts is named `emulator-*`: the server's, and the training, transform and hosting pools'
    (werkzeug's per-request threads are joined by `server_close`). `stop()` ends them all."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        data_dir: str | Path | None = None,
        region: str = DEFAULT_REGION,
        transition_seconds: float = 0.5,
        allow_hosts: Iterable[str] = (),
        max_request_bytes: int = MAX_REQUEST_BYTES,
        latency: LatencyProfile | str | None = None,
    ) -> None:
        """`allow_hosts`: Host names accepted besides `DEFAULT_ALLOWED_HOSTS` and the address bound.
        `latency`: a `LatencyProfile` or its `--latency` spelling (`"aws:60"`); jobs and endpoints then stay
        in each state for its modelled AWS time divided by the profile's scale."""
        if isinstance(latency, str):
            latency = LatencyProfile.parse(latency)
        self.backends = SageMakerBackends()
        self._app = _LateApp()
        self.server = make_server(host, port, self._app, threaded=True, request_handler=_QuietHandler)
        wildcard = host in ("0.0.0.0", "::", "")
        if not _is_loopback(host):
            log.warning(
                "bound to %s: anyone who can reach this address can read and change the emulator's S3 objects and "
                "SageMaker resources; bind 127.0.0.1 (the default) unless inside a container",
                host or "all interfaces",
            )
        # The workers reach the server over loopback when it listens on every interface.
        reachable = "127.0.0.1" if wildcard else host
        self.endpoint_url = f"http://{f'[{reachable}]' if ':' in reachable else reachable}:{self.server.port}"
        clients = AwsClients(self.endpoint_url)
        self.latency = latency
        self.runner = TrainingRunner(self.backends, clients, latency=latency)
        self.hosting = Hosting(self.backends, clients, transition_seconds, latency=latency)
        self.transforms = TransformRunner(self.backends, clients, launch_seconds=transition_seconds, latency=latency)
        allowed = [*DEFAULT_ALLOWED_HOSTS, *allow_hosts, *([] if wildcard else [host])]
        self._app.app = EmulatorApp(
            ControlPlane(self.backends, self.runner, self.hosting, self.transforms),
            Runtime(self.backends),
            region,
            allowed,
            max_request_bytes,
        )
        self.store = (
            StateStore(Path(data_dir), self.backends, clients, self.hosting, max_request_bytes) if data_dir else None
        )
        self._thread: threading.Thread | None = None

    def start(self) -> Emulator:
        self._thread = threading.Thread(target=self.server.serve_forever, name="emulator-server", daemon=True)
        self._thread.start()
        if self.store is not None:
            self.store.restore()
        return self

    def stop(self) -> None:
        """Stop running jobs, let endpoint transitions finish, save state when persistent, then stop serving."""
        self.runner.shutdown()
        self.transforms.shutdown()
        self.hosting.shutdown()
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
def running_emulator(
    data_dir: str | Path | None = None, transition_seconds: float = 0.5, **options: Any
) -> Iterator[Emulator]:
    """An emulator on a free loopback port for the duration of the block: `.endpoint_url`.

    `options` go to `Emulator` (`allow_hosts`, `max_request_bytes`, `latency`: e.g. `"aws:600"`)."""
    emulator = Emulator(data_dir=data_dir, transition_seconds=transition_seconds, **options).start()
    try:
        yield emulator
    finally:
        emulator.stop()


def _resource(body: bytes) -> str:
    """The resource a control-plane call names, for the log line."""
    try:
        params = json.loads(body or b"{}")
    except (ValueError, RecursionError):  # the control plane has refused such a body already
        return "-"
    if not isinstance(params, dict):
        return "-"
    for key in (
        "TrainingJobName",
        "TransformJobName",
        "EndpointName",
        "EndpointConfigName",
        "ModelName",
        "ResourceArn",
    ):
        if key in params:
            return str(params[key])
    return "-"


def _host_name(host: str) -> str:
    """The name in a Host header or allow-list entry, lower-case, without port or IPv6 brackets;
    "" when it is not a well-formed host."""
    match = _HOST.fullmatch(host.strip())
    name = match.group("name").strip("[]").lower() if match else host.strip()  # a bare IPv6 allow-list entry
    try:
        return str(ipaddress.ip_address(name))  # one spelling per address: [0::1] is ::1
    except ValueError:
        return name if match else ""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _refuse(environ: dict[str, Any], status: int, message: str) -> Response:
    """A plain-text refusal, logged with what was asked for (never the body)."""
    log.warning(
        "refused %s %s -> %s: %s",
        printable(environ.get("REQUEST_METHOD")),
        printable(environ.get("PATH_INFO")),
        status,
        printable(message),
    )
    return Response(message + "\n", status=status, content_type="text/plain; charset=utf-8")
