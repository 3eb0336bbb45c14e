"""Test stand-in for hashserv.client (see tests/bitbake_stubs/README)."""
