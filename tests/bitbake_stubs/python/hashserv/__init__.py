"""Test stand-in for BitBake's hashserv package (see tests/bitbake_stubs/README).

bb.siggen imports it at module load; parsing recipes never calls it."""


def is_valid_unihash(unihash):
    raise RuntimeError("hashserv stand-in: no hash equivalence server in the tests")


def create_client(*args, **kwargs):
    raise RuntimeError("hashserv stand-in: no hash equivalence server in the tests")
