# Test stand-in for openembedded-core's core-image.bbclass (see tests/bitbake_stubs/README): an excerpt.
# copied-from: poky-scarthgap.git 1d54d1c4736a114e1cecbe85a0306e3814d5ce70 meta/classes-recipe/core-image.bbclass
# Every line below that is not a comment is a line of a file named above, unchanged;
# tests/test_bitbake_stubs.py compares them with the snapshots in ../shared/yocto.

CORE_IMAGE_BASE_INSTALL = '\
    packagegroup-core-boot \
    packagegroup-base-extended \
    \
    ${CORE_IMAGE_EXTRA_INSTALL} \
    '

CORE_IMAGE_EXTRA_INSTALL ?= ""

IMAGE_INSTALL ?= "${CORE_IMAGE_BASE_INSTALL}"
