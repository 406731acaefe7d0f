"""Price tables for tests: made-up round prices (not AWS's: README, Cost) for the instance types the DAG's
defaults use in the emulator's region, so that a run's estimated cost can be checked by hand."""

from __future__ import annotations

import json
from pathlib import Path

from include.segmentation_aws import cost
from include.segmentation_aws.defaults import DEFAULT_REGION

SOURCE = "https://example.com/made-up-test-prices"
# USD per instance-hour: the training and transform instance type, and the endpoints'.
PRICES = [
    {"region": DEFAULT_REGION, "instance_type": "ml.c5.xlarge", "training": 0.36, "hosting": None, "transform": 0.72},
    {"region": DEFAULT_REGION, "instance_type": "ml.t2.medium", "training": None, "hosting": 0.18, "transform": None},
]


def write_price_table(folder: Path, prices: list[dict] = PRICES) -> Path:
    """A price table file of `prices` in `folder`; its path, for `[popseg] price_table`."""
    path = folder / "prices.json"
    path.write_text(json.dumps(_table(prices)))
    return path


def use_price_table(monkeypatch, folder: Path, prices: list[dict] = PRICES) -> Path:
    """Point the deployment's `[popseg] price_table` at a table of `prices` for the rest of the test."""
    path = write_price_table(folder, prices)
    monkeypatch.setenv("AIRFLOW__POPSEG__PRICE_TABLE", str(path))
    return path


def price_table(prices: list[dict] = PRICES) -> cost.PriceTable:
    """The table of `prices` as the estimate reads it."""
    return cost.PriceTable.from_json(json.dumps(_table(prices)).encode(), "prices.json")


def _table(prices: list[dict]) -> dict:
    return {"format": cost.FORMAT, "currency": "USD", "source": SOURCE, "read": "2026-12-01", "prices": prices}
