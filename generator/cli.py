"""Command line: the only module that prints and chooses exit codes.

Exit codes: 0 success, 1 `--check` found stale output or verify found problems,
2 a user error (bad input, bad usage), 130 interrupted.
"""

from __future__ import annotations

import errno
import json
import os
import re
import sys

import click

from aos_multinode import __version__, term
from aos_multinode.errors import UnitConfigError, UserError
from aos_multinode.load import load_unit_config
from aos_multinode.report import summary_dict, summary_text
from aos_multinode.spec import json_schema

EPILOG = "Docs: README.md and docs/ in the aos-multinode repository."
INTERRUPTED = "interrupted; the last good output is untouched"
NBSP, NBHYPHEN = "\u00a0", "\u2011"


def _unbreakable(text: str) -> str:
    """Keep `quoted commands` and hyphenated names (aos-multinode-image) on one line when
    click rewraps a paragraph: their spaces and hyphens become non-breaking stand-ins."""
    text = re.sub(r"`[^`]*`", lambda m: re.sub(r"\s+", NBSP, m.group(0)), text)
    return re.sub(r"(?<=\w)-(?=\w)", NBHYPHEN, text)


class HelpFormatter(click.HelpFormatter):
    """click's formatter, except that it never splits a command or a name across lines."""

    def write(self, string: str) -> None:
        super().write(string.replace(NBSP, " ").replace(NBHYPHEN, "-"))

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, _unbreakable(args), prefix)

    def write_text(self, text: str) -> None:
        super().write_text(_unbreakable(text))

    def write_dl(self, rows, col_max: int = 30, col_spacing: int = 2) -> None:
        super().write_dl([(first, _unbreakable(second)) for first, second in rows],
                         col_max, col_spacing)


class Context(click.Context):
    formatter_class = HelpFormatter


class Command(click.Command):
    context_class = Context


def _silence_stdout() -> None:
    """After stdout failed (closed pipe), send what is still buffered nowhere, so that the
    interpreter's last flush does not print a traceback of its own."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def os_error_message(exc: OSError) -> str:
    """What an OSError that reached the command line means, where, and how to fix it."""
    from aos_multinode.write import os_error_text

    if exc.errno in (errno.EPIPE, errno.EBADF) and exc.filename is None:
        _silence_stdout()
        return ("cannot write to standard output: "
                + (exc.strerror or str(exc)) + " (the program reading it stopped, or it is "
                "closed); let the reader take the whole output, or redirect it to a file, "
                "e.g. `> out.txt`")
    return os_error_text(exc, None, "choose another path")


def report_user_error(exc: UserError) -> None:
    """Print a user error the way every command does: no traceback, what/where/how."""
    if isinstance(exc, UnitConfigError):
        # Each finding is already a complete `FILE:LINE:COL: error: PATH: message` line.
        for finding in exc.warnings + exc.findings:
            term.echo(term.finding_line(finding), err=True)
    else:
        term.echo(term.error_text(str(exc)), err=True)


class Group(click.Group):
    """The command group: user errors end every command the same way (message, exit 2),
    in-process (tests, CliRunner) as from the shell. So does an OSError (a full disk, a
    closed stdout): it is the user's environment, not a bug, and never a traceback."""

    context_class = Context
    command_class = Command

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as exc:
            report_user_error(exc)
            sys.exit(exc.exit_code)
        except OSError as exc:
            message = os_error_message(exc)
            try:
                term.echo(term.error_text(message), err=True)
            except OSError:
                pass
            sys.exit(2)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]},
             epilog=EPILOG)
@click.version_option(__version__, "--version", prog_name="aos-multinode")
@click.option("-q", "--quiet", is_flag=True, help="Print only errors and what was asked for.")
@click.option("-v", "--verbose", is_flag=True, help="Print more (e.g. identical files).")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto",
              show_default=True, help="Colour in the output (auto: in a terminal, unless "
              "NO_COLOR is set).")
def cli(quiet: bool, verbose: bool, color: str) -> None:
    """Turn one Unit Config (unit-config.yaml) into a BitBake layer, per-node local.conf
    fragments and kas files: one image per node of a multi-node AosEdge device.

    \b
    Typical use:
      aos-multinode validate unit-config.yaml
      aos-multinode generate unit-config.yaml -o build-config
      kas build build-config/kas/<node-id>.yml

    \b
    Shell completion (bash; zsh and fish likewise):
      eval "$(_AOS_MULTINODE_COMPLETE=bash_source aos-multinode)"
    """
    term.SETTINGS.quiet, term.SETTINGS.verbose, term.SETTINGS.color = quiet, verbose, color


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
        from aos_multinode.reference import unit_config_reference

        click.echo(unit_config_reference(), nl=False)
        return
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
@click.option("--ci/--no-ci", default=True, show_default=True,
              help="Also write the GitHub Actions workflow and the GitLab CI file.")
