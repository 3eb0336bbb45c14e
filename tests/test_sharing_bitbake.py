"""The sharing comparison on real signature data: BitBake's own parser and signature
generator (the `bb` library of PyPI's bitbake-setup) compute the task hashes of a small layer
the test writes, once per "node", and write them as `bitbake -S none` does
(`<stamps>/<arch>/<pn>/<pv>.<task>.sigdata.<hash>`, zstd-compressed JSON, by
bb.siggen's own dump_sigtask). verify's reader and the comparison must then find exactly the
recipe that reads the per-node variable, and why.

The layer: a minimal conf/bitbake.conf, classes/base.bbclass with compile/install/build
tasks (do_install depends on the DEPENDS' do_install, as populate_sysroot does), and the
recipes zlib, app (DEPENDS zlib), nodeinfo (reads NODE_ID) and aos-multinode-image
(DEPENDS app nodeinfo aos-node-config), and aos-node-config, which installs the files of
the node NODE_ID names, like the generated layer. BitBake's cooker and runqueue are not in
bitbake-setup, so
`signature_run` orders the tasks itself and calls bb.siggen's prep_taskhash, get_taskhash
and dump_sigtask as the runqueue does.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from aos_multinode.verify import causes, sharing
from aos_multinode import verify
from aos_multinode.verify.sharing import NodeInfo, TaskKey

STUBS = Path(__file__).resolve().parent / "bitbake_stubs" / "python"
NODES = ("a", "b", "c")
MACHINE = "tinyarm"

BITBAKE_CONF = """\
TMPDIR = "${TOPDIR}/tmp"
STAMPS_DIR = "${TMPDIR}/stamps"
MULTIMACH_TARGET_SYS = "${MACHINE}-linux"
PN = "${@bb.parse.vars_from_file(d.getVar('FILE', False),d)[0] or 'defaultpkgname'}"
PV = "${@bb.parse.vars_from_file(d.getVar('FILE', False),d)[1] or '1.0'}"
STAMP = "${STAMPS_DIR}/${MULTIMACH_TARGET_SYS}/${PN}/${PV}"
BB_SIGNATURE_HANDLER = "basichash"
BB_BASEHASH_IGNORE_VARS = "TMPDIR TOPDIR STAMP STAMPS_DIR FILE BBPATH FILE_DIRNAME"
DEPENDS ??= ""
CFLAGS = "-O2"
DISTRO_FEATURES ??= "systemd"
export LC_ALL = "C"
"""

BASE_CLASS = """\
do_compile() {
    echo "compiling ${PN} with ${CFLAGS} for ${MACHINE}"
}
addtask compile
do_install() {
    echo "installing ${PN}"
}
addtask install after do_compile
do_install[depends] = "${@' '.join(dep + ':do_install' \
                         for dep in (d.getVar('DEPENDS') or '').split())}"
do_build[noexec] = "1"
addtask build after do_install
"""

# A base class as a naive setup would have it: the distro features (where the node's
# identity was put) are part of every compile.
NAIVE_BASE_CLASS = BASE_CLASS.replace('for ${MACHINE}"', 'for ${MACHINE} (${DISTRO_FEATURES})"')

RECIPES = {
    "zlib_1.3.bb": "",
    "app_2.0.bb": 'DEPENDS = "zlib"\n',
    "nodeinfo_1.0.bb": "do_install:append() {\n    echo '${NODE_ID}' > node-id\n}\n",
    "aos-multinode-image_1.0.bb":
        'DEPENDS = "app nodeinfo aos-node-config"\n',
    "aos-node-config_1.0.bb": "do_install:append() {\n    echo 'config of ${NODE_ID}'\n}\n",
}


def bitbake():
    """Import BitBake's bb library (bitbake-setup), or skip saying how to get it."""
    try:
        import hashserv  # noqa: F401
    except ImportError:
        if str(STUBS) not in sys.path:
            sys.path.append(str(STUBS))
    try:
        import bb
        import bb.cache
        import bb.data
        import bb.parse
        import bb.siggen  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"BitBake's parser is not importable ({exc}); pip install bitbake-setup")
    if shutil.which("zstd") is None:
        pytest.skip("zstd is not installed (BitBake writes sigdata with it; Debian: zstd)")
    return bb


