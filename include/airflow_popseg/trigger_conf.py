"""Checking a trigger's conf against the DAG's params: Airflow validates the values of known params but
silently ignores unknown keys, so a misspelled `{"kk": 5}` would run with the default k; and the bounds a
run's params must keep (instance types, components, S3 names), checked again before any AWS call."""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Iterable, Mapping

from airflow.sdk.exceptions import AirflowFailException


def refuse_unknown_keys(conf: Mapping[str, object], params: Iterable[str]) -> None:
    """Fail (no retry) naming each key of `conf` that is not a param, with the nearest param name if any."""
    known = sorted(params)
    unknown = sorted(str(key) for key in conf if key not in known)
    if not unknown:
        return
    named = []
    for key in unknown:
        close = difflib.get_close_matches(key, known, n=1)
        named.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
    raise AirflowFailException(
        f"Unknown trigger parameter{'s' if len(unknown) > 1 else ''}: {', '.join(named)}. "
        f"This DAG's parameters are: {', '.join(known)}."
    )


# --- Bounds a run's params must keep: the same as the Param schemas, checked again before any AWS call ---------

# Control characters (C0, DEL, C1) and the Unicode line separators: a key holding one forges lines in task logs.
_CONTROL = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
# S3 limits a key to 1024 bytes of UTF-8. The output prefix leaves room for what the run appends below it,
# `/runs/<run id>/plots/<name>.png` with an Airflow run id of up to 250 characters.
MAX_KEY_BYTES = 1024
MAX_OUTPUT_PREFIX_BYTES = 512
INPUT_KEY_PATTERN = rf"^[^{_CONTROL}]+$"
OUTPUT_PREFIX_PATTERN = rf"^[^/{_CONTROL}](?:[^{_CONTROL}]*[^/{_CONTROL}])?$"

# S3's general purpose bucket naming rules, every one of them
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html): 3–63 lowercase letters,
# digits, dots and hyphens, starting and ending with a letter or digit, no two adjacent periods, not an IP
# address, none of the reserved prefixes and suffixes.
BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
BUCKET_PATTERN = (
    r"^(?!.*\.\.)(?!\d{1,3}(?:\.\d{1,3}){3}$)"
    rf"(?!(?:{'|'.join(re.escape(p) for p in BUCKET_RESERVED_PREFIXES)}))"
    rf"(?!.*(?:{'|'.join(re.escape(s) for s in BUCKET_RESERVED_SUFFIXES)})$)"
    r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$"
)


def bucket_name_problem(name: str) -> str | None:
    """Which of S3's bucket naming rules `name` breaks, or None: each rule checked on its own, so the error says
    which (the Param's BUCKET_PATTERN holds them all in one expression)."""
    if not 3 <= len(name) <= 63:
        return f"must be 3 to 63 characters long, not {len(name)}"
    if not re.fullmatch(r"[a-z0-9.\-]+", name):
        return "may hold only lowercase letters, digits, dots and hyphens"
    if not (name[0].isalnum() and name[-1].isalnum()):
        return "must begin and end with a letter or digit"
    if ".." in name:
        return "must not contain two adjacent periods"
    if re.fullmatch(r"\d{1,3}(?:\.\d{1,3}){3}", name):
        return "must not be formatted as an IP address"
    if reserved := next((p for p in BUCKET_RESERVED_PREFIXES if name.startswith(p)), None):
        return f"must not start with the reserved prefix {reserved!r}"
    if reserved := next((s for s in BUCKET_RESERVED_SUFFIXES if name.endswith(s)), None):
        return f"must not end with the reserved suffix {reserved!r}"
    return None


def _shown(value: object) -> str:
    """A value as an error message may show it: repr (control characters escaped), at most 80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def refuse_params_out_of_bounds(
    params: Mapping[str, object],
    *,
    training_instance_types: Iterable[str],
    endpoint_instance_types: Iterable[str],
    max_components: int,
) -> None:
    """Fail (no retry) naming each param outside its bounds, its value and what is allowed.

    The Param schemas refuse these at trigger time; this holds whatever reached the run (a setting changed
    since the DAG was parsed, a run created without the form's validation), before any AWS call.
    """
    problems = []
    for name, allowed in (
        ("training_instance_type", tuple(training_instance_types)),
        ("endpoint_instance_type", tuple(endpoint_instance_types)),
    ):
        if params.get(name) not in allowed:
            problems.append(f"{name}={_shown(params.get(name))} is not an allowed instance type ({', '.join(allowed)})")
    components = params.get("num_components")
    if components is not None and not (isinstance(components, int) and 1 <= components <= max_components):
        problems.append(f"num_components={_shown(components)} must be 1 to {max_components} (the census's features)")
    if params.get("k_min") is not None or params.get("k_max") is not None:
        from include.segmentation import k_choice  # numpy and scikit-learn: not when the DAG is parsed

        try:
            k_choice.candidates(
                params.get("k"), params.get("k_min"), params.get("k_max"), params.get("k_rule") or k_choice.RULES[0],
                sys.maxsize,  # the census's rows are checked when it is read
            )  # fmt: skip
        except ValueError as error:
            problems.append(str(error))
    bucket = params.get("bucket")
    if not isinstance(bucket, str) or (problem := bucket_name_problem(bucket)):
        problems.append(f"bucket={_shown(bucket)} is not a valid S3 bucket name: {problem or 'not a string'}")
    for name, pattern, limit in (
        ("input_key", INPUT_KEY_PATTERN, MAX_KEY_BYTES),
        ("output_prefix", OUTPUT_PREFIX_PATTERN, MAX_OUTPUT_PREFIX_BYTES),
    ):
        value = params.get(name)
        if not isinstance(value, str) or not re.fullmatch(pattern, value):
            problems.append(
                f"{name}={_shown(value)} must be a non-empty S3 key without control characters"
                + (" and without a leading or trailing '/'" if name == "output_prefix" else "")
            )
        elif len(value.encode()) > limit:
            problems.append(f"{name} is {len(value.encode())} bytes of UTF-8; at most {limit} are allowed")
    if problems:
        raise AirflowFailException(f"Trigger parameters out of bounds: {'; '.join(problems)}.")
