"""The validated Unit Config as a typed, immutable model with every default applied."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Optional, Union

IP = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
Net = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


@dataclass(frozen=True)
class Interface:
    name: str
    device: str
    subnet: Net
    addressing: str
    gateway: Optional[IP]
    mtu: Optional[int]

    @property
    def is_static(self) -> bool:
        return self.addressing == "static"


@dataclass(frozen=True)
class Capabilities:
    cpu_cores: Optional[int]
    memory_bytes: Optional[int]
    gpu: bool
    accelerators: tuple[str, ...]
    realtime: bool

    @property
    def memory_mib(self) -> Optional[int]:
        return None if self.memory_bytes is None else self.memory_bytes // 2**20


@dataclass(frozen=True)
class Role:
    name: str
    main: bool
    capabilities: Capabilities
    kernel: Optional[str]
    packages: tuple[str, ...]
    labels: tuple[str, ...]
    priority: int
    node_type: Optional[str] = None  # Aos node type; None: <unit_model>-<unit_version>-<role>
    disk: tuple[tuple[str, int], ...] = ()  # partition sizes in bytes (boot, var, home, aos)
    repos: tuple[str, ...] = ()  # build.repos names its nodes need
    wks_file: Optional[str] = None  # a kickstart of the user's own
    local_conf: tuple[tuple[str, str], ...] = ()  # the team's local.conf lines, in file order


@dataclass(frozen=True)
class Node:
    index: int
    id: str
    hostname: str
    address: Optional[IP]
    addresses: tuple[tuple[str, IP], ...]
    role: Role
    machine: str
    storage: str
    # build.repos names this node's build needs (its MACHINE's, its role's, its own, and
    # what their patches come from), in build.repos order.
    repos: tuple[str, ...] = ()
    wks_file: Optional[str] = None  # its own kickstart, else its role's, else None
    machine_at: tuple[str, int, int] = ("", 0, 0)  # where its MACHINE is: path, line, col
    local_conf: tuple[tuple[str, str], ...] = ()  # the team's local.conf lines, in file order

    @property
    def is_main(self) -> bool:
        return self.role.main

    def address_on(self, interface: str) -> Optional[IP]:
        return dict(self.addresses).get(interface)


@dataclass(frozen=True)
class Patch:
    id: str
    repo: str  # the build.repos entry holding the patch file
    path: str


@dataclass(frozen=True)
class Repo:
    """An extra repository of build.repos (a BSP layer, a team's own layers)."""

    name: str
    url: str
    branch: Optional[str]
    commit: Optional[str]  # None: from the pins table
    layers: tuple[str, ...]
    machines: tuple[str, ...]
    patches: tuple[Patch, ...]
    line: int  # where the Unit Config defines it (for messages at generate time)


@dataclass(frozen=True)
class Threshold:
    max_threshold: int
    min_threshold: int
    min_timeout: int  # seconds


@dataclass(frozen=True)
class Rebalance:
    enabled: bool
    cpu: Threshold
    ram: Threshold


@dataclass(frozen=True)
class Aos:
    enabled: bool
    version: str
    unit_model: str
    unit_version: str
    unit_config_version: str = "1.0.0"
    pkcs11: str = "softhsm"


@dataclass(frozen=True)
class CiSettings:
    """build.ci: the runners of the image jobs."""

    github_runs_on: tuple[str, ...] = ("self-hosted", "linux")
    gitlab_tags: tuple[str, ...] = ("yocto",)


@dataclass(frozen=True)
class UnitConfig:
    source_file: str
    format_version: int
    device_id: str
    release: Optional[str]
    cluster_id: str
    discovery: str
    yocto_release: str
    default_machine: str
    distro: str
    aos: Aos
    interfaces: tuple[Interface, ...]
    time_protocol: str
    time_server: str
    roles: tuple[Role, ...]
    nodes: tuple[Node, ...]
    rebalance: Rebalance
    repos: tuple[Repo, ...] = ()
    local_conf: tuple[tuple[str, str], ...] = ()  # build.local_conf, in file order
    ci: CiSettings = CiSettings()

    @property
    def cluster_interface(self) -> Interface:
        return self.interfaces[0]

    @property
    def main_node(self) -> Node:
        return next(node for node in self.nodes if node.is_main)

    @property
    def time_server_node(self) -> Node:
        return self.node(self.time_server)

    @property
    def machines(self) -> tuple[str, ...]:
        return tuple(sorted({node.machine for node in self.nodes}))

    def node(self, node_id: str) -> Node:
        return next(node for node in self.nodes if node.id == node_id)

    def repo(self, name: str) -> Repo:
        return next(repo for repo in self.repos if repo.name == name)

    def repos_of(self, nodes) -> tuple[Repo, ...]:
        """The extra repositories the builds of `nodes` need, in build.repos order."""
        wanted = {name for node in nodes for name in node.repos}
        return tuple(repo for repo in self.repos if repo.name in wanted)

    def role(self, name: str) -> Role:
        return next(role for role in self.roles if role.name == name)
