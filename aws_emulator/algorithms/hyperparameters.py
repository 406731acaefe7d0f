"""Parsing SageMaker hyperparameters (all strings on the wire) with errors that name the parameter."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from aws_emulator.algorithms.base import ClientError

Parser = Callable[[str, str], Any]


def integer(minimum: int | None = None, maximum: int | None = None, auto: bool = False) -> Parser:
    """An integer in [minimum, maximum]; `auto` also allows the literal "auto" (returned as None)."""

    def parse(name: str, value: str) -> int | None:
        text = value.strip()
        if auto and text.lower() == "auto":
            return None
        try:
            number = int(text)
        except ValueError:
            raise _bad(name, value, "an integer" + (" or 'auto'" if auto else "")) from None
        if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
            raise _bad(name, value, f"an integer in [{minimum}, {maximum if maximum is not None else '∞'}]")
        return number

    return parse


def real(minimum: float, maximum: float) -> Parser:
    def parse(name: str, value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise _bad(name, value, "a number") from None
        if not minimum <= number <= maximum:
            raise _bad(name, value, f"a number in [{minimum}, {maximum}]")
        return number

    return parse


def boolean(name: str, value: str) -> bool:
    """'true'/'false' in any case, as the SDK sends Python's True/False."""
    text = value.strip().lower()
    if text not in ("true", "false"):
        raise _bad(name, value, "'true' or 'false'")
    return text == "true"


def choice(*options: str) -> Parser:
    def parse(name: str, value: str) -> str:
        if value.strip() not in options:
            raise _bad(name, value, "one of " + ", ".join(repr(o) for o in options))
        return value.strip()

    return parse


def json_list(options: Iterable[str]) -> Parser:
    """A JSON list of names, e.g. '["msd", "ssd"]'; Python's repr with single quotes is accepted too."""
    allowed = tuple(options)

    def parse(name: str, value: str) -> list[str]:
        try:
            items = json.loads(value.replace("'", '"'))
        except json.JSONDecodeError:
            raise _bad(name, value, f"a JSON list drawn from {list(allowed)}") from None
        if not isinstance(items, list) or not items or any(item not in allowed for item in items):
            raise _bad(name, value, f"a non-empty JSON list drawn from {list(allowed)}")
        return list(dict.fromkeys(items))

    return parse


def parse_all(
    hyperparameters: dict[str, str],
    schema: dict[str, Parser],
    required: Iterable[str],
    defaults: dict[str, str],
    algorithm: str,
) -> dict[str, Any]:
    """Check required names, refuse unknown ones, apply defaults and parse every value.

    Names starting with `_` are container settings (`_log_level`, `_kvstore`, …): accepted, ignored.
    """
    given = {k: v for k, v in hyperparameters.items() if not k.startswith("_")}
    missing = [name for name in required if name not in given]
    if missing:
        raise ClientError(f"Missing required hyperparameter(s) for {algorithm}: {', '.join(missing)}")
    unknown = sorted(set(given) - set(schema))
    if unknown:
        raise ClientError(
            f"Unknown hyperparameter(s) for {algorithm}: {', '.join(unknown)} (supported: {', '.join(sorted(schema))})"
        )
    merged = {**defaults, **given}
    return {name: schema[name](name, str(value)) for name, value in merged.items()}


def configuration_lines(defaults: dict[str, Any], given: dict[str, str], defaults_file: str) -> list[str]:
    """The three lines a built-in container logs before training: its defaults, the job's hyperparameters
    (as received) and the merged result, as Python dict reprs the way the container prints them."""
    return [
        f"Reading default configuration from /opt/amazon/lib/python3.7/site-packages/algorithm/resources/"
        f"{defaults_file}: {defaults!r}",
        f"Merging with provided configuration from /opt/ml/input/config/hyperparameters.json: {given!r}",
        f"Final configuration: { ({**defaults, **given})!r}",
    ]


def _bad(name: str, value: str, expected: str) -> ClientError:
    return ClientError(f"Invalid hyperparameter {name}={value!r}: expected {expected}")
