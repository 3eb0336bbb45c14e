# Test stand-in for meta-aos's recipes-core/images/aos-image-initramfs.bb (see tests/bitbake_stubs/README): an excerpt.
# copied-from: meta-aos-v9.1.1.git 555cc291f7fc7c74db10ec22748f915c80c10180 recipes-core/images/aos-image-initramfs.bb
# Every line below that is not a comment is a line of a file named above, unchanged;
# tests/test_bitbake_stubs.py compares them with the snapshots in ../shared/yocto.
DESCRIPTION = "Aos initramfs"

LICENSE = "Apache-2.0"

AOS_INITRAMFS_SCRIPTS ?= " \
    initramfs-module-aosupdate \
    initramfs-module-kmsglog \
    initramfs-module-machineid \
    initramfs-module-udev \
    initramfs-module-vardir \
"

RRECOMMENDS:${PN} = " \
    kernel-module-overlay \
    kernel-module-squashfs \
"

# Don't allow the initramfs to contain a kernel
PACKAGE_EXCLUDE = "kernel-image-*"

PACKAGE_INSTALL = "${AOS_INITRAMFS_SCRIPTS} ${VIRTUAL-RUNTIME_base-utils} udev"

