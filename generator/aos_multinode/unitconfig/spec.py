"""The Unit Config format as data: one description (UNIT_CONFIG) from which both the
validator and the JSON Schema are made, so the two cannot drift apart. The field types live
in fields.py, the patterns and scalar reading in scalars.py."""

from __future__ import annotations

import re
from typing import Any, Optional

from yaml.nodes import Node

from aos_multinode.contract import DEFAULT_YOCTO_RELEASE, YOCTO_RELEASES
from aos_multinode.unitconfig.fields import (
    Bool, DnsLabel, Duration, Enum, FormatVersion, Int, IPAddress, LocalConf, MapOf, Network,
    Prop, Seq, Size, Str, Struct)
from aos_multinode.unitconfig.scalars import (
    COMMIT, GIT_REF, GIT_REF_WHAT, GIT_URL, IFACE_DEVICE, MACHINE_NAME, RECIPE_NAME, REPO_NAME,
    REPO_PATH, SAFE_NAME, SAFE_VERSION, SEMVER, WKS_NAME, Context)
from aos_multinode.unitconfig.source import position


def _threshold(max_default: int, min_default: int) -> Struct:
    return Struct({
        "max_threshold": Prop(Int(1, 100), "percent; above it for min_timeout triggers a "
                              "rebalance", default=max_default),
        "min_threshold": Prop(Int(0, 99), "percent; a rebalance settles below it; must be "
                              "below max_threshold", default=min_default),
        "min_timeout": Prop(Duration(), "how long a threshold must be crossed (seconds)",
                            default=30),
    })


# --- a team's own local.conf lines (issue 15, item 4) -----------------------------------
LOCAL_CONF_HELP = ("local.conf lines, BitBake variable -> value, written NAME = \"value\" "
                   "after the generated settings")


def _local_conf(where: str) -> Prop:
    return Prop(LocalConf(), f"{LOCAL_CONF_HELP} {where}", default={})
# --- end of local.conf lines -------------------------------------------------------------


def _safe(what: str, example: str, pattern: str = SAFE_NAME, numbers_ok: bool = False) -> Str:
    return Str(pattern, what, example, numbers_ok)


# --- build.ci (issue 17): where and how the generated CI pipelines build images -----------
RUNNER_LABEL = _safe("a runner label or tag (letters, digits, '.', '_', '+', '-'; at most 64)",
                     "self-hosted")
BUILD_CI = Struct({
    "github_runs_on": Prop(Seq(RUNNER_LABEL, min_items=1), "labels of the GitHub Actions "
                           "runners that build images (runs-on of the image jobs): a Yocto "
                           "build needs tens of GB of disk and hours, more than a hosted "
                           "runner gives", default=["self-hosted", "linux"]),
    "gitlab_tags": Prop(Seq(RUNNER_LABEL), "tags of the GitLab runners that build images "
                        "(tags of the image jobs; [] lets any runner take them)",
                        default=["yocto"]),
}, "CI pipelines")
# -------------------------------------------------------------------------------------------


# --- build.repos: extra repositories (BSP layers, a team's own layers) ---------------------

REPO_NAME_WHAT = ("a repository name (letters, digits, '_', '-'; at most 64; it is the kas "
                  "repository name and its checkout folder)")
PATH_WHAT = ("a path inside the repository (relative to its top: no leading '/', no '..' "
             "segment; letters, digits, '.', '_', '+', '-' and '/')")


def _why_commit(value: str) -> Optional[str]:
    if re.fullmatch(r"[0-9a-fA-F]+", value):
        if len(value) != 40:
            return (f"it has {len(value)} hex digits; a full commit has 40 (`git rev-parse "
                    "<ref>` or `aos-multinode pin --unit-config` prints one)")
        return "write it in lower case"
    return "a commit has only the hex digits 0-9 and a-f"


def _why_url(value: str) -> Optional[str]:
    bad = sorted({ch for ch in value if ch.isspace() or ch in "'\"`;$&|<>\\"})
    if bad:
        return f"{', '.join(map(repr, bad))} cannot be part of a URL kas clones"
    return ("it must start with https://, http://, git://, ssh://, git+ssh:// or file://, or "
            "be user@host:path")


