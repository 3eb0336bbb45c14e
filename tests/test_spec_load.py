"""spec + load: valid Unit Configs become a frozen model with every default applied."""

from __future__ import annotations

import dataclasses
import os
import time
import ipaddress

import pytest
import yaml

from aos_multinode import contract
from aos_multinode.errors import UnitConfigError
from aos_multinode.unitconfig.load import check_source, load_unit_config
from aos_multinode.unitconfig.source import parse_source

from conftest import EXAMPLES, SHARED_EXAMPLES_DIR, VALID_DIR, VALID_VARIANTS

MiB, GiB = 2**20, 2**30


def load(name: str):
    return load_unit_config(VALID_DIR / name).config


def load_text(text: str):
    return check_source(parse_source(text.encode(), "in.yaml"))


def test_there_are_examples_and_variants():
    assert len(EXAMPLES) >= 2 and len(VALID_VARIANTS) >= 8


def test_bundled_examples_are_copies_of_the_shared_ones():
    if not SHARED_EXAMPLES_DIR.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{SHARED_EXAMPLES_DIR} is missing: CI checks out ../shared beside "
                        "the repository")
        pytest.skip(f"no {SHARED_EXAMPLES_DIR} here")
    # Every shared example is bundled, byte for byte; the project may bundle more
    # (two-board-rpi4.yaml, the real-board example).
    shared = sorted(SHARED_EXAMPLES_DIR.glob("*.yaml"))
    assert shared
    ours = {p.name: p for p in EXAMPLES}
    for theirs in shared:
        assert theirs.name in ours, f"bundle examples/{theirs.name}"
        assert ours[theirs.name].read_bytes() == theirs.read_bytes(), \
            f"refresh examples/{theirs.name}"


@pytest.mark.parametrize("path", EXAMPLES + VALID_VARIANTS, ids=lambda p: p.stem)
def test_model_mirrors_the_yaml(path):
    """Every value written in the file reaches the model unchanged (read independently with
    yaml.safe_load); every value left out takes its documented default."""
    data = yaml.safe_load(path.read_text())
    config = load_unit_config(path).config
    yocto, aos = data.get("yocto", {}), data.get("aos", {})
    assert config.device_id == data["device_id"]
    assert config.cluster_id == data.get("cluster", {}).get("id", data["device_id"])
    assert config.discovery == data.get("cluster", {}).get("discovery", "static")
    assert config.yocto_release == yocto.get("release", "scarthgap")
    assert config.default_machine == yocto.get("machine", "genericx86-64")
    enabled = aos.get("enabled", True)
    assert config.aos.enabled is enabled
    assert config.distro == yocto.get("distro", "aos-core" if enabled else "poky")
    assert config.aos.unit_model == aos.get("unit_model", data["device_id"])
    assert config.aos.version == aos.get("version", contract.DEFAULT_AOS_VERSION)
    assert [i.name for i in config.interfaces] == \
        [i["name"] for i in data["network"]["interfaces"]]
    for interface, raw in zip(config.interfaces, data["network"]["interfaces"]):
        assert interface.subnet == ipaddress.ip_network(raw["subnet"])
        assert interface.addressing == raw.get("addressing", "static")
        assert interface.mtu == raw.get("mtu")
    by_index = {raw["index"]: raw for raw in data["nodes"]}
    assert [n.index for n in config.nodes] == sorted(by_index)
    for node in config.nodes:
        raw = by_index[node.index]
        assert node.id == raw.get("id", f"node{raw['index']}")
        assert node.hostname == raw["hostname"]
        assert node.role.name == raw["role"]
        assert node.machine == raw.get("machine", config.default_machine)
        assert node.storage == raw.get("storage", "sd")
        expected = ipaddress.ip_address(raw["address"]) if "address" in raw else None
        assert node.address == expected
    assert [r.name for r in config.roles] == list(data["roles"])
    for role in config.roles:
        raw = data["roles"][role.name]
        assert role.main is raw.get("main", False)
        assert role.labels == tuple(raw.get("labels", []))
        assert role.packages == tuple(raw.get("packages", []))
        assert role.priority == raw.get("priority", 0)
        assert role.kernel == raw.get("kernel")
        caps = raw.get("capabilities", {})
        assert role.capabilities.cpu_cores == caps.get("cpu_cores")
        assert role.capabilities.gpu is caps.get("gpu", False)
        assert role.capabilities.realtime is caps.get("realtime", False)
        assert role.capabilities.accelerators == tuple(caps.get("accelerators", []))
    main = [n for n in config.nodes if n.role.main]
    assert len(main) == 1 and config.main_node == main[0]
    assert config.time_server == data.get("time_sync", {}).get("server", main[0].id)
    assert config.time_protocol == data.get("time_sync", {}).get("protocol", "ntp")
    rebalance = data.get("rebalance", {})
    assert config.rebalance.enabled is rebalance.get("enabled", True)


