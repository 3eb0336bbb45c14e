"""Load stage: Unit Config file -> validated, frozen model (no I/O beyond reading the file)."""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from aos_multinode.contract import (ALL_NODES, AOS_RELEASES, DEFAULT_AOS_VERSION,
                                    KERNEL_ENABLEMENT)
from aos_multinode.errors import Finding, UnitConfigError
from aos_multinode.unitconfig.model import (Aos, Capabilities, CiSettings, Interface, Node,
                                           Rebalance, Role, Threshold, UnitConfig)
from aos_multinode.unitconfig.aos_limits import check_aos_limits
from aos_multinode.unitconfig.repos import build_repos, check_repos, node_repo_names, wks_file
from aos_multinode.unitconfig.source import Source, read_source
from aos_multinode.unitconfig.scalars import INVALID, Context
from aos_multinode.unitconfig.spec import check_document


@dataclass(frozen=True)
class Loaded:
    """A valid Unit Config together with the warnings found while checking it."""

    config: UnitConfig
    warnings: tuple[Finding, ...]


def load_unit_config(path: Path | str, name: str | None = None) -> Loaded:
    """Read, check and model one Unit Config; raise UnitConfigError listing every problem."""
    return check_source(read_source(path, name))


def check_source(source: Source) -> Loaded:
    """Check a parsed document against the format and every rule; return the model."""
    ctx = Context(source.name)
    data = check_document(source.root, ctx)
    if data is not INVALID:
        _check_rules(data, ctx)
    if ctx.findings:
        raise UnitConfigError(ctx.findings, ctx.warnings)
    _check_kernels(data, ctx)
    config = _build(data, source.name, ctx)
    if config.aos.enabled:
        check_aos_limits(config, ctx)
        if ctx.findings:
            raise UnitConfigError(ctx.findings, ctx.warnings)
    return Loaded(config, tuple(ctx.warnings))


def _check_kernels(data: dict, ctx: Context) -> None:
    """Warn when a role's kernel is one openembedded-core restricts to qemu machines
    (contract.KERNEL_ENABLEMENT) and a node of that role is on a MACHINE the generated layer does
    not enable it for (verify would show "Nothing PROVIDES 'virtual/kernel'")."""
    warned = set()
    for i, node in enumerate(data["nodes"]):
        kernel = data["roles"][node["role"]]["kernel"]
        machine = node["machine"] or data["yocto"]["machine"]
        if kernel not in KERNEL_ENABLEMENT or machine.startswith("qemu") \
                or machine in KERNEL_ENABLEMENT[kernel] or (kernel, machine) in warned:
            continue
        warned.add((kernel, machine))
        enabled = sorted(KERNEL_ENABLEMENT[kernel])
        ctx.warn(f"nodes[{i}].role", f"role '{node['role']}' asks for kernel {kernel}, which "
                 f"openembedded-core builds for qemu machines only; the generated layer "
                 f"enables it on {', '.join(enabled) or 'no other MACHINE'}, not on {machine}: "
                 f"a BSP layer must make it COMPATIBLE_MACHINE with {machine}, or give the "
                 f"role another kernel (`aos-multinode verify` shows whether BitBake finds one)")


def _ok(*values: Any) -> bool:
    """True when none of `values` failed its structural check."""
    return all(value is not INVALID for value in values)


def _entries(items: Any) -> list:
    """Return the list `items` with entries that failed their check replaced by None."""
    if not isinstance(items, list):
        return []
    return [item if isinstance(item, dict) else None for item in items]


def _check_rules(data: dict, ctx: Context) -> None:
    """Cross-field rules of the contract, run on whatever passed the structural checks so
    that a user sees every problem at once; values that failed are skipped, not guessed."""
    _check_yocto(data, ctx)
    network = data.get("network")
    interfaces = _entries(network.get("interfaces") if isinstance(network, dict) else None)
    _check_interfaces(interfaces, ctx)
    nodes = _entries(data.get("nodes"))
    _check_node_identity(nodes, ctx)
    if isinstance(data.get("roles"), dict):
        _check_roles(data["roles"], nodes, ctx)
    if interfaces and interfaces[0] is not None and isinstance(data["cluster"], dict):
        _check_addresses(interfaces, nodes, data["cluster"]["discovery"], ctx)
    _check_time_server(data, nodes, ctx)
    _check_policy(data, ctx)
    check_repos(data, nodes, ctx)


