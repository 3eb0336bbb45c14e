"""Plan stage: model -> the list of files to produce. Every decision about which files exist,
and with which values, lives here; templates only lay the values out."""

from __future__ import annotations

import hashlib
import json
import re
from importlib import resources
from dataclasses import dataclass, field
from typing import Any, Optional

from aos_multinode import __version__, aos_node
from aos_multinode.contract import (COLLECTION, IMAGE, KERNEL_ENABLEMENT, LAYER_DIR,
                                    NODE_CONFIG_RECIPE)
from aos_multinode.generation.cluster import CONFIG_FILE, cluster_config
from aos_multinode.unitconfig.model import Node, Role, UnitConfig
from aos_multinode.unitconfig.topology import to_mermaid

LICENSE = "layer/COPYING.MIT"
# Recipes with local files carry the license text beside them (LIC_FILES_CHKSUM).
RECIPE_DIRS = ("recipes-core/aos-node-config", "recipes-core/aos-multinode-device",
               "recipes-support/aos-cluster-agent",
               "recipes-support/aos-multinode-timesync")


@dataclass(frozen=True)
class PlannedFile:
    """One output file: where it goes and how to make it (a template and its context, or text)."""

    relpath: str
    template: Optional[str] = None
    context: dict = field(default_factory=dict, compare=False, hash=False)
    text: str = ""
    mode: int = 0o644
    # Facts the writer records in the output directory's manifest (for `verify`).
    facts: Optional[dict] = field(default=None, compare=False, hash=False)
    # The user's file from its creation on: written only when missing, never updated or
    # deleted, and not in the manifest (generation/write.py).
    user_owned: bool = False


@dataclass(frozen=True)
class Medium:
    name: str
    device: str
    how: str


MEDIA = {
    "sd": Medium("SD card", "/dev/sdX", "Put the card in a card reader on the build host."),
    "emmc": Medium("eMMC", "/dev/sdX", "Expose the board's eMMC to the host as a USB mass "
                   "storage device (e.g. U-Boot `ums 0 mmc 0`) or use the vendor's flashing "
                   "tool with the .wic file."),
    "nvme": Medium("NVMe SSD", "/dev/nvme0n1", "Attach the SSD to the host (USB adapter or a "
                   "slot) or boot the board from a USB stick and flash from there."),
    "usb": Medium("USB drive", "/dev/sdX", "Plug the drive into the build host."),
}


@dataclass(frozen=True)
class YoctoRelease:
    """What differs between the supported Yocto releases for the files we write."""

    codename: str
    unpackdir: str
    efi_plugin: str
    poky_repo: bool
    wks_dir: str  # where a layer's kickstart files are searched (files/wic from 5.1 on)


YOCTO = {
    "scarthgap": YoctoRelease("scarthgap", "${WORKDIR}", "bootimg-efi", True, "wic"),
    "wrynose": YoctoRelease("wrynose", "${UNPACKDIR}", "bootimg_efi", False, "files/wic"),
}


def kernel_enablement(config: UnitConfig) -> dict[str, list[tuple[str, str]]]:
    """Return, per role kernel that needs it, the (MACHINE, KMACHINE) pairs of the nodes
    running it, so the layer can make that kernel build for their MACHINE."""
    out: dict[str, set[tuple[str, str]]] = {}
    for node in config.nodes:
        kernel = node.role.kernel or ""
        known = KERNEL_ENABLEMENT.get(kernel, {})
        if node.machine in known:
            out.setdefault(kernel, set()).add((node.machine, known[node.machine]))
    return {kernel: sorted(pairs) for kernel, pairs in sorted(out.items())}


def layer_depends(config: UnitConfig) -> list[str]:
    """Return the collections the layer needs: core, the time-sync provider's, meta-aos."""
    depends = ["core"]
    depends.append("networking-layer" if config.time_protocol == "ntp" else "openembedded-layer")
    if config.aos.enabled:
        depends.append("aos")
    return depends


DEVICE_CONF = "conf/aos-multinode-device.conf"
DEVICE_RECIPE = "aos-multinode-device"


