"""SHA-256 digests of a built report (report.html and each PNG), for the golden test of the report's streamed
aggregates (tests/unit/test_report_identity.py, tests/support/report_golden.json).

Above report.TABLE_ROWS the county section lists per segment a sample of its counties; the sample is drawn
differently since the report streams its rows, so `without_sample` takes those cells out of the page before it is
hashed, to show that everything else is unchanged."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

GOLDEN = Path(__file__).with_name("report_golden.json")
# Per row of the county summary: closest, farthest, then the sampled counties, each an <ol> in its own cell.
_SUMMARY_ROW = re.compile(r"(<tr><td>\d+: <span class=\"label\">.*?</tr>)", re.S)
_CELL = re.compile(r"<td><ol>.*?</ol></td>", re.S)


def sample_cells(html: str) -> list[str]:
    """The sampled-counties cell of each row of the county summary (none when the page lists every county)."""
    return [_CELL.findall(row)[2] for row in _SUMMARY_ROW.findall(_county_section(html))]


def without_sample(html: str) -> str:
    """The page with each sampled-counties cell of the county summary emptied (<td><ol></ol></td>)."""
    section = _county_section(html)
    masked = _SUMMARY_ROW.sub(lambda row: _replace_third(row.group(1)), section)
    return html.replace(section, masked, 1)


def _replace_third(row: str) -> str:
    cells = list(_CELL.finditer(row))
    cell = cells[2]
    return row[: cell.start()] + "<td><ol></ol></td>" + row[cell.end() :]


def _county_section(html: str) -> str:
    return html.split('<section id="counties">', 1)[1].split("</section>", 1)[0]


def digests(html: str, plots: dict[str, bytes], mask_sample: bool = False) -> dict[str, str]:
    """{"report.html": sha256, "plots/<name>.png": sha256, …}; with `mask_sample` the page's sampled-counties
    cells are emptied first."""
    page = without_sample(html) if mask_sample else html
    return {"report.html": hashlib.sha256(page.encode()).hexdigest()} | {
        name: hashlib.sha256(data).hexdigest() for name, data in sorted(plots.items())
    }


def golden() -> dict[str, dict[str, str]]:
    """The recorded digests by rows ("3220", "100000")."""
    return json.loads(GOLDEN.read_text())
