"""What makes a node image a working Aos node (docs/aos-node-contract.md): its disk layout,
the Aos initramfs, the kernel arguments that point at the partitions, Aos core's fixed
limits. Values only; the layer's templates lay them out."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

from aos_multinode.unitconfig.model import Node, Role, UnitConfig

MIB = 2**20

# Aos core's fixed limits (aos_core_lib_cpp v9.1.1 src/core/common/config.hpp,
# src/core/cm/config.hpp).
MAX_NODES = 16
MAX_LABELS = 4
MAX_LABEL_LENGTH = 64
MAX_NODE_TYPE_LENGTH = 64
MAX_VERSION_LENGTH = 32
MAX_UNIT_CONFIG_BYTES = 4096

# Partition sizes when the role gives none (meta-aos: AOS_VAR_PART_SIZE ?= 2 GiB; the boot
# partitions and the aos partition as in meta-aos-vm / meta-aos-rpi).
DEFAULT_DISK: dict[str, Optional[int]] = {"boot": 256 * MIB, "var": 2048 * MIB, "home": None,
                                          "aos": 4096 * MIB}

INITRAMFS_IMAGE = "aos-image-initramfs"
INITRAMFS_FSTYPES = "cpio.gz"
# The initramfs modules the products add to meta-aos's default set (aosupdate, kmsglog,
# machineid, udev, vardir), and the PKCS#11 backend opendisk opens the aos disk with.
INITRAMFS_MODULES = ("initramfs-module-lvm", "initramfs-module-opendisk",
                     "initramfs-module-rundir", "lvm2")
PKCS11_PACKAGES = {"softhsm": ("softhsm",), "optee": ("optee-client",)}
PIN_FILE = "/var/aos/iam/.usrpin"

# Aos core recipes whose do_update_config writes the node's values (AOS_NODE_HOSTNAME, ...)
# into their configuration file in ${D} (meta-aos v9.1.1): recipe -> its files in
# ${sysconfdir}/aos. The layer splits each in two (its bbappend recipes-aos/<recipe>/):
# the recipe itself, its code compiled once for every node of a MACHINE and role, and the
# variant <recipe>-nodeconfig (classes/nodeconfig.bbclass), which installs only those files
# and runs meta-aos's own do_update_config on them. aos-communicationmanager stays whole: it
# runs on the main node only, so no second node of its role ever rebuilds it.
NODE_CONFIG_SPLIT = {"aos-iamanager": ("iam.cfg",), "aos-servicemanager": ("sm.cfg",),
                     "aos-messageproxy": ("mp.cfg",)}
# The variant's class: BitBake names the variant <recipe>-<class> (no '-' or '_' in a
# package name part here: oelint-adv wants no '-' in class names, package managers no '_').
NODE_CONFIG_VARIANT = "nodeconfig"

# The variables meta-aos lists in those recipes' do_fetch[vardeps] (or that their
# do_update_config reads) so that a node's values rebuild the whole recipe. After the split
# nothing the recipe itself builds reads them; its variant's do_update_config still does.
NODE_CONFIG_VARS = ("AOS_MAIN_NODE", "AOS_MAIN_NODE_HOSTNAME", "AOS_NODE_HOSTNAME",
                    "AOS_NODE_TYPE", "AOS_ARCHITECTURE", "AOS_ARCHITECTURE_VARIANT", "AOS_OS",
                    "AOS_OS_VERSION", "AOS_COMPONENT_RUNTIME_PREFIX")


def node_config_variant(recipe: str) -> str:
    """Return the name of RECIPE's node-config variant (its BBCLASSEXTEND PN)."""
    return f"{recipe}-{NODE_CONFIG_VARIANT}"


# GPT partition names; udev links them as /dev/disk/by-partlabel/<name> on any medium.
ROOT_LABEL = "rootfs"
VAR_LABEL = "var"
HOME_LABEL = "home"
AOS_LABEL = "aos"


@dataclass(frozen=True)
class Disk:
    """The partition sizes of a role's nodes, in MiB (home None: no home partition)."""

    boot_mib: int
    var_mib: int
    home_mib: Optional[int]
    aos_mib: int


def role_disk(role: Role) -> Disk:
    """Return the role's partition sizes: its own where given, else the defaults."""
    disk = dict(role.disk)
    sizes = {key: disk.get(key) or DEFAULT_DISK[key] for key in DEFAULT_DISK}
    home = sizes["home"]
    return Disk(boot_mib=_mib(sizes["boot"]), var_mib=_mib(sizes["var"]),
                home_mib=_mib(home) if home else None, aos_mib=_mib(sizes["aos"]))


