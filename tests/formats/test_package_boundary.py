"""include.sagemaker_formats is numpy and the standard library only, so the emulator and the app share it freely."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import include.sagemaker_formats

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = (
    "pandas",
    "airflow",
    "boto3",
    "botocore",
    "moto",
    "sklearn",
    "include.segmentation",
    "aws_emulator",
)


def _modules() -> list[str]:
    return [f"include.sagemaker_formats.{m.name}" for m in pkgutil.iter_modules(include.sagemaker_formats.__path__)]


def test_the_package_holds_the_three_formats() -> None:
    assert set(_modules()) >= {
        "include.sagemaker_formats.recordio",
        "include.sagemaker_formats.mxnet_ndarray",
        "include.sagemaker_formats.artifacts",
    }


def test_importing_every_format_module_loads_no_pandas_airflow_aws_sdk_or_app_package() -> None:
    # A fresh interpreter: this test process has already imported pandas, boto3 and the rest.
    script = (
        "import importlib, json, sys\n"
        f"for name in {_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = json.loads(result.stdout)
    # Importing any submodule puts its package in sys.modules too, so the package names suffice.
    assert [package for package in FORBIDDEN if package in loaded] == []
    assert "numpy" in loaded
