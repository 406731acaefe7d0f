"""What a run cost: its SageMaker usage priced from a price table, as an estimate a reader can check line by line.

How SageMaker bills what popseg runs (on-demand, per instance, by the second):
- a training job: BillableTimeInSeconds × InstanceCount (DescribeTrainingJob; BillableTimeInSeconds is wall
  time, billed once per instance). Every K-Means candidate of a k sweep is a job of its own and is billed.
- a real-time endpoint: each of its instances from the endpoint's creation to its deletion, at the hosting price.
  popseg reads CreationTime (DescribeEndpoint) just before its teardown deletes the endpoint and records when the
  teardown's trigger saw it gone (at most one check interval late), so the interval is an upper bound.
- a batch transform job: InstanceCount × (TransformEndTime − TransformStartTime). SageMaker's API reference,
  DescribeTransformJob: TransformStartTime "indicates when the transform job starts on ML instances. You are
  billed for the time interval between this time and the value of TransformEndTime"
  (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeTransformJob.html; botocore's
  sagemaker-2017-07-24 model says the same).
Storage (the training volume, S3) and data transfer are not counted: a few cents a month at popseg's sizes.

The price table (PRICE_TABLE, or the deployment's `[popseg] price_table`) is JSON:

    {"format": "popseg price table 1", "currency": "USD",
     "source": "<URL the prices were read from>", "read": "<YYYY-MM-DD, the day they were read>",
     "prices": [{"region": "us-east-1", "instance_type": "ml.c5.xlarge",
                 "training": <USD per instance-hour or null>, "hosting": <… or null>, "transform": <… or null>}]}

A usage whose region, instance type or kind of use has no price in the table is not guessed: its line says
"no price" and why, and the run has no total, only the sum of the lines that have one (`priced_total`).
Someone comparing one night's bill with another's must not read a partial sum as a cheaper night.

Pure: the standard library only; no AWS call, no Airflow.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from include.segmentation.printable import printable

PRICE_TABLE = Path(__file__).with_name("prices.json")  # the table shipped with the package
FORMAT = "popseg price table 1"
# A price table is read whole: a row is ≈ 120 bytes, so 1 MiB holds every region's every instance type many
# times over, and a wrong path (a census, a log) is refused before it is read into memory.
MAX_TABLE_BYTES = 1 << 20
TRAINING, HOSTING, TRANSFORM = "training", "hosting", "transform"
KINDS = (TRAINING, HOSTING, TRANSFORM)
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")
_INSTANCE_TYPE = re.compile(r"ml\.[a-z0-9]+\.[a-z0-9]+")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class PriceTableError(ValueError):
    """The price table cannot be read: names the file, the row and the field, and what was expected."""


@dataclass(frozen=True)
class PriceTable:
    """USD per instance-hour by (region, instance type) and kind of use, and where they were read and when."""

    prices: Mapping[tuple[str, str], Mapping[str, float]]
    source: str | None
    read: str | None  # YYYY-MM-DD
    currency: str = "USD"
    name: str = "price table"  # where it was read from, for messages
    problem: str | None = None  # why no price can be read from it (unreadable()): every line says so

    @classmethod
    def from_json(cls, data: bytes, name: str) -> PriceTable:
        """The table in `data` (PriceTableError naming `name`, the row and the field when it is not one)."""
        if len(data) > MAX_TABLE_BYTES:
            raise PriceTableError(f"{name}: {len(data):,} bytes, more than a price table's {MAX_TABLE_BYTES:,}")
        try:
            document = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise PriceTableError(f"{name}: not JSON ({error})") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise PriceTableError(f'{name}: expected a JSON object with "format": "{FORMAT}"')
        if document.get("currency") != "USD":
            raise PriceTableError(f"{name}: currency must be USD, got {printable(document.get('currency'))!r}")
        rows = document.get("prices")
        if not isinstance(rows, list):
            raise PriceTableError(f'{name}: "prices" must be a list of rows')
        source, read = document.get("source"), document.get("read")
        if rows and not (isinstance(source, str) and source.startswith("https://")):
            raise PriceTableError(
                f'{name}: a table with prices needs its "source", the https:// URL they were read from'
            )
        if rows and not (isinstance(read, str) and _DATE.fullmatch(read)):
            raise PriceTableError(f'{name}: a table with prices needs "read", the date they were read (YYYY-MM-DD)')
        prices: dict[tuple[str, str], dict[str, float]] = {}
        for number, row in enumerate(rows, start=1):
            where = f"{name}, row {number}"
            if not isinstance(row, dict):
                raise PriceTableError(f"{where}: expected an object with region, instance_type and prices")
            region, instance_type = row.get("region"), row.get("instance_type")
            if not isinstance(region, str) or not _REGION.fullmatch(region):
                raise PriceTableError(
                    f"{where}: region must be an AWS region like us-east-1, got {printable(region)!r}"
                )
            if not isinstance(instance_type, str) or not _INSTANCE_TYPE.fullmatch(instance_type):
                raise PriceTableError(
                    f"{where}: instance_type must be a SageMaker instance type like ml.c5.xlarge, got "
                    f"{printable(instance_type)!r}"
                )
            if (region, instance_type) in prices:
                raise PriceTableError(f"{where}: {region} {instance_type} is already priced by an earlier row")
            unknown = set(row) - {"region", "instance_type", *KINDS}
            if unknown:
                raise PriceTableError(f"{where}: unknown fields {sorted(map(printable, unknown))}, expected {KINDS}")
            priced = {}
            for kind in KINDS:
                value = row.get(kind)
                if value is None:
                    continue
                if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1000:
                    raise PriceTableError(
                        f"{where}: {kind} must be USD per instance-hour, above 0 and below 1,000, or null; got "
                        f"{printable(value)!r}"
                    )
                priced[kind] = float(value)
            prices[(region, instance_type)] = priced
        return cls(prices=prices, source=source, read=read, name=name)

    def price(self, region: str, instance_type: str, kind: str) -> tuple[float | None, str | None]:
        """(USD per instance-hour, None), or (None, why there is none: the region, type or use the table lacks)."""
        if self.problem:
            return None, self.problem
        row = self.prices.get((region, instance_type))
        if row is None:
            if not any(r == region for r, _ in self.prices):
                return None, f"the price table has no prices for region {region}"
            return None, f"the price table has no {instance_type} in {region}"
        if kind not in row:
            return None, f"the price table has no {kind} price for {instance_type} in {region}"
        return row[kind], None


def unreadable(error: PriceTableError, name: str) -> PriceTable:
    """A stand-in for a table that could not be read: it prices nothing, and each line says why."""
    return PriceTable(prices={}, source=None, read=None, name=name, problem=f"the price table cannot be read: {error}")


def load_price_table(path: str | Path = PRICE_TABLE) -> PriceTable:
    """The price table at `path` (the shipped one by default); PriceTableError when it cannot be read."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            data = file.read(MAX_TABLE_BYTES + 1)
    except OSError as error:
        raise PriceTableError(f"{path}: cannot be read ({error.strerror or error})") from None
    return PriceTable.from_json(data, str(path))