def device_variables(config: UnitConfig, release: str) -> list[tuple[str, str, str]]:
    """Return (section, variable, value) for the device-wide part of every node's fragment
    (conf/aos-multinode-device.conf, which each conf/nodes/<id>.conf requires), in order:
    the values all nodes share, written once however many nodes there are."""
    main = config.main_node
    out = [
        ("identity", "AOS_MULTINODE_DEVICE_ID", config.device_id),
        ("identity", "AOS_MULTINODE_CLUSTER_ID", config.cluster_id),
        ("identity", "AOS_MULTINODE_RELEASE", release),
    ]
    if config.aos.enabled:
        out += [
            ("aos", "AOS_UNIT_MODEL", config.aos.unit_model),
            ("aos", "AOS_UNIT_VERSION", config.aos.unit_version),
            # aos-core's DISTRO_VERSION and /etc/aos/version: the one release of every node.
            ("aos", "AOS_ROOTFS_IMAGE_VERSION", aos_version(release)),
            ("aos", "AOS_MAIN_NODE_HOSTNAME", main.hostname),
            # IAM's nodeInfo.osType (AOS_ARCHITECTURE follows TARGET_ARCH, below).
            ("aos", "AOS_OS", "linux"),
        ]
        if main.address is not None:
            out.append(("aos", "AOS_DNS_IP", str(main.address)))
        # The Aos initramfs (vardir, machineid, opendisk, lvm, aosupdate), not bundled: the
        # EFI kickstarts put it beside the kernel (docs/aos-node-contract.md).
        out += [
            ("boot", "INITRAMFS_IMAGE", aos_node.INITRAMFS_IMAGE),
            ("boot", "INITRAMFS_IMAGE_BUNDLE", "0"),
            ("boot", "INITRAMFS_FSTYPES", aos_node.INITRAMFS_FSTYPES),
        ]
    return out


def rpi_boot(config: UnitConfig) -> Optional[dict]:
    """How Raspberry Pi nodes (meta-raspberrypi's `rpi` override) boot as Aos nodes: the
    firmware reads the kernel arguments from cmdline.txt (rpi-cmdline's CMDLINE_ROOTFS) and
    loads the Aos initramfs named in config.txt (RPI_EXTRA_CONFIG) from the boot partition
    (IMAGE_BOOT_FILES). None when no node is on a BSP's MACHINE or Aos is off."""
    if not config.aos.enabled or not any(aos_node.needs_board_boot(n) for n in config.nodes):
        return None
    return {"cmdline": " ".join(aos_node.kernel_arguments(config.aos.pkcs11, True)),
            "initramfs": aos_node.RPI_INITRAMFS}


def node_variables(config: UnitConfig, node: Node, release: str) -> list[tuple[str, str, str]]:
    """Return (section, variable, value) for the node's own local.conf fragment, in order:
    what differs between nodes (the rest is in device_variables)."""
    out = [
        ("identity", "AOS_MULTINODE_NODE_ID", node.id),
        ("identity", "AOS_MULTINODE_NODE_INDEX", str(node.index)),
        ("identity", "AOS_MULTINODE_NODE_ROLE", node.role.name),
        ("identity", "AOS_MULTINODE_MAIN", "1" if node.is_main else "0"),
        ("identity", "AOS_MULTINODE_HOSTNAME", node.hostname),
        ("identity", "AOS_MULTINODE_STORAGE", node.storage),
    ]
    if node.wks_file:
        out.append(("image", "AOS_MULTINODE_WKS_FILE", node.wks_file))
    if node.role.kernel:
        out.append(("kernel", "PREFERRED_PROVIDER_virtual/kernel", node.role.kernel))
    if config.aos.enabled:
        out += [
            ("aos", "AOS_MAIN_NODE", "1" if node.is_main else "0"),
            ("aos", "AOS_NODE_TYPE", aos_node.node_type(config, node)),
            ("aos", "AOS_NODE_HOSTNAME", node.hostname),
        ]
        disk = aos_node.role_disk(node.role)
        # meta-aos's RW partition images (KiB): <image>-<MACHINE>-var.ext4 (and -home.ext4).
        out.append(("aos", "AOS_VAR_PART_SIZE", str(disk.var_mib * 1024)))
        if disk.home_mib:
            out.append(("aos", "AOS_HOME_PART_SIZE", str(disk.home_mib * 1024)))
    return out


