"""The sharing comparison's pure functions: sigdata paths, the comparison, the report."""

from __future__ import annotations

from collections import Counter

import pytest

from aos_multinode.verify import causes, sharing
from aos_multinode.verify.sharing import NodeInfo, TaskKey

HASH_A = "a" * 64
HASH_B = "b" * 64


@pytest.mark.parametrize("relpath,expected", [
    (f"cortexa57-poky-linux/zlib/1.3.1.do_compile.sigdata.{HASH_A}",
     (TaskKey("cortexa57-poky-linux/zlib/1.3.1", "do_compile"), HASH_A)),
    # PV with dots and dashes; a task with an underscore.
    (f"x86_64-linux/gcc-cross-aarch64/13.3.0.do_populate_sysroot.sigdata.{HASH_B}",
     (TaskKey("x86_64-linux/gcc-cross-aarch64/13.3.0", "do_populate_sysroot"), HASH_B)),
    # Shared work directories sit one level higher.
    (f"work-shared/gcc-13.3.0-r0.do_preconfigure.sigdata.{HASH_A}",
     (TaskKey("work-shared/gcc-13.3.0-r0", "do_preconfigure"), HASH_A)),
    # PV "git" style with + in it.
    (f"qemuarm64-poky-linux/aos-node-config-b/1.0+git.do_install.sigdata.{HASH_B}",
     (TaskKey("qemuarm64-poky-linux/aos-node-config-b/1.0+git", "do_install"), HASH_B)),
])
def test_parse_sigdata_path(relpath, expected):
    assert sharing.parse_sigdata_path(relpath) == expected


@pytest.mark.parametrize("relpath", [
    f"x86_64-linux/zlib-native/1.3.1.do_compile.{HASH_A}",               # a stamp
    f"x86_64-linux/zlib-native/1.3.1.do_compile.sigbasedata.{HASH_A}",   # basehash only
    "x86_64-linux/zlib-native/1.3.1.do_compile.taint",
    "x86_64-linux/zlib-native/1.3.1.do_compile.sigdata.nothex",
])
def test_other_stamp_files_are_ignored(relpath):
    assert sharing.parse_sigdata_path(relpath) is None


def test_task_key_recipe():
    assert TaskKey("x86_64-linux/zlib-native/1.3.1", "do_compile").recipe == "zlib-native"
    assert TaskKey("work-shared/gcc-13.3.0-r0", "do_fetch").recipe == "gcc-13.3.0-r0"
    assert TaskKey("arch/zlib/1.3", "do_install").label == "zlib:do_install"


def tasks(*items):
    """{TaskKey: hash} from (recipe, task, hash) triples on one arch."""
    return {TaskKey(f"arch/{recipe}/1.0", task): signature for recipe, task, signature in items}


BASE = [("zlib", "do_compile", "1"), ("zlib", "do_install", "2"), ("busybox", "do_compile", "3")]


def test_added_tasks_are_the_ones_with_another_signature_or_new():
    reference = tasks(*BASE, ("aos-node-config", "do_install", "4"))
    node = tasks(*BASE[:2], ("busybox", "do_compile", "X"),
                 ("aos-node-config", "do_install", "5"))
    added = sharing.added_tasks(reference, node)
    assert [key.label for key in added] == ["aos-node-config:do_install", "busybox:do_compile"]
    assert sharing.unique_tasks([reference, node]) == 6


def test_signatures_take_the_sigdata_files_only():
    paths = [f"arch/zlib/1.0.do_compile.sigdata.{HASH_A}", "arch/zlib/1.0.do_compile.taint",
             f"arch/zlib/1.0.do_install.sigdata.{HASH_B}"]
    assert sharing.signatures(paths) == {TaskKey("arch/zlib/1.0", "do_compile"): HASH_A,
                                         TaskKey("arch/zlib/1.0", "do_install"): HASH_B}


def evidence(kinds, carriers=(), **variables):
    return sharing.Evidence(kinds=set(kinds), variables=Counter(variables),
                            carriers=set(carriers))


