"""The README's fault table is the one the fault-injection suite's cases generate."""

from __future__ import annotations

import re

from tests.support.faults import CASES, fault_table
from tests.support.paths import PROJECT_ROOT


def test_the_readme_fault_table_is_generated_from_the_test_cases() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    table = re.search(r"<!-- fault-table:start -->\n(.*?)\n?<!-- fault-table:end -->", readme, re.S)
    assert table is not None, "README.md has no fault-table markers"
    assert table.group(1).strip() == fault_table(), "regenerate it: python -m tests.support.faults"


def test_every_call_kind_is_faulted_both_hard_and_transient() -> None:
    calls = {case.call for case in CASES}
    assert len(CASES) == len({(case.call, case.mode) for case in CASES}) == 2 * len(calls)
