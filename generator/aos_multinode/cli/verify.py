"""`verify`: run the user's BitBake over the generated layer (see aos_multinode.verify)."""

from __future__ import annotations

import json
import sys

import click

from aos_multinode import term
from aos_multinode.cli.app import cli


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False), default=".")
@click.option("--layers", "layers", multiple=True, metavar="PATH[,PATH...]",
              help="Layers to build with, besides the generated one (repeatable or "
              "comma-separated: --layers poky/meta,poky/meta-poky); default: the layers "
              "of --build-dir.")
@click.option("--bitbake", "bitbake_dir", type=click.Path(file_okay=False),
              help="BitBake checkout to run (default: the one beside the layers).")
@click.option("--build-dir", type=click.Path(file_okay=False),
              help="A build directory kas made (KAS_WORK_DIR/build): take its layers and "
              "local.conf settings (default: DIR/build or ./build when --layers is absent).")
@click.option("--checkouts", type=click.Path(file_okay=False),
              help="A directory holding the repositories the generated kas files name "
              "(poky, meta-openembedded, ...) as kas checks them out: take the layers "
              "from there.")
@click.option("--node", "nodes", multiple=True, metavar="ID",
              help="Check only this node (repeatable; default: every node).")
@click.option("--machine-conf", type=click.Path(dir_okay=False),
              help="A file appended to every node's local.conf (workarounds for your "
              "environment, e.g. a BBMASK).")
@click.option("--workdir", type=click.Path(file_okay=False),
              help="Where the per-node build directories go (default: "
              "DIR/.aos-multinode-verify).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option("--no-sharing", is_flag=True, help="Skip `bitbake -S none` and the sharing "
              "report (only parse and resolve the task graph).")
@click.option("-v", "--verbose", is_flag=True, help="Print every message in full.")
def verify(directory: str, layers: tuple[str, ...], bitbake_dir: str | None,
           build_dir: str | None, checkouts: str | None, nodes: tuple[str, ...],
           machine_conf: str | None, workdir: str | None, as_json: bool, no_sharing: bool,
           verbose: bool) -> None:
    """Check the generated layer in DIR with your BitBake, and measure build sharing.

    For every node, in a build directory of its own, runs `bitbake -g aos-multinode-image`
    (parse with the node's fragment, resolve the task graph) and `bitbake -S none
    aos-multinode-image` (task signatures; nothing is built, no network). Reports the
    errors and warnings concerning meta-aos-multinode with file and line, and for nodes
    sharing a MACHINE how many tasks each extra node adds, and why. Run it as an ordinary
    user (BitBake refuses root). Exit 0 clean, 1 problems found, 2 bad usage or BitBake
    cannot run here.

    \b
    Examples:
      aos-multinode verify build-config --build-dir build      # the kas build directory
      aos-multinode verify . --layers ../poky/meta,../poky/meta-poky,../meta-oe/meta-oe
      aos-multinode verify . --checkouts ~/yocto/scarthgap    # poky, meta-openembedded, ...
      aos-multinode verify . --build-dir build --node main --json > verify.json
    """
    from pathlib import Path

    from aos_multinode.cli.progress import Progress
    from aos_multinode.verify import VerifyOptions, format_result
    from aos_multinode.verify import verify as run_verify

    options = VerifyOptions(
        directory=Path(directory),
        layers=[Path(p) for value in layers for p in value.split(",") if p.strip()],
        bitbake=Path(bitbake_dir) if bitbake_dir else None,
        build_dir=Path(build_dir) if build_dir else None, nodes=list(nodes),
        machine_conf=Path(machine_conf) if machine_conf else None,
        workdir=Path(workdir) if workdir else None, sharing=not no_sharing,
        checkouts=Path(checkouts) if checkouts else None)
    result = run_verify(options, Progress(sys.stderr, quiet=term.SETTINGS.quiet))
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2, sort_keys=True))
    else:
        click.echo(format_result(result, verbose or term.SETTINGS.verbose))
    if result.problems:
        sys.exit(1)