def hosts_lines(config: UnitConfig) -> list[str]:
    return [f"{n.address}\t{n.hostname}" + (f" {n.id}" if n.id != n.hostname else "")
            for n in config.nodes if n.address is not None]


def network_files(config: UnitConfig, node: Node) -> list[dict]:
    """One systemd-networkd description per interface of the node."""
    files = []
    for position, interface in enumerate(config.interfaces):
        address = node.address if position == 0 else node.address_on(interface.name)
        files.append({
            "file": f"{10 + position:02d}-aos-{interface.name}.network",
            "interface": interface,
            "address": f"{address}/{interface.subnet.prefixlen}" if address else None,
            "cluster": position == 0,
            "mdns": position == 0 and config.discovery == "mdns",
        })
    return files


def aos_version(release: str) -> str:
    """Aos wants a semantic version; keep the release when it is one, else prefix 0.0.0-."""
    if re.fullmatch(r"v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?", release):
        return release.lstrip("v")
    return f"0.0.0-{re.sub(r'[^0-9A-Za-z.-]', '-', release)}"


def node_facts(node: Node, variables: list[tuple[str, str, str]]) -> dict:
    """Return what verify needs to know about a node, recorded in the layer's manifest: its
    id, index, MACHINE, role, kernel, the words naming it and its fragment's variables."""
    return {"id": node.id, "index": node.index, "machine": node.machine,
            "role": node.role.name, "kernel": node.role.kernel or "",
            "names": [node.hostname], "fragment": sorted({name for _, name, _ in variables})}


