"""Build sharing between nodes, from the task signatures `bitbake -S none` writes.

BitBake writes one file per task of the target's task graph:
`<TMPDIR>/stamps/<arch>/<pn>/<pv>.<task>.sigdata.<hash>` (stamps of shared work
directories, e.g. gcc's source, sit one level higher: `stamps/work-shared/<name>.<task>...`).
Two builds run a task once between them, through sstate, exactly when the task's stamp path
and signature are equal. So the tasks an extra node adds over another node are the
(stamp, task, hash) triples the other node does not have.

Everything here is pure: paths and loaded signature data in, figures out. Reading files and
running BitBake is `verify`'s job.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Optional

SIGDATA = re.compile(r"^(?P<stem>.+)\.(?P<task>do_[A-Za-z0-9_+-]+)\.sigdata\."
                     r"(?P<hash>[0-9a-f]{32,128})$")
IMAGE = "aos-multinode-image"
GOAL_PERCENT = 1.0
# What an extra node of a MACHINE may add (the design goal): its own config recipe and its
# image. Role packagegroups differ only between nodes of different roles.
NODE_CATEGORIES = ("node-config", "image")


@dataclass(frozen=True, order=True)
class TaskKey:
    """A task as sstate sees it: the stamp base (relative to the stamps directory) and the
    task name; two builds share the task when key and signature are equal."""

    stamp: str
    task: str

    @property
    def recipe(self) -> str:
        """Return the recipe name: the stamp directory `<arch>/<pn>/<pv>` gives pn; for
        shared work directories (`work-shared/<name>`) the name."""
        parts = self.stamp.split("/")
        return parts[1] if len(parts) >= 3 else parts[-1]

    @property
    def label(self) -> str:
        return f"{self.recipe}:{self.task}"


@dataclass(frozen=True)
class NodeInfo:
    """What the report needs to know about a node (from its local.conf fragment)."""

    node: str
    machine: str
    role: str = ""
    kernel: str = ""
    index: int = 0


@dataclass
class RecipeShare:
    """The tasks one recipe adds, and why (when the signature data could be read)."""

    recipe: str
    tasks: int
    category: str
    causes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"recipe": self.recipe, "tasks": self.tasks, "category": self.category,
                "causes": self.causes}


@dataclass
class ExtraNode:
    """An extra node of a MACHINE compared with the first node of that MACHINE."""

    node: NodeInfo
    reference: NodeInfo
    tasks: int
    added: list[TaskKey]
    recipes: list[RecipeShare]
    variables: dict[str, int] = field(default_factory=dict)

    @property
    def percent(self) -> float:
        """Return the added tasks as a percentage of this node's image tasks."""
        return 100.0 * len(self.added) / self.tasks if self.tasks else 0.0

    @property
    def differences(self) -> list[str]:
        """Return what, besides identity, differs from the reference node: role, kernel."""
        out = []
        if self.node.role != self.reference.role:
            out.append(f"role {self.node.role} (reference: {self.reference.role})")
        if self.node.kernel != self.reference.kernel:
            out.append(f"kernel {self.node.kernel or 'default'} "
                       f"(reference: {self.reference.kernel or 'default'})")
        return out

    @property
    def goal_met(self) -> bool:
        """Return True when the node adds only its config recipe's and image's tasks, and
        fewer than GOAL_PERCENT % of its image's tasks."""
        return (self.percent < GOAL_PERCENT
                and all(r.category in NODE_CATEGORIES for r in self.recipes))

    def as_dict(self) -> dict:
        return {"node": self.node.node, "reference": self.reference.node,
                "machine": self.node.machine, "tasks": self.tasks,
                "added_tasks": len(self.added), "added_percent": round(self.percent, 3),
                "goal_met": self.goal_met, "differences": self.differences,
                "variables": self.variables, "recipes": [r.as_dict() for r in self.recipes]}


@dataclass
class MachineGroup:
    """The nodes of one MACHINE: the first is the reference."""

    machine: str
    reference: NodeInfo
    reference_tasks: int
    extras: list[ExtraNode]
    unique_tasks: int

    @property
    def ratio(self) -> float:
        """Return unique tasks of all nodes of the MACHINE / tasks of the reference node."""
        return self.unique_tasks / self.reference_tasks if self.reference_tasks else 0.0

    def as_dict(self) -> dict:
        return {"machine": self.machine, "reference": self.reference.node,
                "reference_tasks": self.reference_tasks,
                "nodes": [self.reference.node] + [e.node.node for e in self.extras],
                "unique_tasks": self.unique_tasks, "ratio": round(self.ratio, 4),
                "extra_nodes": [e.as_dict() for e in self.extras]}


@dataclass
class SharingReport:
    """Every MACHINE group plus the figure over all nodes."""

    groups: list[MachineGroup]
    nodes: int
    unique_tasks: int
    one_node_tasks: int

    @property
    def ratio(self) -> float:
        """Return unique tasks of all nodes / tasks of one node (the first node)."""
        return self.unique_tasks / self.one_node_tasks if self.one_node_tasks else 0.0

    @property
    def goal_met(self) -> bool:
        return all(extra.goal_met for group in self.groups for extra in group.extras)

    def as_dict(self) -> dict:
        return {"nodes": self.nodes, "unique_tasks": self.unique_tasks,
                "one_node_tasks": self.one_node_tasks, "ratio": round(self.ratio, 4),
                "goal_percent": GOAL_PERCENT, "goal_met": self.goal_met,
                "machines": [g.as_dict() for g in self.groups]}


