"""Command line: the only package that prints and chooses exit codes. One module per group
of commands (`unitconfig`: validate, schema, show, export; `generate`: generate, pin; `init`;
`verify`; `pipeline_cost`), each registering its commands on the group of `app`."""

from aos_multinode.cli import generate, init, pipeline_cost, unitconfig, verify
from aos_multinode.cli.app import cli, main

__all__ = ["cli", "main", "generate", "init", "pipeline_cost", "unitconfig", "verify"]
