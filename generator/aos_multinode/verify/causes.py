"""Why a task differs between two nodes, from the contents of their sigdata documents:
new task, task code, variables, files or only dependencies; which differing variables carry
a node's identity. Pure, like `sharing`: loaded signature data in, evidence out."""

from __future__ import annotations

import re
from typing import Iterable, Mapping, Optional

from aos_multinode.verify.sharing import Evidence, TaskKey


def differing_variables(reference: Mapping, node: Mapping) -> list[str]:
    """Return the variables whose values differ between two sigdata documents of one task
    (or that only one of them depends on), sorted. Only the task's dependencies (taskdeps)
    count, as in BitBake's basehash: varvals also carries values outside the hash, e.g.
    ${TOPDIR} in a [dirs] flag."""
    ref_vals = reference.get("varvals") or {}
    node_vals = node.get("varvals") or {}
    task = node.get("task")
    names = set(_items(reference.get("taskdeps"))) | set(_items(node.get("taskdeps")))
    if not names:
        names = set(ref_vals) | set(node_vals)
    return sorted(name for name in names
                  if name != task and ref_vals.get(name, None) != node_vals.get(name, None))


def _items(value) -> list:
    """Return the items of a list, or of a set as BitBake's SetEncoder writes it
    ({"_set_object": [...]})."""
    if isinstance(value, dict):
        return list(value.get("_set_object") or [])
    return list(value or [])


def differing_dependencies(reference: Mapping, node: Mapping) -> list[str]:
    """Return the dependencies (`pn:task`) whose signature differs or that only one of the
    two sigdata documents has, sorted."""
    ref_deps = reference.get("runtaskhashes") or {}
    node_deps = node.get("runtaskhashes") or {}
    return sorted(_pnid(dep) for dep in set(ref_deps) | set(node_deps)
                  if ref_deps.get(dep) != node_deps.get(dep))


def _pnid(dep: str) -> str:
    """`mc:<name>:pn:task` or `pn:task` (BitBake's pnid) -> `pn:task`."""
    parts = dep.split(":")
    return ":".join(parts[-2:])


def task_cause(reference: Optional[Mapping], node: Mapping) -> tuple[str, str]:
    """Return (kind, text) saying why one task's signature differs: a new task, the
    variables that changed, the task's own code, files, a taint, or only its dependencies."""
    if reference is None:
        return "new", "new task (the reference node does not build it)"
    variables = differing_variables(reference, node)
    task = node.get("task")
    if task and (reference.get("varvals") or {}).get(task) != (node.get("varvals") or {}).get(task):
        return "code", "variables: " + ", ".join(["(task code)"] + variables)
    if variables:
        return "variables", "variables: " + ", ".join(variables)
    if (reference.get("file_checksum_values") or []) != (node.get("file_checksum_values") or []):
        return "files", "files: " + ", ".join(_changed_files(reference, node))
    if reference.get("taint") != node.get("taint"):
        return "tainted", "tainted"
    deps = differing_dependencies(reference, node)
    return "dependencies", ("dependencies: " + ", ".join(deps[:5])
                            + (" ..." if len(deps) > 5 else ""))


def _changed_files(reference: Mapping, node: Mapping) -> list[str]:
    ref = {name: cs for name, cs in reference.get("file_checksum_values") or []}
    new = {name: cs for name, cs in node.get("file_checksum_values") or []}
    return sorted(name for name in set(ref) | set(new) if ref.get(name) != new.get(name))


def recipe_evidence(pairs: Mapping[TaskKey, tuple[Optional[Mapping], Mapping]],
                    names: tuple[Iterable[str], Iterable[str]] = ((), ())
                    ) -> dict[str, Evidence]:
    """Return, per recipe, the evidence of its tasks' sigdata pairs (reference document or
    None for a new task, node document). `names` are the words naming the reference node
    and the node, to find the variables that carry a node's identity. Tasks that differ
    only through their dependencies count as one cause per recipe, so that the root causes
    stand out."""
    out: dict[str, Evidence] = {}
    for key, (reference, node) in pairs.items():
        kind, text = task_cause(reference, node)
        found = out.setdefault(key.recipe, Evidence())
        found.kinds.add(kind)
        found.causes["dependencies only" if kind == "dependencies" else text] += 1
        if reference is not None:
            changed = differing_variables(reference, node)
            found.variables.update(changed)
            found.carriers.update(name for name in changed
                                  if carries_identity(reference, node, name, names))
        if kind == "dependencies" and reference is not None:
            found.dependencies.update(dep.split(":")[0]
                                      for dep in differing_dependencies(reference, node))
    return out


def carries_identity(reference: Mapping, node: Mapping, name: str,
                     names: tuple[Iterable[str], Iterable[str]]) -> bool:
    """Return True when variable `name` differs between the two documents only in the
    words naming each node (e.g. NODE_ID "a" / "b", DISTRO_FEATURES "... node-a" / "...
    node-b")."""
    values = [(doc.get("varvals") or {}).get(name) for doc in (reference, node)]
    if not all(isinstance(value, str) for value in values):
        return False
    masked = [_mask(str(value), words) for value, words in zip(values, names)]
    return masked[0] == masked[1] and masked[0] != values[0]


def _mask(value: str, words: Iterable[str]) -> str:
    """Replace every whole word of `words` in `value` by a placeholder."""
    for word in sorted(words, key=len, reverse=True):
        value = re.sub(rf"(?<![A-Za-z0-9]){re.escape(word)}(?![A-Za-z0-9])", "\x00", value)
    return value
