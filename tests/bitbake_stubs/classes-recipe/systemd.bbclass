# Test stand-in for openembedded-core's systemd.bbclass (see tests/bitbake_stubs/README): an excerpt.
# copied-from: poky-scarthgap.git 1d54d1c4736a114e1cecbe85a0306e3814d5ce70 meta/classes-recipe/systemd.bbclass
# Every line below that is not a comment is a line of a file named above, unchanged;
# tests/test_bitbake_stubs.py compares them with the snapshots in ../shared/yocto.

SYSTEMD_PACKAGES ?= "${PN}"
SYSTEMD_AUTO_ENABLE ??= "enable"
