"""Every SageMaker answer checked against the output shape of botocore's service model, as a test oracle.

botocore parses a response without validating it: a member the model does not know is dropped without a
word, an enum value SageMaker never sends or a string where an integer belongs is handed on as it came.
A wrong field then shows only when a deployment reads it. `shape_errors` checks one response against its
operation's output shape:

- structures: every member is one the model knows, every required member is present (not null);
- types: string, boolean, integer/long, float/double, timestamp, blob, list, map, structure;
- strings: enum values, min/max length, the pattern where the model gives one (botocore's patterns are
  Java regular expressions: one Python cannot compile is not checked);
- numbers: min/max; lists and maps: min/max entries; unions: exactly one member set.

It reads either form of an answer: the *parsed* form a client returns (timestamps as datetimes, blobs as
bytes or a StreamingBody, plus the top-level `ResponseMetadata` botocore adds) or the *wire* form of the
JSON protocol, the document SageMaker sent (timestamps as epoch seconds, blobs as base64 strings). Only the
wire form can show an unknown member: botocore's parser keeps the members it knows.

`ResponseShapes` is the hook: while installed, every call any botocore or aiobotocore client of this process
makes to a service it watches is recorded, and each successful answer is checked in both forms (the wire
form when the protocol is JSON and the body was read), and each error answer against `error_errors`; the
misfits are collected for the test to assert on. Each answer is also held to the few rules of the API
reference that a type cannot say (`documented_errors`: which SecondaryStatus goes with which TrainingJobStatus,
a FailureReason when Failed).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape
from botocore.response import StreamingBody

WATCHED_SERVICES = ("sagemaker", "sagemaker-runtime")
"""The services the hook checks: the ones the emulator implements itself (S3 and Logs are moto's)."""

SHOWN_VALUE_CHARS = 80
"""The most of a refused value an error quotes: enough to recognise it, never a whole payload."""


class ResponseShapeError(AssertionError):
    """A response that does not fit its operation's output shape; the message lists every misfit."""


@functools.cache
def operation_model(service: str, operation: str) -> OperationModel:
    """The operation's model in the botocore installed (botocore caches the service models themselves)."""
    return botocore.session.get_session().get_service_model(service).operation_model(operation)


def shape_errors(model: OperationModel, response: dict[str, Any], *, wire: bool = False) -> list[str]:
    """Every way `response` (parsed, or the JSON document sent when `wire`) misfits `model`'s output shape,
    each as `<Operation>.<member path>: <what is wrong>`; [] when it fits."""
    errors: list[str] = []
    shape = model.output_shape
    if shape is None:
        if response and set(response) != {"ResponseMetadata"}:
            errors.append(f"{model.name}: the model defines no output, the response has {sorted(response)}")
        return errors
    if not wire:
        response = {key: value for key, value in response.items() if key != "ResponseMetadata"}
    _Checker(wire, errors).check(shape, response, model.name)
    return errors


def error_errors(model: OperationModel, status: int, parsed: dict[str, Any]) -> list[str]:
    """Every way a parsed error answer misfits: `Error.Code` and `Error.Message` are strings, and an error the
    service models (SageMaker's ResourceInUse, the runtime's ModelError...) has its HTTP status and members."""
    error = parsed.get("Error")
    if not isinstance(error, dict) or not isinstance(error.get("Code"), str) or not error["Code"]:
        return [f"{model.name} error: no Error.Code in the {status} answer ({_shown(error)})"]
    code = error["Code"]
    errors = []
    if not isinstance(error.get("Message"), str):
        errors.append(f"{model.name} error {code}.Message: {_shown(error.get('Message'))} where a string belongs")
    shape = model.service_model.shape_for_error_code(code)
    if shape is None:
        return errors  # a common error (ValidationException, ThrottlingException...): the model has no shape
    expected = shape.metadata.get("error", {}).get("httpStatusCode")
    if expected is not None and status != expected:
        errors.append(f"{model.name} error {code}: HTTP {status}, the model's {shape.name} is HTTP {expected}")
    modeled = {key: value for key, value in parsed.items() if key not in ("Error", "ResponseMetadata")}
    _Checker(False, errors).check(shape, modeled, f"{model.name} error {code}")
    return errors


SECONDARY_STATUSES = {
    "InProgress": ("Starting", "Downloading", "Training", "Uploading"),
    "Completed": ("Completed",),
    "Failed": ("Failed",),
    "Stopped": ("MaxRuntimeExceeded", "Stopped"),
    "Stopping": ("Stopping",),
}
"""The secondary statuses SageMaker gives under each TrainingJobStatus, as DescribeTrainingJob's SecondaryStatus
documents them (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeTrainingJob.html and
API_SecondaryStatusTransition.html): the model's enum also lists statuses "no longer supported"
(LaunchingMLInstances, PreparingTrainingStack, DownloadingTrainingImage) and others of other job kinds."""


def documented_errors(model: OperationModel, response: dict[str, Any]) -> list[str]:
    """What the API reference says of a training job or endpoint beyond the model's types, in a parsed answer:
    the SecondaryStatus belongs to the TrainingJobStatus (SECONDARY_STATUSES), the last of the
    SecondaryStatusTransitions is the SecondaryStatus, and a Failed job, endpoint or transform job has a
    FailureReason (API_DescribeTrainingJob.html: "The reason for the failure is returned in the FailureReason
    field"; API_DescribeEndpoint.html: "If the status of the endpoint is Failed, the reason why it failed";
    API_DescribeTransformJob.html: "If the transform job failed, FailureReason describes why it failed")."""
    errors: list[str] = []
    if model.name == "DescribeTrainingJob":
        _training_status(response, model.name, errors)
        transitions = response.get("SecondaryStatusTransitions") or []
        if transitions and transitions[-1].get("Status") != response.get("SecondaryStatus"):
            errors.append(
                f"{model.name}.SecondaryStatusTransitions[{len(transitions) - 1}].Status: "
                f"{_shown(transitions[-1].get('Status'))}, the last transition is not the SecondaryStatus "
                f"{_shown(response.get('SecondaryStatus'))}"
            )
        if response.get("TrainingJobStatus") == "Failed" and not response.get("FailureReason"):
            errors.append(f"{model.name}.FailureReason: missing from a Failed job (it says why it failed)")
    elif model.name == "ListTrainingJobs":
        for index, summary in enumerate(response.get("TrainingJobSummaries") or []):
            _training_status(summary, f"{model.name}.TrainingJobSummaries[{index}]", errors)
    failed_endpoint = model.name == "DescribeEndpoint" and response.get("EndpointStatus") == "Failed"
    if failed_endpoint and not response.get("FailureReason"):
        errors.append(f"{model.name}.FailureReason: missing from a Failed endpoint (it says why it failed)")
    failed_transform = model.name == "DescribeTransformJob" and response.get("TransformJobStatus") == "Failed"
    if failed_transform and not response.get("FailureReason"):
        errors.append(f"{model.name}.FailureReason: missing from a Failed transform job (it says why it failed)")
    return errors


def _training_status(answer: dict[str, Any], path: str, errors: list[str]) -> None:
    status, secondary = answer.get("TrainingJobStatus"), answer.get("SecondaryStatus")
    if status not in SECONDARY_STATUSES or secondary not in _enum("sagemaker", "SecondaryStatus"):
        return  # missing or outside the enum: the shape check says so
    if secondary not in SECONDARY_STATUSES[status]:
        allowed = ", ".join(SECONDARY_STATUSES[status])
        errors.append(
            f"{path}.SecondaryStatus: {_shown(secondary)} under TrainingJobStatus {status} (one of {allowed})"
        )


@functools.cache
def _enum(service: str, shape: str) -> frozenset[str]:
    return frozenset(botocore.session.get_session().get_service_model(service).shape_for(shape).enum)


def check_response(service: str, operation: str, response: dict[str, Any], *, wire: bool = False) -> None:
    """Raise ResponseShapeError listing every misfit of `response` to `operation`'s output shape."""
    errors = shape_errors(operation_model(service, operation), response, wire=wire)
    if errors:
        raise ResponseShapeError("\n".join(errors))


@dataclass
class _Checker:
    wire: bool
    errors: list[str]

    def check(self, shape: Shape, value: Any, path: str) -> None:
        if getattr(shape, "is_document_type", False):
            return  # a document is any JSON value
        checker = getattr(self, f"_{shape.type_name}", None)
        if checker is None:
            self._refuse(path, f"the model's type {shape.type_name!r} is not one this validator knows")
            return
        checker(shape, value, path)

    def _structure(self, shape: StructureShape, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            self._wrong_type(shape, value, path, "an object")
            return
        for name in sorted(value.keys() - shape.members.keys()):
            self._refuse(f"{path}.{name}", f"not a member of {shape.name}")
        for name in shape.required_members:
            if value.get(name) is None:
                self._refuse(f"{path}.{name}", f"required member of {shape.name} is missing")
        present = [name for name, item in value.items() if item is not None and name in shape.members]
        if shape.metadata.get("union") and len(present) != 1:
            self._refuse(path, f"union {shape.name} must have exactly one member set, has {sorted(present)}")
        for name in present:
            self.check(shape.members[name], value[name], f"{path}.{name}")

    def _list(self, shape: ListShape, value: Any, path: str) -> None:
        if not isinstance(value, list):
            self._wrong_type(shape, value, path, "a list")
            return
        self._count(shape, len(value), path, "entries")
        for index, item in enumerate(value):
            self.check(shape.member, item, f"{path}[{index}]")

    def _map(self, shape: MapShape, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            self._wrong_type(shape, value, path, "a map")
            return
        self._count(shape, len(value), path, "entries")
        for key, item in value.items():
            self.check(shape.key, key, f"{path}{{key {_shown(key)}}}")
            self.check(shape.value, item, f"{path}[{_shown(key)}]")

    def _string(self, shape: Shape, value: Any, path: str) -> None:
        if not isinstance(value, str):
            self._wrong_type(shape, value, path, "a string")
            return
        if shape.enum and value not in shape.enum:
            self._refuse(path, f"{_shown(value)} not in enum {shape.name} ({', '.join(shape.enum)})")
        self._count(shape, len(value), path, "characters")
        pattern = shape.metadata.get("pattern")
        compiled = _compiled(pattern) if pattern else None
        if compiled is not None and compiled.fullmatch(value) is None:
            self._refuse(path, f"{_shown(value)} does not match {shape.name}'s pattern {pattern}")

    def _boolean(self, shape: Shape, value: Any, path: str) -> None:
        if not isinstance(value, bool):
            self._wrong_type(shape, value, path, "a boolean")

    def _integer(self, shape: Shape, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            self._wrong_type(shape, value, path, "an integer")
            return
        self._range(shape, value, path)

    _long = _integer

    def _float(self, shape: Shape, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self._wrong_type(shape, value, path, "a number")
            return
        self._range(shape, value, path)

    _double = _float

    def _timestamp(self, shape: Shape, value: Any, path: str) -> None:
        if self.wire:  # the JSON protocol's default: epoch seconds
            if isinstance(value, bool) or not isinstance(value, int | float):
                self._wrong_type(shape, value, path, "epoch seconds (a number)")
        elif not isinstance(value, datetime.datetime) or value.tzinfo is None:
            self._wrong_type(shape, value, path, "an aware datetime")

    def _blob(self, shape: Shape, value: Any, path: str) -> None:
        if self.wire:
            try:
                base64.b64decode(value, validate=True) if isinstance(value, str) else None
            except binascii.Error:
                self._refuse(path, f"{_shown(value)} is not base64, as the JSON protocol sends a {shape.name}")
            if not isinstance(value, str):
                self._wrong_type(shape, value, path, "a base64 string")
        elif not isinstance(value, bytes | bytearray | StreamingBody) and not _is_async_stream(value):
            self._wrong_type(shape, value, path, "bytes or a stream")

    def _count(self, shape: Shape, count: int, path: str, unit: str) -> None:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and count < low:
            self._refuse(path, f"{count} {unit}, {shape.name} needs at least {low}")
        if high is not None and count > high:
            self._refuse(path, f"{count} {unit}, {shape.name} allows at most {high}")

    def _range(self, shape: Shape, value: float, path: str) -> None:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and value < low:
            self._refuse(path, f"{value} is below {shape.name}'s minimum {low}")
        if high is not None and value > high:
            self._refuse(path, f"{value} is above {shape.name}'s maximum {high}")

    def _wrong_type(self, shape: Shape, value: Any, path: str, expected: str) -> None:
        self._refuse(
            path, f"{type(value).__name__} {_shown(value)} where {shape.name} ({shape.type_name}) is {expected}"
        )

    def _refuse(self, path: str, problem: str) -> None:
        self.errors.append(f"{path}: {problem}")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN_VALUE_CHARS else f"{text[:SHOWN_VALUE_CHARS]}… ({len(text):,} characters)"


def _is_async_stream(value: Any) -> bool:
    """aiobotocore's StreamingBody (imported lazily: botocore-only processes need not have it)."""
    try:
        from aiobotocore.response import StreamingBody as AsyncStreamingBody
    except ImportError:
        return False
    return isinstance(value, AsyncStreamingBody)


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        return None  # a Java-only construct: not checked here


@dataclass
class ResponseShapes:
    """The hook: `with ResponseShapes() as shapes:` checks every answer to WATCHED_SERVICES in this process.

    `shapes.calls`: (service, operation, HTTP status) of every call made, in order; `shapes.errors`: the
    misfits found, each prefixed with the service; `assert_fit()` raises them all at once."""

    services: tuple[str, ...] = WATCHED_SERVICES
    calls: list[tuple[str, str, int]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _undo: list[tuple[type, Any]] = field(default_factory=list)

    def __enter__(self) -> ResponseShapes:
        import botocore.client

        sync_call = botocore.client.BaseClient._make_request

        def make_request(client, operation_model, request_dict, request_context):
            http, parsed = sync_call(client, operation_model, request_dict, request_context)
            body = http.content if self._wants_body(client, operation_model, http) else None
            self.record(client.meta.service_model.service_name, operation_model, http.status_code, parsed, body)
            return http, parsed

        self._patch(botocore.client.BaseClient, make_request)
        try:
            from aiobotocore.client import AioBaseClient
        except ImportError:
            return self
        async_call = AioBaseClient._make_request

        async def make_async_request(client, operation_model, request_dict, request_context):
            http, parsed = await async_call(client, operation_model, request_dict, request_context)
            body = await http.content if self._wants_body(client, operation_model, http) else None
            self.record(client.meta.service_model.service_name, operation_model, http.status_code, parsed, body)
            return http, parsed

        self._patch(AioBaseClient, make_async_request)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.uninstall()

    def uninstall(self) -> None:
        """Give the clients their own `_make_request` back (once; again does nothing)."""
        while self._undo:
            cls, original = self._undo.pop()
            cls._make_request = original

    def _patch(self, cls: type, replacement: Any) -> None:
        self._undo.append((cls, cls.__dict__["_make_request"]))
        cls._make_request = replacement

    def _wants_body(self, client: Any, model: OperationModel, http: Any) -> bool:
        """The raw body is read again only where it was read already: a JSON answer, not a stream."""
        service = client.meta.service_model
        watched = service.service_name in self.services and http.status_code < 300
        return watched and service.protocol == "json" and not model.has_streaming_output

    def record(self, service: str, model: OperationModel, status: int, parsed: dict, body: bytes | None) -> None:
        """Note the call and the misfits of its answer; never raises into the client that made it."""
        if service not in self.services:
            return
        self.calls.append((service, model.name, status))
        try:
            self._check(service, model, status, parsed, body)
        except Exception as exc:  # a bug here must fail the test, not the task that called AWS
            self.errors.append(f"{service} {model.name}: the shape check itself failed ({exc!r})")

    def _check(self, service: str, model: OperationModel, status: int, parsed: dict, body: bytes | None) -> None:
        if status >= 300:  # an error's shape is its own, not the operation's output
            self.errors.extend(f"{service} parsed {error}" for error in error_errors(model, status, parsed))
            return
        found = [
            f"{service} parsed {error}" for error in shape_errors(model, parsed) + documented_errors(model, parsed)
        ]
        if body is not None:
            try:
                document = json.loads(body or b"{}", parse_constant=_not_json)
            except ValueError as exc:
                found.append(f"{service} wire {model.name}: the body is not JSON ({exc})")
            else:
                found += [f"{service} wire {error}" for error in shape_errors(model, document, wire=True)]
        self.errors.extend(found)

    def assert_fit(self) -> None:
        if self.errors:
            shown = _first_of_each(self.errors)
            raise ResponseShapeError(
                f"{len(self.errors)} response misfit(s) to botocore's output shapes "
                f"({len(shown)} distinct):\n" + "\n".join(shown)
            )


def _not_json(constant: str) -> None:
    """Python's json reads NaN and Infinity; JSON has no such numbers, and SageMaker never sends them."""
    raise ValueError(f"{constant} is not a JSON number")


def _first_of_each(errors: list[str]) -> list[str]:
    """The distinct errors in order of first appearance (a poll repeats the same misfit many times)."""
    return list(dict.fromkeys(errors))
