"""Server-side request validation driven by botocore's SageMaker service model.

botocore checks only required members, types and minimum lengths on the client; SageMaker checks the
rest (maximum lengths, patterns, enums, numeric ranges) and answers in one format:
`N validation error(s) detected: Value '<v>' at '<camelCasePath>' failed to satisfy constraint: <reason>`.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape

from aws_emulator.sagemaker.exceptions import ValidationException


@functools.cache
def service_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("sagemaker")


def operation_model(name: str) -> OperationModel | None:
    model = service_model()
    return model.operation_model(name) if name in model.operation_names else None


def validate_request(operation: str, params: dict[str, Any]) -> None:
    """Raise ValidationException listing every constraint `params` breaks."""
    model = operation_model(operation)
    if model is None or model.input_shape is None:
        return
    errors: list[str] = []
    _check(model.input_shape, params, "", errors)
    if errors:
        count = len(errors)
        noun = "error" if count == 1 else "errors"
        raise ValidationException(f"{count} validation {noun} detected: " + "; ".join(errors))


def _check(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            return
        for name in shape.required_members:
            if value.get(name) is None:
                errors.append(
                    f"Value null at '{_join(path, name)}' failed to satisfy constraint: Member must not be null"
                )
        for name, member in shape.members.items():
            if name in value and value[name] is not None:
                _check(member, value[name], _join(path, name), errors)
    elif isinstance(shape, ListShape):
        if not isinstance(value, list):
            return
        _check_length(shape, value, len(value), path, errors)
        for index, item in enumerate(value, start=1):
            _check(shape.member, item, f"{path}.{index}.member", errors)
    elif isinstance(shape, MapShape):
        if not isinstance(value, dict):
            return
        _check_length(shape, value, len(value), path, errors)
        for key, item in value.items():
            _check(shape.key, key, f"{path}.{key}.key", errors)
            _check(shape.value, item, f"{path}.{key}.value", errors)
    elif shape.type_name == "string" and isinstance(value, str):
        _check_length(shape, value, len(value), path, errors)
        pattern = shape.metadata.get("pattern")
        if pattern and not _matches(pattern, value):
            errors.append(_error(value, path, f"Member must satisfy regular expression pattern: {pattern}"))
        if shape.enum and value not in shape.enum:
            errors.append(_error(value, path, f"Member must satisfy enum value set: [{', '.join(shape.enum)}]"))
    elif shape.type_name in ("integer", "long", "float", "double") and isinstance(value, int | float):
        if "min" in shape.metadata and value < shape.metadata["min"]:
            errors.append(
                _error(value, path, f"Member must have value greater than or equal to {shape.metadata['min']}")
            )
        if "max" in shape.metadata and value > shape.metadata["max"]:
            errors.append(_error(value, path, f"Member must have value less than or equal to {shape.metadata['max']}"))


def _check_length(shape: Shape, value: Any, length: int, path: str, errors: list[str]) -> None:
    if "max" in shape.metadata and length > shape.metadata["max"]:
        errors.append(_error(value, path, f"Member must have length less than or equal to {shape.metadata['max']}"))
    if "min" in shape.metadata and length < shape.metadata["min"]:
        errors.append(_error(value, path, f"Member must have length greater than or equal to {shape.metadata['min']}"))


def _error(value: Any, path: str, reason: str) -> str:
    shown = value if isinstance(value, str | int | float) else "[...]"
    return f"Value '{shown}' at '{path}' failed to satisfy constraint: {reason}"


def _join(path: str, member: str) -> str:
    camel = member[:1].lower() + member[1:]
    return f"{path}.{camel}" if path else camel


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        return None  # a Java-only construct: SageMaker would check it, we cannot


def _matches(pattern: str, value: str) -> bool:
    compiled = _compiled(pattern)
    return compiled is None or compiled.fullmatch(value) is not None
