"""`aos-multinode verify`: check the generated layer with the user's own BitBake.

For every node: a build directory of its own (bblayers.conf with the user's layers and the
generated layer; local.conf with the node's MACHINE, the settings the kas files give and
`require conf/nodes/<id>.conf`), then, with the `bitbake` of the user's checkout in a clean
environment,

  bitbake -S none aos-multinode-image   parse with the node's fragment, resolve the task
                                        graph, write every task's signature (nothing built)

(or, with --no-sharing, `bitbake -g aos-multinode-image`: parse and resolve only).

The ERROR and WARNING messages are collected, those concerning the generated layer located
(file and line where BitBake gives them), and the signatures of nodes sharing a MACHINE are
compared (see `sharing`). Nothing here prints: `progress` callbacks and the returned
`VerifyResult` are the CLI's to show.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

from aos_multinode.atomic import write_file
from aos_multinode.contract import IMAGE, REFERENCE_MACHINES
from aos_multinode.verify import aos_boot, causes, sharing
from aos_multinode.verify.bitbake import ProgressFn, Step, interruptible, run_bitbake
from aos_multinode.verify.host import check_host, environment_problem
from aos_multinode.verify.layer import VerifyError, find_layer, layer_needs_aos, read_nodes
from aos_multinode.verify.messages import (
    BitBakeFinding,
    locate,
    merge_findings,
    ours_offline,
    parse_messages,
)
from aos_multinode.verify.settings import (
    KAS_COMMON,
    BuildSettings,
    bblayers_layers,
    bitbake_version,
    build_dir_conf,
    check_layers,
    default_conf,
    find_bitbake,
    guess_distro,
    kas_common,
    kas_layers,
    kas_node_layers,
    machine_layer,
)
from aos_multinode.verify.sharing import NodeInfo, TaskKey
from aos_multinode.verify.signatures import (
    collect_signatures,
    read_sigdata,
    sigdata_path,
    stamps_dir,
    task_graph_size,
)

WORKDIR = ".aos-multinode-verify"
# Signature data read to explain an extra node's tasks: a sample (the rest is counted).
MAX_EXPLAINED_PER_RECIPE = 3
MAX_EXPLAINED = 900


# --- one node -----------------------------------------------------------------------------

@dataclass
class NodeRun:
    """What verify learned about one node."""

    node: NodeInfo
    build_dir: Path
    steps: list[Step] = field(default_factory=list)
    findings: list[BitBakeFinding] = field(default_factory=list)
    graph_tasks: Optional[int] = None
    recipes: Optional[int] = None
    signatures: dict[TaskKey, str] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return any(step.exit_code != 0 for step in self.steps)

    def as_dict(self) -> dict:
        return {"node": self.node.node, "machine": self.node.machine, "role": self.node.role,
                "build_dir": str(self.build_dir), "bitbake_failed": self.failed,
                "steps": [s.as_dict() for s in self.steps], "task_graph_tasks":
                self.graph_tasks, "recipes": self.recipes, "signatures": len(self.signatures)}


def bblayers_conf(layers: list[Path], ours: Path) -> str:
    """Return the bblayers.conf of a node build directory. The nodes share BitBake's code
    parser cache (BB_CACHEDIR, keyed by the code itself): parsing the next node is faster.
    BitBake reads BB_CACHEDIR only from here, not from local.conf."""
    entries = "".join(f"    {layer} \\\n" for layer in [*layers, ours])
    return ("# Written by aos-multinode verify; rewritten on every run.\n"
            'BBPATH = "${TOPDIR}"\nBBFILES ?= ""\nBB_CACHEDIR = "${TOPDIR}/../cache"\n'
            f'BBLAYERS = " \\\n{entries}    "\n')


def local_conf(settings: BuildSettings, node: NodeInfo, extra: str) -> str:
    """Return the local.conf of a node build directory: the shared settings, the node's
    MACHINE and fragment, an own TMPDIR, no network, then the --machine-conf text."""
    lines = ["# Written by aos-multinode verify; rewritten on every run.", *settings.conf_lines,
             "", f"# node {node.node} (aos-multinode verify)", f'MACHINE = "{node.machine}"']
    if settings.distro:
        lines.append(f'DISTRO = "{settings.distro}"')
    lines += ['TMPDIR = "${TOPDIR}/tmp"', 'BB_NO_NETWORK = "1"', 'BBMULTICONFIG = ""',
              f"require conf/nodes/{node.node}.conf"]
    if extra:
        lines += ["", "# --machine-conf", extra.rstrip("\n")]
    return "\n".join(lines) + "\n"


def write_if_changed(path: Path, text: str) -> None:
    """Write `text` to `path` (atomically) unless it already holds exactly that."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file(path, text.encode("utf-8"), "choose another --workdir")


