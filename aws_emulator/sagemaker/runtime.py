"""sagemaker-runtime InvokeEndpoint (REST JSON): the endpoint's model answers in SageMaker's formats."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

from aws_emulator.inference_formats import InvalidRequest, parse_request, render_response
from aws_emulator.sagemaker.exceptions import ModelError, RuntimeValidationError, SageMakerError
from aws_emulator.sagemaker.models import ACCOUNT_ID, SageMakerBackends

INVOKE_ENDPOINT_MAX_BYTES = 6 * 1024 * 1024
"""SageMaker's cap on an InvokeEndpoint request body (6 MB: botocore's BodyBlob max, 6,291,456 bytes); the server
reads no more than this plus one byte."""


@dataclass
class RuntimeResponse:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class Runtime:
    def __init__(self, backends: SageMakerBackends) -> None:
        self.backends = backends

    def invoke(self, name: str, body: bytes, headers: dict[str, str], region: str) -> RuntimeResponse:
        request_id = str(uuid.uuid4())
        try:
            return self._invoke(name, body, headers, region, request_id)
        except SageMakerError as error:
            return _error(error, request_id)

    def _invoke(self, name: str, body: bytes, headers: dict[str, str], region: str, request_id: str) -> RuntimeResponse:
        backend = self.backends[region]
        # The lock covers the lookup only: the server runs each request in its own thread, predictors are
        # read-only, and numpy releases the GIL in the matrix products, so invocations run side by side.
        with backend.lock:
            endpoint = backend.endpoints.get(name)
        if endpoint is None:
            raise RuntimeValidationError(f"Endpoint {name} of account {ACCOUNT_ID} not found.")
        deployment = endpoint.deployment
        if endpoint.status not in ("InService", "Updating") or deployment is None or deployment.predictor is None:
            raise RuntimeValidationError(
                f"Endpoint {name} of account {ACCOUNT_ID} is in status {endpoint.status}; "
                "only InService endpoints can be invoked."
            )
        # The server reads at most INVOKE_ENDPOINT_MAX_BYTES + 1; Content-Length says how much was sent.
        size = max(len(body), int(headers.get("content-length") or 0))
        if size > INVOKE_ENDPOINT_MAX_BYTES:
            raise RuntimeValidationError(
                f"Request body of {size} bytes exceeds the maximum of {INVOKE_ENDPOINT_MAX_BYTES} bytes."
            )
        predictor = deployment.predictor
        variant = deployment.variant["VariantName"]
        try:
            rows = parse_request(body, headers.get("content-type"), predictor.feature_dim)
            answer, content_type = render_response(predictor.predict(rows), headers.get("accept"))
        except InvalidRequest as invalid:
            log_group = f"/aws/sagemaker/Endpoints/{name}"
            raise ModelError(
                f'Received client error ({invalid.status}) from primary with message "{invalid.message}". See '
                f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logEventViewer:"
                f"group={log_group} in account {ACCOUNT_ID} for more information.",
                original_status=invalid.status,
                original_message=invalid.message,
                log_stream_arn=f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:{log_group}",
            ) from invalid
        response_headers = {
            "Content-Type": content_type,
            "x-Amzn-Invoked-Production-Variant": variant,
            "x-amzn-RequestId": request_id,
        }
        custom = headers.get("x-amzn-sagemaker-custom-attributes")
        if custom is not None:
            response_headers["X-Amzn-SageMaker-Custom-Attributes"] = custom
        return RuntimeResponse(200, answer, response_headers)


def _error(error: SageMakerError, request_id: str) -> RuntimeResponse:
    document: dict[str, object] = {"message": error.message}
    if isinstance(error, ModelError):
        document = {
            "ErrorCode": "CLIENT_ERROR_FROM_MODEL" if error.original_status < 500 else "SERVER_ERROR_FROM_MODEL",
            "Message": error.message,
            "OriginalStatusCode": error.original_status,
            "OriginalMessage": error.original_message,
            "LogStreamArn": error.log_stream_arn,
        }
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": error.code, "x-amzn-RequestId": request_id}
    return RuntimeResponse(error.status, json.dumps(document).encode(), headers)