def test_defaults_of_a_minimal_config():
    config = load("minimal.yaml")
    assert config.format_version == 1
    assert config.cluster_id == "tiny-1" and config.discovery == "static"
    assert [n.id for n in config.nodes] == ["node0", "node3"]
    assert {n.machine for n in config.nodes} == {"genericx86-64"}
    assert config.yocto_release == "scarthgap"
    assert config.distro == "aos-core"
    assert config.aos.unit_model == "tiny-1" and config.aos.unit_version == "1.0"
    assert config.time_protocol == "ntp"
    assert config.time_server == "node0" and config.time_server_node.hostname == "head"
    cpu, ram = config.rebalance.cpu, config.rebalance.ram
    assert (cpu.max_threshold, cpu.min_threshold, cpu.min_timeout) == (80, 60, 30)
    assert (ram.max_threshold, ram.min_threshold, ram.min_timeout) == (85, 70, 30)
    assert config.rebalance.enabled is True
    worker = config.role("worker")
    assert (worker.main, worker.kernel, worker.packages, worker.labels, worker.priority) == \
        (False, None, (), (), 0)
    assert worker.capabilities.memory_bytes is None and worker.capabilities.memory_mib is None


def test_distro_follows_aos_unless_given():
    base = MINIMAL.replace("MEMORY", "1G")
    assert load_text(base).config.distro == "aos-core"
    assert load_text(base + "aos: {enabled: false}\n").config.distro == "poky"
    assert load_text(base + "yocto: {distro: my-distro}\n").config.distro == "my-distro"


def test_ipv6_cluster():
    config = load("ipv6-cluster.yaml")
    interface = config.cluster_interface
    assert interface.subnet == ipaddress.ip_network("fd00:10::/64")
    assert interface.gateway == ipaddress.ip_address("fd00:10::1")
    assert [str(n.address) for n in config.nodes] == ["fd00:10::a", "fd00:10::b"]
    assert all(n.address.version == 6 for n in config.nodes)


def test_dhcp_cluster_with_mdns():
    config = load("dhcp-mdns.yaml")
    assert config.discovery == "mdns" and not config.cluster_interface.is_static
    assert all(node.address is None for node in config.nodes)
    assert config.cluster_id == "dyn-cluster"


def test_second_static_interface_addresses():
    config = load("two-interfaces.yaml")
    assert [i.name for i in config.interfaces] == ["cluster", "storage", "service"]
    assert [i.is_static for i in config.interfaces] == [True, True, False]
    a, b = config.nodes
    assert a.address_on("storage") == ipaddress.ip_address("10.9.0.10")
    assert b.address_on("storage") == ipaddress.ip_address("10.9.0.11")
    assert a.address_on("service") is None
    assert config.interfaces[1].mtu == 9000