def prepare_build_dir(workdir: Path, settings: BuildSettings, layer: Path, node: NodeInfo,
                      extra: str) -> Path:
    """Create (or refresh) the node's build directory; return it."""
    build_dir = workdir / node.node
    write_if_changed(workdir / ".gitignore", "# aos-multinode verify's build directories\n*\n")
    write_if_changed(build_dir / "conf" / "bblayers.conf", bblayers_conf(settings.layers, layer))
    write_if_changed(build_dir / "conf" / "local.conf", local_conf(settings, node, extra))
    return build_dir


def explain(reference: NodeRun, node: NodeRun) -> dict[str, sharing.Evidence]:
    """Return why `node`'s tasks differ from `reference`'s: the evidence per recipe (its
    causes and the variables that differ). Reads a sample of the signature data: each
    recipe's earliest differing tasks, MAX_EXPLAINED_PER_RECIPE of one recipe and
    MAX_EXPLAINED in all."""
    keys = sharing.sample_tasks(sharing.added_tasks(reference.signatures, node.signatures),
                                MAX_EXPLAINED_PER_RECIPE, MAX_EXPLAINED)
    ref_stamps, node_stamps = stamps_dir(reference.build_dir), stamps_dir(node.build_dir)
    ref_keys = [key for key in keys if key in reference.signatures]
    ref_docs = dict(zip(ref_keys, read_sigdata(
        [sigdata_path(ref_stamps, k, reference.signatures[k]) for k in ref_keys])))
    node_docs = read_sigdata([sigdata_path(node_stamps, k, node.signatures[k]) for k in keys])
    pairs = {key: (ref_docs.get(key), doc) for key, doc in zip(keys, node_docs)
             if doc is not None}
    return causes.recipe_evidence(pairs, (reference.node.identity_names(),
                                           node.node.identity_names()))


# --- the whole run ------------------------------------------------------------------------

@dataclass
class VerifyOptions:
    """The command line of `aos-multinode verify`."""

    directory: Path
    layers: list[Path] = field(default_factory=list)
    bitbake: Optional[Path] = None
    build_dir: Optional[Path] = None
    nodes: list[str] = field(default_factory=list)
    machine_conf: Optional[Path] = None
    workdir: Optional[Path] = None
    sharing: bool = True
    checkouts: Optional[Path] = None


@dataclass
class VerifyResult:
    """Everything verify found."""

    directory: Path
    layer: Path
    bitbake: Path
    version: str
    settings: BuildSettings
    runs: list[NodeRun]
    findings: list[BitBakeFinding]
    report: Optional[sharing.SharingReport]
    sharing_note: str = ""

    @property
    def problems(self) -> bool:
        """Return True when BitBake failed for a node, reported an error, or warned about
        the generated layer (exit 1)."""
        return (any(run.failed for run in self.runs)
                or any(f.severity == "error" or f.ours for f in self.findings))

    def counts(self) -> dict[str, int]:
        def count(ours: bool, severity: str) -> int:
            return sum(1 for f in self.findings if f.ours == ours and f.severity == severity)
        return {"errors_in_layer": count(True, "error"),
                "warnings_in_layer": count(True, "warning"),
                "errors_elsewhere": count(False, "error"),
                "warnings_elsewhere": count(False, "warning")}

    def as_dict(self) -> dict:
        return {"ok": not self.problems, "directory": str(self.directory),
                "layer": str(self.layer),
                "bitbake": {"path": str(self.bitbake), "version": self.version},
                "layers": [str(p) for p in self.settings.layers],
                "distro": self.settings.distro, "settings_from": self.settings.source,
                "nodes": [run.as_dict() for run in self.runs],
                "summary": self.counts(), "findings": [f.as_dict() for f in self.findings],
                "sharing": self.report.as_dict() if self.report else None,
                "aos_bootloader": aos_boot.bootloader_notes(
                    self.layer, [(run.node.node, run.node.machine) for run in self.runs]),
                "sharing_note": self.sharing_note}


