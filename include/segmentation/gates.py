"""The nightly gates: a census too unlike the last run's is refused before anything is paid for, and a
segmentation that moved too far is not published as the latest.

Each gate is a share (0…1) set by a param, None to switch it off. A refusal names both numbers, the gate
and the param that overrides it. Pure: no Airflow, no AWS.
"""

from __future__ import annotations

from dataclasses import dataclass


class GateRefused(ValueError):
    """A gate stopped the run; the message says why and how to let it through."""


@dataclass(frozen=True)
class Previous:
    """The previous published run the gates compare with: its run id and its census's row counts."""

    run_id: str
    rows_in: int
    rows: int


def check_row_change(rows_in: int, previous: Previous | None, max_row_change: float | None, source: str) -> None:
    """Refuse a census whose row count moved by more than `max_row_change` (share of the previous run's)."""
    if previous is None or max_row_change is None or previous.rows_in == 0:
        return
    change = abs(rows_in - previous.rows_in) / previous.rows_in
    if change > max_row_change:
        raise GateRefused(
            f"{source} has {rows_in:,} rows, the last published run ({previous.run_id}) read {previous.rows_in:,}: "
            f"a change of {change:.1%}, above max_row_change = {max_row_change:.1%}. If the file is right, trigger "
            f"the run with max_row_change of at least {_ceil_share(change)} (or null to switch the check off)"
        )


def check_dropped_share(dropped: int, rows_in: int, max_dropped_share: float | None, source: str) -> None:
    """Refuse a census where more than `max_dropped_share` of the rows are incomplete (and would be dropped)."""
    if max_dropped_share is None or rows_in == 0:
        return
    share = dropped / rows_in
    if share > max_dropped_share:
        raise GateRefused(
            f"{source}: {dropped:,} of {rows_in:,} rows ({share:.1%}) have an empty cell and would be dropped, above "
            f"max_dropped_share = {max_dropped_share:.1%}. If that is expected, trigger the run with "
            f"max_dropped_share of at least {_ceil_share(share)} (or null to switch the check off)"
        )


def churn_refusal(
    changed_share: float, changed: int, shared: int, max_churn: float | None, previous: str
) -> str | None:
    """None when the churn is within `max_churn`; else why latest.json did not move and how to accept the run."""
    if max_churn is None or changed_share <= max_churn:
        return None
    return (
        f"{changed:,} of the {shared:,} counties this run shares with the last published run ({previous}) changed "
        f"segment: churn {changed_share:.1%}, above max_churn = {max_churn:.1%}. The run's files are published "
        f"under its runs/ folder for review, but latest.json still names {previous}. To accept a segmentation like "
        f"this one, trigger the run again with max_churn of at least {_ceil_share(changed_share)} (or null)"
    )


def _ceil_share(share: float) -> str:
    """A share rounded up to the next hundredth, as a param value: 0.1234 -> "0.13"."""
    return f"{min(1.0, -(-round(share * 10_000) // 100) / 100):.2f}"
