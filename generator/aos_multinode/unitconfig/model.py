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

    @property
    def is_main(self) -> bool:
        return self.role.main

    def address_on(self, interface: str) -> Optional[IP]:
        return dict(self.addresses).get(interface)


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

    def role(self, name: str) -> Role:
        return next(role for role in self.roles if role.name == name)
