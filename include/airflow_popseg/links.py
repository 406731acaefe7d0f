"""The "Segmentation report" button on the publish task: opens that run's report in the Segmentation view.

Airflow 3.3's UI opens an extra link to its own origin in the same tab (and cross-origin ones in a new tab),
with no per-link setting, so this replaces the UI; the "Report" tab on the run's page (plugins/) keeps it.
"""

from __future__ import annotations

from urllib.parse import quote

from airflow.configuration import conf
from airflow.sdk import BaseOperatorLink

from include.airflow_popseg.settings import VIEW_URL_PREFIX


class SegmentationReportLink(BaseOperatorLink):
    name = "Segmentation report"

    def get_link(self, operator, *, ti_key) -> str:
        base = conf.get("api", "base_url", fallback="").rstrip("/")
        return f"{base}{VIEW_URL_PREFIX}/runs/{quote(ti_key.run_id, safe=':+')}/report"
