"""OpenLineage for the data popseg's own tasks read and write, handed to `apache-airflow-providers-openlineage`.

The provider's SageMaker operators report their jobs' channels, artifacts and transform input/output
themselves (`get_openlineage_facets_on_complete`); the TaskFlow tasks (preprocess, the endpoint transforms,
the results, publish, promote) report here what they read and wrote, through one call in `RunStore` for each
object (`TASK`), and `from_taskflow_tasks(dag)` gives each of them the `get_openlineage_facets_on_complete`
that the provider's default extractor asks for.

Datasets are named as OpenLineage's naming spec says for S3: namespace `s3://<bucket>`, name the key (a
prefix for a multi-object dataset such as a training channel, as SageMaker's S3Uri names it), the names the
provider gives SageMaker's jobs, so that a catalogue joins each dataset's producer to its consumers.

Why not Airflow's hook-level lineage collector (`airflow.sdk.lineage.get_hook_lineage_collector`): it is
one per process and nothing empties it between tasks, so under `dag.test()` (`make run`, the tests) every
task would also report what the tasks before it touched, and it carries no dataset facets (the census's
schema and row count). Here what a task reads and writes is kept per task instance until the provider asks.

When no OpenLineage transport is configured the provider is disabled (`conf.is_disabled()`), and so is this:
a report is one cached boolean test, nothing is recorded, nothing is logged.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

_S3_URI = re.compile(r"s3://([^/]+)/(.*)")

CENSUS_ID_TYPE = "string"  # CensusId, State, County: read as text (a FIPS code keeps its leading zero)
CENSUS_FEATURE_TYPE = "float64"  # the 34 features: one float64 block (include.segmentation.census.parsing)


def s3_dataset(uri: str) -> tuple[str, str]:
    """(namespace, name) of an S3 object or prefix by OpenLineage's naming spec: ("s3://<bucket>", "<key>")."""
    match = _S3_URI.fullmatch(uri)
    if match is None or not match.group(2):
        raise ValueError(f"{uri!r} is not an S3 object or prefix URI (expected s3://<bucket>/<key>)")
    return f"s3://{match.group(1)}", match.group(2)


def census_schema() -> list[tuple[str, str]]:
    """The census contract's 37 columns and their types, in file order: (name, type)."""
    from include.segmentation.census.contract import FEATURES, ID_COLUMNS

    return [(name, CENSUS_ID_TYPE) for name in ID_COLUMNS] + [(name, CENSUS_FEATURE_TYPE) for name in FEATURES]


@functools.cache
def enabled() -> bool:
    """Whether the OpenLineage provider will emit: installed, and a transport configured (its own test)."""
    try:
        from airflow.providers.openlineage.conf import is_disabled
    except ImportError:
        return False
    return not is_disabled()


@dataclass
class _Datasets:
    """What one task instance read (URI -> its facets, or None) and wrote, each URI once, in order."""

    inputs: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    outputs: dict[str, None] = field(default_factory=dict)


_RECORDED: dict[str, _Datasets] = {}  # task instance id -> its datasets, until the provider takes them


def _current() -> _Datasets | None:
    """The running task instance's record; None outside a task (a script's RunStore reports nothing)."""
    from airflow.sdk import get_current_context

    try:
        ti = get_current_context()["ti"]
    except Exception:  # no task is running in this process
        return None
    return _RECORDED.setdefault(str(ti.id), _Datasets())


class TaskLineage:
    """The running task's reports, as `RunStore` calls them for each object it reads or writes."""

    def read(self, uri: str) -> None:
        if enabled() and (recorded := _current()) is not None:
            recorded.inputs.setdefault(uri, None)

    def wrote(self, uri: str) -> None:
        if enabled() and (recorded := _current()) is not None:
            recorded.outputs.setdefault(uri, None)

    def read_census(self, uri: str, rows: int, size: int) -> None:
        """The census as an input with its schema (the contract's 37 columns) and its rows and bytes as read."""
        if enabled() and (recorded := _current()) is not None:
            recorded.inputs[uri] = {"rows": rows, "size": size}


TASK = TaskLineage()


def on_complete(task_instance) -> Any:
    """The provider's `get_openlineage_facets_on_complete` for a TaskFlow task: what it read and wrote."""
    from airflow.providers.common.compat.openlineage.facet import InputDataset, OutputDataset
    from airflow.providers.openlineage.extractors import OperatorLineage

    recorded = _RECORDED.pop(str(task_instance.id), None) or _Datasets()
    inputs = []
    for uri, census in recorded.inputs.items():
        facets, input_facets = _census_facets(**census) if census else ({}, {})
        inputs.append(InputDataset(*s3_dataset(uri), facets=facets, inputFacets=input_facets))
    return OperatorLineage(inputs=inputs, outputs=[OutputDataset(*s3_dataset(uri)) for uri in recorded.outputs])


def _census_facets(rows: int, size: int) -> tuple[dict[str, Any], dict[str, Any]]:
    from airflow.providers.common.compat.openlineage.facet import SchemaDatasetFacet, SchemaDatasetFacetFields
    from openlineage.client.generated.input_statistics_input_dataset import InputStatisticsInputDatasetFacet

    fields = [SchemaDatasetFacetFields(name=name, type=kind) for name, kind in census_schema()]
    return (
        {"schema": SchemaDatasetFacet(fields=fields)},
        {"inputStatistics": InputStatisticsInputDatasetFacet(rowCount=rows, size=size, fileCount=1)},
    )


def from_taskflow_tasks(dag):
    """`dag`, each of whose TaskFlow tasks now reports to OpenLineage what it read and wrote (`on_complete`);
    the operators that report their own (the provider's, ours) are left as they are."""
    for task in dag.tasks:
        if hasattr(task, "python_callable") and not hasattr(task, "get_openlineage_facets_on_complete"):
            task.get_openlineage_facets_on_complete = on_complete
    return dag
