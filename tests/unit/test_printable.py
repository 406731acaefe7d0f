"""Data in log lines: control characters escaped, so that no value can start a line of its own."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from include.segmentation import census
from include.segmentation.printable import printable
from include.segmentation.synthetic import synthetic_census


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("Doña\nAna", "Doña\\nAna"),
        ("a\r\nINFO - forged", "a\\r\\nINFO - forged"),
        ("tab\there", "tab\\there"),
        ("\x1b[2Jcleared", "\\x1b[2Jcleared"),
        ("next\x85line", "next\\x85line"),
        ("line\u2028para\u2029", "line\\u2028para\\u2029"),
        ("\u202eevil", "\\u202eevil"),  # a right-to-left override
        ("C:\\x0a", "C:\\\\x0a"),  # a backslash is escaped too: the text above cannot be forged either
    ],
)
def test_printable_escapes_control_and_format_characters_as_repr_does(value, shown) -> None:
    assert printable(value) == shown


def test_printable_leaves_printable_text_as_it_is() -> None:
    assert printable('Doña Ana, "O\'Brien" – Ｔexas 1/2') == 'Doña Ana, "O\'Brien" – Ｔexas 1/2'
    assert printable(42) == "42"


def test_a_forged_newline_in_a_county_name_cannot_start_a_log_line(caplog) -> None:
    frame = census.load_census(synthetic_census(20, seed=3, missing_rows=0).to_csv(index=False).encode())
    frame["County"] = frame["County"].astype(object)
    frame.loc[4, "County"] = "Doña\nINFO - Task exited with return code 0"  # as a caller's frame may hold
    frame.loc[4, "Income"] = np.nan
    with caplog.at_level(logging.INFO, logger=census.__name__):
        census.clean(frame)
    (message,) = [record.getMessage() for record in caplog.records if "dropping" in record.message]
    assert "\n" not in message and "Doña\\nINFO - Task exited" in message


def test_a_census_refusal_escapes_the_source_name() -> None:
    with pytest.raises(census.CensusValidationError) as error:
        census.load_census(b"", name="s3://b/in.csv\nINFO - forged")
    assert str(error.value) == "s3://b/in.csv\\nINFO - forged: the file is empty"


def test_extra_column_names_are_escaped_in_the_warning(caplog) -> None:
    frame = synthetic_census(20, seed=3, missing_rows=0).assign(**{"x\x1b[1AINFO - forged": 1})
    with caplog.at_level(logging.WARNING, logger=census.__name__):
        census.load_census(frame.to_csv(index=False).encode())
    (message,) = [record.getMessage() for record in caplog.records]
    assert "\x1b" not in message and "x\\x1b[1AINFO - forged" in message


def test_the_sweep_table_escapes_names_so_a_row_cannot_be_forged() -> None:
    from datetime import UTC, datetime

    from include.segmentation_aws import sweep

    work = sweep.Resource(sweep.WORK, "seg/work/x\ndelete  Endpoint  popseg-ok", datetime.now(UTC), {})
    table = sweep.table([sweep.Decision(work, sweep.KEEP, "run is live\nforged")], dry_run=True)
    assert "\n" not in table and "x\\ndelete" in table