FRAGMENT = frozenset({"AOS_MULTINODE_NODE_ID", "AOS_NODE_HOSTNAME", "AOS_MULTINODE_NODE_ROLE",
                      "AOS_MAIN_NODE", "PREFERRED_PROVIDER_virtual/kernel"})


@pytest.mark.parametrize("recipe,node,found,expected", [
    ("aos-node-config", "same", None, "node-config"),
    # The per-node recipes of earlier versions are no longer the layer's.
    ("aos-node-config-b", "same", None, "other"),
    ("aos-multinode-image", "same", None, "image"),
    ("packagegroup-aos-multinode-worker", "same", None, "role"),
    # meta-aos's per-node configuration: changed by the node's hostname only.
    ("aos-iamanager", "same", evidence({"variables", "dependencies"}, AOS_NODE_HOSTNAME=2),
     "identity"),
    # A role variable is the role's, even in the fragment.
    ("aos-iamanager", "same", evidence({"variables"}, AOS_MAIN_NODE=1), "other"),
    ("aos-iamanager", "role", evidence({"variables"}, AOS_MAIN_NODE=1), "role"),
    # What a different role or kernel brings: new recipes, dependencies.
    ("linux-yocto-rt", "role", evidence({"new"}), "role"),
    ("kernel-module-x", "role", evidence({"dependencies"}), "role"),
    ("linux-yocto-rt", "same", evidence({"new"}), "other"),
    # A variable outside the fragment that carries the node's name leaks the identity.
    ("busybox", "role", evidence({"variables"}, {"NAIVE_NODE_ID"}, NAIVE_NODE_ID=5), "other"),
    ("busybox", "same", evidence({"variables"}, {"NAIVE_NODE_ID"}, NAIVE_NODE_ID=5), "other"),
    # Other values, code or files: what role overrides choose; unexplained in one role.
    ("aos-setupdisk", "role", evidence({"variables"}, AOS_DISK_CONFIG=1), "role"),
    ("aos-setupdisk", "same", evidence({"variables"}, AOS_DISK_CONFIG=1), "other"),
    ("aos-provfinish", "role", evidence({"files", "dependencies"}), "role"),
    ("busybox", "same", evidence({"files"}), "other"),
    ("busybox", "same", evidence({"code"}), "other"),
    # Reads the hostname: rebuilt for every node, whatever else differs.
    ("base-files", "role", evidence({"code", "variables"}, AOS_NODE_HOSTNAME=1), "identity"),
    ("base-files", "same", evidence({"code", "variables"}, AOS_NODE_HOSTNAME=1), "other"),
    # The build directory (verify's, one per node) does not count.
    ("aos-iamanager", "same", evidence({"variables"}, {"TOPDIR"}, TOPDIR=1,
                                       AOS_NODE_HOSTNAME=1), "identity"),
    ("busybox", "same", evidence({"tainted"}), "other"),
    ("htop", "role", None, "role"),
])
def test_category(recipe, node, found, expected):
    reference = NodeInfo("a", "qemuarm64", "controller", fragment=FRAGMENT)
    other = NodeInfo("b", "qemuarm64", "controller" if node == "same" else "worker",
                     fragment=FRAGMENT)
    assert sharing.category(recipe, other, reference, found) == expected


def test_group_by_machine_follows_the_node_index():
    nodes = [NodeInfo("rt0", "x86", index=2), NodeInfo("gpu0", "arm", index=1),
             NodeInfo("main", "x86", index=0)]
    groups = sharing.group_by_machine(nodes)
    assert list(groups) == ["x86", "arm"]
    assert [n.node for n in groups["x86"]] == ["main", "rt0"]


def image_tasks(count: int, node: str, image_hash: str) -> dict:
    """A node with `count` shared tasks, its own config recipe and image tasks."""
    out = tasks(*[(f"recipe{i}", "do_compile", str(i)) for i in range(count)])
    out.update(tasks(("aos-node-config", "do_install", f"c{node}"),
                     ("aos-multinode-image", "do_rootfs", image_hash),
                     ("aos-multinode-image", "do_image_wic", image_hash)))
    return out


