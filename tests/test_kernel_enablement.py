"""A role kernel that openembedded-core restricts to qemu machines (linux-yocto-rt) is made
buildable for the meta-yocto-bsp machine of the nodes that run it, and only then."""

from __future__ import annotations

import re

import yaml

from aos_multinode.unitconfig.load import check_source
from aos_multinode.generation.plan import kernel_enablement, plan_layer
from aos_multinode.unitconfig.source import parse_source

from conftest import EXAMPLES_DIR


def _config(machine_of_rt: str, kernel: str = "linux-yocto-rt"):
    data = yaml.safe_load((EXAMPLES_DIR / "three-node-ecu.yaml").read_text())
    data["roles"]["rt"]["kernel"] = kernel
    data["nodes"][2]["machine"] = machine_of_rt
    return check_source(parse_source(yaml.safe_dump(data).encode(), "u.yaml")).config


def test_rt_kernel_on_genericx86_64_gets_compatible_machine_and_kmachine():
    files = {f.relpath: f for f in plan_layer(_config("genericx86-64"), "1.0")}
    append = "meta-aos-multinode/recipes-kernel/linux/linux-yocto-rt_%.bbappend"
    assert append in files
    assert kernel_enablement(_config("genericx86-64")) == {
        "linux-yocto-rt": [("genericx86-64", "common-pc-64")]}


def test_no_bbappend_where_the_kernel_already_builds_or_is_unknown():
    for machine, kernel in (("qemux86-64", "linux-yocto-rt"),
                            ("genericx86-64", "linux-yocto"),
                            ("genericx86-64", "linux-intel-rt")):
        planned = [f.relpath for f in plan_layer(_config(machine, kernel), "1.0")]
        assert not [p for p in planned if "recipes-kernel" in p], (machine, kernel)


def test_bbappend_only_touches_machine_overrides(tmp_path):
    from aos_multinode.generation.render import render_file

    planned = [f for f in plan_layer(_config("genericx86-64"), "1.0")
               if f.relpath.endswith(".bbappend") and "recipes-kernel" in f.relpath]
    text = render_file(planned[0]).content.decode()
    assignments = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert assignments == ['COMPATIBLE_MACHINE:genericx86-64 = "genericx86-64"',
                           'KMACHINE:genericx86-64 ?= "common-pc-64"']
    assert all(re.match(r"^\w+:genericx86-64 \??= ", line) for line in assignments)


def test_bitbake_applies_the_bbappend_to_the_kernel_recipe():
    """BitBake's own parser, the bbappend applied (__BBAPPEND) to a stand-in of oe-core's
    linux-yocto-rt: on rt0's MACHINE the kernel becomes compatible with the right KMACHINE;
    on another MACHINE nothing changes."""
    import re as regex

    from layer_helpers import BitBakeParser, layer_of

    from conftest import EXAMPLES_DIR as examples

    source = examples / "three-node-ecu.yaml"
    parser = BitBakeParser(layer_of(source))
    append = parser.layer / "recipes-kernel" / "linux" / "linux-yocto-rt_%.bbappend"
    rt0 = parser.recipe(append, parser.node_data("rt0", "genericx86-64"))
    assert regex.match(rt0.getVar("COMPATIBLE_MACHINE"), "genericx86-64")
    assert rt0.getVar("KMACHINE") == "common-pc-64"
    assert rt0.getVar("KBRANCH") == "v6.6/standard/preempt-rt/base"
    gpu0 = parser.recipe(append, parser.node_data("gpu0", "genericarm64"))
    assert not regex.match(gpu0.getVar("COMPATIBLE_MACHINE"), "genericarm64")
    assert gpu0.getVar("KMACHINE") == "genericarm64"