def _why_path(value: str) -> Optional[str]:
    if value.startswith("/"):
        return "it must not start with '/': layer paths are relative to the repository's top"
    if ".." in value.split("/"):
        return "'..' leads out of the repository: a layer must lie inside it"
    return None


def _why_wks(value: str) -> Optional[str]:
    if "/" in value:
        return ("a file name, not a path: put the kickstart in the wic/ folder of a layer of "
                "the build (BitBake finds it there by name)")
    return "it must end in .wks or .wks.in"


def _repo_name() -> Str:
    return Str(REPO_NAME, REPO_NAME_WHAT, "meta-raspberrypi")


def _repo_list(who: str) -> Prop:
    return Prop(Seq(_repo_name()), f"names of build.repos {who} needs (its kas file lists "
                "them, with their layers)", default=[])


def _wks_file(who: str) -> Prop:
    return Prop(Str(WKS_NAME, "a kickstart file name (ending in .wks or .wks.in) that a layer "
                    "of the build carries in its wic/ folder", "acme-board.wks.in",
                    explain=_why_wks),
                f"WKS_FILE of {who}: a kickstart of your own instead of the generated Aos "
                "disk layout (it must keep the Aos partitions, docs/real-boards.md)")


REPO = Struct({
    "url": Prop(Str(GIT_URL, "a git URL (https://, git://, ssh://, file:// or user@host:path; "
                    "no spaces or quotes)", "https://git.yoctoproject.org/meta-raspberrypi",
                    explain=_why_url),
                "where kas clones it from", required=True),
    "branch": Prop(Str(GIT_REF, GIT_REF_WHAT, "scarthgap"),
                   "branch kas checks the commit against and `aos-multinode pin` resolves"),
    "commit": Prop(Str(COMMIT, "a full commit: 40 lower-case hex digits (`aos-multinode pin "
                       "--unit-config FILE` resolves the branch to one)", "6ca1f75017cc5d5acdb8"
                       "bb05634c4bc01fa049fd", explain=_why_commit),
                   "commit the kas files pin; default: the --pins table's (`aos-multinode "
                   "pin --unit-config`)"),
    "layers": Prop(Seq(Str(REPO_PATH, PATH_WHAT, "meta-bsp", explain=_why_path)),
                   "its layers, as paths inside it ('.' when the repository is the layer)",
                   default=["."]),
    "machines": Prop(Seq(_safe("a MACHINE name", "raspberrypi4-64", MACHINE_NAME)),
                     "the MACHINEs its layers define: every node of one of them gets this "
                     "repository", default=[]),
    "patches": Prop(MapOf(_safe("a patch id", "fix-boot"), Struct({
        "repo": Prop(_repo_name(), "build.repos entry holding the patch file", required=True),
        "path": Prop(Str(REPO_PATH, PATH_WHAT, "patches/0001-fix.patch", explain=_why_path),
                     "the patch (or quilt series) inside that repository", required=True),
    })), "patches kas applies after the checkout (kas `patches`), by id", default={}),
}, "an extra repository")

BUILD = Struct({
    "repos": Prop(MapOf(_repo_name(), REPO), "extra repositories (BSP layers, your own "
                  "layers) by kas repository name; a node gets those of its MACHINE, role "
                  "and own `repos`", default={}),
    "local_conf": _local_conf("of every build (local.conf) and every node; roles and "
                              "nodes override them"),
    "ci": Prop(BUILD_CI, "CI pipelines (docs/team-infrastructure.md)", default={}),
}, "how the device is built: extra repositories, the team's settings, CI")