def _check_time_server(data: dict, nodes: list, ctx: Context) -> None:
    server = data["time_sync"]["server"] if isinstance(data["time_sync"], dict) else None
    node_ids = [_node_id(node) for node in nodes if node is not None]
    if None in node_ids or not _ok(server) or not nodes:
        return
    if server is not None and server not in node_ids:
        hint = difflib.get_close_matches(server, node_ids, n=1)
        ctx.error_at("time_sync.server", f"'{server}' is not the id of any node" +
                     (f"; did you mean '{hint[0]}'?" if hint else
                      f"; use one of: {', '.join(map(str, node_ids))}"))


def _check_policy(data: dict, ctx: Context) -> None:
    rebalance = data["rebalance"]
    if not isinstance(rebalance, dict) or not isinstance(rebalance["policy"], dict):
        return
    for kind in ("cpu", "ram"):
        policy = rebalance["policy"][kind]
        if not isinstance(policy, dict) or not _ok(policy["min_threshold"],
                                                  policy["max_threshold"]):
            continue
        if policy["min_threshold"] >= policy["max_threshold"]:
            ctx.error_at(f"rebalance.policy.{kind}.min_threshold",
                         f"min_threshold ({policy['min_threshold']}) must be below "
                         f"max_threshold ({policy['max_threshold']}); lower min_threshold or "
                         "raise max_threshold")


def _check_yocto(data: dict, ctx: Context) -> None:
    if not isinstance(data["yocto"], dict) or not isinstance(data["aos"], dict):
        return
    release = data["yocto"]["release"]
    if not _ok(release, data["aos"]["enabled"]):
        return
    if data["aos"]["enabled"] and release not in AOS_RELEASES:
        ctx.error_at("yocto.release", f"meta-aos supports only {', '.join(AOS_RELEASES)}, "
                     f"not '{release}'; use yocto.release: {AOS_RELEASES[0]} or set "
                     "aos.enabled: false")
    if not data["aos"]["enabled"]:
        for key in ("version", "unit_model"):
            if data["aos"][key] is not None:
                ctx.warn(f"aos.{key}", "ignored because aos.enabled is false")


def _node_id(node: dict) -> str | None:
    """Return the node's id (default `node<index>`), or None when it cannot be known."""
    if node["id"] is not None:
        return node["id"] if _ok(node["id"]) else None
    return f"node{node['index']}" if _ok(node["index"]) else None


def _check_unique(items: list, path_of, what: str, ctx: Context, owner=lambda path: path) -> None:
    first: dict[Any, str] = {}
    for index, value in enumerate(items):
        if value is None or value is INVALID:
            continue
        path = path_of(index)
        if value in first:
            line, _ = ctx.where(first[value])
            ctx.error_at(path, f"{what} {value} is already used by {owner(first[value])} "
                         f"(line {line}); every {what} must be unique")
        else:
            first[value] = path


def _check_interfaces(interfaces: list, ctx: Context) -> None:
    _check_unique([i and i["name"] for i in interfaces],
                  lambda n: f"network.interfaces[{n}].name", "interface name", ctx)
    for n, interface in enumerate(interfaces):
        if interface is None:
            continue
        gateway, subnet = interface["gateway"], interface["subnet"]
        if _ok(subnet, interface["addressing"]):
            problem = _subnet_problem(subnet, interface["addressing"])
            if problem:
                ctx.error_at(f"network.interfaces[{n}].subnet", f"{subnet} {problem}")
        path = f"network.interfaces[{n}].gateway"
        if gateway is not None and _ok(gateway, subnet):
            problem = _address_problem(gateway, subnet, None)
            if problem:
                ctx.error_at(path, f"gateway {gateway} {problem}")
    subnets = [(n, i["subnet"]) for n, i in enumerate(interfaces) if i and _ok(i["subnet"])]
    for n, subnet in subnets:
        for m, other in subnets[:n]:
            if subnet.version == other.version and subnet.overlaps(other):
                ctx.error_at(f"network.interfaces[{n}].subnet", f"{subnet} overlaps {other} of "
                             f"network.interfaces[{m}]; internal networks must not overlap")


MIN_PREFIX = 8  # 10.0.0.0/8 and fd00::/8 are the largest private blocks: shorter is a typo


