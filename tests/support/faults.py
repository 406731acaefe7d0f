"""A fault-injecting HTTP proxy between the DAG's AWS connection and the emulator, and the fault cases.

The proxy forwards every request to the emulator unchanged, except those a `Fault` names: a call kind
(a SageMaker control-plane operation, `InvokeEndpoint`, or `S3 PUT`) whose path or body contains the
fault's `needle` (the run's token, or a key prefix in the run's bucket), so that only the run under test
is hit although the proxy sees every client's traffic. A faulted request never reaches the emulator: the
proxy answers the error itself, as the service would (SageMaker's JSON error, sagemaker-runtime's REST
error, S3's XML error). The emulator's own workers (training reading S3, hosting) use clients of their
own at the emulator's URL, so they never pass through here.

It lives in tests/ rather than in the emulator: it exists only to test the DAG's reliability, and the
emulator stays an honest AWS. `python -m tests.support.faults` prints the README's fault table from `CASES`.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import urllib3
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

# hard: an error no retry can fix, every time; transient: an error once; lost: the request reaches the emulator
# (it takes effect) and its answer is lost, every time: the client sees a 500 for a write that happened.
Mode = Literal["hard", "transient", "lost"]
S3_PUT = "S3 PUT"
S3_PUT_LATEST = "S3 PUT latest.json"  # an S3 PUT of <prefix>/latest.json: the one write that publishes a run
INVOKE = "InvokeEndpoint"
_INVOCATIONS = re.compile(r"/endpoints/[^/]+/invocations")
# Not forwarded either way: the proxy's server and the emulator's frame each message themselves.
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host"}


@dataclass
class Fault:
    """Fail requests of `call` whose path or body contains `needle`: hard and lost ones always, transient ones once."""

    call: str  # "CreateModel" (X-Amz-Target SageMaker.CreateModel), INVOKE or S3_PUT
    mode: Mode
    needle: str
    hits: int = field(default=0, init=False)  # requests answered with the error so far

    @property
    def times(self) -> int | None:
        """How many matching requests fail: None is every one."""
        return 1 if self.mode == "transient" else None

    def error(self) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) of the injected error, in the protocol of `call`."""
        code, status = ERRORS[_protocol(self.call)][self.mode]
        message = f"injected {self.mode} fault on {self.call}"
        if self.call == S3_PUT:
            body = f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
            return status, {"Content-Type": "application/xml"}, body.encode()
        headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code}
        return status, headers, json.dumps({"__type": code, "message": message}).encode()


# (error code, HTTP status) by protocol and mode: hard is an error no retry can fix; transient is what AWS
# answers under load (SageMaker's control plane throttles; the runtime and S3 have internal errors).
ERRORS: dict[str, dict[Mode, tuple[str, int]]] = {
    "sagemaker": {
        "hard": ("ValidationException", 400),
        "transient": ("ThrottlingException", 400),
        "lost": ("InternalFailure", 500),
    },
    "runtime": {
        "hard": ("ValidationError", 400),
        "transient": ("InternalFailure", 500),
        "lost": ("InternalFailure", 500),
    },
    "s3": {"hard": ("InvalidRequest", 400), "transient": ("InternalError", 500), "lost": ("InternalError", 500)},
}


def _protocol(call: str) -> str:
    return {S3_PUT: "s3", S3_PUT_LATEST: "s3", INVOKE: "runtime"}.get(call, "sagemaker")


def call_kind(request: Request) -> str | None:
    """The call kind a fault can name: SageMaker's operation, INVOKE, S3_PUT, or None (never faulted)."""
    target = request.headers.get("X-Amz-Target", "")
    if target.startswith("SageMaker."):
        return target.split(".", 1)[1]
    if request.method == "POST" and _INVOCATIONS.fullmatch(request.path):
        return INVOKE
    if request.method == "PUT":
        return S3_PUT  # PutObject, CopyObject, UploadPart: the emulator's other PUTs are not in the DAG's path
    return None


