"""The nightly gates: refusals name both numbers, the gate and the param that lets the run through."""

from __future__ import annotations

import pytest

from include.segmentation.gates import GateRefused, Previous, check_dropped_share, check_row_change, churn_refusal

PREVIOUS = Previous(run_id="scheduled__2026-12-05T02:00:00+00:00", rows_in=3220, rows=3218)


def test_a_halved_census_is_refused_with_both_counts_and_the_param() -> None:
    with pytest.raises(GateRefused) as refused:
        check_row_change(1610, PREVIOUS, 0.10, "s3://popseg/census/c.csv")
    message = str(refused.value)
    assert "1,610 rows" in message and "read 3,220" in message and PREVIOUS.run_id in message
    assert "50.0%" in message and "max_row_change = 10.0%" in message and "at least 0.50" in message


def test_a_change_within_the_gate_the_first_run_and_a_switched_off_gate_pass() -> None:
    check_row_change(3300, PREVIOUS, 0.10, "c.csv")
    check_row_change(10, None, 0.10, "c.csv")
    check_row_change(10, PREVIOUS, None, "c.csv")


def test_too_many_incomplete_rows_are_refused_before_training() -> None:
    with pytest.raises(GateRefused, match=r"c.csv: 700 of 3,220 rows \(21.7%\) .* max_dropped_share = 5.0%.* 0.22"):
        check_dropped_share(700, 3220, 0.05, "c.csv")
    check_dropped_share(2, 3220, 0.05, "c.csv")
    check_dropped_share(3000, 3220, None, "c.csv")


def test_churn_above_the_gate_says_latest_json_did_not_move_and_how_to_accept() -> None:
    message = churn_refusal(0.4123, 1327, 3218, 0.25, PREVIOUS.run_id)
    assert "1,327 of the 3,218 counties" in message and "churn 41.2%" in message and "max_churn = 25.0%" in message
    assert f"latest.json still names {PREVIOUS.run_id}" in message and "at least 0.42" in message
    assert churn_refusal(0.25, 800, 3218, 0.25, "r") is None
    assert churn_refusal(0.9, 3000, 3218, None, "r") is None
