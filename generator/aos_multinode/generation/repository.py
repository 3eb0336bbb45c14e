"""Where the output lands: the git repository kas takes as `this`.

kas names the repository holding the top kas file `this` and resolves the generated layer
and the includes relative to its root: the git work tree (or superproject) around the kas
files, or, outside git, the kas folder itself. No relative path is right for both, so output
written outside git and put into git afterwards (`git init`) would break every kas build.
`generate` therefore makes the output a git repository of its own when it is not inside one
(as `cargo new` does; `--no-git-init` skips it and warns), and tells when the kas files on
disk were written for another root (the output was moved, or put into or out of git).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import yaml

from aos_multinode.contract import KAS_COMMON, KAS_DIR, LAYER_DIR
from aos_multinode.errors import OutputError
from aos_multinode.generation.plan_kas import git_root, kas_root, relative


def outside_git(out_dir: Path) -> bool:
    """True when kas would find no git work tree around OUT_DIR/kas."""
    return git_root((Path(out_dir) / KAS_DIR).resolve()) is None


def init_repository(out_dir: Path) -> None:
    """Make OUT_DIR a git repository (no commit: the files stay the user's to add)."""
    import git

    try:
        git.Repo.init(Path(out_dir))
    except (git.GitCommandError, git.GitCommandNotFound, OSError) as exc:
        raise OutputError(
            f"{out_dir}: cannot make it a git repository ({exc}). The kas files written there "
            f"name the layer for a git repository at {out_dir}: run `git init {out_dir}`, or "
            "generate again with --no-git-init (kas then takes the kas folder as its "
            "repository)") from None


def fragile_layout(out_dir: Path) -> str:
    """The warning for output written outside git without `git init`."""
    return (f"{out_dir} is not in a git repository (--no-git-init): kas takes {out_dir}/kas "
            "as its repository and the kas files name the layer as ../meta-aos-multinode. "
            f"Putting {out_dir} into git later (git init) breaks them until you run "
            "`aos-multinode generate` again; without --no-git-init, generate makes it a "
            "repository now")


def written_layer_path(out_dir: Path) -> Optional[str]:
    """The layer path the kas files on disk name (OUT_DIR/kas/include/common.yml), if any."""
    try:
        data = yaml.safe_load((Path(out_dir) / KAS_DIR / KAS_COMMON).read_text("utf-8"))
        (layer,) = data["repos"]["aos-multinode"]["layers"]
        return str(layer)
    except (OSError, ValueError, yaml.YAMLError, KeyError, TypeError):
        return None


def moved_since(out_dir: Path, git_init: bool) -> Optional[str]:
    """Say why the kas files on disk no longer find the layer from where kas looks now
    (written outside git, then put into git; moved to another depth of a repository), or
    None when they still do (or there are none)."""
    written = written_layer_path(out_dir)
    if written is None:
        return None
    root = kas_root(Path(out_dir), git_init)
    wanted = relative((Path(out_dir) / LAYER_DIR).resolve(), root)
    if written == wanted:
        return None
    return (f"the kas files in {out_dir} name the layer as {written}, but kas now takes "
            f"{root} as their repository and needs {wanted} (the output was put into or out "
            "of git, or moved, since it was generated)")