def test_report_goal_met_for_identity_only_nodes():
    nodes = [NodeInfo("a", "qemuarm64", "controller", index=0),
             NodeInfo("b", "qemuarm64", "controller", index=1)]
    report = sharing.sharing_report(nodes, {"a": image_tasks(1000, "a", "1"),
                                            "b": image_tasks(1000, "b", "2")})
    (group,) = report.groups
    (extra,) = group.extras
    assert len(extra.added) == 3 and extra.tasks == 1003
    assert extra.percent == pytest.approx(300 / 1003)
    assert [(r.recipe, r.tasks, r.category) for r in extra.recipes] == [
        ("aos-multinode-image", 2, "image"), ("aos-node-config", 1, "node-config")]
    assert extra.goal_met and report.goal_met
    assert extra.identity_percent == extra.percent
    assert extra.differences == []
    assert group.unique_tasks == 1006 and report.ratio == pytest.approx(1006 / 1003)
    data = report.as_dict()
    assert data["machines"][0]["extra_nodes"][0]["added_tasks"] == 3
    assert data["goal_met"] is True
    text = sharing.format_report(report)
    assert ("b: +3 of 1,003 tasks (0.30 %) over a: identity 3 (0.30 %), role 0, other 0; "
            "goal met") in text
    assert "All 2 nodes: 1,006 unique tasks / 1,003 tasks of one node = 1.003" in text


def rt_case(found: dict, same_role: bool = False):
    nodes = [NodeInfo("main", "x86", "main", index=0),
             NodeInfo("rt0", "x86", "main" if same_role else "rt",
                      kernel="" if same_role else "linux-yocto-rt", index=2),
             NodeInfo("gpu0", "arm", "gpu", index=1)]
    main = image_tasks(1000, "main", "1")
    rt0 = image_tasks(1000, "rt0", "2")
    rt0.update(tasks(("linux-yocto-rt", "do_compile", "k"), ("linux-yocto-rt", "do_deploy", "k"),
                     ("recipe1", "do_compile", "changed")))
    gpu0 = {TaskKey(f"armv8/{k.recipe}/1.0", k.task): h
            for k, h in image_tasks(1000, "gpu0", "3").items()}
    return sharing.sharing_report(nodes, {"main": main, "rt0": rt0, "gpu0": gpu0},
                                  {"rt0": found})


def test_report_splits_identity_and_role():
    report = rt_case({"linux-yocto-rt": evidence({"new"}),
                      "recipe1": evidence({"dependencies"})})
    assert [g.machine for g in report.groups] == ["x86", "arm"]
    (extra,) = report.groups[0].extras
    assert extra.differences == ["role rt (reference: main)",
                                 "kernel linux-yocto-rt (reference: default)"]
    assert [(r.recipe, r.tasks, r.category) for r in extra.recipes] == [
        ("aos-multinode-image", 2, "image"), ("linux-yocto-rt", 2, "role"),
        ("aos-node-config", 1, "node-config"), ("recipe1", 1, "role")]
    assert (extra.tasks_in("image", "node-config", "identity"), extra.tasks_in("role")) == (3, 3)
    assert extra.goal_met and report.goal_met
    assert report.groups[1].extras == [] and report.groups[1].ratio == 1.0
    # rt0 has 1005 tasks (recipe1 changed, kernel added); main 1003 + rt0 6 (config, image
    # x2, kernel x2, recipe1) + gpu0 1003 on another arch.
    assert report.unique_tasks == 2012
    text = sharing.format_report(report)
    assert ("rt0: +6 of 1,005 tasks (0.60 %) over main: identity 3 (0.30 %), role 3, "
            "other 0; goal met") in text
    assert "differs from main in: role rt (reference: main); kernel linux-yocto-rt" in text
    assert "    2  linux-yocto-rt [role]" in text