def test_sizes_and_durations():
    config = load("sizes-durations.yaml")
    memory = {role.name: role.capabilities.memory_bytes for role in config.roles}
    assert memory == {"main": 512 * MiB, "big": 4 * GiB, "plain": 2048 * MiB}
    assert config.role("plain").capabilities.memory_mib == 2048
    assert config.rebalance.cpu.min_timeout == 120
    assert config.rebalance.ram.min_timeout == 3600
    assert (config.rebalance.ram.max_threshold, config.rebalance.ram.min_threshold) == (95, 90)
    timeouts = load("durations-integer.yaml").rebalance
    assert (timeouts.cpu.min_timeout, timeouts.ram.min_timeout) == (45, 90)
    assert timeouts.enabled is False


@pytest.mark.parametrize("text, expected", [
    ("1", MiB), ("512MiB", 512 * MiB), ("512M", 512 * MiB), ("4G", 4 * GiB),
    ("4GiB", 4 * GiB), ("4 GiB", 4 * GiB), ("1.5G", 3 * GiB // 2), ("1GB", 10**9),
    ("2048KiB", 2 * MiB), ("1T", 2**40),
])
def test_size_forms(text, expected):
    config = load_text(MINIMAL.replace("MEMORY", text)).config
    assert config.role("main").capabilities.memory_bytes == expected


@pytest.mark.parametrize("text, expected", [
    ("1", 1), ("45", 45), ("30s", 30), ("2m", 120), ("1h", 3600), ("1d", 86400),
    ("1m30s", 90), ("1h2m3s", 3723),
])
def test_duration_forms(text, expected):
    config = load_text(MINIMAL.replace("MEMORY", "1G").replace("30s", text)).config
    assert config.rebalance.cpu.min_timeout == expected


MINIMAL = """\
device_id: d
release: "1"
network:
  interfaces: [{name: lan, device: eth0, subnet: 10.0.0.0/24}]
roles:
  main: {main: true, capabilities: {memory: MEMORY}}
nodes: [{index: 0, hostname: h, address: 10.0.0.2, role: main}]
rebalance: {policy: {cpu: {min_timeout: 30s}}}
"""


def test_merge_keys_for_nodes():
    config = load("merge-keys.yaml")
    w1, w2, w3 = (config.node(f"node{i}") for i in (1, 2, 3))
    assert (w2.role.name, w2.storage, w2.machine, w2.hostname) == \
        ("worker", "nvme", "genericarm64", "w2")
    assert (w3.storage, w3.machine, str(w3.address)) == ("nvme", "qemux86-64", "10.4.0.13")
    assert w1.hostname == "w1" and config.node("node0").machine == "qemux86-64"


def test_bare_number_release_keeps_its_text():
    config = load("bare-release.yaml")
    assert config.release == "1.10"
    assert config.aos.unit_version == "2.0"


def test_release_is_optional():
    config = load_text(MINIMAL.replace("MEMORY", "1G").replace('release: "1"\n', "")).config
    assert config.release is None


def test_model_is_immutable():
    config = load("minimal.yaml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.device_id = "other"
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.nodes[0].hostname = "other"
    assert isinstance(config.nodes, tuple) and isinstance(config.roles[0].labels, tuple)


def test_warnings_do_not_reject():
    loaded = load_text(MINIMAL.replace("MEMORY", "1G")
                       + "aos: {enabled: false, version: v9.0.0}\n"
                       + "yocto: {release: wrynose}\n")
    assert [w.path for w in loaded.warnings] == ["aos.version"]
    assert loaded.warnings[0].severity == "warning"
    assert "ignored because aos.enabled is false" in loaded.warnings[0].message


def test_unused_role_is_a_warning():
    loaded = load_text(MINIMAL.replace("MEMORY", "1G").replace(
        "roles:\n", "roles:\n  spare: {}\n"))
    assert [(w.path, w.line) for w in loaded.warnings] == [("roles.spare", 6)]


KERNEL_ROLES = MINIMAL.replace("MEMORY", "1G").replace(
    "roles:\n", "roles:\n  rt: {kernel: linux-yocto-rt}\n").replace(
    "nodes: [{index: 0, hostname: h, address: 10.0.0.2, role: main}]",
    "nodes:\n"
    "  - {index: 0, hostname: h, address: 10.0.0.2, role: main}\n"
    "  - {index: 1, hostname: r1, address: 10.0.0.3, role: rt, machine: MACHINE1}\n"
    "  - {index: 2, hostname: r2, address: 10.0.0.4, role: rt, machine: MACHINE2}")


@pytest.mark.parametrize("machines,warned", [
    (("genericx86-64", "genericx86"), []),          # the layer enables it there
    (("qemuarm64", "qemux86-64"), []),              # openembedded-core builds it there
    (("genericarm64", "genericarm64"), [("nodes[1].role", 10)]),  # once per MACHINE
    (("genericx86-64", "beaglebone-yocto"), [("nodes[2].role", 11)]),
])
def test_qemu_only_role_kernel_on_another_machine_is_a_warning(machines, warned):
    loaded = load_text(KERNEL_ROLES.replace("MACHINE1", machines[0])
                       .replace("MACHINE2", machines[1]))
    assert [(w.path, w.line) for w in loaded.warnings] == warned
    for warning in loaded.warnings:
        assert "linux-yocto-rt" in warning.message and "COMPATIBLE_MACHINE" in warning.message


def test_errors_are_sorted_and_not_duplicated():
    with pytest.raises(UnitConfigError) as info:
        load_text("device_id: X\nnodes: []\nroles: {}\nextra: 1\n")
    findings = info.value.findings
    keys = [(f.line, f.column, f.path) for f in findings]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert {f.path for f in findings} >= {"device_id", "nodes", "roles", "extra", "network"}


@pytest.mark.parametrize("text", [
    "index: 0x_", "index: 0b_", "index: !!int x", "index: " + "9" * 5000,
    "index: 1:30", "index: 1_0",
])
def test_odd_integers_never_crash(text):
    doc = MINIMAL.replace("MEMORY", "1G").replace("index: 0", text)
    try:
        config = load_text(doc).config
    except UnitConfigError as error:
        assert error.findings[0].path == "nodes[0].index"
    else:
        assert config.nodes[0].index == yaml.safe_load(doc)["nodes"][0]["index"]


def test_the_largest_config_is_checked_quickly():
    """1 MiB of nodes (the size limit): the rules stay linear. (Counting duplicate indexes
    with list.count made this take ~3.5 s; it takes ~0.5 s.)"""
    # Without Aos: Aos core manages at most 16 nodes.
    head = ("device_id: big\nrelease: '1'\naos: {enabled: false}\nnetwork:\n"
            "  interfaces: [{name: l, device: eth0, "
            "subnet: 10.0.0.0/16}]\nroles:\n  m: {main: true}\n  w: {}\nnodes:\n")
    body = "".join(f"- {{index: {i}, hostname: h{i}, address: 10.0.{i // 250}.{i % 250 + 1}, "
                   f"role: {'m' if i == 0 else 'w'}}}\n" for i in range(16000))
    data = (head + body).encode()
    assert len(data) <= 1024 * 1024
    parsed = parse_source(data, "big.yaml")
    started = time.monotonic()
    config = check_source(parsed).config
    seconds = time.monotonic() - started
    assert len(config.nodes) == 16000
    # Linear, not quadratic: a quarter of the nodes takes about a quarter of the time (a
    # ratio, so a slow or busy machine does not fail it; quadratic rules gave ~16).
    quarter = parse_source((head + body[:len(body) // 4].rsplit("\n", 1)[0] + "\n").encode(),
                           "quarter.yaml")
    started = time.monotonic()
    check_source(quarter)
    assert seconds < 8 * max(time.monotonic() - started, 0.01)
