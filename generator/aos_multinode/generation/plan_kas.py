"""Plan the kas files: one per node, an all-nodes multiconfig build, and a shared include
(the CI files are plan_ci.py's).

kas names the repository holding the top kas file `this`: the git work tree around the kas
files, or the kas folder itself outside git. Includes and the generated layer are named
relative to that root, so the plan needs to know where the output goes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from aos_multinode import __version__
from aos_multinode.contract import ALL_NODES, KAS_COMMON as COMMON, KAS_DIR, KAS_SITE
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


def kas_root(out_dir: Path, git_init: bool = False) -> Path:
    """Return the directory kas will take as the repository `this` for files in
    OUT_DIR/kas: the git work tree around it; outside git OUT_DIR itself when `generate`
    makes OUT_DIR a git repository (`git_init`), else OUT_DIR/kas."""
    kas_dir = (out_dir / KAS_DIR).resolve()
    return git_root(kas_dir) or (out_dir.resolve() if git_init else kas_dir)


def relative(path: Path, root: Path) -> str:
    """Return `path` relative to `root`, with / separators (as kas and CI name paths)."""
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


def plan_kas(config: UnitConfig, release: str, pins: dict, out_dir: Path,
             git_init: bool = False) -> list[PlannedFile]:
    """Return the kas files: include/common.yml, include/site.yml (the user's), one
    <node id>.yml per node, all-nodes.yml.
    `git_init`: OUT_DIR, if outside git, becomes a git repository before kas reads them."""
    root = kas_root(out_dir, git_init)
    kas_dir = (out_dir / KAS_DIR).resolve()
    layer_path = relative((out_dir / LAYER_DIR).resolve(), root)
    common_include = relative(kas_dir / COMMON, root)
    base = {"config": config, "release": release, "version": __version__, "image": IMAGE,
            "kas_version": KAS_FORMAT_VERSION, "common_include": common_include,
            "site_include": relative(kas_dir / KAS_SITE, root),
            "outside_git": root == kas_dir,
            "repos": kas_repos(config, pins, layer_path)}
    files = [PlannedFile(f"{KAS_DIR}/{COMMON}", "kas/common.yml.j2", base),
             # The team's own: the same stub for every device, written only when missing.
             PlannedFile(f"{KAS_DIR}/{KAS_SITE}", "kas/site.yml.j2",
                         {"kas_version": KAS_FORMAT_VERSION}, user_owned=True)]
    for node in config.nodes:
        files.append(PlannedFile(f"{KAS_DIR}/{node.id}.yml", "kas/node.yml.j2",
                                 {**base, "node": node}))
    files.append(PlannedFile(f"{KAS_DIR}/{ALL_NODES}", "kas/all-nodes.yml.j2", base))
    return sorted(files, key=lambda f: f.relpath)