def test_report_goal_missed_names_the_other_recipes():
    report = rt_case({"recipe1": evidence({"variables"}, {"DISTRO_FEATURES"},
                                          DISTRO_FEATURES=1)})
    (extra,) = report.groups[0].extras
    assert ("recipe1", 1, "other") in [(r.recipe, r.tasks, r.category) for r in extra.recipes]
    assert not extra.goal_met and not report.goal_met
    assert extra.variables == {"DISTRO_FEATURES": 1}
    text = sharing.format_report(report)
    assert "other 1; goal NOT met" in text and "recipe1 [other]" in text
    assert "variables that differ (tasks examined): DISTRO_FEATURES (1)" in text
    # With the same role and kernel, a new kernel recipe is not explained either.
    same = rt_case({"linux-yocto-rt": evidence({"new"})}, same_role=True)
    assert not same.groups[0].extras[0].goal_met


def test_nodes_without_signatures_are_left_out():
    nodes = [NodeInfo("a", "m", index=0), NodeInfo("b", "m", index=1)]
    report = sharing.sharing_report(nodes, {"b": image_tasks(10, "b", "1")})
    assert report.nodes == 1 and report.groups[0].reference.node == "b"


SIG_REF = {"task": "do_install", "basehash": "1",
           "varvals": {"do_install": "install ${NODE_ID}", "NODE_ID": "a", "PN": "x"},
           "runtaskhashes": {"zlib:do_install": "z1"}, "file_checksum_values": [["f", "c1"]]}


def sig(**changes):
    doc = {key: (dict(value) if isinstance(value, dict) else value)
           for key, value in SIG_REF.items()}
    for key, value in changes.items():
        if isinstance(value, dict):
            doc[key].update(value)
        else:
            doc[key] = value
    return doc


@pytest.mark.parametrize("node,expected", [
    (sig(varvals={"NODE_ID": "b"}), "variables: NODE_ID"),
    (sig(varvals={"do_install": "install -m 0644 ${NODE_ID}"}), "variables: (task code)"),
    (sig(file_checksum_values=[["f", "c2"]]), "files: f"),
    (sig(runtaskhashes={"zlib:do_install": "z2"}), "dependencies: zlib:do_install"),
    (sig(runtaskhashes={"mc:b:busybox:do_install": "z2"}),
     "dependencies: busybox:do_install"),
    (sig(taint="nostamp:123"), "tainted"),
])
def test_task_cause(node, expected):
    assert causes.task_cause(SIG_REF, node)[1] == expected


def test_only_variables_in_the_hash_count():
    ref = sig(taskdeps=["NODE_ID"], varvals={"do_rootfs[dirs]": "${TOPDIR}", "TOPDIR": "/a"})
    node = sig(taskdeps=["NODE_ID"], varvals={"do_rootfs[dirs]": "${TOPDIR}", "TOPDIR": "/b"})
    assert causes.differing_variables(ref, node) == []
    node["varvals"]["NODE_ID"] = "b"
    assert causes.differing_variables(ref, node) == ["NODE_ID"]
    # BitBake writes taskdeps as a set: {"_set_object": [...]}.
    node["taskdeps"] = ref["taskdeps"] = {"_set_object": ["NODE_ID"]}
    assert causes.differing_variables(ref, node) == ["NODE_ID"]


def test_task_cause_new_task():
    assert causes.task_cause(None, SIG_REF)[0] == "new"


def test_recipe_evidence_summarises_per_recipe():
    key = TaskKey("arch/nodeinfo/1.0", "do_install")
    other = TaskKey("arch/image/1.0", "do_rootfs")
    other2 = TaskKey("arch/image/1.0", "do_image")
    new = TaskKey("arch/aos-node-config/1.0", "do_install")
    pairs = {key: (SIG_REF, sig(varvals={"NODE_ID": "b"})),
             other: (SIG_REF, sig(runtaskhashes={"zlib:do_install": "z2"})),
             other2: (SIG_REF, sig(runtaskhashes={"zlib:do_install": "z3"})),
             new: (None, SIG_REF)}
    found = causes.recipe_evidence(pairs)
    assert found["nodeinfo"].cause_texts() == ["variables: NODE_ID (1 task)"]
    assert found["nodeinfo"].kinds == {"variables"}
    assert found["nodeinfo"].variables == {"NODE_ID": 1}
    assert found["image"].cause_texts() == ["dependencies only (2 tasks)"]
    assert found["image"].kinds == {"dependencies"} and not found["image"].variables
    assert found["aos-node-config"].kinds == {"new"}


