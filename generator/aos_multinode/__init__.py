"""aos-multinode: one Unit Config in, a BitBake layer and kas files for every node out."""

__version__ = "0.1.0"