def role_packages(config: UnitConfig, role: Role) -> list[str]:
    """Return what a role's packagegroup pulls in, sorted: our runtime parts and the role's
    own packages."""
    packages = {"aos-cluster-agent", DEVICE_RECIPE, "aos-multinode-timesync", *role.packages}
    return sorted(packages)


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def plan_layer(config: UnitConfig, release: str) -> list[PlannedFile]:
    """Return every file of the meta-aos-multinode layer, sorted by path."""
    yocto = YOCTO[config.yocto_release]
    license_text = resources.files("aos_multinode.templates").joinpath(LICENSE).read_bytes()
    base = {"license_md5": hashlib.md5(license_text).hexdigest(), "config": config,
            "release": release, "yocto": yocto, "version": __version__,
            "collection": COLLECTION, "layer_dir": LAYER_DIR, "image": IMAGE,
            "depends": layer_depends(config), "cluster_config_file": CONFIG_FILE,
            "device_conf": DEVICE_CONF, "device_recipe": DEVICE_RECIPE}
    files = []

    def add(relpath: str, template: str, mode: int = 0o644, **extra) -> None:
        files.append(PlannedFile(f"{LAYER_DIR}/{relpath}", template, {**base, **extra},
                                 mode=mode))

    def data(relpath: str, text: str) -> None:
        files.append(PlannedFile(f"{LAYER_DIR}/{relpath}", text=text))

    add("conf/layer.conf", "layer/conf/layer.conf.j2")
    add(DEVICE_CONF, "layer/conf/device.conf.j2", variables=device_variables(config, release),
        rpi=rpi_boot(config))
    add("README.md", "layer/README.md.j2", topology=to_mermaid(config, release),
        aos_split=list(aos_node.NODE_CONFIG_SPLIT))
    add("SECURITY.md", "layer/SECURITY.md.j2")
    roles = list(dict.fromkeys(node.role for node in config.nodes))
    add("FLASHING.md", "layer/FLASHING.md.j2", media=MEDIA,
        aos_disks={role.name: aos_node.role_disk(role) for role in roles},
        aos_kickstarts={role.name: (aos_node.kickstart_name(role, "efi"),
                                    aos_node.kickstart_name(role, "disk"),
                                    aos_node.kickstart_name(role, "rpi")) for role in roles},
        aos_cmdline=" ".join(aos_node.kernel_arguments(config.aos.pkcs11, True)),
        rpi=rpi_boot(config),
        aos_node_types={node.id: aos_node.node_type(config, node) for node in config.nodes})
    add("COPYING.MIT", LICENSE)
    for recipe_dir in RECIPE_DIRS:
        add(f"{recipe_dir}/files/COPYING.MIT", LICENSE)
    if not config.aos.enabled:
        for wks in ("aos-multinode-efi", "aos-multinode-efi-initrd", "aos-multinode-rootfs"):
            add(f"{yocto.wks_dir}/{wks}.wks.in", f"layer/wic/{wks}.wks.in.j2")
    add(f"recipes-core/images/{IMAGE}.bb", "layer/recipes-core/images/image.bb.j2",
        # ${localstatedir} for /var: the same path, written as recipes write it.
        kernel_args=" ".join(aos_node.kernel_arguments(config.aos.pkcs11, False))
        .replace("=/var/", "=${localstatedir}/"),
        rpi_roles=rpi_boot(config) is not None,
        own_wks=any(node.wks_file for node in config.nodes))
    for kernel, machines in kernel_enablement(config).items():
        add(f"recipes-kernel/linux/{kernel}_%.bbappend",
            "layer/recipes-kernel/linux/kernel.bbappend.j2", kernel=kernel, machines=machines)
    for role in config.roles:
        add(f"recipes-core/packagegroups/packagegroup-aos-multinode-{role.name}.bb",
            "layer/recipes-core/packagegroups/packagegroup.bb.j2", role=role,
            rdepends=role_packages(config, role))
    agent = "recipes-support/aos-cluster-agent"
    add(f"{agent}/aos-cluster-agent_1.0.bb", "layer/recipes-support/aos-cluster-agent/"
        "aos-cluster-agent.bb.j2")
    add(f"{agent}/files/aos-cluster", "package:agent/aos_cluster.py", mode=0o755)
    add(f"{agent}/files/aos-cluster-agent.service",
        f"layer/{agent}/files/aos-cluster-agent.service")
    timesync = "recipes-support/aos-multinode-timesync"
    add(f"{timesync}/aos-multinode-timesync_1.0.bb", f"layer/{timesync}/timesync.bb.j2")
    if config.time_protocol == "ntp":
        add(f"{timesync}/files/chronyd-aos-multinode.conf",
            f"layer/{timesync}/files/chronyd-aos-multinode.conf")
    else:
        add(f"{timesync}/files/aos-ptp4l.service", f"layer/{timesync}/files/aos-ptp4l.service")
        add(f"{timesync}/files/aos-ptp4l-start", f"layer/{timesync}/files/aos-ptp4l-start",
            mode=0o755)
    if config.aos.enabled:
        files += plan_aos_boot(config, base)
        files += plan_config_split(base)
    device = f"recipes-core/{DEVICE_RECIPE}"
    add(f"{device}/{DEVICE_RECIPE}_1.0.bb", f"layer/{device}/device.bb.j2")
    data(f"{device}/files/cluster.json", _json(cluster_config(config, release)))
    add(f"{device}/files/hosts", f"layer/{device}/files/hosts.j2", hosts=hosts_lines(config))
    node_config = "recipes-core/aos-node-config"
    add(f"{node_config}/{NODE_CONFIG_RECIPE}_1.0.bb", f"layer/{node_config}/aos-node-config.bb.j2")
    for node in config.nodes:
        files += _plan_node(config, node, release, base, yocto)
    return sorted(files, key=lambda f: f.relpath)


