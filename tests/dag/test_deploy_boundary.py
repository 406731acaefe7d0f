"""The deploy boundary: what a team copies into Airflow (dags/, include/, plugins/) and installs from
requirements.txt holds nothing of the local AWS emulator, and works without the emulator's dependencies."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

from tests.support.paths import PROJECT_ROOT

DEPLOYED = ("dags", "include", "plugins")
EMULATOR_ONLY = {"aws_emulator", "moto", "flask", "werkzeug"}
"""Top-level modules only the emulator needs (its requirements file installs them). scikit-learn and scipy
are the deployment's too: the DAG's own tasks match segments across runs with them."""
DEVELOPMENT_ONLY = {"tests", "bench", "scripts", "devtools"}


def _imported_top_level_modules(path: Path) -> set[str]:
    """Every absolute import of a module, at any depth of the file (imports inside functions too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _deployed_files() -> list[Path]:
    return sorted(file for folder in DEPLOYED for file in (PROJECT_ROOT / folder).rglob("*.py"))


def test_nothing_deployed_imports_the_emulator_its_dependencies_or_development_code() -> None:
    offenders = {
        str(file.relative_to(PROJECT_ROOT)): sorted(found)
        for file in _deployed_files()
        if (found := _imported_top_level_modules(file) & (EMULATOR_ONLY | DEVELOPMENT_ONLY))
    }
    assert offenders == {}


def test_the_emulator_lives_outside_the_deployed_folders() -> None:
    assert (PROJECT_ROOT / "aws_emulator" / "server.py").is_file()
    assert not any((PROJECT_ROOT / folder / "aws_emulator").exists() for folder in DEPLOYED)


def _requirement_names(file: str) -> set[str]:
    lines = (PROJECT_ROOT / file).read_text().splitlines()
    return {re.split(r"[\[=<>~! ]", line, maxsplit=1)[0].lower() for line in lines if re.match(r"[A-Za-z]", line)}


def test_the_deployment_requirements_leave_out_the_emulators_and_the_emulators_build_on_them() -> None:
    deployment, emulator = _requirement_names("requirements.txt"), _requirement_names("requirements-emulator.txt")
    assert deployment.isdisjoint({"moto", "flask", "werkzeug"})
    assert {"moto", "flask", "werkzeug"} <= emulator
    assert "-r requirements.txt" in (PROJECT_ROOT / "requirements-emulator.txt").read_text().splitlines()


# What the fresh environment runs: parse both DAGs as the dag-processor does, then import every module of
# include/ and plugins/ as a task or the api-server would, and report what the emulator would have brought.
_PARSE_AND_IMPORT = """
import importlib, json, pkgutil, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder="dags")
import include
modules = [m.name for m in pkgutil.walk_packages(include.__path__, "include.")]
for name in modules:
    importlib.import_module(name)
import segmentation_view
absent = []
for name in ("moto", "flask", "werkzeug", "aws_emulator"):
    try:
        importlib.import_module(name)
    except ImportError:
        absent.append(name)
print(json.dumps({"dags": sorted(bag.dag_ids), "errors": {k: str(v) for k, v in bag.import_errors.items()},
                  "modules": len(modules), "absent": absent}))
"""


@pytest.mark.slow
def test_the_deployment_requirements_alone_install_parse_both_dags_and_import_every_task_module(tmp_path) -> None:
    """A fresh venv from requirements.txt only (pip's cache makes it a minute or two, not a download)."""
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    install = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", "requirements.txt"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    # Only what a team copies into Airflow: no aws_emulator/, scripts/ or tests/ beside it.
    deployed = tmp_path / "deployed"
    for folder in DEPLOYED:
        shutil.copytree(PROJECT_ROOT / folder, deployed / folder, ignore=shutil.ignore_patterns("__pycache__"))
    home = tmp_path / "airflow_home"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
        "AIRFLOW__CORE__DAGS_FOLDER": str(deployed / "dags"),
        # The Astronomer convention: the project root, nothing installed; and plugins/, as Airflow puts it on the path.
        "PYTHONPATH": os.pathsep.join([str(deployed), str(deployed / "plugins")]),
    }
    result = subprocess.run(
        [python, "-c", _PARSE_AND_IMPORT], cwd=deployed, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["errors"] == {}
    assert report["dags"] == ["popseg_sweeper", "population_segmentation"]
    assert report["modules"] > 30
    assert report["absent"] == ["moto", "flask", "werkzeug", "aws_emulator"]
