# Stand-in for openembedded-core's linux-yocto-rt recipe (CI has no openembedded-core): just
# the variables the layer's bbappend changes, with the values oe-core scarthgap gives them.
SUMMARY = "Stand-in for linux-yocto-rt"
LICENSE = "GPL-2.0-only"
KBRANCH = "v6.6/standard/preempt-rt/base"
KMACHINE ?= "${MACHINE}"
COMPATIBLE_MACHINE = "^(qemux86|qemux86-64|qemuarm|qemuarmv5|qemuarm64|qemuppc|qemumips)$"
