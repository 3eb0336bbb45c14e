"""The package passes ruff and mypy with the settings in pyproject.toml (zero findings).

Both come with the `test` extras (`scripts/bootstrap --test`); without them the test skips
and says why, in CI (`CI` set) it fails instead."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.util import find_spec

import pytest

from conftest import REPO_ROOT


def run_tool(module: str, *args: str) -> subprocess.CompletedProcess:
    if find_spec(module) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{module} is not installed (pip install -e '.[test]')")
        pytest.skip(f"{module} is not installed (pip install -e '.[test]')")
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing():
    result = run_tool("ruff", "check", "--no-cache", "generator")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing():
    result = run_tool("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout
