"""Checking a trigger's conf against the DAG's params: Airflow validates the values of known params but
silently ignores unknown keys, so a misspelled `{"kk": 5}` would run with the default k."""

from __future__ import annotations

import difflib
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
