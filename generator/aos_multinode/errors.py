"""The errors a user can cause. Every one of them is reported without a traceback and exits 2."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Finding:
    """One problem in an input file, located by line, column and field path."""

    file: str
    line: int
    column: int
    path: str
    message: str
    severity: str = "error"

    def format(self) -> str:
        """Return the `FILE:LINE:COL: error: PATH: message` line a user and an editor can read."""
        where = f"{self.path}: " if self.path else ""
        return f"{self.file}:{self.line}:{self.column}: {self.severity}: {where}{self.message}"

    def as_dict(self) -> dict:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "severity": self.severity,
            "message": self.message,
        }


class UserError(Exception):
    """Base of every error caused by the user's input or invocation (exit code 2)."""

    exit_code = 2


class UnitConfigError(UserError):
    """A Unit Config that cannot be accepted; carries every finding, not only the first."""

    def __init__(self, findings: list[Finding], warnings: list[Finding] | None = None):
        self.findings = sorted(findings, key=lambda f: (f.file, f.line, f.column, f.path))
        self.warnings = warnings or []
        super().__init__("\n".join(f.format() for f in self.findings))


class OutputError(UserError):
    """The output directory cannot be written as asked (foreign files, stale output in --check)."""
