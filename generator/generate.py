"""The whole pipeline after loading: release -> plan -> render. Writing is the caller's."""

from __future__ import annotations

from aos_multinode.model import UnitConfig
from aos_multinode.plan import plan_layer
from aos_multinode.release import Release, resolve_release
from aos_multinode.render import RenderedFile, render_all


def generate_files(config: UnitConfig, release_option: str | None = None
                   ) -> tuple[Release, list[RenderedFile]]:
    """Return the release and every rendered output file for `config`."""
    release = resolve_release(config, release_option)
    planned = plan_layer(config, release.value)
    return release, render_all(planned)
