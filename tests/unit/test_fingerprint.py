"""A run's fingerprint: unchanged input and settings are recognised, anything that changes results is not."""

from __future__ import annotations

import pytest

from include.segmentation.fingerprint import CensusIdentity, Fingerprint, settings_digest

PARAMS = {"k": 8, "variance_threshold": 0.8, "num_components": None, "bucket": "popseg", "sensor_timeout_seconds": 60}
IMAGES = {"pca": "382416733822.dkr.ecr.us-east-1.amazonaws.com/pca:1", "kmeans": "…/kmeans:1"}
CENSUS = CensusIdentity(etag='"abc"', size=1000, version_id=None, sha256="11" * 32)


def _fingerprint(census: CensusIdentity = CENSUS, params=PARAMS, images=IMAGES) -> Fingerprint:
    return Fingerprint(census, settings_digest(params, images))


def test_the_same_object_and_settings_are_unchanged_without_reading_the_census() -> None:
    unread = CensusIdentity(etag='"abc"', size=1000)
    assert _fingerprint(unread).unchanged_since(_fingerprint()) is True


def test_operational_params_do_not_change_the_fingerprint() -> None:
    relaxed = {**PARAMS, "sensor_timeout_seconds": 5, "force": True, "max_churn": None, "role_arn": "arn:x"}
    assert _fingerprint(params=relaxed).unchanged_since(_fingerprint()) is True


@pytest.mark.parametrize("change", [{"k": 9}, {"variance_threshold": 0.9}, {"num_components": 10}, {"extra": 1}])
def test_a_result_deciding_param_changes_it(change) -> None:
    assert _fingerprint(params={**PARAMS, **change}).unchanged_since(_fingerprint()) is False


def test_another_algorithm_image_changes_it() -> None:
    assert _fingerprint(images={**IMAGES, "kmeans": "…/kmeans:2"}).unchanged_since(_fingerprint()) is False


def test_a_reupload_of_the_same_bytes_needs_the_sha256_and_then_is_unchanged() -> None:
    reuploaded = CensusIdentity(etag='"def-2"', size=1000, version_id="v2")
    assert _fingerprint(reuploaded).unchanged_since(_fingerprint()) is None
    hashed = CensusIdentity(etag='"def-2"', size=1000, version_id="v2", sha256="11" * 32)
    assert _fingerprint(hashed).unchanged_since(_fingerprint()) is True
    other = CensusIdentity(etag='"def-2"', size=1000, version_id="v2", sha256="22" * 32)
    assert _fingerprint(other).unchanged_since(_fingerprint()) is False


def test_another_size_is_another_census_without_reading_it() -> None:
    assert _fingerprint(CensusIdentity(etag='"x"', size=999)).unchanged_since(_fingerprint()) is False


def test_the_fingerprint_round_trips_through_run_json() -> None:
    fingerprint = _fingerprint()
    assert Fingerprint.from_dict(fingerprint.to_dict()) == fingerprint


def test_the_params_that_changed_are_named_and_operational_ones_are_not() -> None:
    from include.segmentation.fingerprint import changed_params

    now = {**PARAMS, "k": 9, "sensor_timeout_seconds": 5, "instance_count": 2}
    assert changed_params(PARAMS, now) == {"k": (8, 9), "instance_count": (None, 2)}
