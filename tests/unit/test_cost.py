"""A run's estimated cost: its SageMaker usage from run.json priced from a price table, never guessed."""

from __future__ import annotations

import json
import re

import pytest

from include.segmentation.cost_text import cost_text
from include.segmentation_aws import cost
from include.segmentation_aws.cost import HOSTING, TRAINING, TRANSFORM, PriceTable, PriceTableError, Usage

# Made-up prices for the tests (the shipped table has no rows: README, Cost): round numbers to check by hand.
TABLE = {
    "format": cost.FORMAT,
    "currency": "USD",
    "source": "https://example.com/prices",
    "read": "2026-12-01",
    "prices": [
        {"region": "us-east-1", "instance_type": "ml.c5.xlarge", "training": 0.36, "hosting": None, "transform": 0.72},
        {"region": "us-east-1", "instance_type": "ml.t2.medium", "training": None, "hosting": 0.18, "transform": None},
    ],
}


def _table(**changes) -> PriceTable:
    return PriceTable.from_json(json.dumps({**TABLE, **changes}).encode(), "prices-test.json")


def _job(name: str, seconds: int | None, instances: int = 1, k: int | None = None) -> dict:
    return {"training_job": name, "billable_seconds": seconds, "instance_count": instances,
            "hyperparameters": {"k": str(k)} if k else {}}  # fmt: skip


def _run(**extra) -> dict:
    """run.json's fields the estimate reads: one PCA and one K-Means job on two instances, two endpoints."""
    return {
        "params": {"training_instance_type": "ml.c5.xlarge"},
        "training_jobs": {"pca": _job("popseg-pca-x", 100, 2), "kmeans": _job("popseg-kmeans-x", 50, 2)},
        "endpoint_lifetimes": {
            "pca": {
                "endpoint": "popseg-pca-x",
                "instance_type": "ml.t2.medium",
                "instance_count": 1,
                "created": "2026-12-06T02:00:00+00:00",
                "deleted": "2026-12-06T02:10:00+00:00",
            },
        },
        **extra,
    }


def test_a_runs_figure_is_its_instance_seconds_at_the_tables_prices() -> None:
    estimate = cost.estimate(cost.usages_of_run(_run()), "us-east-1", _table())
    # training: (100 + 50) s × 2 instances at $0.36/h; the endpoint: 600 s × 1 at $0.18/h.
    assert [item["instance_seconds"] for item in estimate["items"]] == [200, 100, 600]
    assert [item["usd"] for item in estimate["items"]] == pytest.approx([0.02, 0.01, 0.03])
    assert estimate["total"] == pytest.approx(0.06) and estimate["no_price"] == []
    assert estimate["price_table"] == {"name": "prices-test.json", "source": TABLE["source"], "read": "2026-12-01"}
    assert cost_text(estimate) == "$0.0600"


def test_an_instance_type_the_table_lacks_has_no_price_and_the_run_no_total() -> None:
    run = _run(params={"training_instance_type": "ml.m5.2xlarge"})
    estimate = cost.estimate(cost.usages_of_run(run), "us-east-1", _table())
    assert [item["usd"] for item in estimate["items"]] == [None, None, pytest.approx(0.03)]
    assert estimate["items"][0]["no_price"] == "the price table has no ml.m5.2xlarge in us-east-1"
    assert estimate["total"] is None and estimate["priced_total"] == pytest.approx(0.03)
    assert cost_text(estimate) == (
        "at least $0.0300, no price for 2 of 3 lines (the price table has no ml.m5.2xlarge in us-east-1)"
    )


def test_a_region_the_table_lacks_has_no_price_for_any_line() -> None:
    estimate = cost.estimate(cost.usages_of_run(_run()), "eu-west-1", _table())
    assert {item["no_price"] for item in estimate["items"]} == {"the price table has no prices for region eu-west-1"}
    assert estimate["total"] is None and estimate["priced_total"] == 0
    assert cost_text(estimate) == "no price (the price table has no prices for region eu-west-1)"


def test_a_use_the_table_does_not_price_for_that_type_has_no_price() -> None:
    usage = Usage(HOSTING, "popseg-kmeans-x", "ml.c5.xlarge", 1, 60.0)
    [item] = cost.estimate([usage], "us-east-1", _table())["items"]
    assert item["no_price"] == "the price table has no hosting price for ml.c5.xlarge in us-east-1"


