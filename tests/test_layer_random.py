"""Random valid Unit Configs (hypothesis): 1-8 nodes, any ids, roles, machines, discovery,
NTP or PTP, Aos on or off, IPv4 or IPv6, static or DHCP, a second interface. For each:
the output is the same twice, BitBake's parser reads every conf/*.conf and recipe, each
node's image picks that node's recipes, and no value from the Unit Config ever turns into
BitBake inline python (`${@`): only the two template lines that carry it have it.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest

from aos_multinode.contract import REFERENCE_MACHINES
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from layer_helpers import (LAYER, BitBakeParser, load, recipe_name, recipes, render,
                           scratch_dir, tree_files)
from aos_multinode.errors import UnitConfigError
from aos_multinode.generation.write import write_tree

# The only lines allowed to hold inline python: in the image recipe, and (with Aos) the
# architecture in the device-wide fragment. None of them holds a Unit Config value.
INLINE_PYTHON_LINES = {
    f"{LAYER}/recipes-core/images/aos-multinode-image.bb": (
        re.compile(r"^SKIP_RECIPE\[aos-multinode-image\] = \"\$\{@"),
        re.compile(r"^WKS_FILE :?= \"\$\{@"),
        re.compile(r"^do_image_wic\[depends\] \+= \"\$\{@")),
    f"{LAYER}/recipes-core/aos-node-config/aos-node-config_1.0.bb": (
        re.compile(r"^SKIP_RECIPE\[aos-node-config\] = \"\$\{@'' if "
                   r"d.getVar\('AOS_NODE_CONFIG_ID'\) else 'no node selected: [^'\"$]*'\}\"$"),
        re.compile(r"^COMPATIBLE_MACHINE = \"\$\{@d\.getVarFlag\('AOS_NODE_CONFIG_MACHINE', "
                   r"d\.getVar\('AOS_NODE_CONFIG_ID'\)\) or '\^\$' if "
                   r"d\.getVar\('AOS_NODE_CONFIG_ID'\) else ''\}\"$")),
    f"{LAYER}/conf/aos-multinode-device.conf": (
        re.compile(r"^AOS_ARCHITECTURE = \"\$\{@"),),
}

label = st.from_regex(r"\A[a-z][a-z0-9-]{0,8}[a-z0-9]\Z", fullmatch=True)
safe_name = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._+-]{0,10}\Z", fullmatch=True)
safe_version = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._+~-]{0,10}\Z", fullmatch=True)
recipe = st.from_regex(r"\A[a-z0-9][a-z0-9.+-]{0,12}\Z", fullmatch=True)
machine = st.from_regex(r"\A[a-z0-9][a-z0-9_.-]{0,12}\Z", fullmatch=True)
device = st.from_regex(r"\A[A-Za-z0-9_*?][A-Za-z0-9_.:*?-]{0,10}\Z", fullmatch=True)


@st.composite
def subnet(draw, version: int, slot: int):
    """A subnet per interface slot; slots never overlap."""
    if version == 4:
        prefix = draw(st.integers(20, 28))
        return ipaddress.ip_network(f"10.{slot * 64}.0.0/{prefix}")
    prefix = draw(st.sampled_from([48, 64, 96, 112]))
    return ipaddress.ip_network(f"fd00:{slot + 1:x}::/{prefix}")


def hosts_of(network, count: int, draw) -> list:
    """`count` distinct host addresses of `network` plus a gateway candidate."""
    first = int(network.network_address) + 1
    size = min(network.num_addresses - 3, 4000)
    picks = draw(st.lists(st.integers(0, size), min_size=count + 1, max_size=count + 1,
                          unique=True))
    return [ipaddress.ip_address(first + n) for n in picks]


@st.composite
def unit_configs(draw) -> dict:
    count = draw(st.integers(1, 8))
    indexes = draw(st.lists(st.integers(0, 65535), min_size=count, max_size=count, unique=True))
    ids = draw(st.lists(st.one_of(st.none(), label), min_size=count, max_size=count))
    final_ids = [i if i is not None else f"node{index}" for i, index in zip(ids, indexes)]
    assume(len(set(final_ids)) == count)
    hostnames = draw(st.lists(label, min_size=count, max_size=count, unique=True))

    role_names = draw(st.lists(label, min_size=1, max_size=min(4, count), unique=True))
    if count > 1 and len(role_names) == 1:
        role_names.append(f"{role_names[0]}-w")
    roles = {}
    for position, name in enumerate(role_names):
        role = {"main": position == 0}
        if draw(st.booleans()):
            role["kernel"] = draw(recipe)
        role["packages"] = draw(st.lists(recipe, max_size=3, unique=True))
        role["labels"] = draw(st.lists(safe_name, max_size=3, unique=True))
        role["priority"] = draw(st.integers(0, 1000))
        role["capabilities"] = {"cpu_cores": draw(st.integers(1, 64)),
                                "gpu": draw(st.booleans()),
                                "accelerators": draw(st.lists(safe_name, max_size=2)),
                                "realtime": draw(st.booleans())}
        roles[name] = role
    # Exactly one node has the main role; every role is used when there are enough nodes.
    main_at = draw(st.integers(0, count - 1))
    others = role_names[1:] or role_names
    node_roles = [role_names[0] if n == main_at else others[n % len(others)]
                  for n in range(count)]

    version = draw(st.sampled_from([4, 6]))
    cluster = {"name": draw(label), "device": draw(device),
               "subnet": None, "addressing": draw(st.sampled_from(["static", "dhcp"]))}
    network = draw(subnet(version, 0))
    cluster["subnet"] = str(network)
    addresses = hosts_of(network, count, draw)
    if draw(st.booleans()):
        cluster["gateway"] = str(addresses[-1])
    if draw(st.booleans()):
        cluster["mtu"] = draw(st.integers(576, 9216))
    interfaces = [cluster]
    second = None
    if draw(st.booleans()):
        name = draw(label.filter(lambda n: n != cluster["name"]))
        second_net = draw(subnet(draw(st.sampled_from([4, 6])), 1))
        second = {"name": name, "device": draw(device), "subnet": str(second_net),
                  "addressing": draw(st.sampled_from(["static", "dhcp"]))}
        interfaces.append(second)
        second_addresses = hosts_of(second_net, count, draw)

    discovery = draw(st.sampled_from(["static", "mdns"]))
    nodes = []
    for n in range(count):
        node = {"index": indexes[n], "hostname": hostnames[n], "role": node_roles[n],
                "storage": draw(st.sampled_from(["sd", "emmc", "nvme", "usb"]))}
        if ids[n] is not None:
            node["id"] = ids[n]
        if cluster["addressing"] == "static" or draw(st.booleans()):
            node["address"] = str(addresses[n])
        if second is not None and second["addressing"] == "static":
            node["addresses"] = {second["name"]: str(second_addresses[n])}
        if draw(st.booleans()):
            node["machine"] = draw(machine)
        nodes.append(node)

    aos = draw(st.booleans())
    data = {
        "device_id": draw(label),
        "release": draw(safe_version),
        "cluster": {"discovery": discovery},
        "yocto": {"release": "scarthgap" if aos else draw(st.sampled_from(
            ["scarthgap", "wrynose"])), "machine": draw(machine)},
        "aos": {"enabled": aos},
        "network": {"interfaces": interfaces},
        "time_sync": {"protocol": draw(st.sampled_from(["ntp", "ptp"]))},
        "roles": roles,
        "nodes": nodes,
        "rebalance": {"enabled": draw(st.booleans()), "policy": {
            "cpu": {"max_threshold": 80, "min_threshold": draw(st.integers(0, 79)),
                    "min_timeout": draw(st.integers(1, 600))},
            "ram": {"max_threshold": draw(st.integers(51, 100)), "min_threshold": 50}}},
    }
    if draw(st.booleans()):
        data["cluster"]["id"] = draw(label)
    if draw(st.booleans()):
        data["time_sync"]["server"] = draw(st.sampled_from(final_ids))
    if aos and draw(st.booleans()):
        data["aos"]["unit_model"] = draw(safe_name)
        data["aos"]["unit_version"] = draw(safe_version)
    # A MACHINE the shipped layers do not define comes from a BSP repository (build.repos).
    boards = sorted({m for m in [data["yocto"]["machine"], *(n.get("machine") for n in nodes)]
                     if m and m not in REFERENCE_MACHINES})
    if boards:
        data["build"] = {"repos": {"meta-bsp": {
            "url": "https://git.example.com/meta-bsp", "commit": "0" * 40,
            "machines": boards}}}
    return data


def check_inline_python(root: Path) -> None:
    for relpath, (content, _) in tree_files(root).items():
        for line in content.decode().splitlines():
            if "${@" in line:
                assert any(p.match(line) for p in INLINE_PYTHON_LINES.get(relpath, ())), \
                    f"{relpath}: {line}"


def check_with_bitbake(layer: Path, config) -> None:
    parser = BitBakeParser(layer)
    parser.conf(layer / "conf" / "layer.conf", LAYERDIR=str(layer))
    for node in config.nodes:
        parser.conf(layer / "conf" / "multiconfig" / f"{node.id}.conf", BB_CURRENT_MC=node.id)
    for node in config.nodes:
        d = parser.node_data(node.id, node.machine)
        assert d.getVar("AOS_MULTINODE_NODE_ID") == node.id
        parsed = {recipe_name(path): parser.recipe(path, d) for path in recipes(layer)}
        image = parsed["aos-multinode-image"].getVar("IMAGE_INSTALL").split()
        assert "aos-node-config" in image
        assert f"packagegroup-aos-multinode-{node.role.name}" in image
        assert re.match(parsed["aos-node-config"].getVar("COMPATIBLE_MACHINE"), node.machine)
        assert parsed["aos-node-config"].getVar("AOS_NODE_CONFIG_ID") == node.id
        assert node.id in parsed["aos-multinode-image"].getVar("IMAGE_LINK_NAME")


@pytest.mark.slow
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.data_too_large])
@given(unit_configs())
def test_random_unit_configs(data):
    work = scratch_dir("random")
    source = work / "unit-config.yaml"
    source.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        config = load(source)
    except UnitConfigError as exc:
        pytest.fail(f"the strategy made an invalid Unit Config:\n{exc}\n{source.read_text()}")
    first, second = work / "one", work / "two"
    write_tree(first, render(config, first))
    write_tree(second, render(load(source), second))
    assert tree_files(first) == tree_files(second)
    check_inline_python(first)
    check_with_bitbake(first / LAYER, config)
