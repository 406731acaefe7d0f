"""The census package's layers: each module imports only the census modules listed before it in LAYERS (so
no cycle, nothing importing upwards, none through the package's public face), and the contract needs
nothing heavy."""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import include.segmentation.census as census

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "include" / "segmentation" / "census"
PACKAGE = "include.segmentation.census"
LAYERS = ("contract", "bounded_read", "validation", "parsing", "loading", "cleaning", "streaming")


def _census_imports(module: str) -> set[str]:
    """The census modules `module` imports, anywhere in its file; "__init__" for the package itself."""
    tree = ast.parse((FOLDER / f"{module}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{module}: relative import"
            names = [node.module or ""]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            if name == PACKAGE:
                found.add("__init__")
            elif name.startswith(PACKAGE + "."):
                found.add(name.removeprefix(PACKAGE + ".").split(".")[0])
    return found


def test_the_package_holds_the_layered_modules_only() -> None:
    assert sorted(m.name for m in pkgutil.iter_modules(census.__path__)) == sorted(LAYERS)


def test_each_census_module_imports_only_the_modules_before_it() -> None:
    upward = {}
    for position, module in enumerate(LAYERS):
        if above := _census_imports(module) - set(LAYERS[:position]):
            upward[module] = sorted(above)
    assert upward == {}


def test_the_contract_alone_loads_no_numpy_pandas_or_pyarrow() -> None:
    # A fresh interpreter, the module loaded from its file: the package's __init__ imports every layer.
    script = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('contract', {str(FOLDER / 'contract.py')!r})\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = json.loads(result.stdout)
    assert [name for name in ("numpy", "pandas", "pyarrow") if name in loaded] == []
