"""Lint and types, as .ci/run checks them, so that `pytest` checks them too: ruff on the whole tree, mypy on core/
and app/ (both configured in pyproject.toml). Skipped where the tool is not installed (it comes with the `test`
extra). mypy keeps its cache in .mypy_cache: the first run takes about half a minute, later ones a few seconds."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(module: str, *args: str) -> subprocess.CompletedProcess:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (pip install -e '.[test]')")
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=540)


def test_ruff_finds_nothing():
    result = _run("ruff", "check", "--output-format", "concise", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing_in_core_and_app():
    result = _run("mypy", "core", "app")
    assert result.returncode == 0, result.stdout + result.stderr
