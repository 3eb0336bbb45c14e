"""Commands that read a Unit Config and print what it says: validate, schema, show,
export."""

from __future__ import annotations

import json
import sys

import click

from aos_multinode import term
from aos_multinode.errors import UnitConfigError
from aos_multinode.unitconfig.load import load_unit_config
from aos_multinode.unitconfig.report import summary_dict, summary_text
from aos_multinode.unitconfig.spec import json_schema
from aos_multinode.cli.app import cli


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Output format of the findings and summaries.")
def validate(files: tuple[str, ...], fmt: str) -> None:
    """Check Unit Config FILES against the format and every rule.

    Prints a summary of nodes and roles for a valid file. Each problem is printed to stderr as
    FILE:LINE:COL: error: FIELD.PATH: message. Exit 0 when every file is valid, 2 otherwise.

    \b
    Examples:
      aos-multinode validate unit-config.yaml
      aos-multinode validate --format json a.yaml b.yaml | jq '.files[].errors'
    """
    results = []
    for file in files:
        try:
            loaded = load_unit_config(file)
        except UnitConfigError as exc:
            results.append({"file": file, "valid": False,
                            "errors": [f.as_dict() for f in exc.findings],
                            "warnings": [f.as_dict() for f in exc.warnings]})
            if fmt == "text":
                for finding in exc.warnings + exc.findings:
                    term.echo(term.finding_line(finding), err=True)
                click.echo(f"{file}: {len(exc.findings)} error"
                           f"{'s' if len(exc.findings) != 1 else ''}; nothing was accepted",
                           err=True)
            continue
        results.append({"file": file, "valid": True, "errors": [],
                        "warnings": [f.as_dict() for f in loaded.warnings],
                        "summary": summary_dict(loaded.config)})
        if fmt == "text":
            for finding in loaded.warnings:
                term.echo(term.finding_line(finding), err=True)
            term.echo(f"{file}: " + click.style("valid", fg="green", bold=True))
            if not term.SETTINGS.quiet:
                term.echo(summary_text(loaded.config))
    if fmt == "json":
        click.echo(json.dumps({"files": results}, indent=2, sort_keys=True))
    if not all(result["valid"] for result in results):
        sys.exit(2)


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["json", "markdown"]), default="json",
              show_default=True, help="JSON Schema, or the Markdown reference of every key.")
def schema(fmt: str) -> None:
    """Print the JSON Schema of the Unit Config (or its Markdown reference).

    \b
    Use it in editors with yaml-language-server, e.g. at the top of unit-config.yaml:
      # yaml-language-server: $schema=./unit-config.schema.json
    after: aos-multinode schema > unit-config.schema.json
    The reference in docs/unit-config.md is: aos-multinode schema --format markdown
    """
    if fmt == "markdown":
        from aos_multinode.unitconfig.reference import unit_config_reference

        click.echo(unit_config_reference(), nl=False)
        return
    click.echo(json.dumps(json_schema(), indent=2, sort_keys=True))

def _load_quietly(unit_config: str):
    loaded = load_unit_config(unit_config)
    for finding in loaded.warnings:
        term.echo(term.finding_line(finding), err=True)
    return loaded.config


@cli.command()
@click.argument("unit_config", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["table", "dot", "mermaid", "svg", "png"]),
              default="table", show_default=True, help="What to print.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="-",
              show_default=True, help="Write the picture to a file ('-': stdout).")
@click.option("--release", help="Release to show in the title (default: the Unit Config's).")
def show(unit_config: str, fmt: str, output: str, release: str | None) -> None:
    """Show the device: a table, or a topology picture.

    Nodes are boxes with id, hostname, role, address, machine and capabilities on the
    cluster network; dashed arrows show who serves time; the Aos main node is marked.
    svg and png need Graphviz (`dot`).

    \b
    Examples:
      aos-multinode show unit-config.yaml
      aos-multinode show unit-config.yaml --format svg -o topology.svg
      aos-multinode show unit-config.yaml --format mermaid >> README.md
    """
    from aos_multinode.unitconfig.topology import render_image, to_dot, to_mermaid

    config = _load_quietly(unit_config)
    release = release or config.release
    if fmt == "table":
        data = summary_text(config).encode()
    elif fmt == "mermaid":
        data = to_mermaid(config, release).encode()
    elif fmt == "dot":
        data = to_dot(config, release).encode()
    else:
        data = render_image(to_dot(config, release), fmt)
    if output == "-":
        if fmt == "png" and sys.stdout.isatty():
            raise click.UsageError("refusing to print PNG to a terminal; use -o FILE")
        sys.stdout.buffer.write(data)
    else:
        from aos_multinode.atomic import write_file

        write_file(output, data, "choose another file with -o")
        click.echo(f"wrote {output}", err=True)


@cli.command(name="export")
@click.argument("kind", type=click.Choice(["target-system", "aos-unit-config"]))
@click.argument("unit_config", type=click.Path(dir_okay=False), required=False)
@click.option("--release", hidden=True)
@click.option("--version", "config_version", metavar="SEMVER",
              help="aos-unit-config `version` (default: aos.unit_config_version); every new "
                   "unit config needs a greater one.")
@click.option("--schema", "print_schema", is_flag=True,
              help="Print the JSON Schema of this export instead.")
def export_cmd(kind: str, unit_config: str | None, release: str | None,
               config_version: str | None, print_schema: bool) -> None:
    """Export KIND as JSON for provisioning.

    \b
    target-system    number of nodes, each node's capabilities and its service placement
                     (labels, priority, node type, main node): seed step 4, Target Systems
    aos-unit-config  the Aos unit config (formatVersion 7) to upload to the cloud: one entry
                     per node type (nodeGroupSubject.codename = AOS_NODE_TYPE) with labels,
                     priority and alert rules from rebalance.policy; compact JSON

    \b
    Examples:
      aos-multinode export target-system unit-config.yaml > target-system.json
      aos-multinode export aos-unit-config unit-config.yaml --version 1.2.0
      aos-multinode export target-system --schema     # the JSON Schema of the export
    """
    from aos_multinode.generation.export import export_schema, export_text
    from aos_multinode.unitconfig.scalars import SEMVER, matches

    if print_schema:
        click.echo(json.dumps(export_schema(kind), indent=2, sort_keys=True))
        return
    if unit_config is None:
        raise click.UsageError("missing argument UNIT_CONFIG: name the Unit Config to export "
                               "(only --schema works without one)")
    if release is not None:
        raise click.UsageError("--release: the unit config's version no longer follows the "
                               "release (the cloud needs a semantic version greater than the "
                               "last one); use --version SEMVER or aos.unit_config_version")
    if config_version is not None and (kind != "aos-unit-config" or
                                       not matches(SEMVER, config_version)):
        raise click.UsageError(f"--version {config_version!r}: give a semantic version such "
                               "as 1.2.0 (at most 32 characters), with aos-unit-config only")
    config = _load_quietly(unit_config)
    click.echo(export_text(kind, config, config_version))
