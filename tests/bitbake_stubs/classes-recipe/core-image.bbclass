# Test stand-in for openembedded-core's core-image.bbclass (see tests/bitbake_stubs/README).