def _subnet_problem(subnet, addressing: str) -> str | None:
    """Say why `subnet` cannot be a cluster's internal network, or return None."""
    private = "a private network such as 10.0.0.0/24" if subnet.version == 4 else \
        "a unique local network such as fd00:1::/64"
    if subnet.prefixlen < MIN_PREFIX:
        return (f"is too large to be a cluster network (a prefix of /{subnet.prefixlen} spans "
                f"{'all' if subnet.prefixlen == 0 else 'a large part'} of the IPv{subnet.version}"
                f" address space; at least /{MIN_PREFIX}); use {private}")
    if subnet.version == 4 and subnet.subnet_of(ipaddress.ip_network("0.0.0.0/8")):
        return f"is in 0.0.0.0/8 ('this network', not usable for hosts); use {private}"
    if subnet.version == 6 and subnet.network_address.ipv4_mapped is not None:
        return f"holds IPv4-mapped addresses (::ffff:0:0/96); use {private}"
    kinds = [("is_loopback", "the loopback network (it never leaves the host)"),
             ("is_multicast", "a multicast network (no host address lies in it)"),
             ("is_unspecified", "the unspecified address"),
             ("is_reserved", "a reserved network (not usable for hosts)")]
    for attribute, what in kinds:
        if getattr(subnet.network_address, attribute) or getattr(subnet, attribute):
            return f"is {what}; use {private}"
    if addressing == "static" and (subnet.is_link_local or subnet.network_address.is_link_local):
        return ("is link-local: its addresses are chosen by each host itself, never given "
                f"statically; use {private} (or addressing: dhcp)")
    return None


def _address_problem(address, subnet, gateway) -> str | None:
    """Say why `address` cannot be a host address in `subnet`, or return None."""
    if address.version != subnet.version:
        return f"is IPv{address.version} but the subnet {subnet} is IPv{subnet.version}"
    if address not in subnet:
        return f"is outside the subnet {subnet}"
    if subnet.num_addresses > 2 and address == subnet.network_address:
        return f"is the network address of {subnet}"
    if subnet.version == 4 and subnet.num_addresses > 2 and address == subnet.broadcast_address:
        return f"is the broadcast address of {subnet}"
    if gateway is not None and address == gateway:
        return "is the gateway address"
    return None


# Names a node id or hostname cannot take: what it would collide with, and how to fix it.
RESERVED_NODE_IDS = {
    ALL_NODES.removesuffix(".yml"): f"kas/{ALL_NODES} (the build of every node) is "
                                    "generated beside kas/<node id>.yml, so the node's kas "
                                    "file would be lost",
    "localhost": "/etc/hosts names every node by its id too, and localhost is this host",
}
RESERVED_HOSTNAMES = {
    "localhost": "localhost is every host's name for itself (127.0.0.1)",
}
# A label inet_aton reads as an IPv4 address (`123` is 0.0.0.123, `0x1f` is 0.0.0.31).
NUMERIC_NAME = r"[0-9]+|0x[0-9a-f]*"


def _node_name_problems(nodes: list, ctx: Context) -> None:
    """Node ids and hostnames that collide with a generated name, or that BitBake or a
    resolver reads as something else."""
    for i, node in enumerate(nodes):
        if node is None:
            continue
        node_id, hostname = node["id"], node["hostname"]
        if node_id is not None and _ok(node_id):
            if node_id in RESERVED_NODE_IDS:
                ctx.error_at(f"nodes[{i}].id", f"node id '{node_id}' is reserved: "
                             f"{RESERVED_NODE_IDS[node_id]}; choose another id")
            elif not node_id[0].isalpha():
                ctx.error_at(f"nodes[{i}].id", f"node id '{node_id}' starts with a digit: node "
                             "ids are BitBake multiconfig names (kas/all-nodes.yml builds "
                             "mc:<node id>:...), which cannot start with a digit; start it "
                             f"with a letter, e.g. 'n{node_id}'")
        if _ok(hostname) and hostname in RESERVED_HOSTNAMES:
            ctx.error_at(f"nodes[{i}].hostname", f"hostname '{hostname}' is reserved: "
                         f"{RESERVED_HOSTNAMES[hostname]}; choose another hostname")
        elif _ok(hostname) and re.fullmatch(NUMERIC_NAME, hostname):
            ctx.error_at(f"nodes[{i}].hostname", f"hostname '{hostname}' reads as an IPv4 "
                         "address to the resolver (a host name is never all digits, RFC "
                         f"1123); add a letter, e.g. 'node-{hostname}'")
    # /etc/hosts lists each node's hostname and id: a name must mean one node only.
    hostnames = {n["hostname"]: i for i, n in enumerate(nodes)
                 if n is not None and _ok(n["hostname"])}
    for i, node in enumerate(nodes):
        node_id = _node_id(node) if node is not None else None
        other = hostnames.get(node_id) if node_id is not None else None
        if other is not None and other != i:
            line, _ = ctx.where(f"nodes[{other}].hostname")
            explicit = node["id"] is not None
            ctx.error_at(f"nodes[{i}].id" if explicit else f"nodes[{i}].index",
                         f"node id '{node_id}'{'' if explicit else ' (the default node<index>)'}"
                         f" is the hostname of nodes[{other}] (line {line}): /etc/hosts names "
                         "every node by hostname and id, so the name would mean two nodes; "
                         f"choose another {'id' if explicit else 'hostname or give an id'}")