def resolve_settings(options: VerifyOptions, layer: Path) -> BuildSettings:
    """Return the layers and shared local.conf settings from the options, the build
    directory kas made, or the generated kas files (in that order of preference)."""
    aos = layer_needs_aos(layer)
    build_dir = options.build_dir
    if options.checkouts is not None and not options.layers:
        options = replace(options, layers=kas_layers(options.directory, options.checkouts))
    if not options.layers and build_dir is None:
        build_dir = _default_build_dir(options.directory)
        if build_dir is None:
            raise VerifyError("name the layers with --layers (e.g. --layers "
                              "poky/meta,poky/meta-poky), a kas build directory with "
                              "--build-dir, or the checkouts with --checkouts")
    if options.layers:
        layers = list(options.layers)
    else:
        assert build_dir is not None  # found above, or VerifyError
        layers = bblayers_layers(build_dir)
    kas = kas_common(options.directory)
    if build_dir is not None and not options.layers:
        lines, source = build_dir_conf(build_dir), f"{build_dir}/conf/local.conf"
    elif kas is not None:
        lines, source = kas[1], str(options.directory / KAS_COMMON)
    else:
        lines, source = default_conf(aos), "defaults of the generated kas files"
    checked = check_layers(layers, layer)
    distro = kas[0] if kas and kas[0] else None
    if distro is None and not any(re.match(r"^\s*DISTRO\s*\S*=", line) for line in lines):
        distro = guess_distro(aos, checked)
    return BuildSettings(checked, lines, distro, source)


def _default_build_dir(directory: Path) -> Optional[Path]:
    """Return a kas build directory beside DIR or the current directory, if there is one."""
    for candidate in (directory / "build", Path.cwd() / "build"):
        if (candidate / "conf" / "bblayers.conf").is_file():
            return candidate
    return None


def select_nodes(all_nodes: list[NodeInfo], wanted: list[str]) -> list[NodeInfo]:
    """Return the nodes named by --node (all when none); raise VerifyError for unknown ids."""
    if not wanted:
        return all_nodes
    known = {n.node for n in all_nodes}
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise VerifyError(f"unknown node {', '.join(unknown)}; the layer has: "
                          f"{', '.join(n.node for n in all_nodes)}")
    return [n for n in all_nodes if n.node in wanted]


def run_node(run: NodeRun, bitbake: Path, layer: Path, directory: Path, want_sigs: bool,
             progress: ProgressFn, label: str) -> None:
    """Run `bitbake -S none` (or, without the sharing report, `bitbake -g`) for one node;
    fill `run`; report progress under `label` (e.g. "[1/3] main").

    Both parse with the node's fragment and resolve the image's task graph, so both report
    the same problems; `-S none` also writes every task's signature, and their count is the
    size of the task graph. Running `-g` after it would mostly reparse everything: its
    parse cache differs (it lacks the signature data) and on a fresh build directory BitBake
    does not always reuse the first run's configuration cache."""
    commands = [["-S", "none", IMAGE]] if want_sigs else [["-g", IMAGE]]
    for args in commands:
        command = "bitbake " + " ".join(args)
        if args[0] == "-S":
            shutil.rmtree(stamps_dir(run.build_dir), ignore_errors=True)
        step = run_bitbake(args, run.build_dir, bitbake,
                           functools.partial(progress, label, command))
        run.steps.append(step)
        step.log = run.build_dir / ("bitbake" + "".join(
            f"-{a.lstrip('-')}" for a in args if a != IMAGE) + ".log")
        write_file(step.log, "".join(step.output).encode("utf-8"), "choose another --workdir")
        problem = environment_problem("".join(step.output))
        if problem:
            raise VerifyError(problem)
        run.findings += [locate(m, layer, directory, run.node.node)
                         for m in parse_messages(step.output) if not ours_offline(m)]
        progress(label, command, step.seconds,
                 "done" if step.exit_code == 0 else f"failed (exit {step.exit_code})")
        if step.exit_code != 0:
            return
        if args[0] == "-S":
            run.signatures = collect_signatures(stamps_dir(run.build_dir))
            run.graph_tasks = len(run.signatures)
            run.recipes = len({key.recipe for key in run.signatures})
        else:
            run.graph_tasks, run.recipes = task_graph_size(run.build_dir)


def verify(options: VerifyOptions, progress: ProgressFn) -> VerifyResult:
    """Run verify as `options` say; report progress through `progress(label, step,
    elapsed, status)`; return what was found. Raises VerifyError for bad usage or when
    BitBake cannot run here."""
    directory = options.directory.resolve()
    layer = find_layer(directory)
    nodes = select_nodes(read_nodes(layer), options.nodes)
    settings = resolve_settings(replace(options, directory=directory), layer)
    bitbake = find_bitbake(options.bitbake, settings.layers)
    extra = _read_extra(options.machine_conf)
    check_host()
    workdir = (options.workdir or directory / WORKDIR).resolve()
    _check_writable(workdir)
    runs = []
    for node in nodes:
        node_settings = _node_settings(options, directory, settings, layer, node)
        run = NodeRun(node, prepare_build_dir(workdir, node_settings, layer, node, extra))
        if machine_layer(node.machine, [*node_settings.layers, layer]) is None:
            run.findings.append(BitBakeFinding("error", _no_machine(node, node_settings),
                                               False, nodes=[node.node]))
        runs.append(run)
    with interruptible():
        for number, run in enumerate(runs, 1):
            if run.findings:
                continue  # its MACHINE is nowhere: BitBake would only say so at length
            run_node(run, bitbake, layer, directory, options.sharing, progress,
                     f"[{number}/{len(runs)}] {run.node.node}")
    findings = merge_findings({run.node.node: run.findings for run in runs})
    report, note = sharing_of(runs) if options.sharing else (None, "skipped (--no-sharing)")
    return VerifyResult(directory, layer, bitbake, bitbake_version(bitbake), settings, runs,
                        findings, report, note)


