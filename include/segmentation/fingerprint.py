"""A run's fingerprint: everything that decides its results, so that a night with nothing new costs nothing.

Two parts, compared separately:
- the census object: its S3 identity (ETag, size, VersionId) and, once read, its sha256. The same object
  version is the same bytes; a re-upload of the same bytes has another identity but the same sha256.
- the settings: the params that change results (not the operational ones: timeouts, gates, `force`, the
  role), the algorithm images, and RESULT_FORMAT_VERSION, hashed together (sha256 of canonical JSON).

Pure: no Airflow, no AWS. `include.airflow_popseg` reads the identity with HeadObject and the images from
`include.segmentation_aws.images`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass

RESULT_FORMAT_VERSION = 1
"""Raise it when a change of this package changes a run's results or their files: runs fingerprinted
before it are then not taken for unchanged."""

OPERATIONAL_PARAMS = frozenset(
    {"sensor_timeout_seconds", "force", "max_churn", "max_row_change", "max_dropped_share", "role_arn"}
)
"""Params that decide whether or how long a run waits or gates, or which role it runs as, not its results."""


@dataclass(frozen=True)
class CensusIdentity:
    """The census object a run read: `etag` as S3 returns it (quoted), `size` in bytes, `version_id` (None on an
    unversioned bucket), `sha256` of its bytes (None until read)."""

    etag: str
    size: int
    version_id: str | None = None
    sha256: str | None = None

    def same_object(self, other: CensusIdentity) -> bool:
        """The same object version: no need to read it to know the bytes are the same."""
        return (self.etag, self.size, self.version_id) == (other.etag, other.size, other.version_id)

    def same_bytes(self, other: CensusIdentity) -> bool | None:
        """Whether the bytes are the same; None when it takes the sha256 of one that has none yet."""
        if self.same_object(other):
            return True
        if self.size != other.size:
            return False
        if self.sha256 is None or other.sha256 is None:
            return None
        return self.sha256 == other.sha256


def changed_params(before: Mapping[str, object], now: Mapping[str, object]) -> dict[str, tuple[object, object]]:
    """The result-deciding params whose values differ: name -> (before, now), a missing one as None."""
    names = sorted((set(before) | set(now)) - OPERATIONAL_PARAMS)
    return {name: (before.get(name), now.get(name)) for name in names if before.get(name) != now.get(name)}


def settings_digest(params: Mapping[str, object], images: Mapping[str, str]) -> str:
    """sha256 (hex) of the result-deciding params, the algorithm images and RESULT_FORMAT_VERSION."""
    document = {
        "params": {name: value for name, value in sorted(params.items()) if name not in OPERATIONAL_PARAMS},
        "images": dict(sorted(images.items())),
        "result_format_version": RESULT_FORMAT_VERSION,
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class Fingerprint:
    """What run.json records under `fingerprint`, and what the next run compares its own with."""

    census: CensusIdentity
    settings: str  # settings_digest

    def to_dict(self) -> dict:
        return {"census": asdict(self.census), "settings": self.settings}

    @classmethod
    def from_dict(cls, document: Mapping) -> Fingerprint:
        census = document["census"]
        return cls(
            census=CensusIdentity(
                etag=str(census["etag"]),
                size=int(census["size"]),
                version_id=census.get("version_id"),
                sha256=census.get("sha256"),
            ),
            settings=str(document["settings"]),
        )

    def unchanged_since(self, previous: Fingerprint) -> bool | None:
        """True: the same results would come out; False: they may not; None: only the census's sha256 can tell
        (same settings and size, another object version)."""
        if self.settings != previous.settings:
            return False
        return self.census.same_bytes(previous.census)
