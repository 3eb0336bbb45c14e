# Stand-in for BitBake's lib/bb (tests/data/verify/fake-bitbake): only the version.
__version__ = "2.99.0"