# --- reading the stamps tree (paths only) ----------------------------------------------

def parse_sigdata_path(relpath: str) -> Optional[tuple[TaskKey, str]]:
    """Return (task key, signature) for a path relative to the stamps directory, or None
    for anything that is not a sigdata file (stamps, sigbasedata, taints, locks)."""
    directory, _, name = relpath.rpartition("/")
    match = SIGDATA.match(name)
    if match is None:
        return None
    stem = f"{directory}/{match['stem']}" if directory else match["stem"]
    return TaskKey(stem, match["task"]), match["hash"]


def signatures(relpaths: Iterable[str]) -> dict[TaskKey, str]:
    """Return task key -> signature for the sigdata files among `relpaths`.

    A stamps directory holds one sigdata file per task and signature ever dumped there; the
    caller clears it before `bitbake -S none` so that each task has exactly one."""
    out: dict[TaskKey, str] = {}
    for relpath in relpaths:
        parsed = parse_sigdata_path(relpath)
        if parsed is not None:
            key, signature = parsed
            out[key] = max(signature, out.get(key, ""))
    return out


# --- comparing nodes -------------------------------------------------------------------

def added_tasks(reference: Mapping[TaskKey, str], node: Mapping[TaskKey, str]) -> list[TaskKey]:
    """Return, sorted, the tasks of `node` whose signature `reference` does not have: the
    tasks a build of `node` runs after a build of `reference` filled the sstate cache."""
    return sorted(key for key, signature in node.items() if reference.get(key) != signature)


def unique_tasks(nodes: Iterable[Mapping[TaskKey, str]]) -> int:
    """Return how many distinct (task, signature) pairs the nodes have together: the tasks
    one shared sstate cache runs for all of them."""
    return len({item for tasks in nodes for item in tasks.items()})


def category(recipe: str, node: NodeInfo) -> str:
    """Return why a recipe may differ for `node`: its own config recipe ('node-config'), the
    image ('image'), a role packagegroup ('role'), or anything else ('other')."""
    if recipe == f"aos-node-config-{node.node}":
        return "node-config"
    if recipe == IMAGE:
        return "image"
    if recipe.startswith("packagegroup-aos-multinode-"):
        return "role"
    return "other"