class FaultProxy:
    """WSGI app forwarding to `upstream`, answering the errors of its `faults` instead where they match."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self._pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=120))

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        body = request.get_data()
        fault = self._fault_for(request, body)
        if fault is not None and fault.mode != "lost":
            status, headers, error = fault.error()
            return Response(error, status=status, headers=headers)(environ, start_response)
        url = self.upstream + request.full_path.rstrip("?") if request.query_string else self.upstream + request.path
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        headers["Host"] = request.host  # the signature covers it; the emulator accepts any loopback port
        answer = self._pool.request(
            request.method, url, body=body or None, headers=headers, preload_content=True, decode_content=False
        )
        if fault is not None:  # lost: the emulator did it, the client hears an error
            status, headers, error = fault.error()
            return Response(error, status=status, headers=headers)(environ, start_response)
        kept = [(k, v) for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP]
        response = Response(answer.data, status=answer.status, headers=kept)
        if request.method == "HEAD" and "content-length" in answer.headers:
            # A HEAD answer has no body but says the object's length (HeadObject's ContentLength): werkzeug would
            # say 0 for the empty body, and a reader that sizes the object first (RunStore.open_read) reads nothing.
            response.headers["Content-Length"] = answer.headers["content-length"]
        return response(environ, start_response)

    def _fault_for(self, request: Request, body: bytes) -> Fault | None:
        kind = call_kind(request)
        if kind is None:
            return None
        # S3 names the run in the key (the path); SageMaker in the JSON body or the invocation path.
        where = urllib.parse.unquote(request.path) + ("" if kind == S3_PUT else body.decode("utf-8", "replace"))
        with self._lock:
            for fault in self.faults:
                if fault.call == kind and fault.needle in where and (fault.times is None or fault.hits < fault.times):
                    fault.hits += 1
                    return fault
        return None


@contextlib.contextmanager
def running_proxy(upstream: str) -> Iterator[tuple[FaultProxy, str]]:
    """A FaultProxy to `upstream` on a free loopback port for the block: (the proxy, its URL)."""
    proxy = FaultProxy(upstream)
    server = make_server("127.0.0.1", 0, proxy, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="fault-proxy", daemon=True)
    thread.start()
    try:
        yield proxy, f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


@dataclass(frozen=True)
class Case:
    """One fault case of tests/dag/test_faults.py and its expected outcome, as the README's table shows it."""

    call: str
    mode: Mode
    expected: str

    @property
    def id(self) -> str:
        return f"{self.call.replace(' ', '-')}-{self.mode}"

    @property
    def fault_call(self) -> str:
        """The call kind the proxy matches (a PUT of latest.json is an S3 PUT)."""
        return S3_PUT if self.call == S3_PUT_LATEST else self.call


_FAILED = "run failed, latest.json unchanged, nothing left"
_SWEPT = "run failed (TeardownIncomplete names it), latest.json unchanged; the sweeper deletes it"
_SUCCEEDED = "run succeeded (botocore retried)"
_CONFIRMED = "run succeeded: publish read latest.json back and found it names the run"
_NOT_PUBLISHED = "run failed: publish read latest.json back and found the earlier run; latest.json unchanged"
SAGEMAKER_CALLS = ("CreateTrainingJob", "CreateModel", "CreateEndpointConfig", "CreateEndpoint", "DescribeEndpoint")
DELETE_CALLS = ("DeleteEndpoint", "DeleteEndpointConfig", "DeleteModel")
CASES: list[Case] = [
    *(Case(call, "hard", _FAILED) for call in (*SAGEMAKER_CALLS, INVOKE)),
    *(Case(call, "hard", _SWEPT) for call in DELETE_CALLS),
    Case(S3_PUT, "hard", _FAILED),
    Case(S3_PUT_LATEST, "hard", _NOT_PUBLISHED),
    Case(S3_PUT_LATEST, "lost", _CONFIRMED),
    *(Case(call, "transient", _SUCCEEDED) for call in (*SAGEMAKER_CALLS, INVOKE, *DELETE_CALLS, S3_PUT)),
]


def _where(call: str) -> str:
    """Which requests the case's needle picks out."""
    if call == S3_PUT_LATEST:
        return "the PUT of `<prefix>/latest.json`"
    return "PUTs of the run's results (`<prefix>/runs/…`)" if call == S3_PUT else "calls naming the run's resources"


def fault_table() -> str:
    """The README's fault table (Markdown), one row per CASES entry."""
    rows = [
        "| Call | Fault injected | On | Outcome |",
        "|---|---|---|---|",
    ]
    for case in CASES:
        code, status = ERRORS[_protocol(case.call)][case.mode]
        how = f"{status} {code}, {'once' if case.mode == 'transient' else 'every time'}"
        if case.mode == "lost":
            how += ", after the request reached S3"
        rows.append(f"| {case.call} | {how} | {_where(case.call)} | {case.expected} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(fault_table())