def write_layer(root: Path, naive: bool = False) -> Path:
    """Write the small layer under ROOT; return its path."""
    layer = root / ("naive-layer" if naive else "layer")
    (layer / "conf").mkdir(parents=True)
    (layer / "classes").mkdir()
    (layer / "recipes").mkdir()
    (layer / "conf" / "bitbake.conf").write_text(BITBAKE_CONF)
    (layer / "classes" / "base.bbclass").write_text(NAIVE_BASE_CLASS if naive else BASE_CLASS)
    for name, text in RECIPES.items():
        (layer / "recipes" / name).write_text(text)
    return layer


def config_data(bb, layer: Path, topdir: Path, variables: dict[str, str]):
    """Return the configuration datastore as BitBake's cooker makes it: bitbake.conf, the
    node's variables (local.conf), then the base class."""
    d = bb.data.init()
    d.setVar("BBPATH", str(layer))
    d.setVar("TOPDIR", str(topdir))
    for name, value in variables.items():
        d.setVar(name, value)
    bb.parse.handle("conf/bitbake.conf", d, 0)
    d.setVar("__bbclasstype", "global")
    bb.parse.BBHandler.inherit("base", "configuration INHERITs", 0, d)
    d.setVar("__bbclasstype", "recipe")
    return d


def signature_run(layer: Path, topdir: Path, variables: dict[str, str]) -> dict[str, str]:
    """Parse every recipe with the node's configuration, compute every task hash of the
    image's task graph with bb.siggen, write the sigdata files under TOPDIR/tmp/stamps as
    `bitbake -S none` does; return task id -> hash."""
    bb = bitbake()
    d = config_data(bb, layer, topdir, variables)
    siggen = bb.siggen.init(d)
    bb.parse.siggen = siggen
    caches = bb.cache.CacheData([bb.cache.CoreRecipeInfo, bb.cache.SiggenRecipeInfo])
    for path in sorted((layer / "recipes").glob("*.bb")):
        recipe = bb.parse.handle(str(path), bb.data.createCopy(d), 0)[""]
        caches.add_from_recipeinfo(str(path), [bb.cache.CoreRecipeInfo(str(path), recipe),
                                               bb.cache.SiggenRecipeInfo(str(path), recipe)])
    deps = task_dependencies(caches)
    order: list[str] = []

    def visit(tid: str) -> None:
        if tid in siggen.taskhash:
            return
        for dep in deps[tid]:
            visit(dep)
        siggen.prep_taskhash(tid, deps[tid], {"": caches})
        siggen.get_taskhash(tid, deps[tid], {"": caches})
        order.append(tid)

    image = caches.pkg_pn["aos-multinode-image"][0]
    visit(f"{image}:do_build")
    siggen.setup_datacache({"": caches})
    for tid in order:
        path, task = tid.rsplit(":", 1)
        siggen.dump_sigtask(path, task, caches.stamp[path], True)
    return {tid: siggen.taskhash[tid] for tid in order}


def task_dependencies(caches) -> dict[str, list[str]]:
    """Return task id -> the task ids it depends on (addtask after, [depends] flags)."""
    recipe_of = {pn: paths[0] for pn, paths in caches.pkg_pn.items()}
    out = {}
    for path, info in caches.task_deps.items():
        for task in info["tasks"]:
            deps = [f"{path}:{parent}" for parent in info["parents"].get(task, [])]
            for dep in (info["depends"].get(task) or "").split():
                pn, dep_task = dep.split(":")
                deps.append(f"{recipe_of[pn]}:{dep_task}")
            out[f"{path}:{task}"] = deps
    return out