def _mib(size_bytes: Optional[int]) -> int:
    """Bytes -> MiB, rounded up (every size but home has a default, never None here)."""
    assert size_bytes is not None
    return -(-size_bytes // MIB)


def kernel_arguments(pkcs11: str, with_root: bool) -> list[str]:
    """Return the kernel arguments an Aos node boots with (meta-aos-vm's grub.cfg), with
    every partition named by its GPT partition label. wic's EFI loaders write `root=` from
    the kickstart themselves (PARTUUID), so the kickstart passes the rest (with_root False)."""
    args = [f"root=PARTLABEL={ROOT_LABEL}"] if with_root else []
    return args + [
        "rootwait", "ro", "rootfstype=ext4",
        f"vardir.disk=/dev/disk/by-partlabel/{VAR_LABEL}",
        f"opendisk.target=/dev/disk/by-partlabel/{AOS_LABEL}",
        f"opendisk.pkcs11={pkcs11}",
        f"opendisk.pkcs11.pinfile={PIN_FILE}",
        "aosupdate.disk=/dev/aosvg/workdirs",
        "aosupdate.path=sm/runtimes/rootfs",
    ]


# How a node boots, as the image picks its kickstart: EFI machines (MACHINE_FEATURES efi),
# Raspberry Pi boards (meta-raspberrypi's `rpi` override: firmware, boot files, cmdline.txt),
# and the rest (qemu, or a bootloader the layer does not own).
BOOT_KINDS = ("efi", "rpi", "disk")
# Where the Raspberry Pi firmware finds the Aos initramfs on the boot partition (config.txt
# `initramfs <file> followkernel`).
RPI_INITRAMFS = "aos-initramfs.cpio.gz"


def kickstart_name(role: Role, kind: str) -> str:
    """The Aos kickstart of a role's nodes for one kind of boot (BOOT_KINDS)."""
    return f"aos-multinode-aos-{role.name}-{kind}.wks.in"


def needs_board_boot(node: Node) -> bool:
    """True for a node on a MACHINE from a BSP of build.repos: its image may boot the
    board's own way (the `rpi` kickstart is generated for its role)."""
    from aos_multinode.contract import REFERENCE_MACHINES

    return node.machine not in REFERENCE_MACHINES


# --- the node type and the Aos unit config (the cloud artifact) ------------------------

def node_type(config: UnitConfig, node: Node) -> str:
    """Aos node type (IAM nodeInfo.nodeType): one per role, so nodes of a role share it."""
    return role_node_type(config, node.role)


def role_node_type(config: UnitConfig, role: Role) -> str:
    """The role's Aos node type: its own, else <unit_model>-<unit_version>-<role>."""
    return role.node_type or f"{config.aos.unit_model}-{config.aos.unit_version}-{role.name}"


def aos_unit_config(config: UnitConfig, version: Optional[str] = None) -> dict:
    """The Aos unit config (formatVersion 7) the cloud delivers to the main node's CM: one
    entry per node type (role), matched by IAM's nodeInfo.nodeType = AOS_NODE_TYPE; a
    build-time node name is no runtime node ID (that is the machine-id), so no node.codename.
    `version` (default aos.unit_config_version) must grow with every new unit config."""
    def rule(threshold):
        return {"minTimeout": f"PT{threshold.min_timeout}S",
                "minThreshold": threshold.min_threshold / 100,
                "maxThreshold": threshold.max_threshold / 100}

    nodes = []
    for role in dict.fromkeys(node.role for node in config.nodes):
        entry = {"nodeGroupSubject": {"codename": role_node_type(config, role)},
                 "labels": list(role.labels),
                 "priority": role.priority}
        if config.rebalance.enabled:
            entry["alertRules"] = {"cpu": rule(config.rebalance.cpu),
                                   "ram": rule(config.rebalance.ram)}
        nodes.append(entry)
    return {"formatVersion": "7", "version": version or config.aos.unit_config_version,
            "nodes": nodes}


def unit_config_text(document: dict) -> str:
    """The unit config as Aos core reads it: compact JSON (it loads at most 4096 bytes)."""
    return json.dumps(document, separators=(",", ":"), sort_keys=True)
