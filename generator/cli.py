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


@cli.command()
@click.argument("unit_config", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False), default=".",
              show_default=True, help="Directory that receives meta-aos-multinode/ and kas/.")
@click.option("--release", help="Release stamped into every node image (overrides the Unit "
              "Config's `release` and git).")
@click.option("--dry-run", is_flag=True, help="Print what would happen to each file; write "
              "nothing.")
@click.option("--check", is_flag=True, help="Exit 1 and list the files when the output is "
              "out of date (for CI); write nothing.")
@click.option("--force", is_flag=True, help="Replace files aos-multinode did not generate or "
              "that were edited since.")
@click.option("--pins", "pins_file", type=click.Path(dir_okay=False),
              help="Pins table (from `aos-multinode pin`) instead of the shipped one.")
def generate(unit_config: str, out_dir: str, release: str | None, dry_run: bool, check: bool,
             force: bool, pins_file: str | None) -> None:
    """Generate the meta-aos-multinode layer and the kas files from UNIT_CONFIG.

    Writes OUTPUT/meta-aos-multinode/ (the BitBake layer with a local.conf fragment, a
    multiconfig and a config recipe per node) and OUTPUT/kas/ (one kas file per node).
    Unchanged input rewrites nothing; a failed or interrupted run leaves the previous output.

    \b
    Examples:
      aos-multinode generate unit-config.yaml -o build-config
      aos-multinode generate unit-config.yaml --dry-run
      aos-multinode generate unit-config.yaml --check   # in CI: fails when stale
    """
    from pathlib import Path

    from aos_multinode.generate import generate_files
    from aos_multinode.write import classify, write_tree

    loaded = load_unit_config(unit_config)
    for finding in loaded.warnings:
        click.echo(finding.format(), err=True)
    resolved, files = generate_files(loaded.config, out_dir, release, pins_file)
    if resolved.dirty:
        click.echo(f"warning: the git tree is dirty; release is {resolved.value}", err=True)
    target = Path(out_dir)
    if dry_run or check:
        statuses = [s for s in classify(target, files, force)]
        stale = [s for s in statuses if s.status != "identical"]
        for status in (statuses if dry_run else stale):
            click.echo(f"{status.status:9} {status.relpath}"
                       + (f"  ({status.reason})" if status.reason else ""))
        if check and stale:
            click.echo(f"{len(stale)} file(s) out of date; run: aos-multinode generate "
                       f"{unit_config} -o {out_dir}", err=True)
            sys.exit(1)
        return
    statuses = write_tree(target, files, force)
    counts = {word: sum(1 for s in statuses if s.status == word)
              for word in ("create", "update", "delete", "identical")}
    for status in statuses:
        if status.status != "identical":
            click.echo(f"{status.status:9} {status.relpath}")
    click.echo(", ".join(f"{n} {w}" for w, n in counts.items()) + f" (release {resolved.value})")


@cli.command()
@click.option("--release", "releases", multiple=True,
              type=click.Choice(["scarthgap", "wrynose"]),
              help="Yocto release to refresh (repeatable; default: all in the table).")
@click.option("--aos-version", "aos_versions", multiple=True,
              help="meta-aos tag to resolve too (repeatable; default: the tags in the table).")
@click.option("--source", "sources", multiple=True, metavar="NAME=URL",
              help="Ask another URL for repository NAME (a mirror or a local repository).")
@click.option("--pins", "pins_file", type=click.Path(dir_okay=False),
              help="Table to start from (default: the one shipped with aos-multinode).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="-",
              show_default=True, help="Where to write the refreshed table ('-': stdout).")
def pin(releases: tuple[str, ...], aos_versions: tuple[str, ...], sources: tuple[str, ...],
        pins_file: str | None, output: str) -> None:
    """Refresh the table of known-good commits from the remotes (needs git and a network).

    Asks each repository (git ls-remote) which commit its release branch and the meta-aos
    tags point to now, and writes the table. Use it with `generate --pins FILE`.

    \b
    Examples:
      aos-multinode pin -o pins.json
      aos-multinode pin --release wrynose -o pins.json
      aos-multinode pin --aos-version v9.1.1 --source meta-aos=/srv/mirrors/meta-aos.git
    """
    from aos_multinode.pins import dump_pins, load_pins, refresh_pins

    table = load_pins(pins_file)
    urls = {}
    for source in sources:
        name, sep, url = source.partition("=")
        if not sep or not name or not url:
            raise click.BadParameter(f"{source!r}: use NAME=URL", param_hint="--source")
        urls[name] = url
    chosen = list(releases) or sorted(table.get("releases", {}))
    tags = list(aos_versions) or sorted(table.get("meta-aos", {}).get("tags", {}))
    text = dump_pins(refresh_pins(table, chosen, tags, urls))
    if output == "-":
        click.echo(text, nl=False)
    else:
        from pathlib import Path

        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)


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
