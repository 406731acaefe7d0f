"""Hostile inputs (issue 8): each is refused with its own error type and a message naming the problem,
and the refusals of the bombs stay under 200 MB of peak memory in a fresh process."""

from __future__ import annotations

import pytest

from devtools import hostile_inputs
from devtools.hostile_inputs import load, measure
from include.sagemaker_formats.artifacts import ArtifactError
from include.sagemaker_formats.recordio import RecordIOError
from include.segmentation.census import CensusTooLarge, CensusValidationError

ERRORS = {e.__name__: e for e in (CensusValidationError, CensusTooLarge, ArtifactError, RecordIOError)}

PEAK_RSS_LIMIT_MIB = 200
# Inputs that claim, or inflate to, far more memory than their size: measured in a child process.
BOMBS = {
    hostile_inputs.census_gzip_bomb,
    hostile_inputs.census_long_field,
    hostile_inputs.census_wide_header,
    hostile_inputs.census_rows_of_a,
    hostile_inputs.census_gzip_rows_of_a,
    hostile_inputs.census_gzip_empty_cells,
    hostile_inputs.census_rows_over_limit,
    hostile_inputs.model_gzip_bomb,
    hostile_inputs.model_pax_bomb,
    hostile_inputs.ndarray_huge_shape,
    hostile_inputs.recordio_huge_shape,
    hostile_inputs.recordio_expanding_stream,
    hostile_inputs.model_pax_repeated_twos,
    hostile_inputs.model_pax_digits,
    hostile_inputs.labels_many_keys,
    hostile_inputs.labels_expanding_keys,
}


@pytest.mark.parametrize("craft", hostile_inputs.CRAFTERS, ids=lambda c: c.__name__)
def test_hostile_input_is_refused_with_its_error_naming_the_problem(craft, tmp_path) -> None:
    case = craft(tmp_path)
    with pytest.raises(ERRORS[case.error], match=case.mentions):
        load(case.loader, str(case.path))


@pytest.mark.parametrize("craft", sorted(BOMBS, key=lambda c: c.__name__), ids=lambda c: c.__name__)
def test_refusing_a_bomb_peaks_under_200_mb(craft, tmp_path) -> None:
    case = craft(tmp_path)
    refusal = measure(case.loader, case.path)
    assert refusal.error == case.error, refusal.message
    assert refusal.peak_rss_mib < PEAK_RSS_LIMIT_MIB, f"{case.name}: peak {refusal.peak_rss_mib:.0f} MiB"
