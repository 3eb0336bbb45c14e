"""Plan the kas files: one per node, an all-nodes multiconfig build, and a shared include.

kas names the repository holding the top kas file `this`: the git work tree around the kas
files, or the kas folder itself outside git. Includes and the generated layer are named
relative to that root, so the plan needs to know where the output goes.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from aos_multinode import __version__
from aos_multinode.contract import ALL_NODES, KAS_COMMON as COMMON, KAS_DIR
from aos_multinode.unitconfig.model import UnitConfig
from aos_multinode.generation.pins import aos_commit, aos_url, pinned_repo, release_repos
from aos_multinode.generation.plan import IMAGE, LAYER_DIR, PlannedFile

# The lowest kas configuration format that has every key we write (`commit`/`branch`: 14).
KAS_FORMAT_VERSION = 14


@dataclass(frozen=True)
class KasRepo:
    name: str
    url: Optional[str]
    branch: Optional[str]
    commit: Optional[str]
    layers: tuple[str, ...]
    comment: str = ""


def git_root(directory: Path) -> Optional[Path]:
    """Return the top of the git work tree (or superproject) holding `directory`, as kas
    finds it, or None outside git."""
    import git

    probe = directory.resolve()
    while not probe.exists():
        probe = probe.parent
    try:
        repo = git.Repo(probe, search_parent_directories=True)
        output = repo.git.rev_parse("--show-toplevel", "--show-superproject-working-tree")
        return Path(sorted(output.strip().splitlines())[0])
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, git.GitCommandError,
            git.GitCommandNotFound):
        return None


def kas_root(out_dir: Path) -> Path:
    """Return the directory kas will take as the repository `this` for files in
    OUT_DIR/kas: the git work tree around it, else OUT_DIR/kas itself."""
    kas_dir = (out_dir / KAS_DIR).resolve()
    return git_root(kas_dir) or kas_dir


def _relative(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def meta_oe_layers(config: UnitConfig) -> tuple[str, ...]:
    """meta-openembedded layers: meta-oe (linuxptp), meta-networking (chrony), and what
    meta-aos needs (meta-python, meta-networking, meta-filesystems)."""
    layers = {"meta-oe"}
    if config.time_protocol == "ntp" or config.aos.enabled:
        layers.add("meta-networking")
    if config.aos.enabled:
        layers |= {"meta-python", "meta-filesystems"}
    return tuple(sorted(layers))


def kas_repos(config: UnitConfig, pins: dict, layer_path: str) -> list[KasRepo]:
    """Return every repository a node build needs, pinned to a commit."""
    pinned = release_repos(pins, config.yocto_release)

    def repo(name: str, layers: tuple[str, ...], comment: str = "") -> KasRepo:
        entry = pinned_repo(pins, config.yocto_release, name)
        return KasRepo(name, entry["url"], entry["branch"], entry["commit"], layers, comment)

    repos = [KasRepo("aos-multinode", None, None, None, (layer_path,),
                     "the generated layer, in the repository holding these kas files")]
    if "poky" in pinned:
        repos.append(repo("poky", ("meta", "meta-poky", "meta-yocto-bsp")))
    else:
        repos += [repo("bitbake", (), "BitBake itself, found by openembedded-core as ../bitbake"),
                  repo("openembedded-core", ("meta",)),
                  repo("meta-yocto", ("meta-poky", "meta-yocto-bsp"))]
    repos.append(repo("meta-openembedded", meta_oe_layers(config)))
    if config.aos.enabled:
        repos += [repo("meta-virtualization", (".",)), repo("meta-selinux", (".",))]
        repos.append(KasRepo("meta-aos", aos_url(pins), None,
                             aos_commit(pins, config.aos.version), (".",),
                             f"meta-aos {config.aos.version}"))
    return repos


def plan_kas(config: UnitConfig, release: str, pins: dict, out_dir: Path) -> list[PlannedFile]:
    """Return the kas files: include/common.yml, one <node id>.yml per node, all-nodes.yml."""
    root = kas_root(out_dir)
    kas_dir = (out_dir / KAS_DIR).resolve()
    layer_path = _relative((out_dir / LAYER_DIR).resolve(), root)
    common_include = _relative(kas_dir / COMMON, root)
    base = {"config": config, "release": release, "version": __version__, "image": IMAGE,
            "kas_version": KAS_FORMAT_VERSION, "common_include": common_include,
            "outside_git": root == kas_dir,
            "repos": kas_repos(config, pins, layer_path)}
    files = [PlannedFile(f"{KAS_DIR}/{COMMON}", "kas/common.yml.j2", base)]
    for node in config.nodes:
        files.append(PlannedFile(f"{KAS_DIR}/{node.id}.yml", "kas/node.yml.j2",
                                 {**base, "node": node}))
    files.append(PlannedFile(f"{KAS_DIR}/{ALL_NODES}", "kas/all-nodes.yml.j2", base))
    return sorted(files, key=lambda f: f.relpath)


GITHUB_WORKFLOW = ".github/workflows/aos-multinode.yml"
GITLAB_CI = ".gitlab/ci/aos-multinode.yml"
KAS_CONTAINER_TAG = "5.5"


def _repository_path(path: Path, root: Path) -> str:
    """`path` relative to the repository root CI works in; only its name when it lies outside
    (CI cannot see it there: the user has to commit it)."""
    path = path.resolve()
    return _relative(path, root) if path.is_relative_to(root) else path.name


def check_command(config: UnitConfig, release: str, root: Path, out_dir: Path,
                  pins_file: Optional[Path | str] = None) -> str:
    """The `aos-multinode generate ... --check` CI runs: the same inputs as this run, so that
    only a change to them (or to aos-multinode) makes it fail.

    A release that did not come from the Unit Config (--release, or git describe, which
    changes with every commit, the one holding the output included) is passed as it is now:
    otherwise committed output could never be up to date."""
    words = ["aos-multinode", "generate", _repository_path(Path(config.source_file), root),
             "-o", _relative(out_dir.resolve(), root), "--check"]
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
           "output_path": _relative(out_dir.resolve(), root),
           "kas_path": _relative((out_dir / KAS_DIR).resolve(), root),
           "gitlab_include_path": "/" + _relative((out_dir / GITLAB_CI).resolve(), root)}
    return [PlannedFile(GITHUB_WORKFLOW, "ci/github-workflow.yml.j2", ctx),
            PlannedFile(GITLAB_CI, "ci/gitlab-ci.yml.j2", ctx)]
