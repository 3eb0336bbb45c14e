# Test stand-in for openembedded-core's allarch.bbclass (see tests/bitbake_stubs/README).
