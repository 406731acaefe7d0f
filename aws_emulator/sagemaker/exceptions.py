"""SageMaker's errors, each a class carrying its code, message and HTTP status; rendered in one place."""

from __future__ import annotations


class SageMakerError(Exception):
    code = "InternalFailure"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationException(SageMakerError):
    """Bad requests and, as SageMaker answers them, missing resources."""

    code = "ValidationException"


class ResourceInUse(SageMakerError):
    code = "ResourceInUse"


class UnknownOperationException(SageMakerError):
    code = "UnknownOperationException"


class SerializationException(SageMakerError):
    code = "SerializationException"


class RuntimeValidationError(SageMakerError):
    """sagemaker-runtime's own code for bad input and unknown endpoints."""

    code = "ValidationError"


class ModelError(SageMakerError):
    """The container answered 4xx/5xx; carries the original status and text (HTTP 424)."""

    code = "ModelError"
    status = 424

    def __init__(self, message: str, original_status: int, original_message: str, log_stream_arn: str) -> None:
        super().__init__(message)
        self.original_status = original_status
        self.original_message = original_message
        self.log_stream_arn = log_stream_arn


def not_found(kind: str, arn: str) -> ValidationException:
    """`Could not find model "<arn>".` and its endpoint and endpoint-configuration twins (§4.3)."""
    return ValidationException(f'Could not find {kind} "{arn}".')


def already_exists(kind: str, arn: str) -> ValidationException:
    return ValidationException(f'Cannot create already existing {kind} "{arn}".')
