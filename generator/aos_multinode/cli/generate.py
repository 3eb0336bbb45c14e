"""`generate` and `pin`: the layer, kas and CI files, and the table of pinned commits."""

from __future__ import annotations

import sys

import click

from aos_multinode import term
from aos_multinode.contract import YOCTO_RELEASES
from aos_multinode.unitconfig.load import load_unit_config
from aos_multinode.cli.app import cli


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
@click.option("--git-init/--no-git-init", default=True, show_default=True,
              help="Make the output a git repository when it is not inside one (kas "
              "resolves the layer from the repository's root; output put into git later "
              "would need generating again).")
@click.option("--checkouts", type=click.Path(file_okay=False), envvar="KAS_WORK_DIR",
              help="Where kas checked out the repositories (default: $KAS_WORK_DIR when "
              "set): refuse a node whose MACHINE no layer of its build defines.")
def generate(unit_config: str, out_dir: str, release: str | None, dry_run: bool, check: bool,
             force: bool, pins_file: str | None, ci: bool, git_init: bool,
             checkouts: str | None) -> None:
    """Generate the meta-aos-multinode layer and the kas files from UNIT_CONFIG.

    Writes OUTPUT/meta-aos-multinode/ (the BitBake layer with a local.conf fragment, a
    multiconfig and a config recipe per node) and OUTPUT/kas/ (one kas file per node).
    Unchanged input rewrites nothing; a failed or interrupted run leaves the previous output.

    \b
    Examples:
      aos-multinode generate unit-config.yaml -o build-config
      aos-multinode generate unit-config.yaml --dry-run
      aos-multinode generate unit-config.yaml --check   # in CI: fails when stale

    Output that is not inside a git repository becomes one (`git init`, no commit), so the
    kas files keep working when it is committed; --no-git-init skips that (and warns).
    OUTPUT/kas/include/site.yml is yours: created once, never overwritten.
    """
    from pathlib import Path

    from aos_multinode.generation.generate import (generate_files, refuse_source_checkout,
                                                   rerun_command, status_counts)
    from aos_multinode.generation.repository import (fragile_layout, init_repository,
                                                     moved_since, outside_git)
    from aos_multinode.generation.write import classify, leftovers, write_tree

    if unit_config == "-":
        raise click.UsageError("generate needs the Unit Config as a file, not `-`: the "
                               "generated CI files name its path and the release comes from "
                               "its git repository; save it to a file first")
    loaded = load_unit_config(unit_config)
    for finding in loaded.warnings:
        term.echo(term.finding_line(finding), err=True)
    if checkouts is not None and Path(checkouts).is_dir():
        from aos_multinode.errors import UnitConfigError
        from aos_multinode.generation.pins import load_pins
        from aos_multinode.generation.plan_kas import machine_findings

        findings = machine_findings(loaded.config, load_pins(pins_file), Path(checkouts))
        if findings:
            raise UnitConfigError(findings)
    # Output outside git becomes a repository of its own (after a successful write), so the
    # kas files are planned for that root; --check and --dry-run plan the same, write nothing.
    target = Path(out_dir)
    make_repository = git_init and outside_git(target)
    resolved, files = generate_files(loaded.config, out_dir, release, pins_file, ci,
                                     make_repository)
    moved = moved_since(target, make_repository)
    if moved:
        term.echo(term.warning_text(moved + ("; generate writes them anew" if not
                                             (dry_run or check) else "")), err=True)
    if resolved.dirty:
        term.echo(term.warning_text(f"the git tree is dirty; release is {resolved.value} "
                                    "(commit, or set `release:` in the Unit Config)"), err=True)
    if not (dry_run or check):
        refuse_source_checkout(target, unit_config, ci)
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
        if dry_run and make_repository:
            term.echo(f"would make {out_dir} a git repository (--no-git-init: do not)",
                      err=True)
        stale = [s for s in statuses if s.status != "identical"]
        for status in (statuses if dry_run else stale):
            term.echo(term.status_line(status.status, status.relpath, status.reason))
        if check and stale:
            rerun = rerun_command(unit_config, out_dir, release, pins_file, ci, git_init)
            term.echo(f"{len(stale)} file(s) out of date; run: {rerun}", err=True)
            sys.exit(1)
        return
    statuses = write_tree(target, files, force)
    if make_repository:
        init_repository(target)
    elif outside_git(target):
        term.echo(term.warning_text(fragile_layout(target)), err=True)
    counts = status_counts(statuses)
    for status in statuses:
        if status.status != "identical" or term.SETTINGS.verbose:
            if not term.SETTINGS.quiet:
                term.echo(term.status_line(status.status, status.relpath))
    if not term.SETTINGS.quiet:
        term.echo(", ".join(f"{n} {w}" for w, n in counts.items())
                  + f" (release {resolved.value})")
        if make_repository:
            term.echo(f"made {out_dir} a git repository (kas resolves the layer from its "
                      "root; --no-git-init skips this)", err=True)


@cli.command()
@click.option("--release", "releases", multiple=True,
              type=click.Choice(YOCTO_RELEASES),
              help="Yocto release to refresh (repeatable; default: all in the table).")
@click.option("--aos-version", "aos_versions", multiple=True,
              help="meta-aos tag (or branch) to resolve too (repeatable; default: the ones "
              "in the table).")
@click.option("--source", "sources", multiple=True, metavar="NAME=URL",
              help="Ask another URL for repository NAME (a mirror or a local repository).")
@click.option("--pins", "pins_file", type=click.Path(dir_okay=False),
              help="Table to start from (default: the one shipped with aos-multinode).")
@click.option("--unit-config", "unit_config", type=click.Path(dir_okay=False),
              help="Also resolve the branches of this Unit Config's build.repos (their "
              "commits in the table then take precedence over the Unit Config's).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="-",
              show_default=True, help="Where to write the refreshed table ('-': stdout).")
def pin(releases: tuple[str, ...], aos_versions: tuple[str, ...], sources: tuple[str, ...],
        pins_file: str | None, unit_config: str | None, output: str) -> None:
    """Refresh the table of known-good commits from the remotes (needs git and a network).

    Asks each repository (git ls-remote) which commit its release branch and the meta-aos
    tags point to now, and writes the table. Use it with `generate --pins FILE`.

    \b
    Examples:
      aos-multinode pin -o pins.json
      aos-multinode pin --release wrynose -o pins.json
      aos-multinode pin --aos-version v9.1.1 --source meta-aos=/srv/mirrors/meta-aos.git
      aos-multinode pin --unit-config unit-config.yaml -o pins.json   # + its build.repos
    """
    from aos_multinode.generation.pins import (add_unit_config_repos, dump_pins, load_pins,
                                               refresh_pins)

    table = load_pins(pins_file)
    if unit_config is not None:
        from aos_multinode.unitconfig.load import load_unit_config

        config = load_unit_config(unit_config).config
        for name in add_unit_config_repos(table, config):
            click.echo(f"note: build.repos.{name} has no branch: its commit stays the Unit "
                       "Config's", err=True)
        if releases and config.yocto_release not in releases:
            releases = (*releases, config.yocto_release)
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
        from aos_multinode.atomic import write_file

        write_file(output, text.encode("utf-8"), "choose another file with -o")
        click.echo(f"wrote {output}", err=True)