def test_every_candidate_of_a_k_sweep_is_counted_once() -> None:
    candidates = {str(k): _job(f"popseg-kmeans-k{k}-x", 10 * k, 1, k) for k in (3, 4, 5)}
    run = _run(k_selection={"chosen_k": 4, "candidate_jobs": candidates})
    run["training_jobs"]["kmeans"] = candidates["4"]  # the chosen one is also training_jobs["kmeans"]
    names = [item["name"] for item in cost.estimate(cost.usages_of_run(run), "us-east-1", _table())["items"]]
    assert names == ["popseg-pca-x", "popseg-kmeans-k3-x", "popseg-kmeans-k4-x", "popseg-kmeans-k5-x", "popseg-pca-x"]


def test_transform_jobs_are_billed_from_start_to_end_per_instance() -> None:
    job = {"transform_job": "popseg-pca-batch-x", "instance_type": "ml.c5.xlarge", "instance_count": 2,
           "start": "2026-12-06T02:00:00+00:00", "end": "2026-12-06T02:05:00+00:00"}  # fmt: skip
    run = _run(endpoint_lifetimes={}, transform_jobs={"pca": job})
    item = cost.estimate(cost.usages_of_run(run), "us-east-1", _table())["items"][-1]
    assert (item["kind"], item["instance_seconds"], item["usd"]) == (TRANSFORM, 600, pytest.approx(0.12))


def test_an_endpoint_without_a_recorded_creation_time_has_no_figure_rather_than_a_guess() -> None:
    run = _run()
    run["endpoint_lifetimes"]["pca"]["created"] = None
    item = cost.estimate(cost.usages_of_run(run), "us-east-1", _table())["items"][-1]
    assert item["usd"] is None and item["no_price"] == "endpoint popseg-pca-x: no start recorded"


def test_the_shipped_table_reads_and_prices_nothing_it_cannot_cite() -> None:
    table = cost.load_price_table()
    assert table.prices == {} or (table.source.startswith("https://") and table.read)
    [item] = cost.estimate([Usage(TRAINING, "j", "ml.c5.xlarge", 1, 60.0)], "us-east-1", table)["items"]
    assert item["usd"] is not None or item["no_price"].startswith("the price table has no")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"source": None}, 'prices-test.json: a table with prices needs its "source"'),
        ({"read": "December"}, 'prices-test.json: a table with prices needs "read"'),
        ({"currency": "EUR"}, "prices-test.json: currency must be USD"),
        ({"prices": [{**TABLE["prices"][0], "training": -1}]}, "prices-test.json, row 1: training must be USD per"),
        ({"prices": [{**TABLE["prices"][0], "region": "mars"}]}, "prices-test.json, row 1: region must be an AWS"),
        (
            {"prices": [TABLE["prices"][0], TABLE["prices"][0]]},
            "prices-test.json, row 2: us-east-1 ml.c5.xlarge is already",
        ),
        ({"prices": [{**TABLE["prices"][0], "spot": 0.1}]}, "prices-test.json, row 1: unknown fields ['spot']"),
    ],
)
def test_a_table_that_is_not_one_is_refused_naming_the_file_row_and_field(change: dict, message: str) -> None:
    with pytest.raises(PriceTableError, match="^" + re.escape(message)):
        _table(**change)


def test_a_file_larger_than_a_price_table_is_refused_before_it_is_read_whole(tmp_path) -> None:
    path = tmp_path / "census.csv"
    path.write_bytes(b"x" * (cost.MAX_TABLE_BYTES + 10))
    with pytest.raises(PriceTableError, match=r"census\.csv: 1,048,577 bytes, more than a price table's 1,048,576"):
        cost.load_price_table(path)


def test_a_table_that_cannot_be_read_leaves_every_line_without_a_price_saying_why(tmp_path) -> None:
    path = tmp_path / "prices.json"
    path.write_text("{")
    try:
        table = cost.load_price_table(path)
    except PriceTableError as error:
        table = cost.unreadable(error, str(path))
    estimate = cost.estimate(cost.usages_of_run(_run()), "us-east-1", table)
    assert estimate["total"] is None
    assert estimate["no_price"] == [f"the price table cannot be read: {path}: not JSON (Expecting property name "
                                    "enclosed in double quotes: line 1 column 2 (char 1))"]  # fmt: skip
