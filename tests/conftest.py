"""Shared fixtures: where the test data lives and how to run the CLI in-process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from aos_multinode.cli import cli

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
DATA_DIR = TESTS_DIR / "data"
# The bundled examples (one copy: the repository's examples/).
EXAMPLES_DIR = REPO_ROOT / "examples"
# Where the examples come from: the shared folder beside the repository (CI has it too).
SHARED_EXAMPLES_DIR = REPO_ROOT.parent / "shared" / "examples"
VALID_DIR = DATA_DIR / "valid"
INVALID_DIR = DATA_DIR / "invalid"

EXAMPLES = sorted(EXAMPLES_DIR.glob("*.yaml"))
VALID_VARIANTS = sorted(VALID_DIR.glob("*.yaml"))


def run_cli(*args: str, cwd: Path | None = None) -> Result:
    """Run `aos-multinode ARGS` in-process; return click's Result (exit_code, stdout, stderr)."""
    runner = CliRunner()
    if cwd is None:
        return runner.invoke(cli, list(args), prog_name="aos-multinode")
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return runner.invoke(cli, list(args), prog_name="aos-multinode")
    finally:
        os.chdir(old)


def tree_state(root: Path) -> dict[str, tuple[int, int]]:
    """Return every file and folder under `root` with its size and mtime, to prove nothing
    was written."""
    return {str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns)
            for path in sorted(root.rglob("*"))}


@pytest.fixture
def cli_runner():
    """The in-process CLI runner (see `run_cli`)."""
    return run_cli


@pytest.fixture
def examples_dir() -> Path:
    return EXAMPLES_DIR


@pytest.fixture(params=EXAMPLES, ids=lambda path: path.stem)
def example(request) -> Path:
    """Each bundled example Unit Config in turn."""
    return request.param
