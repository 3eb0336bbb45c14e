"""The whole pipeline after loading: release -> plan -> render. Writing is the caller's."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from aos_multinode.unitconfig.model import UnitConfig
from aos_multinode.generation.pins import load_pins
from aos_multinode.generation.plan import plan_layer
from aos_multinode.generation.plan_kas import plan_ci, plan_kas
from aos_multinode.generation.release import Release, resolve_release
from aos_multinode.generation.render import RenderedFile, render_all


def generate_files(config: UnitConfig, out_dir: Path | str = ".",
                   release_option: Optional[str] = None,
                   pins_file: Optional[Path | str] = None, ci: bool = True
                   ) -> tuple[Release, list[RenderedFile]]:
    """Return the release and every rendered output file for `config` written to `out_dir`
    (kas files name the layer relative to where they will live)."""
    release = resolve_release(config, release_option)
    pins = load_pins(pins_file)
    out_dir = Path(out_dir)
    planned = (plan_layer(config, release.value)
               + plan_kas(config, release.value, pins, out_dir)
               + (plan_ci(config, release.value, out_dir, pins_file) if ci else []))
    return release, render_all(sorted(planned, key=lambda f: f.relpath))
