"""verify's reading of BitBake's console output (recorded from real runs in
tests/data/verify/*.log) and of the generated layer and build directories.

The .log files are BitBake's own output, recorded with the bitbake of poky scarthgap
(2.8) and bitbake 2.18 (wrynose) on copies of the generated layer with a fault put in; the
layer path in them is written @LAYER@ and replaced here by the test's layer.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aos_multinode import verify
from aos_multinode.verify.messages import Message

from layer_helpers import EXAMPLES_DIR, generate

DATA = Path(__file__).resolve().parent / "data" / "verify"


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """DIR with the two-node gateway's meta-aos-multinode/ and kas/."""
    out = tmp_path_factory.mktemp("verify-messages") / "out"
    generate(EXAMPLES_DIR / "two-node-gateway.yaml", out)
    return out.resolve()


def recorded(name: str, layer: Path) -> list[str]:
    text = (DATA / name).read_text().replace("@LAYER@", str(layer))
    return text.splitlines(keepends=True)


def findings(name: str, directory: Path, node: str = None) -> list[verify.BitBakeFinding]:
    layer = directory / "meta-aos-multinode"
    return [verify.locate(m, layer, directory, node)
            for m in verify.parse_messages(recorded(name, layer))]


# --- splitting the output into messages -----------------------------------------------

def test_messages_keep_their_continuation_lines_and_skip_status_lines():
    lines = ["Loading cache...done.\n", "Parsing recipes...done.\n",
             "WARNING: first\n", "  more of first\n", "NOTE: a note\n", "not part of it\n",
             "ERROR: second\n", "Traceback (most recent call last):\n", "  File x\n", "\n",
             "Summary: There was 1 WARNING message.\n", "ERROR: second\n",
             "Traceback (most recent call last):\n", "  File x\n"]
    messages = verify.parse_messages(lines)
    assert messages == [Message("warning", "first\n  more of first"),
                        Message("error", "second\nTraceback (most recent call last):\n  File x")]


def test_sanity_error_is_one_message(generated):
    (finding,) = findings("wrynose-wks-sanity.log", generated)
    assert finding.severity == "error"
    assert finding.ours
    assert finding.file == "meta-aos-multinode/wic" and finding.line is None
    assert "need to be moved to files/wic" in finding.message
    assert finding.message.startswith("OE-core's config sanity checker detected")


