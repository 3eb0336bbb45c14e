"""`init`: a commented starter Unit Config from a few answers."""

from __future__ import annotations

import sys

import click

from aos_multinode.contract import AOS_RELEASES, DEFAULT_YOCTO_RELEASE, YOCTO_RELEASES
from aos_multinode.cli.app import cli


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False), default="unit-config.yaml")
@click.option("--device-id", default="my-device", show_default=True)
@click.option("--nodes", type=click.IntRange(1, 250), default=2, show_default=True)
@click.option("--roles", default="main,worker", show_default=True,
              help="Comma-separated role names; the first is the main role.")
@click.option("--subnet", default="10.0.0.0/24", show_default=True)
@click.option("--yocto-release", type=click.Choice(YOCTO_RELEASES),
              default=DEFAULT_YOCTO_RELEASE, show_default=True)
@click.option("--aos/--no-aos", default=True, show_default=True, help="Use meta-aos.")
@click.option("--machine", default="genericx86-64", show_default=True)
@click.option("--interface", default="eth0", show_default=True,
              help="Kernel name of the cluster interface.")
@click.option("--discovery", type=click.Choice(["static", "mdns"]), default="static",
              show_default=True)
@click.option("--time-sync", type=click.Choice(["ntp", "ptp"]), default="ntp",
              show_default=True)
@click.option("--interactive/--no-interactive", default=None,
              help="Ask the questions (default: when run in a terminal).")
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
def init(file: str, device_id: str, nodes: int, roles: str, subnet: str, yocto_release: str,
         aos: bool, machine: str, interface: str, discovery: str, time_sync: str,
         interactive: bool | None, force: bool) -> None:
    """Write a commented starter Unit Config to FILE (default unit-config.yaml).

    In a terminal it asks for the number of nodes, the roles, the subnet, the Yocto release
    and whether to use Aos; in scripts the options give the answers. The result always
    validates.

    \b
    Examples:
      aos-multinode init
      aos-multinode init --no-interactive --nodes 3 --roles main,gpu,rt gw.yaml
    """
    from pathlib import Path

    from aos_multinode.unitconfig.init import Answers, InitError, check_answers, starter_config
    from aos_multinode.unitconfig.load import check_source
    from aos_multinode.unitconfig.source import parse_source

    target = Path(file)
    if target.exists() and not force:
        raise click.UsageError(f"{file} exists; pass --force to replace it")
    if interactive is None:
        interactive = sys.stdin.isatty()
    while True:
        if interactive:
            device_id = click.prompt("Device ID", default=device_id)
            nodes = click.prompt("Number of nodes", default=nodes, type=click.IntRange(1, 250))
            roles = click.prompt("Roles (comma-separated, the first is the Aos main role)",
                                 default=roles)
            subnet = click.prompt("Cluster subnet", default=subnet)
            yocto_release = click.prompt("Yocto release", default=yocto_release,
                                         type=click.Choice(YOCTO_RELEASES))
            aos = click.confirm("Use AosEdge (meta-aos)?", default=aos and
                                yocto_release in AOS_RELEASES)
        answers = Answers(device_id=device_id, nodes=nodes,
                          roles=tuple(r.strip() for r in roles.split(",") if r.strip()),
                          subnet=subnet, yocto_release=yocto_release, aos=aos, machine=machine,
                          interface=interface, discovery=discovery, time_sync=time_sync)
        problems = check_answers(answers)
        if not problems:
            break
        if not interactive:
            raise InitError("; ".join(problems))
        for problem in problems:
            click.echo(f"error: {problem}", err=True)
    text = starter_config(answers, target.name)
    check_source(parse_source(text.encode(), file))  # the promise: it always validates
    from aos_multinode.atomic import write_file

    write_file(target, text.encode("utf-8"), "choose another FILE")
    click.echo(f"wrote {file}; next: aos-multinode validate {file}")
