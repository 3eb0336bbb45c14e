"""The whole pipeline after loading: release -> plan -> render. Writing is the caller's;
what a run decides around it (where not to write, the command that reruns it) is here too."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Optional

from aos_multinode.errors import OutputError
from aos_multinode.unitconfig.model import UnitConfig
from aos_multinode.generation.pins import load_pins
from aos_multinode.generation.plan import plan_layer
from aos_multinode.generation.plan_ci import plan_ci
from aos_multinode.generation.plan_kas import plan_kas
from aos_multinode.generation.release import Release, resolve_release
from aos_multinode.generation.render import RenderedFile, render_all
from aos_multinode.generation.write import FileStatus


def generate_files(config: UnitConfig, out_dir: Path | str = ".",
                   release_option: Optional[str] = None,
                   pins_file: Optional[Path | str] = None, ci: bool = True,
                   git_init: bool = False) -> tuple[Release, list[RenderedFile]]:
    """Return the release and every rendered output file for `config` written to `out_dir`
    (kas files name the layer relative to where they will live; `git_init`: `out_dir`, if
    outside git, is made a git repository, see `init_repository`)."""
    release = resolve_release(config, release_option)
    pins = load_pins(pins_file)
    out_dir = Path(out_dir)
    planned = (plan_layer(config, release.value)
               + plan_kas(config, release.value, pins, out_dir, git_init)
               + (plan_ci(config, release.value, out_dir, pins_file) if ci else []))
    return release, render_all(sorted(planned, key=lambda f: f.relpath))


def rerun_command(unit_config: str, out_dir: str, release: Optional[str],
                  pins_file: Optional[str], ci: bool, git_init: bool = True) -> str:
    """Return the shell command that brings stale output up to date (`generate --check`
    prints it): the same inputs as this run, quoted for the shell."""
    return shlex.join(["aos-multinode", "generate", unit_config, "-o", out_dir]
                      + (["--release", release] if release else [])
                      + (["--pins", pins_file] if pins_file else [])
                      + ([] if ci else ["--no-ci"])
                  + ([] if git_init else ["--no-git-init"]))


def status_counts(statuses: list[FileStatus]) -> dict[str, int]:
    """Return how many files a write created, updated, deleted and left identical."""
    return {word: sum(1 for s in statuses if s.status == word)
            for word in ("create", "update", "delete", "identical")}


def refuse_source_checkout(target: Path, unit_config: str, ci: bool) -> None:
    """The aos-multinode checkout tracks its own generated output (examples/three-node-ecu.yaml
    with --no-ci): generating anything else there would overwrite it."""
    try:
        is_checkout = (target / "generator" / "aos_multinode" / "__init__.py").is_file() and \
            "name = aos-multinode" in (target / "setup.cfg").read_text(encoding="utf-8")
        own = (target / "examples" / "three-node-ecu.yaml").resolve()
        if not is_checkout or (own == Path(unit_config).resolve() and not ci):
            return
    except OSError:
        return
    raise OutputError(f"{target} is the aos-multinode source checkout: its "
                      "meta-aos-multinode/ and kas/ are the tool's own tracked output, and "
                      "generating here would overwrite them. Generate into a folder of its "
                      "own, e.g. `-o build-config` (ignored by git), or outside the checkout.")