def node_runs(root: Path, naive: bool) -> dict[str, Path]:
    """Run the signature generation for every node; return node -> its build directory."""
    layer = write_layer(root, naive)
    builds = {}
    for node in NODES:
        build = root / ("naive" if naive else "generated") / node
        variables = {"MACHINE": MACHINE, "NODE_ID": node}
        if naive:
            variables["DISTRO_FEATURES"] = f"systemd node-{node}"
        signature_run(layer, build, variables)
        builds[node] = build
    return builds


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> dict[str, dict[str, Path]]:
    """Signature trees of both layers, made once for the module."""
    root = tmp_path_factory.mktemp("sigdata")
    return {"generated": node_runs(root, naive=False), "naive": node_runs(root, naive=True)}


def infos() -> list[NodeInfo]:
    return [NodeInfo(node, MACHINE, role="worker", index=i, fragment=frozenset({"NODE_ID"}))
            for i, node in enumerate(NODES)]


def node_run(node: NodeInfo, build: Path) -> verify.NodeRun:
    run = verify.NodeRun(node, build)
    run.signatures = verify.collect_signatures(verify.stamps_dir(build))
    return run


def test_layout_is_what_bitbake_writes(recorded):
    stamps = verify.stamps_dir(recorded["generated"]["a"])
    names = sorted(p.relative_to(stamps).as_posix() for p in stamps.rglob("*"))
    assert f"{MACHINE}-linux/zlib/1.3.do_compile.sigdata." in "\n".join(names)
    signatures = verify.collect_signatures(stamps)
    assert TaskKey(f"{MACHINE}-linux/nodeinfo/1.0", "do_install") in signatures
    # The image's task graph: compile and install of zlib, app, nodeinfo and
    # aos-node-config (do_install depends on the DEPENDS' do_install), and the image's
    # compile, install and build.
    assert len(signatures) == 11
    assert {key.recipe for key in signatures} == {"zlib", "app", "nodeinfo",
                                                  "aos-node-config", "aos-multinode-image"}


def test_sigdata_files_read_back(recorded):
    build = recorded["generated"]["b"]
    stamps = verify.stamps_dir(build)
    signatures = verify.collect_signatures(stamps)
    key = TaskKey(f"{MACHINE}-linux/nodeinfo/1.0", "do_install")
    (doc,) = verify.read_sigdata([verify.sigdata_path(stamps, key, signatures[key])])
    assert doc["task"] == "do_install"
    assert doc["taskhash"] == signatures[key]
    assert doc["varvals"]["NODE_ID"] == "b"


def test_generated_design_adds_only_the_node_recipes(recorded):
    builds = recorded["generated"]
    runs = {node.node: node_run(node, builds[node.node]) for node in infos()}
    evidence = {n: verify.explain(runs["a"], runs[n]) for n in ("b", "c")}
    report = sharing.sharing_report(infos(), {n: r.signatures for n, r in runs.items()},
                                    evidence)

    (group,) = report.groups
    assert group.reference.node == "a" and group.reference_tasks == 11
    for extra in group.extras:
        assert {r.recipe for r in extra.recipes} == {"nodeinfo", "aos-node-config",
                                                     "aos-multinode-image"}
        by_name = {r.recipe: r for r in extra.recipes}
        # nodeinfo reads NODE_ID in do_install: only that task differs.
        assert by_name["nodeinfo"].tasks == 1
        # It reads only the node's own variable: identity, as meta-aos's per-node recipes.
        assert by_name["nodeinfo"].category == "identity"
        assert any("variables: NODE_ID" in c for c in by_name["nodeinfo"].causes)
        # The one config recipe differs by the node it installs, in do_install only.
        assert by_name["aos-node-config"].causes == ["variables: NODE_ID (1 task)"]
        assert by_name["aos-node-config"].category == "node-config"
        assert by_name["aos-multinode-image"].category == "image"
        # zlib and app are shared: no variable of theirs differs between nodes.
        assert "zlib" not in by_name and "app" not in by_name
        # nodeinfo:do_install, the config recipe's do_install (its compile is shared), the
        # image's install and build (its compile does not depend on anything that differs).
        assert len(extra.added) == 4
        assert extra.variables == {"NODE_ID": 2}
        assert by_name["aos-multinode-image"].causes == ["dependencies only (2 tasks)"]
        assert extra.tasks_in("node-config", "image", "identity") == 4
        assert extra.tasks_in("other") == extra.tasks_in("role") == 0
        # Heavy: nodeinfo's do_install (the layer's own recipes compile nothing).
        assert [k.label for k in extra.heavy] == [k.label for k in extra.rerun] == [
            "nodeinfo:do_install"]
        assert extra.light == 3
    # a (11) + 4 per extra node = 19 unique tasks.
    assert group.unique_tasks == 19
    assert report.ratio == pytest.approx(19 / 11)