def _check_node_identity(nodes: list, ctx: Context) -> None:
    _node_name_problems(nodes, ctx)
    _check_unique([n and n["index"] for n in nodes], lambda i: f"nodes[{i}].index", "index", ctx)
    indexes = Counter(n["index"] for n in nodes if n is not None)
    # A default id (node<index>) of a duplicated index is reported once, as the index.
    _check_unique([n and (None if n["id"] is None and indexes[n["index"]] > 1
                          else _node_id(n)) for n in nodes],
                  lambda i: f"nodes[{i}].id" if nodes[i]["id"] is not None else f"nodes[{i}].index",
                  "node id", ctx, _default_id_owner)
    _check_unique([n and n["hostname"] for n in nodes], lambda i: f"nodes[{i}].hostname",
                  "hostname", ctx)


def _default_id_owner(path: str) -> str:
    """Name the node whose id is `path`, saying so when it is the default node<index>."""
    if path.endswith(".index"):
        return f"{path[:-len('.index')]}, whose default id is node<index>"
    return path


def _check_roles(roles: dict, nodes: list, ctx: Context) -> None:
    nodes = [node if node is not None and _ok(node["role"]) else None for node in nodes]
    for i, node in enumerate(nodes):
        if node is not None and node["role"] not in roles:
            hint = difflib.get_close_matches(node["role"], list(roles), n=1)
            ctx.error_at(f"nodes[{i}].role", f"role '{node['role']}' is not defined under "
                         "roles" + (f"; did you mean '{hint[0]}'?" if hint else
                                    f"; defined roles: {', '.join(roles)}"))
    def is_main(node):
        role = roles.get(node["role"]) if node is not None else None
        return isinstance(role, dict) and role["main"] is True

    mains = [i for i, node in enumerate(nodes) if is_main(node)]
    if not mains:
        if nodes and all(node is not None and isinstance(roles.get(node["role"]), dict)
                         and _ok(roles[node["role"]]["main"]) for node in nodes):
            ctx.error_at("nodes", "no node has a main role; exactly one node must have a role "
                         "with 'main: true' (it becomes the Aos main node)")
    for i in mains[1:]:
        ctx.error_at(f"nodes[{i}].role", f"nodes[{mains[0]}] already has a main role; exactly "
                     "one node may have a role with 'main: true'")
    used = {node["role"] for node in nodes if node is not None}
    if not nodes or None in nodes or not used <= set(roles):
        return  # a role looks unused only because of an error reported above
    for name in roles:
        if name not in used:
            ctx.warn(f"roles.{name}", f"role '{name}' is defined but no node uses it")


def _check_addresses(interfaces: list, nodes: list, discovery: str, ctx: Context) -> None:
    if any(i is None or not _ok(i["name"], i["subnet"], i["addressing"], i["gateway"])
           for i in interfaces):
        return
    names = [i["name"] for i in interfaces]
    by_name = dict(zip(names, interfaces))
    cluster = interfaces[0]
    seen: dict[Any, str] = {}
    for i, node in enumerate(nodes):
        if node is None or not _ok(node["address"], node["addresses"]):
            continue
        placed = []
        if node["address"] is not None:
            placed.append((f"nodes[{i}].address", cluster, node["address"]))
        elif cluster["addressing"] == "static":
            ctx.error_at(f"nodes[{i}].address", "missing required key 'address': the cluster "
                         f"interface '{cluster['name']}' uses static addressing, so every node "
                         f"needs an address in {cluster['subnet']}")
        for name, address in node["addresses"].items():
            path = f"nodes[{i}].addresses.{name}"
            if name not in by_name:
                hint = difflib.get_close_matches(name, names, n=1)
                ctx.error_at(path, f"'{name}' is not an interface under network.interfaces" +
                             (f"; did you mean '{hint[0]}'?" if hint else ""))
            elif name == cluster["name"]:
                ctx.error_at(path, f"'{name}' is the cluster interface: put this address in "
                             f"nodes[{i}].address instead")
            elif by_name[name]["addressing"] == "dhcp":
                ctx.error_at(path, f"interface '{name}' uses DHCP; remove this address or set "
                             "its addressing to static")
            elif _ok(address):
                placed.append((path, by_name[name], address))
        for interface in interfaces[1:]:
            if interface["addressing"] == "static" and interface["name"] not in node["addresses"]:
                ctx.error_at(f"nodes[{i}].addresses.{interface['name']}",
                             f"missing address for static interface "
                             f"'{interface['name']}': add addresses: {{{interface['name']}: "
                             f"<IP in {interface['subnet']}>}}")
        for path, interface, address in placed:
            problem = _address_problem(address, interface["subnet"], interface["gateway"])
            if problem:
                ctx.error_at(path, f"address {address} {problem}")
            elif address in seen:
                line, _ = ctx.where(seen[address])
                ctx.error_at(path, f"address {address} is already used by {seen[address]} "
                             f"(line {line}); every address must be unique")
            else:
                seen[address] = path
    if discovery == "static" and cluster["addressing"] == "dhcp" and \
            any(node is not None and node["address"] is None for node in nodes):
        ctx.warn("cluster.discovery", "static discovery with a DHCP cluster interface needs "
                 "every node's address (a DHCP reservation); give nodes[].address or use "
                 "discovery: mdns")


