"""How output looks in a terminal: colour where it helps, plain when piped or NO_COLOR is set,
and how much to say (--quiet, --verbose). Only cli.py prints; this module only styles."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import click

from aos_multinode.errors import Finding

STATUS_COLORS = {"create": "green", "update": "yellow", "delete": "red", "conflict": "red",
                 "identical": None}


@dataclass
class Settings:
    color: str = "auto"  # auto | always | never
    quiet: bool = False
    verbose: bool = False


SETTINGS = Settings()


def use_color(err: bool = False) -> bool:
    """True when output to stdout (or stderr) should carry colour."""
    if SETTINGS.color != "auto":
        return SETTINGS.color == "always"
    if os.environ.get("NO_COLOR"):
        return False
    stream = sys.stderr if err else sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


def echo(text: str = "", err: bool = False, nl: bool = True) -> None:
    click.echo(text, err=err, nl=nl, color=use_color(err))


def finding_line(finding: Finding) -> str:
    """The `FILE:LINE:COL: error: PATH: message` line, with the severity coloured."""
    line = finding.format()
    color = "red" if finding.severity == "error" else "yellow"
    marker = f": {finding.severity}: "
    head, _, tail = line.partition(marker)
    return f"{click.style(head, bold=True)}: {click.style(finding.severity, fg=color, bold=True)}" \
           f": {tail}"


def status_line(word: str, relpath: str, reason: str = "") -> str:
    styled = click.style(f"{word:9}", fg=STATUS_COLORS.get(word), bold=word == "conflict")
    return f"{styled} {relpath}" + (f"  ({reason})" if reason else "")


def error_text(message: str) -> str:
    return f"{click.style('error', fg='red', bold=True)}: {message}"


def warning_text(message: str) -> str:
    return f"{click.style('warning', fg='yellow', bold=True)}: {message}"
