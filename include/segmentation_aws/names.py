"""SageMaker names of one Airflow run: valid, unique per run, and the same on every retry of a task."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

MAX_NAME = 63  # SageMaker's limit for job, model, endpoint config and endpoint names
NAME_PREFIX = "popseg-"  # every resource the DAG creates; the IAM policy is scoped to it
RUN_TAG = "popseg:run"  # the run's token, on every resource the DAG creates
RUN_ID_TAG = "popseg:run-id"  # the Airflow run id, so the sweeper can ask Airflow whether the run still runs
# Hex digits of sha256(run id) in the token: 16 = 64 bits, so that someone who may trigger runs cannot pick a
# run id whose names collide with another run's (a 32-bit hash falls to a birthday search in seconds).
# The longest name, "popseg-kmeans-k50-" + "20261123t020000-" + 16 hex, is 50 characters: within MAX_NAME.
TOKEN_HASH_HEX = 16
# SageMaker's tag value constraint (botocore's TagValue shape): a run id outside it is not tagged.
_TAG_VALUE = re.compile(r"[\w .:/=+\-@]{0,256}")


@dataclass(frozen=True)
class RunNames:
    """SageMaker names of one Airflow run: valid (≤ 63, `[a-zA-Z0-9](-*[a-zA-Z0-9])*`) and unique per run."""

    token: str  # e.g. "20261123t020000-1a2b3c4d5e6f7a8b": the run's time and 64 bits of a hash of its run id

    @classmethod
    def for_run(cls, run_id: str) -> RunNames:
        digest = hashlib.sha256(run_id.encode()).hexdigest()[:TOKEN_HASH_HEX]
        stamp = re.search(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})", run_id)
        prefix = "".join(stamp.groups()[:3]) + "t" + "".join(stamp.groups()[3:]) if stamp else "run"
        return cls(f"{prefix}-{digest}")

    def training_job(self, algorithm: str, k: int | None = None) -> str:
        """The run's `algorithm` job; with `k`, that candidate's job of a k sweep (popseg-kmeans-k7-<token>)."""
        candidate = f"k{k}-" if k is not None else ""
        return resource_name(f"{NAME_PREFIX}{algorithm}-{candidate}{self.token}")

    def transform_job(self, algorithm: str) -> str:
        """The run's batch transform job of `algorithm` (transform jobs have names of their own kind)."""
        return resource_name(f"{NAME_PREFIX}{algorithm}-{self.token}")

    def endpoint(self, algorithm: str) -> str:
        return resource_name(f"{NAME_PREFIX}{algorithm}-{self.token}")

    def tags(self, run_id: str) -> dict[str, str]:
        """The tags of every resource of the run: its token and, when SageMaker accepts it as a value, its run id."""
        return {RUN_TAG: self.token, **({RUN_ID_TAG: run_id} if _TAG_VALUE.fullmatch(run_id) else {})}


def resource_name(candidate: str) -> str:
    """`candidate` made a valid SageMaker name: [a-zA-Z0-9-], ≤ MAX_NAME, no leading/trailing/double hyphens."""
    name = re.sub(r"[^a-zA-Z0-9-]", "-", candidate)[:MAX_NAME].strip("-")
    return re.sub(r"-{2,}", "-", name)
