"""The command group: help layout, global options, and how every command ends (user
errors: a message and exit 2; Ctrl-C: 130; never a traceback). Exit codes: 0 success, 1
`--check` found stale output or verify found problems, 2 a user error, 130 interrupted."""

from __future__ import annotations

import errno
import os
import re
import sys
from typing import NoReturn

import click

from aos_multinode import __version__, term
from aos_multinode.errors import UnitConfigError, UserError


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
    from aos_multinode.atomic import os_error_text

    if exc.errno in (errno.EPIPE, errno.EBADF) and exc.filename is None:
        _silence_stdout()
        return ("cannot write to standard output: "
                + (exc.strerror or str(exc)) + " (the program reading it stopped, or it is "
                "closed); let the reader take the whole output, or redirect it to a file, "
                "e.g. `> out.txt`")
    return os_error_text(exc, None, "choose another path")


def exit_on_os_error(exc: OSError) -> NoReturn:
    """Say what an OSError means (if stderr still takes it) and exit 2."""
    message = os_error_message(exc)
    try:
        term.echo(term.error_text(message), err=True)
    except OSError:
        pass
    sys.exit(2)


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
            exit_on_os_error(exc)


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
        exit_on_os_error(exc)
    if isinstance(code, int) and code != 0:
        sys.exit(code)
