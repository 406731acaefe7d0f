"""A small evaluator of identity-based IAM policies: does this policy allow this request?

Follows AWS's evaluation logic for one identity policy: an explicit Deny wins, else any matching Allow
allows, else the request is implicitly denied. A statement matches when its Action (or NotAction), its
Resource (or NotResource) and every Condition match.

- Actions match case-insensitively, with `*` and `?` wildcards.
- Resources match per ARN segment (the six colon-separated parts), case-sensitively, with wildcards
  that never cross a segment; `"*"` matches any resource.
- Conditions: every operator must hold (AND), every key within an operator must hold (AND), and a key
  holds when the request's value matches any of the listed values (OR). Operators: StringEquals,
  StringNotEquals, StringLike, StringNotLike, ArnEquals, ArnLike, ArnNotLike, Bool, NumericEquals,
  NumericNotEquals, NumericLessThan(Equals), NumericGreaterThan(Equals), each with an `IfExists`
  suffix, and Null ("true": the key is absent, "false": present). A key the request lacks fails a
  positive operator and passes a negated one (as in AWS); with `IfExists` it passes. An operator not
  listed here raises: a condition is never ignored silently.
- Multivalued keys (a tuple in the request context, as `sagemaker:InstanceTypes` or `aws:TagKeys`) take a
  set operator: `ForAllValues:` holds when every request value matches a listed value (also when the key
  is absent or empty, as in AWS: pair it with Null "false"), `ForAnyValue:` when at least one does. A
  multivalued key under a plain operator raises, as its meaning in AWS is not what it reads like.

Why not moto's `IAMPolicy`: it matches actions case-sensitively, treats `.` in an ARN as a regex
wildcard, supports only StringEquals and ignores every other condition operator (so a StringLike
condition would allow everything), and turns a failed condition on an Allow into an explicit Deny.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PLACEHOLDER = re.compile(r"\$\{([A-Za-z][A-Za-z0-9]*)\}")


class PolicyError(ValueError):
    """A policy file this evaluator cannot evaluate faithfully."""


@dataclass(frozen=True)
class Request:
    """One authorisation request: an action on a resource ARN with its request context keys."""

    action: str  # "s3:GetObject"
    resource: str  # "arn:aws:s3:::bucket/key", or "*" for actions without resource types
    # "iam:PassedToService" -> "sagemaker.amazonaws.com"; a multivalued key -> a tuple ("sagemaker:InstanceTypes")
    context: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    allowed_by: tuple[str, ...]  # Sids of the Allow statements that matched
    denied_by: tuple[str, ...]  # Sids of the Deny statements that matched


def load_policy(path: str | Path, values: Mapping[str, str]) -> dict:
    """The policy document at `path` with each `${Name}` replaced by `values[Name]`; unknown names raise."""
    text = Path(path).read_text()
    missing = sorted({name for name in PLACEHOLDER.findall(text) if name not in values})
    if missing:
        raise PolicyError(f"{path}: no value for placeholder(s) {', '.join(missing)}")
    return json.loads(PLACEHOLDER.sub(lambda m: values[m.group(1)], text))


def statements(policy: Mapping) -> list[dict]:
    found = policy["Statement"]
    return [found] if isinstance(found, dict) else list(found)


def evaluate(policy: Mapping, request: Request) -> Decision:
    """Whether `policy` allows `request`, and which statements decided it."""
    allow, deny = [], []
    for index, statement in enumerate(statements(policy)):
        if _matches(statement, request):
            sid = statement.get("Sid", f"#{index}")
            (deny if statement["Effect"] == "Deny" else allow).append(sid)
    return Decision(allowed=bool(allow) and not deny, allowed_by=tuple(allow), denied_by=tuple(deny))


def _matches(statement: Mapping, request: Request) -> bool:
    if statement.get("Effect") not in ("Allow", "Deny"):
        raise PolicyError(f"statement {statement.get('Sid')!r}: Effect must be Allow or Deny")
    if "Principal" in statement or "NotPrincipal" in statement:
        raise PolicyError(f"statement {statement.get('Sid')!r}: identity policies name no Principal")
    action = _element(statement, "Action", lambda pattern: _wildcard(pattern, request.action, ignore_case=True))
    resource = _element(statement, "Resource", lambda pattern: arn_like(pattern, request.resource))
    return action and resource and _conditions(statement.get("Condition", {}), request.context)


def _element(statement: Mapping, name: str, match) -> bool:
    """Action/NotAction or Resource/NotResource: exactly one must be present."""
    if (name in statement) == (f"Not{name}" in statement):
        raise PolicyError(f"statement {statement.get('Sid')!r}: exactly one of {name} and Not{name}")
    negated = f"Not{name}" in statement
    patterns = statement[f"Not{name}" if negated else name]
    hit = any(match(pattern) for pattern in ([patterns] if isinstance(patterns, str) else patterns))
    return hit != negated


def _wildcard(pattern: str, value: str, ignore_case: bool = False) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags=re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL) is not None


def arn_like(pattern: str, arn: str) -> bool:
    """ARN matching as IAM does it: segment by segment; the last segment (resource) may hold colons."""
    if pattern == "*":
        return True
    want, have = pattern.split(":", 5), arn.split(":", 5)
    return len(want) == len(have) == 6 and all(_wildcard(w, h) for w, h in zip(want, have, strict=True))


_OPERATORS = {
    "StringEquals": (lambda expected, actual: expected == actual, False),
    "StringNotEquals": (lambda expected, actual: expected == actual, True),
    "StringLike": (lambda expected, actual: _wildcard(expected, actual), False),
    "StringNotLike": (lambda expected, actual: _wildcard(expected, actual), True),
    "ArnEquals": (lambda expected, actual: expected == actual, False),
    "ArnLike": (arn_like, False),
    "ArnNotLike": (arn_like, True),
    "Bool": (lambda expected, actual: str(expected).lower() == str(actual).lower(), False),
    "NumericEquals": (lambda expected, actual: _numbers(expected, actual, float.__eq__), False),
    "NumericNotEquals": (lambda expected, actual: _numbers(expected, actual, float.__eq__), True),
    "NumericLessThan": (lambda expected, actual: _numbers(expected, actual, float.__lt__), False),
    "NumericLessThanEquals": (lambda expected, actual: _numbers(expected, actual, float.__le__), False),
    "NumericGreaterThan": (lambda expected, actual: _numbers(expected, actual, float.__gt__), False),
    "NumericGreaterThanEquals": (lambda expected, actual: _numbers(expected, actual, float.__ge__), False),
}
_SET_OPERATORS = ("ForAllValues:", "ForAnyValue:")


def _numbers(expected: object, actual: object, holds) -> bool:
    """`actual <op> expected` as numbers; a value that is not a number matches nothing (as in AWS)."""
    try:
        return holds(float(actual), float(expected))
    except (TypeError, ValueError):
        return False


def _conditions(block: Mapping, context: Mapping[str, str | tuple[str, ...]]) -> bool:
    present = {key.lower(): value for key, value in context.items()}  # condition keys are case-insensitive
    for operator, keys in block.items():
        quantifier = next((q for q in _SET_OPERATORS if operator.startswith(q)), None)
        name = operator[len(quantifier) :] if quantifier else operator
        name, if_exists = (name[: -len("IfExists")], True) if name.endswith("IfExists") else (name, False)
        if name == "Null" and not quantifier:
            if not all(
                (present.get(key.lower()) is None) == (str(expected).lower() == "true")
                for key, expected in keys.items()
            ):
                return False
            continue
        if name not in _OPERATORS:
            raise PolicyError(f"condition operator {operator!r} is not supported by this evaluator")
        compare, negated = _OPERATORS[name]
        for key, expected in keys.items():
            listed = [expected] if isinstance(expected, str | int | float | bool) else list(expected)
            actual = present.get(key.lower())

            if quantifier == "ForAllValues:":
                if actual is not None and not all(_holds(compare, negated, listed, v) for v in _values(actual)):
                    return False
                continue
            if quantifier == "ForAnyValue:":
                if actual is None or not any(_holds(compare, negated, listed, v) for v in _values(actual)):
                    return False
                continue
            if isinstance(actual, tuple):
                raise PolicyError(f"{key} is multivalued: {operator} needs ForAllValues: or ForAnyValue:")
            if actual is None:
                if not (if_exists or negated):
                    return False
                continue
            if not _holds(compare, negated, listed, actual):
                return False
    return True


def _holds(compare, negated: bool, listed: list, value: str) -> bool:
    """One request value against the listed values: any matches (OR), negated for the Not operators."""
    return any(compare(want, value) for want in listed) != negated


def _values(actual: str | tuple[str, ...]) -> tuple[str, ...]:
    return actual if isinstance(actual, tuple) else (actual,)
