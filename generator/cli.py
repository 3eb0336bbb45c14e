"""Command line: the only module that prints and chooses exit codes.

Exit codes: 0 success, 1 `--check` found stale output or verify found problems,
2 a user error (bad input, bad usage), 130 interrupted.
"""

from __future__ import annotations

import json
import sys

import click

from aos_multinode import __version__
from aos_multinode.errors import UnitConfigError, UserError
from aos_multinode.load import load_unit_config
from aos_multinode.report import summary_dict, summary_text
from aos_multinode.spec import json_schema

EPILOG = "Docs: README.md and docs/ in the aos-multinode repository."


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG)
@click.version_option(__version__, "--version", prog_name="aos-multinode")
def cli() -> None:
    """Turn one Unit Config (unit-config.yaml) into a BitBake layer, per-node local.conf
    fragments and kas files: one image per node of a multi-node AosEdge device.

    \b
    Typical use:
      aos-multinode validate unit-config.yaml
      aos-multinode generate unit-config.yaml -o build-config
      kas build build-config/kas/<node-id>.yml

    Shell completion (bash; zsh and fish likewise):
      eval "$(_AOS_MULTINODE_COMPLETE=bash_source aos-multinode)"
    """


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
                    click.echo(finding.format(), err=True)
                click.echo(f"{file}: {len(exc.findings)} error"
                           f"{'s' if len(exc.findings) != 1 else ''}; nothing was accepted",
                           err=True)
            continue
        results.append({"file": file, "valid": True, "errors": [],
                        "warnings": [f.as_dict() for f in loaded.warnings],
                        "summary": summary_dict(loaded.config)})
        if fmt == "text":
            for finding in loaded.warnings:
                click.echo(finding.format(), err=True)
            click.echo(f"{file}: valid")
            click.echo(summary_text(loaded.config))
    if fmt == "json":
        click.echo(json.dumps({"files": results}, indent=2, sort_keys=True))
    if not all(result["valid"] for result in results):
        sys.exit(2)


@cli.command()
def schema() -> None:
    """Print the JSON Schema of the Unit Config.

    \b
    Use it in editors with yaml-language-server, e.g. at the top of unit-config.yaml:
      # yaml-language-server: $schema=./unit-config.schema.json
    after: aos-multinode schema > unit-config.schema.json
    """
    click.echo(json.dumps(json_schema(), indent=2, sort_keys=True))


def main() -> None:
    """Entry point: run the CLI; turn user errors into messages and exit code 2."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code if exc.exit_code != 1 else 2)
    except UserError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted; the last good output is untouched", err=True)
        sys.exit(130)