@pytest.mark.parametrize("ref,new,expected", [
    ("a", "b", True),
    ("systemd node-main", "systemd node-rt0", True),
    ("gw7-a", "gw7-b", True),                   # the hostnames
    ("acl a", "acl b", True),
    ("acl x", "bcl x", False),                  # not a whole word
    ("main-disk.cfg", "secondary-disk.cfg", False),
    ("same", "same", False),
])
def test_carries_identity(ref, new, expected):
    names = ({"a", "main", "gw7-a"}, {"b", "rt0", "gw7-b"})
    docs = [{"varvals": {"X": value}} for value in (ref, new)]
    assert causes.carries_identity(docs[0], docs[1], "X", names) == expected


def test_sample_takes_each_recipes_earliest_tasks_in_turns():
    added = [TaskKey("a/zlib/1", t) for t in ("do_install", "do_compile", "do_configure")]
    added += [TaskKey("a/busybox/1", t) for t in ("do_package", "do_fetch")]
    chosen = sharing.sample_tasks(added, per_recipe=2, total=3)
    assert [k.label for k in chosen] == ["busybox:do_fetch", "zlib:do_configure",
                                         "busybox:do_package"]


def test_dependants_take_the_worst_category_of_their_changed_dependencies():
    reference = NodeInfo("a", "m", "r", fragment=FRAGMENT)
    node = NodeInfo("b", "m", "r", fragment=FRAGMENT)
    found = {
        "glibc": evidence({"variables"}, {"NAIVE_NODE_ID"}, NAIVE_NODE_ID=3),   # a leak
        "aos-iamanager": evidence({"variables"}, AOS_NODE_HOSTNAME=1),     # identity
        "busybox": sharing.Evidence(kinds={"dependencies"}, dependencies={"glibc"}),
        "aos-sm": sharing.Evidence(kinds={"dependencies"}, dependencies={"aos-iamanager"}),
        "curl": sharing.Evidence(kinds={"dependencies"}, dependencies={"busybox"}),
        "htop": sharing.Evidence(kinds={"dependencies"}, dependencies={"unknown"}),
    }
    got = sharing.categories(found, node, reference, found)
    assert got == {"glibc": "other", "aos-iamanager": "identity", "busybox": "other",
                   "aos-sm": "identity", "curl": "other", "htop": "other"}


# --- heavy tasks -----------------------------------------------------------------------

CORE = [("aos-core", t, "1") for t in ("do_fetch", "do_configure", "do_compile", "do_install",
                                       "do_populate_sysroot", "do_package", "do_packagedata",
                                       "do_package_write_ipk")]


def heavy_case(changed: dict[str, str]):
    """Two nodes of one role; node b's aos-core tasks named in `changed` get other hashes."""
    reference = image_tasks(100, "a", "1")
    reference.update(tasks(*CORE))
    node = image_tasks(100, "b", "2")
    node.update(tasks(*[(r, t, changed.get(t, h)) for r, t, h in CORE]))
    nodes = [NodeInfo("a", "m", "gpu", index=0), NodeInfo("b", "m", "gpu", index=1)]
    (extra,) = sharing.sharing_report(nodes, {"a": reference, "b": node}).groups[0].extras
    return extra


def test_heavy_tasks_that_differ_are_named_apart_from_the_light():
    """meta-aos's node values in do_fetch[vardeps]: every task of the recipe differs."""
    extra = heavy_case({t: "x" for _, t, _ in CORE})
    assert [k.label for k in extra.heavy] == [
        "aos-core:do_compile", "aos-core:do_configure", "aos-core:do_install"]
    assert extra.rerun == extra.heavy
    # The image and the config recipe (do_install) are light: the layer compiles nothing.
    assert extra.light == len(extra.added) - 3 == 8
    assert not extra.heavy_goal_met
    text = sharing.format_report(sharing.SharingReport([], 0, 0, 0))
    assert "heavy" not in text
    data = extra.as_dict()
    assert data["heavy_tasks"] == [k.label for k in extra.heavy]
    assert data["heavy_goal_met"] is False and data["light_tasks"] == 8


