"""The generated layer's contract: every name and table the output exposes, in one place.

The Unit Config reads the supported releases and kernels from here, `plan` names the files and
recipes with them, the templates see them as Jinja globals (`contract.IMAGE`, ...), `verify`
and `sharing` recognise the layer's recipes and fragment variables by them, and the CLI offers
the releases as choices. Change a name here and every reader follows.
"""

from __future__ import annotations

# --- Yocto and meta-aos -------------------------------------------------------------------

YOCTO_RELEASES = ("scarthgap", "wrynose")
DEFAULT_YOCTO_RELEASE = "scarthgap"
# meta-aos exists for these Yocto releases only (aos.enabled needs one of them).
AOS_RELEASES = ("scarthgap",)
DEFAULT_AOS_VERSION = "v9.1.1"

# Kernels that openembedded-core restricts to the qemu machines, and the meta-yocto-bsp
# machines they also build for once COMPATIBLE_MACHINE allows it: kernel -> machine ->
# KMACHINE (the yocto-kernel-cache BSP, as meta-yocto-bsp maps it for linux-yocto). On any
# other machine a BSP layer has to enable them (load warns).
KERNEL_ENABLEMENT = {
    "linux-yocto-rt": {"genericx86-64": "common-pc-64", "genericx86": "common-pc"},
    "linux-yocto-tiny": {},
}

# The MACHINEs the shipped layers define, the same in every supported release:
# openembedded-core (meta/conf/machine) and meta-yocto-bsp. Any other MACHINE needs a BSP
# layer from build.repos.
REFERENCE_MACHINES = (
    "qemuarm", "qemuarm64", "qemuarmv5", "qemuloongarch64", "qemumips", "qemumips64",
    "qemuppc", "qemuppc64", "qemuriscv32", "qemuriscv64", "qemux86", "qemux86-64",
    "beaglebone-yocto", "genericarm64", "genericx86", "genericx86-64")
# Repository names the kas files already use: build.repos cannot take them.
SHIPPED_REPOS = ("aos-multinode", "poky", "bitbake", "openembedded-core", "meta-yocto",
                 "meta-openembedded", "meta-virtualization", "meta-selinux", "meta-aos")

# --- the layer ----------------------------------------------------------------------------

LAYER_DIR = "meta-aos-multinode"
COLLECTION = "aos-multinode"
IMAGE = "aos-multinode-image"
AGENT_RECIPE = "aos-cluster-agent"
# One config recipe for every node (the node fragment selects the node), one packagegroup
# per role (name prefix); every other recipe of the layer starts with RECIPE_PREFIX.
NODE_CONFIG_RECIPE = "aos-node-config"
PACKAGEGROUP_PREFIX = "packagegroup-aos-multinode-"
RECIPE_PREFIX = "aos-multinode-"
# Where the per-node fragments live (a node's local.conf does `require conf/nodes/<id>.conf`).
NODE_FRAGMENT_DIR = "conf/nodes"
# In every output directory: the files generate wrote there (with their hashes) and, in the
# layer's, the node facts verify reads (id, index, machine, role, kernel, names, fragment).
MANIFEST = ".aos-multinode-manifest.json"

# Fragment variables the sharing report knows to be the role's, not the node's.
NODE_ROLE_VAR = "AOS_MULTINODE_NODE_ROLE"
NODE_MAIN_VAR = "AOS_MULTINODE_MAIN"
KERNEL_VAR = "PREFERRED_PROVIDER_virtual/kernel"

# --- the kas files ------------------------------------------------------------------------

KAS_DIR = "kas"
KAS_COMMON = "include/common.yml"
# The team's own kas settings: created once, then the user's (never overwritten or removed);
# every node kas file and all-nodes.yml include it after KAS_COMMON.
KAS_SITE = "include/site.yml"
ALL_NODES = "all-nodes.yml"
