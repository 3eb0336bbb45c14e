"""Plan the CI files: a GitHub Actions workflow and a GitLab CI file that build every node's
image and fail when the committed output is stale (`generate --check`). Paths in them are
relative to the repository root, where CI runs.

The image jobs (`image_jobs`): one per MACHINE, building its nodes in turn in one build
directory (what they share is built once, the next node restores it from sstate). The job of
the first node's MACHINE runs first; the other MACHINEs' jobs wait for it and then run in
parallel, reusing through the team's shared sstate (and hash-equivalence server) what it
built: native tools, allarch packages and, for a MACHINE of the same tune, target packages.
`verify/pipeline_cost.py` counts the tasks each job runs in that order."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from aos_multinode import __version__
from aos_multinode.contract import IMAGE, KAS_DIR
from aos_multinode.generation.plan import PlannedFile
from aos_multinode.generation.plan_kas import git_root, relative
from aos_multinode.unitconfig.model import UnitConfig

GITHUB_WORKFLOW = ".github/workflows/aos-multinode.yml"
GITLAB_CI = ".gitlab/ci/aos-multinode.yml"
KAS_CONTAINER_TAG = "5.5"
# The runner directory of downloads and sstate when the CI variable AOS_YOCTO_CACHE names
# none (docs/team-infrastructure.md), and where the GitHub image jobs mount it.
DEFAULT_YOCTO_CACHE = "/srv/aos-multinode/yocto"
CONTAINER_YOCTO_CACHE = "/yocto-cache"


@dataclass(frozen=True)
class ImageJob:
    """One image job of the pipelines: the nodes of one MACHINE, built in turn."""

    number: int                 # 1, 2, ... in pipeline order
    machine: str
    nodes: tuple[str, ...]      # in node index order
    needs: tuple[int, ...]      # numbers of the image jobs it waits for

    @property
    def id(self) -> str:
        return f"images-{self.number}"


def image_jobs(nodes: Iterable[tuple[str, str]]) -> list[ImageJob]:
    """Return the image jobs for (node id, MACHINE) pairs given in node index order: one job
    per MACHINE, in the order of its first node; the first job waits for no other image job,
    every other one for the first."""
    machines: dict[str, list[str]] = {}
    for node, machine in nodes:
        machines.setdefault(machine, []).append(node)
    return [ImageJob(number, machine, tuple(ids), () if number == 1 else (1,))
            for number, (machine, ids) in enumerate(machines.items(), 1)]


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
           "jobs": image_jobs((node.id, node.machine) for node in config.nodes),
           "default_yocto_cache": DEFAULT_YOCTO_CACHE,
           "container_yocto_cache": CONTAINER_YOCTO_CACHE,
           "pip_requirement": f"aos-multinode=={__version__}", "version": __version__,
           "check_command": check_command(config, release, root, out_dir, pins_file),
           "output_path": relative(out_dir.resolve(), root),
           "kas_path": relative((out_dir / KAS_DIR).resolve(), root),
           "gitlab_include_path": "/" + relative((out_dir / GITLAB_CI).resolve(), root)}
    return [PlannedFile(GITHUB_WORKFLOW, "ci/github-workflow.yml.j2", ctx),
            PlannedFile(GITLAB_CI, "ci/gitlab-ci.yml.j2", ctx)]
