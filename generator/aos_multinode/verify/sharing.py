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

from aos_multinode import aos_node, contract
from aos_multinode.contract import IMAGE

SIGDATA = re.compile(r"^(?P<stem>.+)\.(?P<task>do_[A-Za-z0-9_+-]+)\.sigdata\."
                     r"(?P<hash>[0-9a-f]{32,128})$")
GOAL_PERCENT = 1.0
# What an extra node of a MACHINE may add for its identity (the design goal): its own
# config recipe, its image, and recipes that read only its fragment's identity variables
# (meta-aos's per-node configuration).
IDENTITY_CATEGORIES = ("node-config", "image", "identity")
# Fragment variables that are the same for every node of a role: what they change is the
# role's, not the node's.
ROLE_VARIABLES = frozenset({contract.NODE_ROLE_VAR, contract.NODE_MAIN_VAR, "AOS_MAIN_NODE",
                            "AOS_NODE_TYPE", contract.KERNEL_VAR})
# Kinds of cause a role difference explains: a recipe the other role does not build, and
# the code, files and values meta-aos's role overrides (aos-main-node, ...) choose.
ROLE_KINDS = frozenset({"new", "code", "files"})
# The node-config variants of Aos core the layer adds (classes/nodeconfig.bbclass).
NODE_CONFIG_VARIANTS = frozenset(aos_node.node_config_variant(recipe)
                                 for recipe in aos_node.NODE_CONFIG_SPLIT)
# The heavy kinds of task: where a recipe's code is configured, compiled and installed.
# They have no sstate of their own: a build directory that lacks the recipe's work folder
# (every node has a TMPDIR of its own) runs them whenever one of the recipe's setscene tasks
# that takes their output (REBUILDING) misses the sstate cache, even if their own
# signatures are shared. Everything else (fetch, unpack, packaging, the image) is light.
HEAVY_TASKS = frozenset({"do_configure", "do_compile", "do_install", "do_compile_kernelmodules"})
REBUILDING = frozenset({"do_populate_sysroot", "do_package", "do_deploy"})
# Differ only because verify gives every node a build directory of its own (openembedded-
# core's image tasks have ${TOPDIR} in their [dirs]); builds of one directory share them.
BUILD_DIRECTORY_VARIABLES = frozenset({"TOPDIR"})


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
    fragment: frozenset = frozenset()
    names: frozenset = frozenset()

    def identity_names(self) -> frozenset:
        """Return the words that name this node (id, hostname)."""
        return self.names | {self.node}


@dataclass
class Evidence:
    """What the signature data of (a sample of) one recipe's added tasks says: each
    cause with how many tasks it explains, the kinds of cause, and the variables that
    differ with how many tasks each changes."""

    causes: Counter = field(default_factory=Counter)
    kinds: set = field(default_factory=set)
    variables: Counter = field(default_factory=Counter)
    dependencies: set = field(default_factory=set)
    # Variables whose two values differ only in the node's name (id or hostname): they
    # carry the node's identity.
    carriers: set = field(default_factory=set)

    def cause_texts(self) -> list[str]:
        """Return the causes, most frequent first, as `cause (N tasks)`."""
        return [f"{cause} ({count} task{'s' if count != 1 else ''})"
                for cause, count in sorted(self.causes.items(), key=lambda i: (-i[1], i[0]))]


@dataclass
class RecipeShare:
    """The tasks one recipe adds, its category, and why (when the signature data could be
    read)."""

    recipe: str
    tasks: int
    category: str
    causes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"recipe": self.recipe, "tasks": self.tasks, "category": self.category,
                "causes": self.causes}


