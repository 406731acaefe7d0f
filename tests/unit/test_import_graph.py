"""The import graph of the code we ship and the emulator: layers, each importing only those below it, and
no cycles. Every import counts, those inside functions too (a task-time import is still a dependency)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = {
    "include.sagemaker_formats": 0,  # SageMaker's bytes: numpy only
    "include.segmentation": 1,  # the pure domain
    "include.segmentation_aws": 2,  # the pipeline's side on AWS, boto3 clients in
    "include.airflow_popseg": 3,  # Airflow's side
    "dags": 4,
    "plugins": 4,
}
EMULATOR_MAY_IMPORT = (
    "include.sagemaker_formats",
    "include.segmentation.printable",
    "include.segmentation_aws.defaults",
)
"""What the emulator shares with the app: SageMaker's formats, how text is made safe to log, and the defaults
(region, bucket) the DAG's params start from."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> dict[str, Path]:
    folders = ("include", "dags", "plugins", "aws_emulator")
    return {_module_name(p): p for folder in folders for p in (ROOT / folder).rglob("*.py")}


MODULES = _sources()


def _imports(name: str, path: Path) -> set[str]:
    """The project modules `name` imports: `from a.b import c` counts a.b.c when that is a module, else a.b."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    # plugins/ is on Airflow's path as its own root: `import segmentation_view` would be plugins.segmentation_view
    return {module for module in found if module in MODULES and module != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(module: str) -> int | None:
    return next((rank for prefix, rank in LAYERS.items() if module == prefix or module.startswith(prefix + ".")), None)


def test_the_graph_is_built_from_real_imports() -> None:
    assert "include.segmentation.census" in GRAPH["include.airflow_popseg.steps"]
    assert "include.sagemaker_formats.artifacts" in GRAPH["aws_emulator.algorithms.pca"]


def test_each_layer_imports_only_layers_below_it_or_itself() -> None:
    upward = sorted(
        f"{module} -> {imported}"
        for module, imports in GRAPH.items()
        if (rank := _layer(module)) is not None
        for imported in imports
        if (_layer(imported) or 0) > rank or imported.startswith("aws_emulator")
    )
    assert upward == []


def test_the_emulator_shares_only_the_formats_log_escaping_and_defaults_with_the_app() -> None:
    shared = sorted(
        f"{module} -> {imported}"
        for module, imports in GRAPH.items()
        if module.startswith("aws_emulator")
        for imported in imports
        if imported.startswith("include") and not imported.startswith(EMULATOR_MAY_IMPORT)
    )
    assert shared == []


def test_there_are_no_import_cycles() -> None:
    import graphlib

    sorter = graphlib.TopologicalSorter({module: imports - {module} for module, imports in GRAPH.items()})
    try:
        sorter.prepare()
    except graphlib.CycleError as cycle:  # pragma: no cover - the message is the cycle
        pytest.fail(f"import cycle: {' -> '.join(cycle.args[1])}")
