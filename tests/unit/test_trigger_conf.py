"""A trigger's conf: unknown keys are refused by name instead of silently ignored."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowFailException

from include.airflow_popseg.trigger_conf import refuse_unknown_keys

PARAMS = ("bucket", "input_key", "k", "output_prefix", "variance_threshold")


def test_known_keys_pass() -> None:
    refuse_unknown_keys({"k": 5, "bucket": "popseg"}, PARAMS)
    refuse_unknown_keys({}, PARAMS)


def test_a_misspelled_key_is_refused_with_the_param_it_was_meant_to_be() -> None:
    with pytest.raises(AirflowFailException, match=r"Unknown trigger parameter: 'kk' \(did you mean 'k'\?\)"):
        refuse_unknown_keys({"kk": 5}, PARAMS)


def test_every_unknown_key_is_named_and_the_params_listed() -> None:
    with pytest.raises(AirflowFailException) as refused:
        refuse_unknown_keys({"buckett": "x", "zzz": 1, "k": 3}, PARAMS)
    message = str(refused.value)
    assert "'buckett' (did you mean 'bucket'?)" in message and "'zzz'" in message and "'k'" not in message.split(":")[1]
    assert "bucket, input_key, k, output_prefix, variance_threshold" in message