def _build(data: dict, source_file: str, ctx: Context) -> UnitConfig:
    roles = tuple(_build_role(name, role) for name, role in data["roles"].items())
    role_by_name = {role.name: role for role in roles}
    machine = data["yocto"]["machine"]
    nodes = tuple(sorted((Node(
        index=node["index"], id=cast(str, _node_id(node)), hostname=node["hostname"],
        address=node["address"],
        addresses=tuple(sorted(node["addresses"].items())),
        role=role_by_name[node["role"]], machine=node["machine"] or machine,
        storage=node["storage"], repos=node_repo_names(data, node),
        wks_file=wks_file(data["roles"][node["role"]], node),
        machine_at=_machine_at(ctx, i, node), local_conf=tuple(node["local_conf"].items()))
        for i, node in enumerate(data["nodes"])), key=lambda n: n.index))
    main = next(node for node in nodes if node.is_main)
    aos = data["aos"]
    policy = data["rebalance"]["policy"]
    return UnitConfig(
        source_file=source_file,
        format_version=data["format_version"],
        device_id=data["device_id"],
        release=data["release"],
        cluster_id=data["cluster"]["id"] or data["device_id"],
        discovery=data["cluster"]["discovery"],
        yocto_release=data["yocto"]["release"],
        default_machine=machine,
        distro=data["yocto"]["distro"] or ("aos-core" if aos["enabled"] else "poky"),
        aos=Aos(enabled=aos["enabled"],
                version=aos["version"] or DEFAULT_AOS_VERSION,
                unit_model=aos["unit_model"] or data["device_id"],
                unit_version=aos["unit_version"],
                unit_config_version=aos["unit_config_version"], pkcs11=aos["pkcs11"]),
        interfaces=tuple(Interface(**interface) for interface in data["network"]["interfaces"]),
        time_protocol=data["time_sync"]["protocol"],
        time_server=data["time_sync"]["server"] or main.id,
        roles=roles,
        nodes=nodes,
        rebalance=Rebalance(data["rebalance"]["enabled"],
                            Threshold(**policy["cpu"]), Threshold(**policy["ram"])),
        repos=build_repos(data, ctx),
        local_conf=tuple(data["build"]["local_conf"].items()),
        ci=CiSettings(github_runs_on=tuple(data["build"]["ci"]["github_runs_on"]),
                      gitlab_tags=tuple(data["build"]["ci"]["gitlab_tags"])),
    )


def _machine_at(ctx: Context, i: int, node: dict) -> tuple[str, int, int]:
    path = f"nodes[{i}].machine" if node["machine"] is not None else "yocto.machine"
    line, column = ctx.where(path)
    return path, line, column


def _build_role(name: str, role: dict) -> Role:
    caps = role["capabilities"]
    return Role(name=name, main=role["main"],
                capabilities=Capabilities(caps["cpu_cores"], caps["memory"], caps["gpu"],
                                          tuple(caps["accelerators"]), caps["realtime"]),
                kernel=role["kernel"], packages=tuple(role["packages"]),
                labels=tuple(role["labels"]), priority=role["priority"],
                node_type=role["node_type"], local_conf=tuple(role["local_conf"].items()),
                disk=tuple(sorted((k, v) for k, v in role["disk"].items() if v is not None)),
                repos=tuple(role["repos"]), wks_file=role["wks_file"])