@pytest.mark.parametrize("changed,rerun", [
    # Only the packaging differs (the node's values written after do_install): do_package
    # misses the sstate cache, and a build directory of its own has no do_install to take
    # it from, so configure, compile and install run again although their signatures match.
    ({"do_package": "x", "do_packagedata": "x", "do_package_write_ipk": "x"},
     ["aos-core:do_compile", "aos-core:do_configure", "aos-core:do_install"]),
    ({"do_populate_sysroot": "x"},
     ["aos-core:do_compile", "aos-core:do_configure", "aos-core:do_install"]),
    # Only the package files' stage after do_package: restored from do_package's sstate.
    ({"do_package_write_ipk": "x"}, []),
    ({}, []),
])
def test_heavy_tasks_run_again_when_their_setscene_task_misses(changed, rerun):
    extra = heavy_case(changed)
    assert extra.heavy == []
    assert [k.label for k in extra.rerun] == rerun
    assert extra.heavy_goal_met == (not rerun)


def test_heavy_report_text_names_each_recipe():
    reference = image_tasks(10, "a", "1")
    reference.update(tasks(*CORE))
    node = image_tasks(10, "b", "2")
    node.update(tasks(*[(r, t, "x" if t == "do_package" else h) for r, t, h in CORE]))
    nodes = [NodeInfo("a", "m", "gpu", index=0), NodeInfo("b", "m", "gpu", index=1)]
    text = sharing.format_report(sharing.sharing_report(nodes, {"a": reference, "b": node}))
    assert ("heavy tasks (configure/compile/install of code) that differ: 0, light: 4; "
            "heavy tasks run again: 3 (NOT met: the same role as a recompiles)") in text
    assert "aos-core: do_configure, do_compile, do_install" in text


def test_a_recipe_without_a_cross_compiler_is_light():
    """base-files' kind: its install differs per node (the hostname), but its build
    dependencies name no cross compiler, so it copies files: nothing heavy. The same
    recipe with gcc-cross in its dependencies is heavy; unknown (no data) stays heavy."""
    nodes = [NodeInfo("a", "m", "gpu", index=0), NodeInfo("b", "m", "gpu", index=1)]
    reference = image_tasks(10, "a", "1")
    reference.update(tasks(*CORE))
    node = image_tasks(10, "b", "2")
    node.update(tasks(*[(r, t, "x" if t == "do_install" else h) for r, t, h in CORE]))
    signatures = {"a": reference, "b": node}
    light = sharing.sharing_report(nodes, signatures, copies_only={"b": frozenset({"aos-core"})})
    (extra,) = light.groups[0].extras
    assert extra.heavy == [] and extra.rerun == [] and extra.heavy_goal_met
    (extra,) = sharing.sharing_report(nodes, signatures).groups[0].extras
    assert [k.label for k in extra.heavy] == ["aos-core:do_install"]
    assert not extra.heavy_goal_met


@pytest.mark.parametrize("deps,compiles", [
    (["base-files:do_fetch", "pseudo-native:do_populate_sysroot"], False),
    (["aos-iamanager:do_fetch", "gcc-cross-aarch64:do_populate_sysroot",
      "glibc:do_populate_sysroot"], True),
    (["linux-yocto:do_fetch", "gcc-cross-x86_64:do_populate_sysroot"], True),
    (["mc:pi0:clang-cross-aarch64:do_populate_sysroot"], True),
    (["/layers/meta/recipes-devtools/gcc/gcc-cross_13.3.bb:do_populate_sysroot"], True),
    ([], False),
])
def test_cross_compiler_in_build_dependencies(deps, compiles):
    assert sharing.uses_compiler(deps) is compiles


def test_the_layer_recipes_and_variants_need_no_compiler_check():
    assert not sharing.needs_compiler_check("aos-iamanager-nodeconfig")
    assert not sharing.needs_compiler_check("aos-node-config")
    assert not sharing.needs_compiler_check("cmake-native")
    assert sharing.needs_compiler_check("base-files")
    assert sharing.needs_compiler_check("aos-iamanager")