def _plan_node(config: UnitConfig, node: Node, release: str, base: dict,
               yocto: YoctoRelease) -> list[PlannedFile]:
    node_config = f"{LAYER_DIR}/recipes-core/aos-node-config"
    files_dir = f"{node_config}/files/{node.id}"
    networks = network_files(config, node)
    ctx = {**base, "node": node, "networks": networks,
           "variables": node_variables(config, node, release)}
    files = [
        PlannedFile(f"{LAYER_DIR}/conf/nodes/{node.id}.conf", "layer/conf/nodes/node.conf.j2",
                    ctx, facts=node_facts(node, ctx["variables"])),
        PlannedFile(f"{LAYER_DIR}/conf/multiconfig/{node.id}.conf",
                    "layer/conf/multiconfig/node.conf.j2", ctx),
        PlannedFile(f"{files_dir}/node.conf", "layer/recipes-core/aos-node-config/files/"
                    "node.conf.j2", ctx),
    ]
    for network in networks:
        files.append(PlannedFile(f"{files_dir}/{network['file']}",
                                 "layer/recipes-core/aos-node-config/files/network.j2",
                                 {**ctx, "network": network}))
    if config.discovery == "mdns":
        files.append(PlannedFile(f"{files_dir}/resolved-aos-multinode.conf",
                                 "layer/recipes-core/aos-node-config/files/resolved.conf.j2",
                                 ctx))
    if config.time_protocol == "ntp":
        files.append(PlannedFile(f"{files_dir}/chrony.conf",
                                 "layer/recipes-core/aos-node-config/files/chrony.conf.j2",
                                 {**ctx, "server": config.time_server_node}))
    else:
        files.append(PlannedFile(f"{files_dir}/ptp4l.conf",
                                 "layer/recipes-core/aos-node-config/files/ptp4l.conf.j2",
                                 {**ctx, "server": config.time_server_node}))
    return files


def plan_config_split(base: dict) -> list[PlannedFile]:
    """The split of meta-aos's per-node Aos core recipes (aos_node.NODE_CONFIG_SPLIT): a
    bbappend per recipe and the variant's class, so that the nodes of one MACHINE and role
    compile Aos core once and only its configuration files are built per node."""
    ctx = {**base, "variant": aos_node.NODE_CONFIG_VARIANT,
           "node_vars": aos_node.NODE_CONFIG_VARS}
    files = [PlannedFile(f"{LAYER_DIR}/classes/{aos_node.NODE_CONFIG_VARIANT}.bbclass",
                         f"layer/classes/{aos_node.NODE_CONFIG_VARIANT}.bbclass.j2", ctx)]
    for recipe, config_files in aos_node.NODE_CONFIG_SPLIT.items():
        files.append(PlannedFile(f"{LAYER_DIR}/recipes-aos/{recipe}/{recipe}_%.bbappend",
                                 "layer/recipes-aos/config-split.bbappend.j2",
                                 {**ctx, "recipe": recipe, "files": config_files}))
    return files


def plan_aos_boot(config: UnitConfig, base: dict) -> list[PlannedFile]:
    """The files that make each image boot as an Aos node: per role a kickstart for EFI
    machines (boot A/B, rootfs, var, home, aos) and one for the others, and the initramfs
    modules (docs/aos-node-contract.md, sections 1-2)."""
    yocto = YOCTO[config.yocto_release]
    files = [PlannedFile(f"{LAYER_DIR}/recipes-core/images/aos-image-initramfs.bbappend",
                         "layer/recipes-core/images/aos-image-initramfs.bbappend.j2",
                         {**base, "modules": aos_node.INITRAMFS_MODULES,
                          "pkcs11": aos_node.PKCS11_PACKAGES[config.aos.pkcs11]})]
    for role in dict.fromkeys(node.role for node in config.nodes):
        ctx = {**base, "role": role, "disk": aos_node.role_disk(role),
               "labels": {"root": aos_node.ROOT_LABEL, "var": aos_node.VAR_LABEL,
                          "home": aos_node.HOME_LABEL, "aos": aos_node.AOS_LABEL},
               "kernel_args": " ".join(aos_node.kernel_arguments(config.aos.pkcs11, False))}
        kinds = ["efi", "disk"]
        if any(aos_node.needs_board_boot(node) for node in config.nodes if node.role == role):
            kinds.append("rpi")
        for kind in kinds:
            files.append(PlannedFile(
                f"{LAYER_DIR}/{yocto.wks_dir}/{aos_node.kickstart_name(role, kind)}",
                f"layer/wic/aos-multinode-aos-{kind}.wks.in.j2", ctx))
    return files
