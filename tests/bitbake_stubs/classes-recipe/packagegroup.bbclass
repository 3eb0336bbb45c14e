# Test stand-in for openembedded-core's packagegroup.bbclass (see tests/bitbake_stubs/README).