@dataclass
class ExtraNode:
    """An extra node of a MACHINE compared with the first node of that MACHINE.

    `heavy` are the heavy tasks (HEAVY_TASKS of a recipe that compiles code) whose
    signature differs; `rerun` the heavy tasks the node's build runs again after the
    reference's filled the sstate cache: those, plus every heavy task of a recipe one of
    whose REBUILDING setscene tasks differs."""

    node: NodeInfo
    reference: NodeInfo
    tasks: int
    added: list[TaskKey]
    recipes: list[RecipeShare]
    variables: dict[str, int] = field(default_factory=dict)
    heavy: list[TaskKey] = field(default_factory=list)
    rerun: list[TaskKey] = field(default_factory=list)

    @property
    def light(self) -> int:
        """Return how many added tasks are light (not heavy)."""
        return len(self.added) - len(self.heavy)

    @property
    def same_role(self) -> bool:
        return self.node.role == self.reference.role and self.node.kernel == self.reference.kernel

    @property
    def heavy_goal_met(self) -> bool:
        """Return True unless the node has the reference's role and kernel and still runs a
        heavy task again (the design goal: an extra node of a role compiles nothing)."""
        return not (self.same_role and self.rerun)

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

    def tasks_in(self, *categories: str) -> int:
        """Return how many added tasks belong to recipes of these categories."""
        return sum(r.tasks for r in self.recipes if r.category in categories)

    @property
    def identity_percent(self) -> float:
        """Return the tasks the node's identity adds (its config recipe, the image, recipes
        changed only by its fragment's identity variables), as % of its image's tasks."""
        return 100.0 * self.tasks_in(*IDENTITY_CATEGORIES) / self.tasks if self.tasks else 0.0

    @property
    def goal_met(self) -> bool:
        """Return True when the node's identity adds fewer than GOAL_PERCENT % of its
        image's tasks and nothing else differs but what its role (or kernel) brings."""
        return self.identity_percent < GOAL_PERCENT and self.tasks_in("other") == 0

    def as_dict(self) -> dict:
        return {"node": self.node.node, "reference": self.reference.node,
                "machine": self.node.machine, "tasks": self.tasks,
                "added_tasks": len(self.added), "added_percent": round(self.percent, 3),
                "identity_tasks": self.tasks_in(*IDENTITY_CATEGORIES),
                "identity_percent": round(self.identity_percent, 3),
                "role_tasks": self.tasks_in("role"), "other_tasks": self.tasks_in("other"),
                "goal_met": self.goal_met, "differences": self.differences,
                "heavy_tasks": [k.label for k in self.heavy],
                "heavy_rerun": [k.label for k in self.rerun], "light_tasks": self.light,
                "heavy_goal_met": self.heavy_goal_met,
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


def compiles(recipe: str) -> bool:
    """Return False for the recipes of the generated layer (images, packagegroups, the
    config recipes: their configure and compile are noexec, their install copies files)
    and for the node-config variants of Aos core it adds (they install a config file),
    which compile nothing; True for every other recipe, whose code may be compiled."""
    return not (recipe in (IMAGE, contract.NODE_CONFIG_RECIPE, contract.AGENT_RECIPE)
                or recipe in NODE_CONFIG_VARIANTS
                or recipe.startswith((contract.PACKAGEGROUP_PREFIX, contract.RECIPE_PREFIX)))


# The recipes whose presence in a target recipe's build dependencies (do_prepare_recipe_
# sysroot's) means it compiles code: a cross compiler. A target recipe without one
# (INHIBIT_DEFAULT_DEPS, e.g. base-files) only copies files; native recipes use the host's.
COMPILER_PREFIXES = ("gcc-cross", "clang", "rust-cross", "rust-llvm", "go-cross")


def uses_compiler(runtaskdeps: Iterable[str]) -> bool:
    """Return True when a task's dependencies (sigdata `runtaskdeps`: "pn:task", or a
    recipe file name with the task in older BitBake) include a cross compiler's sysroot."""
    for dep in runtaskdeps:
        recipe = dep.rsplit(":", 1)[0].rsplit(":", 1)[-1].rsplit("/", 1)[-1]
        if recipe.startswith(COMPILER_PREFIXES):
            return True
    return False


def needs_compiler_check(recipe: str) -> bool:
    """Return whether a recipe's build dependencies decide if it compiles: target recipes
    outside the layer (the layer's compile nothing; native ones compile with the host's)."""
    return compiles(recipe) and not recipe.endswith("-native") and \
        not recipe.startswith("nativesdk-")


def heavy_tasks(added: Iterable[TaskKey], node: Mapping[TaskKey, str],
                copies_only: frozenset[str] = frozenset()
                ) -> tuple[list[TaskKey], list[TaskKey]]:
    """Return (heavy tasks among `added`, heavy tasks of `node` that run again): a heavy
    task runs again when it differs, or when a REBUILDING setscene task of its recipe
    differs (its sstate misses, and its input comes from the heavy tasks, which have no
    sstate). `copies_only`: recipes known to compile nothing (no cross compiler among
    their build dependencies); their configure, compile and install are light."""
    added = list(added)

    def heavy(recipe: str) -> bool:
        return compiles(recipe) and recipe not in copies_only

    differ = sorted(k for k in added if k.task in HEAVY_TASKS and heavy(k.recipe))
    rebuilt = {k.stamp for k in added if k.task in REBUILDING and heavy(k.recipe)}
    rerun = sorted(set(differ) | {k for k in node if k.stamp in rebuilt and k.task in HEAVY_TASKS})
    return differ, rerun


def category(recipe: str, node: NodeInfo, reference: NodeInfo,
             evidence: Optional[Evidence] = None) -> str:
    """Return why a recipe's tasks are added for `node` over `reference`:

    'node-config' its own config recipe; 'image'; 'role' a role packagegroup;
    'other' when a variable outside the node's fragment carries the node's name (a global
    that leaks the identity, e.g. `export NODE_ID`); 'identity' a recipe that reads the
    identity variables of the node's fragment (it is rebuilt for every node, as meta-aos's
    per-node configuration is); 'role', when the node's role or kernel differs, what that
    explains (new recipes, other code or files or values chosen by role overrides);
    'other' anything else: a cost the design does not allow."""
    if recipe == contract.NODE_CONFIG_RECIPE:
        return "node-config"
    if recipe == IMAGE:
        return "image"
    if recipe.startswith(contract.PACKAGEGROUP_PREFIX):
        return "role"
    evidence = evidence or Evidence()
    fragment = set(node.fragment)
    variables = set(evidence.variables) - BUILD_DIRECTORY_VARIABLES
    if (evidence.carriers - BUILD_DIRECTORY_VARIABLES) - fragment:
        return "other"
    role_differs = node.role != reference.role or node.kernel != reference.kernel
    explained = {"variables", "dependencies"} | (ROLE_KINDS if role_differs else set())
    if not evidence.kinds <= explained:
        return "other"
    identity = fragment - ROLE_VARIABLES
    if not role_differs:
        # The same role: only the fragment's identity variables may differ.
        return "identity" if variables and variables <= identity else "other"
    return "identity" if variables & identity else "role"


# How much a category costs the design, for a recipe that differs only through its
# dependencies: it takes the worst of theirs.
SEVERITY = {"node-config": 0, "image": 0, "identity": 0, "role": 1, "other": 2}
DEPENDENT = {0: "identity", 1: "role", 2: "other"}


def categories(recipes: Iterable[str], node: NodeInfo, reference: NodeInfo,
               evidence: Mapping[str, Evidence]) -> dict[str, str]:
    """Return the category of every recipe. One that differs only through its dependencies
    takes the worst category among the dependencies that differ (as far as they are known),
    so that what a leak drags along is counted with the leak."""
    out = {recipe: category(recipe, node, reference, evidence.get(recipe))
           for recipe in recipes}
    followers = {recipe: evidence[recipe].dependencies for recipe in out
                 if recipe in evidence and evidence[recipe].kinds == {"dependencies"}
                 and recipe not in (IMAGE, contract.NODE_CONFIG_RECIPE)}
    for _ in range(len(followers) + 1):
        changed = False
        for recipe, deps in followers.items():
            known = [SEVERITY[out[dep]] for dep in deps if dep in out and dep != recipe]
            if known and DEPENDENT[max(known)] != out[recipe]:
                out[recipe] = DEPENDENT[max(known)]
                changed = True
        if not changed:
            break
    return out


def by_recipe(added: Iterable[TaskKey], node: NodeInfo, reference: NodeInfo,
              evidence: Optional[Mapping[str, Evidence]] = None) -> list[RecipeShare]:
    """Return the added tasks counted per recipe, most tasks first (then by name), each
    with its category and causes."""
    counts = Counter(key.recipe for key in added)
    evidence = evidence or {}
    found = categories(counts, node, reference, evidence)
    return [RecipeShare(recipe, count, found[recipe],
                        evidence[recipe].cause_texts() if recipe in evidence else [])
            for recipe, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


# The usual order of a recipe's tasks: the first of a recipe's differing tasks shows why it
# differs; the later ones differ because of it.
TASK_ORDER = ("do_fetch", "do_unpack", "do_patch", "do_preconfigure", "do_populate_lic",
              "do_prepare_recipe_sysroot", "do_configure", "do_compile", "do_install",
              "do_populate_sysroot", "do_package", "do_packagedata", "do_package_write_rpm",
              "do_package_write_ipk", "do_package_write_deb", "do_package_qa", "do_deploy",
              "do_rootfs", "do_image", "do_build")


def task_rank(task: str) -> int:
    """Return where a task usually runs in its recipe (unknown tasks after the known)."""
    return TASK_ORDER.index(task) if task in TASK_ORDER else len(TASK_ORDER)


def sample_tasks(added: Iterable[TaskKey], per_recipe: int, total: int) -> list[TaskKey]:
    """Return the tasks whose signature data to read: each recipe's earliest tasks first,
    taking turns between recipes, at most `per_recipe` of one recipe and `total` in all."""
    by_recipe_tasks: dict[str, list[TaskKey]] = {}
    for key in added:
        by_recipe_tasks.setdefault(key.recipe, []).append(key)
    queues = [sorted(tasks, key=lambda k: (task_rank(k.task), k.task))[:per_recipe]
              for _, tasks in sorted(by_recipe_tasks.items())]
    chosen: list[TaskKey] = []
    for turn in range(per_recipe):
        chosen += [queue[turn] for queue in queues if len(queue) > turn]
    return chosen[:total]


def group_by_machine(nodes: Iterable[NodeInfo]) -> dict[str, list[NodeInfo]]:
    """Return the nodes per MACHINE, each list in node index order (the first is the
    reference), MACHINEs in the order their first node appears."""
    groups: dict[str, list[NodeInfo]] = {}
    for node in sorted(nodes, key=lambda n: (n.index, n.node)):
        groups.setdefault(node.machine, []).append(node)
    return groups


def sharing_report(nodes: Iterable[NodeInfo], tasks: Mapping[str, Mapping[TaskKey, str]],
                   evidence: Optional[Mapping[str, Mapping[str, Evidence]]] = None,
                   copies_only: Optional[Mapping[str, frozenset[str]]] = None
                   ) -> SharingReport:
    """Return the sharing report for `nodes`, given each node's task signatures
    (`tasks[node id]`) and optionally, per extra node, the evidence per added recipe and
    the recipes known to compile nothing (see heavy_tasks)."""
    evidence = evidence or {}
    copies_only = copies_only or {}
    present = [n for n in nodes if n.node in tasks]
    groups = []
    for machine, members in group_by_machine(present).items():
        reference = members[0]
        extras = []
        for node in members[1:]:
            added = added_tasks(tasks[reference.node], tasks[node.node])
            found = evidence.get(node.node) or {}
            heavy, rerun = heavy_tasks(added, tasks[node.node],
                                       copies_only.get(node.node, frozenset()))
            extras.append(ExtraNode(node, reference, len(tasks[node.node]), added,
                                    by_recipe(added, node, reference, found),
                                    _variable_counts(found.values()), heavy, rerun))
        groups.append(MachineGroup(machine, reference, len(tasks[reference.node]), extras,
                                   unique_tasks(tasks[n.node] for n in members)))
    first = groups[0].reference_tasks if groups else 0
    return SharingReport(groups, len(present), unique_tasks(tasks[n.node] for n in present),
                         first)


def _variable_counts(evidence: Iterable[Evidence]) -> dict[str, int]:
    """Return the variables of all recipes' evidence, most tasks first."""
    total: Counter = Counter()
    for found in evidence:
        total.update(found.variables)
    return dict(sorted(total.items(), key=lambda item: (-item[1], item[0])))


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


def _heavy_by_recipe(keys: Iterable[TaskKey]) -> list[tuple[str, list[str]]]:
    """Return the heavy tasks grouped by recipe, in task order."""
    grouped: dict[str, list[TaskKey]] = {}
    for key in keys:
        grouped.setdefault(key.recipe, []).append(key)
    return [(recipe, [k.task for k in sorted(found, key=lambda k: task_rank(k.task))])
            for recipe, found in sorted(grouped.items())]


def _extra_lines(extra: ExtraNode, max_recipes: int) -> list[str]:
    goal = ("goal met" if extra.goal_met else
            f"goal NOT met (identity < {GOAL_PERCENT:g} %, nothing 'other')")
    lines = [f"    {extra.node.node}: +{len(extra.added):,} of {extra.tasks:,} tasks "
             f"({extra.percent:.2f} %) over {extra.reference.node}: identity "
             f"{extra.tasks_in(*IDENTITY_CATEGORIES):,} ({extra.identity_percent:.2f} %), "
             f"role {extra.tasks_in('role'):,}, other {extra.tasks_in('other'):,}; {goal}"]
    lines.append(f"      heavy tasks (configure/compile/install of code) that differ: "
                 f"{len(extra.heavy)}, light: {extra.light:,}; heavy tasks run again: "
                 f"{len(extra.rerun)}"
                 + ("" if extra.heavy_goal_met else
                    f" (NOT met: the same role as {extra.reference.node} recompiles)"))
    for recipe, labels in _heavy_by_recipe(extra.rerun):
        lines.append(f"        {recipe}: {', '.join(labels)}")
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
