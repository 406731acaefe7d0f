"""The project imports as installed packages (pyproject.toml): nothing edits sys.path, no module imports a test
module or a conftest.py as a library, and bench/ imports nothing from tests/ (it shares devtools/ with them)."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

from setuptools import find_packages

from tests.support.paths import PROJECT_ROOT

PACKAGES = {"include", "aws_emulator", "scripts", "bench", "devtools", "tests"}
"""The top-level packages `pip install -e .` installs; dags/ and plugins/ are not among them: Airflow loads
those from its folders."""
DEVELOPMENT = ("scripts", "bench", "devtools", "tests")
PATH_EDIT = re.compile(r"sys\.path(\.(insert|append|extend)\(|\s*\+=|\s*=[^=]|\[[^\]]*\]\s*=[^=])|addsitedir\(")
"""A change to sys.path, in code or in a child's script held in a string: insert/append/extend, +=, assignment
of the list or of a slice of it, site.addsitedir."""


def _python_files(*folders: str) -> list[Path]:
    return sorted(
        file for folder in folders for file in (PROJECT_ROOT / folder).rglob("*.py") if "__pycache__" not in file.parts
    )


def _imported_modules(path: Path) -> set[str]:
    """Every module an import statement names, at any depth (`from a import b` names a and a.b: b may be a module)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def test_the_project_installs_its_packages_and_leaves_dags_and_plugins_to_airflow() -> None:
    finder = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    found = find_packages(where=str(PROJECT_ROOT), include=finder["include"])
    assert {package.split(".")[0] for package in found} == PACKAGES
    assert {"tests.support", "tests.support.iam"} <= set(found)


def test_every_development_module_lies_in_an_installed_package() -> None:
    """A folder without __init__.py is not installed: its modules could be imported only through a path edit."""
    outside = [str(file.relative_to(PROJECT_ROOT)) for file in _python_files(*DEVELOPMENT)]
    outside = [name for name in outside if not (PROJECT_ROOT / name).with_name("__init__.py").is_file()]
    assert outside == []


def test_no_script_benchmark_or_test_edits_sys_path() -> None:
    offenders = {
        str(file.relative_to(PROJECT_ROOT)): [match.group(0) for match in PATH_EDIT.finditer(file.read_text())]
        for file in _python_files(*DEVELOPMENT)
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_no_module_imports_a_test_module_or_a_conftest() -> None:
    """Helpers tests share live in tests/support or devtools/; a test module and a conftest.py are pytest's alone."""
    offenders = {
        str(file.relative_to(PROJECT_ROOT)): sorted(
            name
            for name in _imported_modules(file)
            if any(part.startswith("test_") or part == "conftest" for part in name.split("."))
        )
        for file in _python_files("dags", "include", "plugins", "aws_emulator", *DEVELOPMENT)
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_bench_imports_nothing_from_tests() -> None:
    offenders = {
        str(file.relative_to(PROJECT_ROOT)): sorted(
            name for name in _imported_modules(file) if name.split(".")[0] == "tests"
        )
        for file in _python_files("bench")
    }
    assert {name: found for name, found in offenders.items() if found} == {}
