"""The generated layer as verify reads it back: its nodes (from the manifest `generate`
wrote), whether it needs meta-aos, where it is; and VerifyError, the usage errors of verify."""

from __future__ import annotations

import json
import re
from pathlib import Path

from aos_multinode.contract import LAYER_DIR, MANIFEST
from aos_multinode.errors import UserError
from aos_multinode.verify.sharing import NodeInfo


class VerifyError(UserError):
    """verify cannot run as asked: bad options, a missing layer, or BitBake cannot run
    here (root, host tools, locale); the message says how to fix it (exit 2)."""


# --- what the generated layer says about its nodes ----------------------------------------

def read_nodes(layer: Path) -> list[NodeInfo]:
    """Return the nodes the layer was generated for, in node index order, as `generate`
    recorded them in the layer's manifest; raise VerifyError when it has none."""
    path = layer / MANIFEST
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))["nodes"]
        nodes = [NodeInfo(node=facts["id"], machine=facts["machine"], role=facts["role"],
                          kernel=facts["kernel"], index=facts["index"],
                          fragment=frozenset(facts["fragment"]),
                          names=frozenset(facts["names"])) for facts in recorded]
    except (OSError, ValueError, KeyError, TypeError):
        raise VerifyError(f"{path}: no node facts here (a layer from an older aos-multinode, or "
                          "not generated); run `aos-multinode generate` again") from None
    return sorted(nodes, key=lambda n: (n.index, n.node))


def layer_needs_aos(layer: Path) -> bool:
    """Return True when the generated layer depends on meta-aos (aos.enabled)."""
    text = (layer / "conf" / "layer.conf").read_text(encoding="utf-8")
    match = re.search(r'^LAYERDEPENDS_\S+\s*=\s*"([^"]*)"', text, re.M)
    return match is not None and "aos" in match.group(1).split()


def find_layer(directory: Path) -> Path:
    """Return DIR/meta-aos-multinode, or raise VerifyError saying how to make it."""
    layer = (directory / LAYER_DIR).resolve()
    if (directory / "conf" / "layer.conf").is_file() and directory.name != LAYER_DIR:
        raise VerifyError(f"{directory} is a layer, not the directory holding {LAYER_DIR}/: "
                          "name several layers with one --layers A,B,C (or repeat --layers)")
    if directory.name == LAYER_DIR and not layer.is_dir():
        layer = directory
    if not (layer / "conf" / "layer.conf").is_file() or not (layer / "conf" / "nodes").is_dir():
        raise VerifyError(f"{directory}: no {LAYER_DIR}/ with conf/nodes/ here; run "
                          f"`aos-multinode generate UNIT_CONFIG -o {directory}` first")
    return layer