def generate(unit_config: str, out_dir: str, release: str | None, dry_run: bool, check: bool,
             force: bool, pins_file: str | None, ci: bool) -> None:
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
    from aos_multinode.write import classify, leftovers, write_tree

    if unit_config == "-":
        raise click.UsageError("generate needs the Unit Config as a file, not `-`: the "
                               "generated CI files name its path and the release comes from "
                               "its git repository; save it to a file first")
    loaded = load_unit_config(unit_config)
    for finding in loaded.warnings:
        term.echo(term.finding_line(finding), err=True)
    resolved, files = generate_files(loaded.config, out_dir, release, pins_file, ci)
    if resolved.dirty:
        term.echo(term.warning_text(f"the git tree is dirty; release is {resolved.value} "
                                    "(commit, or set `release:` in the Unit Config)"), err=True)
    target = Path(out_dir)
    if not (dry_run or check):
        _refuse_source_checkout(target, unit_config, ci)
    if dry_run or check:
        left = leftovers(target)
        if left:
            # The output on disk is half of a swap: comparing with it would mislead.
            term.echo(term.warning_text(
                f"an interrupted run left {', '.join(left)} in {out_dir}; run `aos-multinode "
                "generate` (without --dry-run/--check) to restore the previous output first"),
                err=True)
            if check:
                sys.exit(1)
        statuses = classify(target, files, force)
        stale = [s for s in statuses if s.status != "identical"]
        for status in (statuses if dry_run else stale):
            term.echo(term.status_line(status.status, status.relpath, status.reason))
        if check and stale:
            rerun = " ".join(["aos-multinode generate", unit_config, "-o", out_dir]
                             + (["--release", release] if release else [])
                             + (["--pins", pins_file] if pins_file else [])
                             + ([] if ci else ["--no-ci"]))
            term.echo(f"{len(stale)} file(s) out of date; run: {rerun}", err=True)
            sys.exit(1)
        return
    statuses = write_tree(target, files, force)
    counts = {word: sum(1 for s in statuses if s.status == word)
              for word in ("create", "update", "delete", "identical")}
    for status in statuses:
        if status.status != "identical" or term.SETTINGS.verbose:
            if not term.SETTINGS.quiet:
                term.echo(term.status_line(status.status, status.relpath))
    if not term.SETTINGS.quiet:
        term.echo(", ".join(f"{n} {w}" for w, n in counts.items())
                  + f" (release {resolved.value})")


def _refuse_source_checkout(target, unit_config: str, ci: bool) -> None:
    """The aos-multinode checkout tracks its own generated output (examples/three-node-ecu.yaml
    with --no-ci): generating anything else there would overwrite it."""
    from aos_multinode.errors import OutputError

    try:
        is_checkout = (target / "generator" / "write.py").is_file() and \
            "name = aos-multinode" in (target / "setup.cfg").read_text(encoding="utf-8")
        own = (target / "examples" / "three-node-ecu.yaml").resolve()
        if not is_checkout or (own == type(target)(unit_config).resolve() and not ci):
            return
    except OSError:
        return
    raise OutputError(f"{target} is the aos-multinode source checkout: its "
                      "meta-aos-multinode/ and kas/ are the tool's own tracked output, and "
                      "generating here would overwrite them. Generate into a folder of its "
                      "own, e.g. `-o build-config` (ignored by git), or outside the checkout.")


@cli.command()
@click.option("--release", "releases", multiple=True,
              type=click.Choice(["scarthgap", "wrynose"]),
              help="Yocto release to refresh (repeatable; default: all in the table).")
@click.option("--aos-version", "aos_versions", multiple=True,
              help="meta-aos tag (or branch) to resolve too (repeatable; default: the ones "
              "in the table).")
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
        from aos_multinode.write import write_file

        write_file(output, text.encode("utf-8"), "choose another file with -o")
        click.echo(f"wrote {output}", err=True)


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
    from aos_multinode.topology import render_image, to_dot, to_mermaid

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
        from aos_multinode.write import write_file

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
    from aos_multinode.export import export_schema, export_text
    from aos_multinode.spec import SEMVER, matches

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


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False), default="unit-config.yaml")
@click.option("--device-id", default="my-device", show_default=True)
@click.option("--nodes", type=click.IntRange(1, 250), default=2, show_default=True)
@click.option("--roles", default="main,worker", show_default=True,
              help="Comma-separated role names; the first is the main role.")
@click.option("--subnet", default="10.0.0.0/24", show_default=True)
@click.option("--yocto-release", type=click.Choice(["scarthgap", "wrynose"]),
              default="scarthgap", show_default=True)
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

    from aos_multinode.init import Answers, InitError, check_answers, starter_config
    from aos_multinode.load import check_source
    from aos_multinode.source import parse_source

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
                                         type=click.Choice(["scarthgap", "wrynose"]))
            aos = click.confirm("Use AosEdge (meta-aos)?", default=aos and
                                yocto_release == "scarthgap")
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
    from aos_multinode.write import write_file

    write_file(target, text.encode("utf-8"), "choose another FILE")
    click.echo(f"wrote {file}; next: aos-multinode validate {file}")


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

    from aos_multinode.verify import Progress, VerifyOptions, format_result
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


def main() -> None:
    """Entry point: run the CLI; turn user errors into messages and exit code 2."""
    if sys.stdout is None or sys.stderr is None:
        # Started with stdout or stderr closed (`>&-`): what it prints would be lost, and
        # the first file it opens would take the stream's place.
        if sys.stderr is not None:
            term.echo(term.error_text(
                "standard output is closed (started with `>&-`?): its output would be lost; "
                "redirect it instead, e.g. `> /dev/null` or `> out.txt`"), err=True)
        sys.exit(2)
    try:
        code = cli.main(standalone_mode=False)
        sys.stdout.flush()
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt) or \
                isinstance(exc.__context__, KeyboardInterrupt):
            click.echo(INTERRUPTED, err=True)
        else:
            click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code if exc.exit_code != 1 else 2)
    except UserError as exc:
        report_user_error(exc)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo(INTERRUPTED, err=True)
        sys.exit(130)
    except OSError as exc:
        message = os_error_message(exc)
        try:
            term.echo(term.error_text(message), err=True)
        except OSError:
            pass
        sys.exit(2)
    if isinstance(code, int) and code != 0:
        sys.exit(code)