UNIT_CONFIG = Struct({
    "format_version": Prop(FormatVersion(), "format of this file; only 1 exists", default=1),
    "device_id": Prop(DnsLabel(), "shared by every node of the device", required=True),
    "release": Prop(_safe("a release string (letters, digits, '.', '_', '+', '~', '-'; at most "
                          "64)", "2026.11.0", SAFE_VERSION, numbers_ok=True),
                    "one release stamped into every node image; derived from git when absent"),
    "cluster": Prop(Struct({
        "id": Prop(DnsLabel(), "cluster ID shared by all nodes; default: device_id"),
        "discovery": Prop(Enum(("static", "mdns")), "how nodes find each other",
                          default="static"),
    }, "cluster membership"), "cluster membership", default={}),
    "yocto": Prop(Struct({
        "release": Prop(Enum(YOCTO_RELEASES), "Yocto series codename",
                        default=DEFAULT_YOCTO_RELEASE),
        "machine": Prop(_safe("a MACHINE name (lower-case letters, digits, '-', '_', '.')",
                              "genericx86-64", MACHINE_NAME),
                        "MACHINE for nodes that do not name one", default="genericx86-64"),
        "distro": Prop(_safe("a DISTRO name", "poky", MACHINE_NAME),
                       "DISTRO; default: poky, or aos-core when aos.enabled"),
    }, "build settings"), "build settings", default={}),
    "build": Prop(BUILD, "how the device is built: extra repositories, the team's settings, "
                  "CI", default={}),
    "aos": Prop(Struct({
        "enabled": Prop(Bool(), "add meta-aos and set its AOS_* variables per node",
                        default=True),
        "version": Prop(_safe(GIT_REF_WHAT, "v9.1.1", GIT_REF),
                        "meta-aos revision the kas files pin"),
        "unit_model": Prop(_safe("a unit model name", "acme-ecu"),
                           "AOS_UNIT_MODEL; default: device_id"),
        "unit_version": Prop(_safe("a version string", "1.0", SAFE_VERSION, numbers_ok=True),
                             "AOS_UNIT_VERSION", default="1.0"),
        "unit_config_version": Prop(_safe("a semantic version (MAJOR.MINOR.PATCH, at most 32 "
                                          "characters)", "1.0.0", SEMVER, numbers_ok=True),
                                    "version of the exported Aos unit config; raise it for "
                                    "every new one (the cloud refuses one that is not greater)",
                                    default="1.0.0"),
        "pkcs11": Prop(Enum(("softhsm", "optee")), "PKCS#11 backend the initramfs opens the "
                       "encrypted aos partition with (opendisk.pkcs11)", default="softhsm"),
    }, "AosEdge (meta-aos) integration"), "AosEdge (meta-aos) integration", default={}),
    "network": Prop(Struct({
        "interfaces": Prop(Seq(Struct({
            "name": Prop(DnsLabel(), "logical name, unique", required=True),
            "device": Prop(_safe("a kernel interface name or glob (at most 15 characters of "
                                 "letters, digits, '_', '.', ':', '-', '*', '?')", "eth0",
                                 IFACE_DEVICE), "kernel interface name or glob",
                           required=True),
            "subnet": Prop(Network(), "IPv4 or IPv6 network, e.g. 10.0.0.0/24", required=True),
            "addressing": Prop(Enum(("static", "dhcp")), "static addresses or DHCP",
                               default="static"),
            "gateway": Prop(IPAddress(), "gateway; must lie in subnet"),
            "mtu": Prop(Int(576, 9216), "MTU, 576-9216"),
        }), min_items=1), "internal interfaces; the first is the cluster interface",
            required=True),
    }, "internal network"), "internal network", required=True),
    "time_sync": Prop(Struct({
        "protocol": Prop(Enum(("ntp", "ptp")), "NTP (chrony) or PTP (linuxptp)",
                         default="ntp"),
        "server": Prop(DnsLabel(), "node id of the node serving time; default: the main node"),
    }, "time synchronisation"), "time synchronisation", default={}),
    "roles": Prop(MapOf(DnsLabel(), Struct({
        "main": Prop(Bool(), "nodes of this role are the Aos main node", default=False),
        "capabilities": Prop(Struct({
            "cpu_cores": Prop(Int(1, 4096), "CPU cores"),
            "memory": Prop(Size(), "RAM"),
            "gpu": Prop(Bool(), "has a GPU", default=False),
            "accelerators": Prop(Seq(_safe("an accelerator name", "npu")), "e.g. [npu, dsp]",
                                 default=[]),
            "realtime": Prop(Bool(), "real-time node", default=False),
        }), "capabilities", default={}),
        "kernel": Prop(_safe("a recipe name", "linux-yocto-rt", RECIPE_NAME),
                       "PREFERRED_PROVIDER_virtual/kernel for this role"),
        "packages": Prop(Seq(_safe("a recipe or package name", "htop", RECIPE_NAME)),
                         "extra packages in this role's images", default=[]),
        "labels": Prop(Seq(_safe("a label", "gpu")), "service placement labels", default=[]),
        "priority": Prop(Int(0, 1_000_000), "placement priority, higher first", default=0),
        "node_type": Prop(_safe("an Aos node type (at most 64 characters)", "acme-ecu-gpu"),
                          "AOS_NODE_TYPE and the unit config's nodeGroupSubject.codename; "
                          "default: <unit_model>-<unit_version>-<role>"),
        "local_conf": _local_conf("of this role's nodes; override build.local_conf"),
        "disk": Prop(Struct({
            "boot": Prop(Size(), "each of the two EFI boot partitions (boot_a, boot_b); "
                         "default: 256MiB"),
            "var": Prop(Size(), "the RW var partition (AOS_VAR_PART_SIZE); default: 2GiB"),
            "home": Prop(Size(), "a home partition (AOS_HOME_PART_SIZE); default: none"),
            "aos": Prop(Size(), "the empty aos partition that provisioning encrypts and turns "
                        "into the aosvg LVM group; default: 4GiB"),
        }), "partition sizes of this role's nodes (with aos.enabled)", default={}),
        "repos": _repo_list("this role's nodes"),
        "wks_file": _wks_file("this role's nodes"),
    }), min_items=1), "per-role capability definitions", required=True),
    "nodes": Prop(Seq(Struct({
        "index": Prop(Int(0, 65535), "node index, unique", required=True),
        "id": Prop(DnsLabel(), "node ID, unique; default: node<index>"),
        "hostname": Prop(DnsLabel(), "hostname, unique", required=True),
        "address": Prop(IPAddress(), "address on the cluster interface"),
        "addresses": Prop(MapOf(DnsLabel(), IPAddress()), "addresses on the other static "
                          "interfaces", default={}),
        "role": Prop(DnsLabel(), "role name; a key of roles", required=True),
        "machine": Prop(_safe("a MACHINE name", "genericarm64", MACHINE_NAME),
                        "MACHINE; default: yocto.machine"),
        "storage": Prop(Enum(("sd", "emmc", "nvme", "usb")), "medium the image is flashed to",
                        default="sd"),
        "repos": _repo_list("this node"),
        "wks_file": _wks_file("this node (default: its role's)"),
        "local_conf": _local_conf("of this node; override its role's and build.local_conf"),
    }), min_items=1), "the nodes of the device", required=True),
    "rebalance": Prop(Struct({
        "enabled": Prop(Bool(), "Dynamic Rebalance on or off", default=True),
        "policy": Prop(Struct({
            "cpu": Prop(_threshold(80, 60), "CPU load thresholds", default={}),
            "ram": Prop(_threshold(85, 70), "RAM load thresholds", default={}),
        }), "load thresholds that trigger rebalancing", default={}),
    }), "Dynamic Rebalance", default={}),
}, "aos-multinode Unit Config (format 1)")


def json_schema() -> dict:
    """Return the JSON Schema (draft 2020-12) of the Unit Config."""
    out = {"$schema": "https://json-schema.org/draft/2020-12/schema",
           "$id": "https://aos-multinode.invalid/unit-config-1.schema.json",
           "title": "aos-multinode Unit Config"}
    out.update(UNIT_CONFIG.schema())
    return out


def check_document(root: Node, ctx: Context) -> Any:
    """Check the whole document structurally; return nested dicts with static defaults."""
    ctx.positions[""] = position(root)
    return UNIT_CONFIG.check(root, "", ctx)


