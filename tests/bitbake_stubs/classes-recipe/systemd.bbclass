# Test stand-in for openembedded-core's systemd.bbclass (see tests/bitbake_stubs/README).