def by_recipe(added: Iterable[TaskKey], node: NodeInfo,
              causes: Optional[Mapping[str, list[str]]] = None) -> list[RecipeShare]:
    """Return the added tasks counted per recipe, most tasks first (then by name)."""
    counts = Counter(key.recipe for key in added)
    causes = causes or {}
    return [RecipeShare(recipe, count, category(recipe, node), list(causes.get(recipe, [])))
            for recipe, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


def group_by_machine(nodes: Iterable[NodeInfo]) -> dict[str, list[NodeInfo]]:
    """Return the nodes per MACHINE, each list in node index order (the first is the
    reference), MACHINEs in the order their first node appears."""
    groups: dict[str, list[NodeInfo]] = {}
    for node in sorted(nodes, key=lambda n: (n.index, n.node)):
        groups.setdefault(node.machine, []).append(node)
    return groups


def sharing_report(nodes: Iterable[NodeInfo], tasks: Mapping[str, Mapping[TaskKey, str]],
                   causes: Optional[Mapping[str, Mapping[str, list[str]]]] = None,
                   variables: Optional[Mapping[str, Mapping[str, int]]] = None
                   ) -> SharingReport:
    """Return the sharing report for `nodes`, given each node's task signatures
    (`tasks[node id]`) and optionally, per node, the causes found per added recipe and the
    variables that differ (with how many of the examined tasks each changes)."""
    causes = causes or {}
    variables = variables or {}
    present = [n for n in nodes if n.node in tasks]
    groups = []
    for machine, members in group_by_machine(present).items():
        reference = members[0]
        extras = []
        for node in members[1:]:
            added = added_tasks(tasks[reference.node], tasks[node.node])
            counts = dict(sorted((variables.get(node.node) or {}).items(),
                                 key=lambda item: (-item[1], item[0])))
            extras.append(ExtraNode(node, reference, len(tasks[node.node]), added,
                                    by_recipe(added, node, causes.get(node.node)), counts))
        groups.append(MachineGroup(machine, reference, len(tasks[reference.node]), extras,
                                   unique_tasks(tasks[n.node] for n in members)))
    first = groups[0].reference_tasks if groups else 0
    return SharingReport(groups, len(present), unique_tasks(tasks[n.node] for n in present),
                         first)


# --- why a task differs (from the sigdata contents) --------------------------------------

def differing_variables(reference: Mapping, node: Mapping) -> list[str]:
    """Return the variables whose values differ between two sigdata documents of one task
    (or that only one of them depends on), sorted."""
    ref_vals = reference.get("varvals") or {}
    node_vals = node.get("varvals") or {}
    task = node.get("task")
    names = set(ref_vals) | set(node_vals)
    return sorted(name for name in names
                  if name != task and ref_vals.get(name, None) != node_vals.get(name, None))


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


def task_cause(reference: Optional[Mapping], node: Mapping) -> str:
    """Return why one task's signature differs, in a few words: a new task, the variables
    that changed, the task's own code, files, or only its dependencies."""
    if reference is None:
        return "new task (the reference node does not build it)"
    variables = differing_variables(reference, node)
    if node.get("task") and (reference.get("varvals") or {}).get(node["task"]) != \
            (node.get("varvals") or {}).get(node["task"]):
        variables = ["(task code)"] + variables
    if variables:
        return "variables: " + ", ".join(variables)
    if (reference.get("file_checksum_values") or []) != (node.get("file_checksum_values") or []):
        files = _changed_files(reference, node)
        return "files: " + ", ".join(files)
    if reference.get("taint") != node.get("taint"):
        return "tainted"
    deps = differing_dependencies(reference, node)
    return "dependencies: " + ", ".join(deps[:5]) + (" ..." if len(deps) > 5 else "")


def _changed_files(reference: Mapping, node: Mapping) -> list[str]:
    ref = {name: cs for name, cs in reference.get("file_checksum_values") or []}
    new = {name: cs for name, cs in node.get("file_checksum_values") or []}
    return sorted(name for name in set(ref) | set(new) if ref.get(name) != new.get(name))


def root_causes(pairs: Mapping[TaskKey, tuple[Optional[Mapping], Mapping]]) -> dict[str, list[str]]:
    """Return, per recipe, the distinct causes of its tasks' differences, most frequent first.

    Tasks that differ only through their dependencies are summarised as one cause per
    recipe, so that the root causes (variables, files, new recipes) stand out."""
    per_recipe: dict[str, Counter] = {}
    for key, (reference, node) in pairs.items():
        cause = task_cause(reference, node)
        if cause.startswith("dependencies: "):
            cause = "dependencies only"
        per_recipe.setdefault(key.recipe, Counter())[cause] += 1
    return {recipe: [f"{cause} ({count} task{'s' if count != 1 else ''})"
                     for cause, count in sorted(counts.items(), key=lambda i: (-i[1], i[0]))]
            for recipe, counts in per_recipe.items()}


def changed_variables(pairs: Mapping[TaskKey, tuple[Optional[Mapping], Mapping]]) -> Counter:
    """Return how many tasks each variable changes (from the sigdata pairs): the root
    causes of the extra tasks, over all recipes."""
    counts: Counter = Counter()
    for reference, node in pairs.values():
        if reference is not None:
            counts.update(differing_variables(reference, node))
    return counts


# --- text -----------------------------------------------------------------------------

def format_report(report: SharingReport, max_recipes: int = 12) -> str:
    """Return the human report: per MACHINE, each extra node's added tasks by recipe."""
    lines = ["Build sharing (task signatures from `bitbake -S none`; a task is shared when "
             "its stamp and signature are equal):"]
    for group in report.groups:
        lines.append(f"  MACHINE {group.machine}: reference node {group.reference.node}, "
                     f"{group.reference_tasks:,} tasks")
        for extra in group.extras:
            lines += _extra_lines(extra, max_recipes)
        if group.extras:
            lines.append(f"    {len(group.extras) + 1} nodes: {group.unique_tasks:,} unique "
                         f"tasks / {group.reference_tasks:,} = {group.ratio:.3f}")
    lines.append(f"  All {report.nodes} nodes: {report.unique_tasks:,} unique tasks / "
                 f"{report.one_node_tasks:,} tasks of one node = {report.ratio:.3f}")
    return "\n".join(lines)


def _extra_lines(extra: ExtraNode, max_recipes: int) -> list[str]:
    goal = ("goal met" if extra.goal_met else
            f"goal NOT met (only its config recipe and image, < {GOAL_PERCENT:g} %)")
    lines = [f"    {extra.node.node}: +{len(extra.added):,} of {extra.tasks:,} tasks "
             f"({extra.percent:.2f} %) over {extra.reference.node}; {goal}"]
    if extra.differences:
        lines.append(f"      differs from {extra.reference.node} in: "
                     + "; ".join(extra.differences))
    if extra.variables:
        shown = ", ".join(f"{name} ({count})" for name, count in
                          list(extra.variables.items())[:8])
        lines.append(f"      variables that differ (tasks examined): {shown}")
    for share in extra.recipes[:max_recipes]:
        why = f"  <- {'; '.join(share.causes)}" if share.causes else ""
        lines.append(f"      {share.tasks:5d}  {share.recipe} [{share.category}]{why}")
    if len(extra.recipes) > max_recipes:
        rest = extra.recipes[max_recipes:]
        lines.append(f"      {sum(r.tasks for r in rest):5d}  ... {len(rest)} more recipes "
                     "(--json lists them all)")
    return lines
