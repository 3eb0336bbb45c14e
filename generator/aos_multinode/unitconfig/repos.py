"""build.repos: the extra repositories (BSP layers, a team's own layers) of a Unit Config.

Which node needs which repository (its MACHINE's, its role's, its own, and the repositories
their patches come from), and the offline rules: names that exist, a repository some node
uses, and a MACHINE that a layer of the node's build can define. Whether a BSP layer really
defines the MACHINE is only known from its checkout (`verify`, `generate --checkouts`).
"""

from __future__ import annotations

import difflib
from typing import Any, Optional

from aos_multinode.contract import REFERENCE_MACHINES, SHIPPED_REPOS
from aos_multinode.unitconfig.model import Patch, Repo
from aos_multinode.unitconfig.scalars import INVALID, Context


def _ok(*values: Any) -> bool:
    return all(value is not INVALID for value in values)


def _hint(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    if close:
        return f"; did you mean '{close[0]}'?"
    return f"; build.repos defines: {', '.join(choices)}" if choices else \
        "; build.repos defines none: add it there (url, branch or commit, layers)"


def _repos(data: dict) -> dict:
    build = data.get("build")
    if not isinstance(build, dict) or not isinstance(build.get("repos"), dict):
        return {}
    return build["repos"]


def check_repos(data: dict, nodes: list, ctx: Context) -> None:
    """Cross-field rules of build.repos and of the roles' and nodes' `repos`."""
    repos = _repos(data)
    names = [name for name in repos]
    before = len(ctx.findings)
    for name, repo in repos.items():
        path = f"build.repos.{name}"
        if name in SHIPPED_REPOS:
            ctx.error_at(path, f"'{name}' is a repository the generated kas files already "
                         f"name ({', '.join(SHIPPED_REPOS)}); choose another name")
        if not isinstance(repo, dict):
            continue
        if repo["branch"] is None and repo["commit"] is None:
            ctx.error_at(path, f"repository '{name}' has neither a branch nor a commit: give "
                         "`branch:` (then `aos-multinode pin --unit-config` resolves it) or a "
                         "full `commit:`")
        patches = repo["patches"] if isinstance(repo["patches"], dict) else {}
        for patch_id, patch in patches.items():
            if isinstance(patch, dict) and _ok(patch["repo"]) and patch["repo"] not in repos:
                ctx.error_at(f"{path}.patches.{patch_id}.repo",
                             f"'{patch['repo']}' is not a repository under build.repos"
                             + _hint(patch["repo"], names))
    roles = data["roles"] if isinstance(data.get("roles"), dict) else {}
    for role_name, role in roles.items():
        if isinstance(role, dict):
            _check_names(role["repos"], f"roles.{role_name}.repos", names, ctx)
    for i, node in enumerate(nodes):
        if node is not None:
            _check_names(node["repos"], f"nodes[{i}].repos", names, ctx)
    if len(ctx.findings) > before:
        return  # the uses below would only repeat an error reported above
    _check_machines(data, nodes, repos, ctx)


def _check_names(listed: Any, path: str, names: list[str], ctx: Context) -> None:
    if not isinstance(listed, list):
        return
    for j, name in enumerate(listed):
        if _ok(name) and name not in names:
            ctx.error_at(f"{path}[{j}]", f"'{name}' is not a repository under build.repos"
                         + _hint(name, names))


def node_repo_names(data: dict, node: dict) -> tuple[str, ...]:
    """The build.repos a node's build needs, in build.repos order: those defining its
    MACHINE, its role's, its own, and (transitively) the ones their patches come from."""
    repos = _repos(data)
    machine = node["machine"] or data["yocto"]["machine"]
    role = data["roles"][node["role"]]
    wanted = {name for name, repo in repos.items() if machine in repo["machines"]}
    wanted |= set(role["repos"]) | set(node["repos"])
    todo = list(wanted)
    while todo:
        for patch in repos[todo.pop()]["patches"].values():
            if patch["repo"] not in wanted:
                wanted.add(patch["repo"])
                todo.append(patch["repo"])
    return tuple(name for name in repos if name in wanted)


def _check_machines(data: dict, nodes: list, repos: dict, ctx: Context) -> None:
    """Every repository is used by some node; every node's MACHINE is one the shipped layers
    define, one a repository of its build declares, or (when its build has repositories that
    declare nothing about it) left to `verify`."""
    if not isinstance(data.get("yocto"), dict) or not _ok(data["yocto"]["machine"]) or \
            not isinstance(data.get("roles"), dict):
        return
    # Judge only what passed its structural check: a repository, a list of names or a
    # patch that failed was reported already, and guessing around it would mislead.
    for repo in repos.values():
        if not isinstance(repo, dict) or not isinstance(repo["machines"], list) or \
                not isinstance(repo["patches"], dict) or \
                not all(isinstance(p, dict) and _ok(p["repo"]) for p in repo["patches"].values()) \
                or not all(_ok(m) for m in repo["machines"]):
            return
    for role in data["roles"].values():
        if not isinstance(role, dict) or not isinstance(role["repos"], list) or \
                not all(_ok(name) for name in role["repos"]):
            return
    if any(node is not None and (not isinstance(node["repos"], list)
                                 or not all(_ok(name) for name in node["repos"]))
           for node in nodes):
        return
    used: set[str] = set()
    reported_default = False
    for i, node in enumerate(nodes):
        if node is None or not _ok(node["machine"], node["role"]) or \
                node["role"] not in data["roles"] or \
                not isinstance(data["roles"][node["role"]], dict):
            return
        names = node_repo_names(data, node)
        used |= set(names)
        machine = node["machine"] or data["yocto"]["machine"]
        if machine in REFERENCE_MACHINES or names:
            continue
        if node["machine"] is None:
            if reported_default:
                continue
            reported_default = True
            path = "yocto.machine"
        else:
            path = f"nodes[{i}].machine"
        ctx.error_at(path, _undefined_machine(machine))
    for name in repos:
        if name not in used:
            ctx.error_at(f"build.repos.{name}", f"no node uses repository '{name}': list the "
                         "MACHINEs its layers define under `machines:`, or name it in "
                         "roles.<role>.repos or nodes[].repos (or remove it)")


def _undefined_machine(machine: str) -> str:
    close = difflib.get_close_matches(machine, REFERENCE_MACHINES, n=1)
    hint = f"did you mean '{close[0]}'? Otherwise, " if close else ""
    return (f"MACHINE '{machine}' is defined by no layer of this build (the shipped layers "
            f"define {', '.join(REFERENCE_MACHINES)}); {hint}add the board's BSP layer under "
            f"build.repos with `machines: [{machine}]` (docs/real-boards.md)")


def build_repos(data: dict, ctx: Context) -> tuple[Repo, ...]:
    """The model of build.repos, in the order the Unit Config gives them."""
    out = []
    for name, repo in _repos(data).items():
        line, _ = ctx.where(f"build.repos.{name}")
        out.append(Repo(
            name=name, url=repo["url"], branch=repo["branch"], commit=repo["commit"],
            layers=tuple(dict.fromkeys(repo["layers"])), machines=tuple(repo["machines"]),
            patches=tuple(Patch(pid, p["repo"], p["path"])
                          for pid, p in sorted(repo["patches"].items())),
            line=line))
    return tuple(out)


def wks_file(role: dict, node: dict) -> Optional[str]:
    return node["wks_file"] or role["wks_file"]