def test_only_the_recipe_reading_the_variable_has_a_variable_cause(recorded):
    builds = recorded["generated"]
    a = node_run(infos()[0], builds["a"])
    b = node_run(infos()[1], builds["b"])
    stamps_a, stamps_b = verify.stamps_dir(builds["a"]), verify.stamps_dir(builds["b"])
    pairs = {}
    for key in sharing.added_tasks(a.signatures, b.signatures):
        ref = (verify.read_sigdata([verify.sigdata_path(stamps_a, key, a.signatures[key])])[0]
               if key in a.signatures else None)
        new = verify.read_sigdata([verify.sigdata_path(stamps_b, key, b.signatures[key])])[0]
        pairs[key] = (ref, new)
    evidence = causes.recipe_evidence(pairs)
    assert {name for found in evidence.values() for name in found.variables} == {"NODE_ID"}
    roots = [key.recipe for key, (ref, new) in pairs.items()
             if ref is not None and causes.differing_variables(ref, new)]
    # nodeinfo reads NODE_ID, and so does the config recipe (the node it installs).
    assert sorted(roots) == ["aos-node-config", "nodeinfo"]


def test_naive_global_changes_every_task(recorded):
    builds = recorded["naive"]
    runs = {node.node: node_run(node, builds[node.node]) for node in infos()}
    evidence = verify.explain(runs["a"], runs["b"])
    report = sharing.sharing_report(infos()[:2], {n: runs[n].signatures for n in ("a", "b")},
                                    {"b": evidence})
    (extra,) = report.groups[0].extras
    assert len(extra.added) == extra.tasks == 11
    assert not extra.goal_met
    assert {r.recipe for r in extra.recipes} == {"zlib", "app", "nodeinfo",
                                                 "aos-multinode-image", "aos-node-config"}
    zlib = next(r for r in extra.recipes if r.recipe == "zlib")
    assert any("DISTRO_FEATURES" in cause for cause in zlib.causes)
    # DISTRO_FEATURES is not the node's fragment: zlib, app, nodeinfo are 'other'.
    assert zlib.category == "other" and extra.tasks_in("other") == 6
    # Every do_compile reads DISTRO_FEATURES: those of the five recipes both nodes build
    # differ by it.
    assert extra.variables == {"DISTRO_FEATURES": 5, "NODE_ID": 2}
    assert "variables that differ (tasks examined): DISTRO_FEATURES (5), NODE_ID (2)" in \
        sharing.format_report(report)
    assert report.ratio == pytest.approx(2.0)


def test_same_configuration_shares_everything(tmp_path):
    layer = write_layer(tmp_path)
    first = signature_run(layer, tmp_path / "one", {"MACHINE": MACHINE, "NODE_ID": "a"})
    second = signature_run(layer, tmp_path / "two", {"MACHINE": MACHINE, "NODE_ID": "a"})
    assert first == second
    one = verify.collect_signatures(verify.stamps_dir(tmp_path / "one"))
    two = verify.collect_signatures(verify.stamps_dir(tmp_path / "two"))
    assert sharing.added_tasks(one, two) == []
