"""One release for every node: from the Unit Config, from --release, or from git."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from aos_multinode.errors import UserError
from aos_multinode.unitconfig.model import UnitConfig
from aos_multinode.unitconfig.scalars import SAFE_VERSION, char_name, matches


class ReleaseError(UserError):
    """The release cannot be determined or is not usable."""


@dataclass(frozen=True)
class Release:
    value: str
    source: str  # "unit-config", "option" or "git"
    dirty: bool = False


def sanitize(described: str) -> str:
    """Make a `git describe` result usable in file names and BitBake values."""
    return re.sub(r"[^A-Za-z0-9._+~-]", "-", described).lstrip("-._+~")[:64]


def describe_repository(path: Path) -> tuple[str, bool]:
    """Return (`git describe --tags --always --dirty`, dirty) for the repo holding `path`
    (a file or a folder). A file git does not track (the Unit Config never committed) makes
    the result dirty too: `--dirty` alone only sees changes to tracked files."""
    import git  # GitPython; imported here so `validate` works without git installed

    folder = path if path.is_dir() else path.parent
    try:
        repo = git.Repo(folder, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise ReleaseError(f"{path}: release is not set and the Unit Config is not in a git "
                           "repository; add `release: \"1.0.0\"` to the Unit Config or pass "
                           "--release 1.0.0") from None
    except git.GitCommandNotFound:
        raise ReleaseError("release is not set and git is not installed; install git or pass "
                           "--release") from None
    try:
        described = repo.git.describe("--tags", "--always", "--dirty")
    except git.GitCommandError:
        raise ReleaseError(f"{repo.working_tree_dir}: git cannot describe this repository (no "
                           "commit yet?); commit the Unit Config or pass --release") from None
    if not path.is_dir() and not described.endswith("-dirty"):
        try:
            repo.git.ls_files("--error-unmatch", "--", str(path))
        except git.GitCommandError:  # untracked or ignored: not part of the described commit
            described += "-dirty"
    return described, described.endswith("-dirty")


def resolve_release(config: UnitConfig, option: str | None = None) -> Release:
    """Return the release every node image carries: --release wins, then the Unit Config's
    `release`, then git describe of the repository holding the Unit Config."""
    if option is not None:
        if not matches(SAFE_VERSION, option):
            shown = option if len(option) <= 40 else f"{option[:37]}... ({len(option)} characters)"
            bad = [char_name(ch) for ch in dict.fromkeys(option)
                   if not matches(r"[A-Za-z0-9._+~-]", ch)][:4]
            why = f" ({', '.join(bad)} {'is' if len(bad) == 1 else 'are'} not allowed)" \
                if bad else ""
            raise ReleaseError(f"--release {shown!r}{why}: use letters, digits, '.', '_', '+', "
                               "'~' and '-' only, starting with a letter or digit (at most 64), "
                               "e.g. --release 2026.11.0")
        return Release(option, "option")
    if config.release is not None:
        return Release(config.release, "unit-config")
    described, dirty = describe_repository(Path(config.source_file).resolve())
    value = sanitize(described)
    if not value:
        raise ReleaseError(f"git describe gave {described!r}, which is not usable as a "
                           "release; pass --release")
    return Release(value, "git", dirty)