@dataclass(frozen=True)
class Usage:
    """What one SageMaker resource of the run used: `seconds` per instance (None when it was not recorded)."""

    kind: str  # TRAINING, HOSTING or TRANSFORM
    name: str  # the training job, endpoint or transform job
    instance_type: str
    instance_count: int
    seconds: float | None
    missing: str | None = None  # why `seconds` is None


def estimate(usages: Iterable[Usage], region: str, table: PriceTable) -> dict:
    """run.json's `cost`: one item per usage with its instance-seconds and USD (or "no price" and why), and the
    total, which is None unless every item has a price (`priced_total` sums those that do)."""
    items = []
    for usage in usages:
        instance_seconds = None if usage.seconds is None else usage.seconds * usage.instance_count
        per_hour, reason = table.price(region, usage.instance_type, usage.kind)
        if instance_seconds is None:
            per_hour, reason = None, usage.missing or f"no usage recorded for {usage.name}"
        items.append(
            {
                "kind": usage.kind,
                "name": usage.name,
                "instance_type": usage.instance_type,
                "instance_count": usage.instance_count,
                "seconds": usage.seconds,
                "instance_seconds": instance_seconds,
                "usd_per_hour": per_hour,
                "usd": None if per_hour is None else round(instance_seconds / 3600 * per_hour, 6),
                "no_price": reason,
            }
        )
    priced = [item["usd"] for item in items if item["usd"] is not None]
    no_price = list(dict.fromkeys(item["no_price"] for item in items if item["no_price"]))
    return {
        "currency": table.currency,
        "region": region,
        "total": round(math.fsum(priced), 6) if not no_price else None,
        "priced_total": round(math.fsum(priced), 6),
        "items": items,
        "no_price": no_price,
        "price_table": {"name": Path(table.name).name, "source": table.source, "read": table.read},
    }


def usages_of_run(document: Mapping) -> list[Usage]:
    """Every billed usage run.json records: its training jobs (each K-Means candidate of a sweep, once), the
    endpoints' lifetimes and the batch transform jobs."""
    instance_type = str((document.get("params") or {}).get("training_instance_type", ""))
    selection = document.get("k_selection") or {}
    candidates = selection.get("candidate_jobs") or {}
    jobs = [
        job
        for algorithm, job in document.get("training_jobs", {}).items()
        if not (candidates and algorithm == "kmeans")
    ]
    jobs += candidates.values()
    usages = [
        Usage(TRAINING, job["training_job"], instance_type, job.get("instance_count") or 1, job.get("billable_seconds"),
              None if job.get("billable_seconds") is not None else "SageMaker reported no billable time")
        for job in jobs
    ]  # fmt: skip
    for lifetime in (document.get("endpoint_lifetimes") or {}).values():
        seconds, missing = _interval(lifetime.get("created"), lifetime.get("deleted"))
        usages.append(
            Usage(HOSTING, lifetime["endpoint"], lifetime["instance_type"], lifetime["instance_count"], seconds,
                  missing and f"endpoint {lifetime['endpoint']}: {missing}")
        )  # fmt: skip
    for job in (document.get("transform_jobs") or {}).values():
        seconds, missing = _interval(job.get("start"), job.get("end"))
        usages.append(
            Usage(TRANSFORM, job["transform_job"], job["instance_type"], job["instance_count"], seconds,
                  missing and f"transform job {job['transform_job']}: {missing}")
        )  # fmt: skip
    return usages


def _interval(start: str | None, end: str | None) -> tuple[float | None, str | None]:
    """(seconds from `start` to `end`, ISO 8601 both, None) or (None, which one was not recorded)."""
    if not start or not end:
        return None, "no " + " and no ".join(n for n, v in (("start", start), ("end", end)) if not v) + " recorded"
    return max(0.0, (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()), None
