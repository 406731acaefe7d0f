"""AWS's reference data on IAM actions (the Service Authorization Reference), as parliament ships it.

Used to check the call map against AWS rather than against itself: each request's resource has the ARN
format of one of its action's resource types, and a call asks for every resource type its action
requires (CreateEndpoint, for one, is authorised on the endpoint and on its endpoint config).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import parliament

from tests.support.iam.evaluator import arn_like


@functools.cache
def _definition() -> list[dict]:
    return json.loads((Path(parliament.__file__).parent / "iam_definition.json").read_text())


@functools.cache
def _privileges() -> dict[str, dict]:
    found = {}
    for service in _definition():
        formats = {resource["resource"]: resource["arn"] for resource in service["resources"]}
        for privilege in service["privileges"]:
            types = {}
            for entry in privilege["resource_types"]:
                name = entry["resource_type"].rstrip("*")  # "endpoint*": a required resource type
                if name:
                    types[name] = (entry["resource_type"].endswith("*"), formats.get(name))
            found[f"{service['prefix']}:{privilege['privilege']}".lower()] = types
    return found


def resource_types(action: str) -> dict[str, tuple[bool, str]]:
    """Resource type -> (required, ARN format) of `action`; empty when it takes only Resource "*"."""
    try:
        return _privileges()[action.lower()]
    except KeyError:
        raise LookupError(f"{action} is not an IAM action in the Service Authorization Reference") from None


def types_of(action: str, arn: str) -> set[str]:
    """The resource types of `action` whose ARN format `arn` has."""
    return {
        name
        for name, (_, arn_format) in resource_types(action).items()
        if arn_format and arn_like(re.sub(r"\$\{[^}]+\}", "*", arn_format), arn)
    }


@functools.cache
def condition_keys(action: str) -> frozenset[str]:
    """The condition keys AWS lists for `action` (on any of its resource types or the action itself),
    lowercased, with `${TagKey}` left as it is written (`aws:requesttag/${tagkey}`)."""
    prefix, name = action.lower().split(":", 1)
    for service in _definition():
        if service["prefix"].lower() != prefix:
            continue
        for privilege in service["privileges"]:
            if privilege["privilege"].lower() == name:
                return frozenset(
                    key.lower() for entry in privilege["resource_types"] for key in entry["condition_keys"]
                )
    raise LookupError(f"{action} is not an IAM action in the Service Authorization Reference")


def defines_condition_key(action: str, key: str) -> bool:
    """Whether AWS defines `key` for `action`: listed for it (a tag key matched against `${TagKey}`)."""
    listed = condition_keys(action)
    key = key.lower()
    return key in listed or any(
        template.endswith("/${tagkey}") and key.startswith(template[: -len("${tagkey}")]) for template in listed
    )
