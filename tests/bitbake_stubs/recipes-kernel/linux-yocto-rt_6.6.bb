# Test stand-in for openembedded-core's linux-yocto-rt recipe (the variables the layer's bbappend changes) (see tests/bitbake_stubs/README): an excerpt.
# copied-from: poky-scarthgap.git 1d54d1c4736a114e1cecbe85a0306e3814d5ce70 meta/recipes-kernel/linux/linux-yocto-rt_6.6.bb
# copied-from: poky-scarthgap.git 1d54d1c4736a114e1cecbe85a0306e3814d5ce70 meta/recipes-kernel/linux/linux-yocto.inc
# copied-from: poky-scarthgap.git 1d54d1c4736a114e1cecbe85a0306e3814d5ce70 meta/classes-recipe/kernel-yocto.bbclass
# Every line below that is not a comment is a line of a file named above, unchanged;
# tests/test_bitbake_stubs.py compares them with the snapshots in ../shared/yocto.
SUMMARY = "Linux kernel"
LICENSE = "GPL-2.0-only"
KBRANCH ?= "v6.6/standard/preempt-rt/base"
KMACHINE ?= "${MACHINE}"
COMPATIBLE_MACHINE = "^(qemux86|qemux86-64|qemuarm|qemuarmv5|qemuarm64|qemuppc|qemumips)$"
