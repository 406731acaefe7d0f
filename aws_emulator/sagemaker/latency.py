"""The AWS latency profile (`python -m aws_emulator --latency aws[:scale]`): training jobs, endpoints and
transform jobs stay in each state for as long as SageMaker keeps them there, divided by `scale`.

Each modelled duration is drawn uniformly from a range (seconds on AWS, unscaled) by a generator seeded with
the profile's seed, the kind of resource and its name: the same names give the same durations in every run,
whatever the order in which the emulator's threads reach them, and a bench recomputes them from the names
alone (`LatencyProfile(scale, seed).training_phases(name)` ...). Where each range comes from is in
aws_emulator/README.md, section *The AWS latency profile*.

A modelled state lasts `modelled / scale` seconds of the emulator's clock, or longer when the emulator's own
work in it (training, loading a model) takes longer. The Describe* timestamps are that clock's;
TrainingTimeInSeconds and BillableTimeInSeconds are modelled (unscaled) seconds.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

TRAINING_PHASES: dict[str, tuple[float, float]] = {
    "Starting": (90.0, 120.0),
    "Downloading": (15.0, 30.0),
    "Training": (50.0, 65.0),
    "Uploading": (4.0, 8.0),
}
"""Seconds a training job of the pipeline (a built-in PCA or K-Means on the counties, one ml.c4.xlarge)
spends in each secondary status. Their midpoints add up to 191 s, the seed notebook's PCA and K-Means fits
(3 m 11 s each); how they split between the states is assumed (no public recording of the split found)."""
BILLED_TRAINING_PHASES = ("Downloading", "Training", "Uploading")
"""SageMaker bills a training job from TrainingStartTime (Downloading here) to TrainingEndTime."""
ENDPOINT_CREATING = (375.0, 440.0)
"""An endpoint's Creating (and Updating): the seed notebook's two deploys, 6 m 15 s and 7 m 20 s."""
ENDPOINT_DELETING = (20.0, 60.0)
"""An endpoint's Deleting: assumed, no AWS figure found (botocore's EndpointDeleted waiter polls every 30 s)."""
TRANSFORM_LAUNCH = (180.0, 240.0)
"""A transform job's InProgress before its first request (instances, container, model): "a few minutes",
at most the 4 minutes the batch-transform cost comparison of the README assumes."""
PROFILES = ("aws",)
POLL_SECONDS = 0.2
"""How often a modelled wait looks for a stop request: StopTrainingJob, StopTransformJob and the
emulator's shutdown end a wait of minutes within this."""


@dataclass(frozen=True)
class LatencyProfile:
    """`scale`: how many times faster than AWS the modelled states pass (60 makes a 6-minute deploy 6 s)."""

    scale: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"latency scale must be a finite number > 0, got {self.scale!r}")

    @classmethod
    def parse(cls, spec: str, seed: int = 0) -> LatencyProfile:
        """`aws` or `aws:<scale>`, as `--latency` takes it."""
        name, _, scale = spec.partition(":")
        if name not in PROFILES:
            raise ValueError(f"latency profile {spec!r}: expected one of {', '.join(PROFILES)}, optionally :<scale>")
        try:
            return cls(scale=float(scale) if scale else 1.0, seed=seed)
        except ValueError:
            raise ValueError(f"latency profile {spec!r}: the scale must be a finite number > 0") from None

    def training_phases(self, job_name: str) -> dict[str, float]:
        """Modelled seconds of each secondary status of training job `job_name`, in order."""
        rng = self._rng("training-job", job_name)
        return {phase: round(rng.uniform(*bounds), 3) for phase, bounds in TRAINING_PHASES.items()}

    def endpoint_creating(self, endpoint_name: str, config_name: str) -> float:
        """Modelled seconds of Creating (or Updating) endpoint `endpoint_name` to `config_name`."""
        return round(self._rng("endpoint", f"{endpoint_name}/{config_name}").uniform(*ENDPOINT_CREATING), 3)

    def endpoint_deleting(self, endpoint_name: str) -> float:
        return round(self._rng("endpoint-deleting", endpoint_name).uniform(*ENDPOINT_DELETING), 3)

    def transform_launch(self, job_name: str) -> float:
        return round(self._rng("transform-job", job_name).uniform(*TRANSFORM_LAUNCH), 3)

    def real(self, modelled: float) -> float:
        """Seconds of the emulator's clock that `modelled` seconds of AWS take."""
        return modelled / self.scale

    def _rng(self, kind: str, name: str) -> random.Random:
        return random.Random(f"{self.seed}/{kind}/{name}")  # str seeds hash with SHA-512: stable across runs


def wait_until(deadline: float, stopped: Callable[[], bool]) -> bool:
    """Sleep until `time.time()` reaches `deadline`; False as soon as `stopped()` is true."""
    while (remaining := deadline - time.time()) > 0:
        if stopped():
            return False
        time.sleep(min(remaining, POLL_SECONDS))
    return not stopped()