@pytest.fixture(scope="module")
def ecu(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("verify-ecu") / "out"
    generate(EXAMPLES_DIR / "three-node-ecu.yaml", out)
    return out.resolve()


def test_missing_kernel_points_at_the_node_fragment(ecu):
    found = findings("scarthgap-rt-kernel.log", ecu, node="rt0")
    assert len(found) == 102                # one message repeats (the same text)
    first = found[0]
    assert first.message.startswith("Nothing PROVIDES 'virtual/kernel'")
    assert "linux-yocto-rt PROVIDES virtual/kernel but was skipped: incompatible with " \
        "machine genericx86-64" in first.message
    assert first.ours and first.file == "meta-aos-multinode/conf/nodes/rt0.conf"
    fragment = (ecu / first.file).read_text().splitlines()
    assert fragment[first.line - 1].startswith("PREFERRED_PROVIDER_virtual/kernel = ")
    # Without the node, nothing in the message names the layer.
    assert not findings("scarthgap-rt-kernel.log", ecu)[0].ours
    # Messages naming the layer's recipes by path are ours, the rest not.
    ours = [f for f in found if f.ours]
    assert {f.file for f in ours} == {
        "meta-aos-multinode/conf/nodes/rt0.conf",
        "meta-aos-multinode/recipes-core/aos-node-config/aos-node-config-rt0_1.0.bb"}
    assert not any(f.ours for f in found if "packagegroup-base.bb" in f.message)


def test_path_with_dotdot_is_recognised(generated):
    layer = generated / "meta-aos-multinode"
    text = f"wic/wks files at {generated}/sub/../meta-aos-multinode/wic need to be moved"
    finding = verify.locate(Message("error", text), layer, generated)
    assert finding.ours and finding.file == "meta-aos-multinode/wic"


def test_build_directory_paths_are_not_ours(generated):
    layer = generated / "meta-aos-multinode"
    text = (f"Your TMPDIR {generated}/.aos-multinode-verify/a/tmp is on a filesystem "
            "without long file names")
    finding = verify.locate(Message("warning", text), layer, generated)
    assert not finding.ours and finding.file is None


@pytest.mark.parametrize("text,ours", [
    ("Nothing RPROVIDES 'aos-node-config-c'", True),
    ("aos-cluster-agent-1.0-r0 do_package_qa: QA Issue: ...", True),
    ("packagegroup-aos-multinode-worker: something", True),
    ("Required build target 'aos-multinode-image' has no buildable providers.", True),
    ("Nothing PROVIDES 'linux-yocto-rt'", False),
    ("meta-virtualization: 'virtualization' not in DISTRO_FEATURES", False),
])
def test_our_recipe_names(generated, text, ours):
    finding = verify.locate(Message("error", text), generated / "meta-aos-multinode",
                            generated)
    assert finding.ours == ours


def test_parse_error_gives_file_and_line(generated):
    layer = generated / "meta-aos-multinode"
    recipe = layer / "recipes-core" / "images" / "aos-multinode-image.bb"
    text = f"ParseError at {recipe}:7: unparsed line: 'this is not bitbake'"
    finding = verify.locate(Message("error", text), layer, generated)
    assert (finding.file, finding.line) == (
        "meta-aos-multinode/recipes-core/images/aos-multinode-image.bb", 7)
    assert finding.format(full=False).startswith(
        "meta-aos-multinode/recipes-core/images/aos-multinode-image.bb:7: error: [] ParseError")


def test_traceback_line_is_taken(generated):
    layer = generated / "meta-aos-multinode"
    recipe = layer / "recipes-core" / "images" / "aos-multinode-image.bb"
    text = (f"ExpansionError during parsing {recipe}\nTraceback (most recent call last):\n"
            f"  File \"Var <SKIP_RECIPE[aos-multinode-image]>\", line 1, in <module>\n"
            f"bb.data_smart.ExpansionError: Failure expanding variable SKIP_RECIPE\n"
            f"File: '{recipe}', lineno: 23, function: <module>")
    finding = verify.locate(Message("error", text), layer, generated)
    assert finding.line == 23


def test_quoted_name_is_found_in_the_named_recipe(generated):
    layer = generated / "meta-aos-multinode"
    recipe = next((layer / "recipes-core" / "packagegroups").glob("*worker*.bb"))
    text = f"Nothing RPROVIDES 'htop' (but {recipe} RDEPENDS on or otherwise requires it)"
    finding = verify.locate(Message("error", text), layer, generated)
    lines = recipe.read_text().splitlines()
    assert finding.line is not None
    assert re.search(r"\bhtop\b", lines[finding.line - 1])


def test_recipe_named_without_path_points_at_its_file(generated):
    layer = generated / "meta-aos-multinode"
    text = ("Required build target 'aos-multinode-image' has no buildable providers.\n"
            "Missing or unbuildable dependency chain was: ['aos-multinode-image', "
            "'packagegroup-aos-multinode-worker', 'htop']")
    finding = verify.locate(Message("error", text), layer, generated)
    assert finding.file == "meta-aos-multinode/recipes-core/images/aos-multinode-image.bb"


def test_layer_dependency_points_at_layer_conf(generated):
    layer = generated / "meta-aos-multinode"
    text = ("Layer 'aos-multinode' depends on layer 'openembedded-layer', but this layer is "
            "not enabled in your configuration")
    finding = verify.locate(Message("error", text), layer, generated)
    assert finding.ours and finding.file == "meta-aos-multinode/conf/layer.conf"
    line = (layer / "conf" / "layer.conf").read_text().splitlines()[finding.line - 1]
    assert line.startswith("LAYERDEPENDS_aos-multinode") and "openembedded-layer" in line


def test_offline_uninative_warnings_are_verifys_own():
    lines = [
        "WARNING: Disabling uninative as unable to fetch uninative tarball: Network access "
        "disabled through BB_NO_NETWORK (or set indirectly due to use of "
        "BB_FETCH_PREMIRRORONLY) but access requested with command /usr/bin/env wget ...\n",
        "WARNING: To build your own uninative loader, please bitbake uninative-tarball and set "
        "UNINATIVE_TARBALL appropriately.\n",
        "WARNING: something else\n"]
    kept = [m.text for m in verify.parse_messages(lines) if not verify.ours_offline(m)]
    assert kept == ["something else"]


def test_merge_findings_names_the_nodes_and_sorts_ours_first():
    ours = verify.BitBakeFinding("warning", "w", True, "meta-aos-multinode/x.bb", 3)
    other = verify.BitBakeFinding("error", "e", False)
    merged = verify.merge_findings({"a": [other, ours], "b": [ours]})
    assert [(f.message, f.nodes) for f in merged] == [("w", ["a", "b"]), ("e", ["a"])]


# --- host problems ---------------------------------------------------------------------

@pytest.mark.parametrize("log,expected", [
    ("root.log", "BitBake refuses to run as root"),
    ("hosttools-missing.log", "sudo apt-get install chrpath diffstat\n"),
    ("sanity-missing-utilities.log", "tools missing: GNU make, C++ Compiler (g++)."),
    ("locale-missing.log", "locale-gen"),
])
def test_environment_problem(log, expected):
    problem = verify.environment_problem((DATA / log).read_text())
    assert problem is not None and expected in problem


def test_no_environment_problem_in_ordinary_errors(generated):
    assert verify.environment_problem((DATA / "wrynose-wks-sanity.log").read_text()) is None
    assert verify.environment_problem((DATA / "warning-elsewhere.log").read_text()) is None


def test_check_host_refuses_root():
    with pytest.raises(verify.VerifyError, match="ordinary user"):
        verify.check_host(euid=0)


# --- the generated layer and build directories -----------------------------------------

def test_read_nodes(generated):
    nodes = verify.read_nodes(generated / "meta-aos-multinode")
    assert [(n.node, n.machine, n.role, n.index) for n in nodes] == [
        ("a", "qemuarm64", "controller", 0), ("b", "qemuarm64", "worker", 1)]


def test_read_nodes_matches_the_fragments(tmp_path):
    """The node facts generate records in the manifest are what each node's fragment and
    multiconfig say (verify reads the facts instead of parsing the files)."""
    generate(EXAMPLES_DIR / "three-node-ecu.yaml", tmp_path)
    layer = tmp_path / "meta-aos-multinode"
    assignment = re.compile(r'^([A-Za-z0-9_/:.-]+) = "(.*)"$', re.M)
    for node in verify.read_nodes(layer):
        fragment = dict(assignment.findall((layer / f"conf/nodes/{node.node}.conf").read_text()))
        multiconfig = dict(assignment.findall(
            (layer / f"conf/multiconfig/{node.node}.conf").read_text()))
        assert node.fragment == frozenset(fragment)
        assert node.machine == multiconfig["MACHINE"]
        assert (node.role, str(node.index)) == (fragment["AOS_MULTINODE_NODE_ROLE"],
                                                fragment["AOS_MULTINODE_NODE_INDEX"])
        assert node.kernel == fragment.get("PREFERRED_PROVIDER_virtual/kernel", "")
        assert node.names == {fragment["AOS_MULTINODE_HOSTNAME"]}


def test_read_nodes_needs_the_manifest(tmp_path):
    generate(EXAMPLES_DIR / "three-node-ecu.yaml", tmp_path)
    (tmp_path / "meta-aos-multinode" / ".aos-multinode-manifest.json").write_text("{}")
    with pytest.raises(verify.VerifyError, match="no node facts.*generate` again"):
        verify.read_nodes(tmp_path / "meta-aos-multinode")


def test_read_nodes_with_kernel(tmp_path):
    generate(EXAMPLES_DIR / "three-node-ecu.yaml", tmp_path)
    nodes = {n.node: n for n in verify.read_nodes(tmp_path / "meta-aos-multinode")}
    assert nodes["rt0"].kernel == "linux-yocto-rt" and nodes["main"].kernel == ""
    assert nodes["gpu0"].machine == "genericarm64"
    assert verify.layer_needs_aos(tmp_path / "meta-aos-multinode")


def test_kas_common_settings(generated):
    distro, lines = verify.kas_common(generated)
    assert distro == "poky"
    assert 'INIT_MANAGER = "systemd"' in lines
    assert not [line for line in lines if "conf/nodes/" in line]


def test_kas_layers(generated, tmp_path):
    for layer in ("openembedded-core/meta", "meta-yocto/meta-poky",
                  "meta-yocto/meta-yocto-bsp", "meta-openembedded/meta-oe"):
        (tmp_path / layer / "conf").mkdir(parents=True)
        (tmp_path / layer / "conf" / "layer.conf").write_text("")
    layers = verify.kas_layers(generated, tmp_path)
    assert [p.relative_to(tmp_path.resolve()).as_posix() for p in layers] == [
        "openembedded-core/meta", "meta-yocto/meta-poky", "meta-yocto/meta-yocto-bsp",
        "meta-openembedded/meta-oe"]
    (tmp_path / "meta-openembedded" / "meta-oe" / "conf" / "layer.conf").unlink()
    with pytest.raises(verify.VerifyError, match="missing layers the kas files name"):
        verify.kas_layers(generated, tmp_path)


def test_bblayers_of_a_kas_build_dir(tmp_path):
    build = tmp_path / "build"
    (build / "conf").mkdir(parents=True)
    (build / "conf" / "bblayers.conf").write_text(
        'BBLAYERS ?= " \\\n    ${TOPDIR}/../poky/meta \\\n    /abs/meta-oe"\n'
        'BBLAYERS += "${TOPDIR}/../extra"\n')
    assert verify.bblayers_layers(build) == [tmp_path / "poky" / "meta", Path("/abs/meta-oe"),
                                             tmp_path / "extra"]
    (build / "conf" / "bblayers.conf").write_text('BBLAYERS = "${OEROOT}/meta"\n')
    with pytest.raises(verify.VerifyError, match="cannot expand"):
        verify.bblayers_layers(build)


def test_local_conf_of_a_node(generated):
    settings = verify.BuildSettings([Path("/l/meta")], ['INIT_MANAGER = "systemd"'], "poky", "x")
    node = verify.NodeInfo("b", "qemuarm64")
    text = verify.local_conf(settings, node, 'BBMASK += "x"\n')
    assert text.splitlines()[-1] == 'BBMASK += "x"'
    assert text.index('INIT_MANAGER') < text.index('MACHINE = "qemuarm64"') \
        < text.index("require conf/nodes/b.conf") < text.index("BBMASK")
    conf = verify.bblayers_conf([Path("/l/meta")], generated / "meta-aos-multinode")
    assert re.search(r'BBLAYERS = " \\\n    /l/meta \\\n    .*/meta-aos-multinode \\\n    "',
                     conf)


def test_task_graph_size(tmp_path):
    (tmp_path / "task-depends.dot").write_text(
        'digraph depends {\n"zlib.do_compile" [label="zlib do_compile\\n:1.3-r0\\n/x.bb"]\n'
        '"zlib.do_install" [label="zlib do_install\\n:1.3-r0\\n/x.bb"]\n'
        '"busybox.do_compile" [label="busybox do_compile\\n:1-r0\\n/y.bb"]\n'
        '"zlib.do_install" -> "zlib.do_compile"\n}\n')
    assert verify.task_graph_size(tmp_path) == (3, 2)
    assert verify.task_graph_size(tmp_path / "none") == (None, None)
