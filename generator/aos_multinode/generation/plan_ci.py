"""Plan the CI files: a GitHub Actions workflow and a GitLab CI file that build one image per
node (a matrix) and fail when the committed output is stale (`generate --check`). Paths in them
are relative to the repository root, where CI runs."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Optional

from aos_multinode import __version__
from aos_multinode.contract import IMAGE, KAS_DIR
from aos_multinode.generation.plan import PlannedFile
from aos_multinode.generation.plan_kas import git_root, relative
from aos_multinode.unitconfig.model import UnitConfig

GITHUB_WORKFLOW = ".github/workflows/aos-multinode.yml"
GITLAB_CI = ".gitlab/ci/aos-multinode.yml"
KAS_CONTAINER_TAG = "5.5"


def _repository_path(path: Path, root: Path) -> str:
    """`path` relative to the repository root CI works in; only its name when it lies outside
    (CI cannot see it there: the user has to commit it)."""
    path = path.resolve()
    return relative(path, root) if path.is_relative_to(root) else path.name


def check_command(config: UnitConfig, release: str, root: Path, out_dir: Path,
                  pins_file: Optional[Path | str] = None) -> str:
    """The `aos-multinode generate ... --check` CI runs: the same inputs as this run, so that
    only a change to them (or to aos-multinode) makes it fail.

    A release that did not come from the Unit Config (--release, or git describe, which
    changes with every commit, the one holding the output included) is passed as it is now:
    otherwise committed output could never be up to date."""
    words = ["aos-multinode", "generate", _repository_path(Path(config.source_file), root),
             "-o", relative(out_dir.resolve(), root), "--check"]
    if pins_file is not None:
        words += ["--pins", _repository_path(Path(pins_file), root)]
    if config.release != release:
        words += ["--release", release]
    return shlex.join(words)


def plan_ci(config: UnitConfig, release: str, out_dir: Path,
            pins_file: Optional[Path | str] = None) -> list[PlannedFile]:
    """Return the GitHub Actions workflow and the GitLab CI file, with paths relative to the
    repository root (where CI runs)."""
    root = git_root(out_dir) or out_dir.resolve()
    ctx = {"config": config, "release": release, "image": IMAGE,
           "kas_container_tag": KAS_CONTAINER_TAG,
           "pip_requirement": f"aos-multinode=={__version__}", "version": __version__,
           "check_command": check_command(config, release, root, out_dir, pins_file),
           "output_path": relative(out_dir.resolve(), root),
           "kas_path": relative((out_dir / KAS_DIR).resolve(), root),
           "gitlab_include_path": "/" + relative((out_dir / GITLAB_CI).resolve(), root)}
    return [PlannedFile(GITHUB_WORKFLOW, "ci/github-workflow.yml.j2", ctx),
            PlannedFile(GITLAB_CI, "ci/gitlab-ci.yml.j2", ctx)]