def _node_settings(options: VerifyOptions, directory: Path, settings: BuildSettings,
                   layer: Path, node: NodeInfo) -> BuildSettings:
    """The node's own layers: with --checkouts, the shared ones and those of the extra
    repositories its kas file names (its board's BSP); otherwise the ones given."""
    if options.checkouts is None or options.layers:
        return settings
    extra = kas_node_layers(directory, options.checkouts, node.node)
    if not extra:
        return settings
    return replace(settings, layers=check_layers([*settings.layers, *extra], layer))


def _no_machine(node: NodeInfo, settings: BuildSettings) -> str:
    names = ", ".join(p.name if p.name != "." else str(p) for p in settings.layers)
    if node.machine in REFERENCE_MACHINES:
        return (f"node {node.node}: MACHINE '{node.machine}' is defined by no layer of its "
                f"build (no conf/machine/{node.machine}.conf in {names}); it comes with "
                "openembedded-core (meta) or meta-yocto-bsp: add that layer (--layers, or the "
                "build directory's bblayers.conf)")
    return (f"node {node.node}: MACHINE '{node.machine}' is defined by no layer of its build "
            f"(no conf/machine/{node.machine}.conf in {names}); add the board's BSP layer "
            f"under build.repos in the Unit Config with `machines: [{node.machine}]` (or name "
            "it in the node's or role's repos), generate again, and check it out")


def _read_extra(path: Optional[Path]) -> str:
    if path is None:
        return ""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise VerifyError(f"{path}: {exc.strerror}") from None


def _check_writable(workdir: Path) -> None:
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VerifyError(f"{workdir}: {exc.strerror}; pick a writable place with "
                          "--workdir") from None
    if not os.access(workdir, os.W_OK):
        raise VerifyError(f"{workdir}: not writable by this user; pick another with --workdir")


def sharing_of(runs: list[NodeRun]) -> tuple[Optional[sharing.SharingReport], str]:
    """Return the sharing report over the nodes whose signatures were written, and a note
    on nodes left out."""
    good = [run for run in runs if run.signatures]
    left_out = [run.node.node for run in runs if not run.signatures]
    note = f"left out (BitBake failed): {', '.join(left_out)}" if left_out else ""
    if not good:
        return None, note or "no signatures"
    by_id = {run.node.node: run for run in good}
    evidence, copies = {}, {}
    for members in sharing.group_by_machine(run.node for run in good).values():
        for node in members[1:]:
            evidence[node.node] = explain(by_id[members[0].node], by_id[node.node])
            copies[node.node] = copies_only(by_id[members[0].node], by_id[node.node])
    report = sharing.sharing_report([run.node for run in good],
                                    {run.node.node: run.signatures for run in good},
                                    evidence, copies)
    return report, note


def copies_only(reference: NodeRun, node: NodeRun) -> frozenset[str]:
    """Return the recipes among those whose heavy or rebuilding tasks differ between the
    two nodes that compile nothing: the signature data of their do_prepare_recipe_sysroot
    in `node`'s build names no cross compiler. A recipe whose data cannot be read counts
    as compiling (the report stays an upper bound)."""
    added = sharing.added_tasks(reference.signatures, node.signatures)
    candidates = sorted({key.stamp for key in added
                         if key.task in sharing.HEAVY_TASKS | sharing.REBUILDING
                         and sharing.needs_compiler_check(key.recipe)})
    keys = [sharing.TaskKey(stamp, "do_prepare_recipe_sysroot") for stamp in candidates]
    keys = [key for key in keys if key in node.signatures]
    docs = read_sigdata([sigdata_path(stamps_dir(node.build_dir), key, node.signatures[key])
                         for key in keys])
    return frozenset(key.recipe for key, doc in zip(keys, docs)
                     if doc is not None and not sharing.uses_compiler(doc.get("runtaskdeps") or []))



