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
from aos_multinode.errors import Finding
from aos_multinode.contract import ALL_NODES, KAS_COMMON as COMMON, KAS_DIR, KAS_SITE
from aos_multinode.unitconfig.model import Node, UnitConfig
from aos_multinode.generation.pins import (PinsError, aos_commit, aos_url, pinned_repo,
                                           release_repos)
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
    patches: tuple[tuple[str, str, str], ...] = ()  # (id, repo, path)


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


def extra_repos(config: UnitConfig, pins: dict, nodes: tuple[Node, ...]) -> list[KasRepo]:
    """Return the build.repos entries the builds of `nodes` need, pinned: the pins table's
    commit when it has this repository at the same URL (`aos-multinode pin --unit-config`
    refreshes it there), else the Unit Config's."""
    table = pins.get("releases", {}).get(config.yocto_release, {}).get("repos", {})
    out = []
    for repo in config.repos_of(nodes):
        pinned = table.get(repo.name)
        if pinned and pinned.get("url") == repo.url and pinned.get("commit"):
            commit, source = pinned["commit"], "the pins table"
            branch = repo.branch or pinned.get("branch")
        elif repo.commit:
            commit, source, branch = repo.commit, "the Unit Config", repo.branch
        else:
            raise PinsError(
                f"{config.source_file}:{repo.line}: build.repos.{repo.name} has no commit and "
                f"the pins table has none for {repo.url}: add `commit:` (40 hex digits), or "
                f"run `aos-multinode pin --unit-config {config.source_file} -o pins.json` and "
                "pass --pins pins.json")
        users = [node.id for node in nodes if repo.name in node.repos]
        comment = f"build.repos.{repo.name} (commit from {source}), for {', '.join(users)}"
        out.append(KasRepo(repo.name, repo.url, branch, commit, repo.layers, comment,
                           tuple((p.id, p.repo, p.path) for p in repo.patches)))
    return out


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
                                 {**base, "node": node,
                                  "extra_repos": extra_repos(config, pins, (node,))}))
    files.append(PlannedFile(f"{KAS_DIR}/{ALL_NODES}", "kas/all-nodes.yml.j2",
                             {**base, "extra_repos": extra_repos(config, pins, config.nodes)}))
    return sorted(files, key=lambda f: f.relpath)


def machine_findings(config: UnitConfig, pins: dict, checkouts: Path) -> list[Finding]:
    """With the repositories checked out in CHECKOUTS (as kas lays them out:
    CHECKOUTS/<repository>/<layer>), the nodes whose MACHINE no layer of their build defines
    (no conf/machine/<MACHINE>.conf). A node whose repositories are not all there is not
    judged: its checkout is not at hand."""
    shared = [repo for repo in kas_repos(config, pins, ".") if repo.url]
    out = []
    for node in config.nodes:
        repos = shared + extra_repos(config, pins, (node,))
        layers = [checkouts / repo.name / layer for repo in repos for layer in repo.layers]
        if not all((layer / "conf" / "layer.conf").is_file() for layer in layers):
            continue
        if any((layer / "conf" / "machine" / f"{node.machine}.conf").is_file()
               for layer in layers):
            continue
        path, line, column = node.machine_at
        names = ", ".join(f"{repo.name}" for repo in repos)
        out.append(Finding(config.source_file, line, column, path,
                           f"MACHINE '{node.machine}' of node {node.id} is defined by no layer "
                           f"of its build (checked out in {checkouts}: {names}); add the "
                           f"board's BSP layer under build.repos with `machines: "
                           f"[{node.machine}]`, or fix the MACHINE name"))
    return out
