"""A run's estimated cost (run.json's `cost`, include.segmentation_aws.cost) in a few words, as the report, the
Segmentation view's run list and `make run` show it. The standard library only: the view imports it.
"""

from __future__ import annotations

from collections.abc import Mapping


def cost_text(cost: Mapping | None) -> str:
    """run.json's `cost` in a few words: "$0.0412"; "at least $0.0300, no price for 1 of 5 lines (…)" when some
    lines have no price; "no price (…)" when none has one; "not estimated" for a run recorded without one."""
    if not cost:
        return "not estimated"
    if cost.get("total") is not None:
        return usd(cost["total"])
    reasons = "; ".join(cost.get("no_price") or [])
    items = cost.get("items") or []
    unpriced = sum(1 for item in items if item.get("usd") is None)
    if unpriced == len(items):
        return f"no price ({reasons})"
    return f"at least {usd(cost.get('priced_total') or 0)}, no price for {unpriced} of {len(items)} lines ({reasons})"


def usd(amount: float) -> str:
    """US dollars as a bill shows them: cents from $1, hundredths of a cent below ($0.0412): a run costs cents."""
    return f"${amount:,.2f}" if amount >= 1 else f"${amount:.4f}"
