"""The generated layer as verify reads it back: its nodes (fragment and multiconfig),
whether it needs meta-aos, where it is; and VerifyError, the usage errors of verify."""

from __future__ import annotations

import re
from pathlib import Path

from aos_multinode import contract
from aos_multinode.contract import LAYER_DIR
from aos_multinode.errors import UserError
from aos_multinode.verify.sharing import NodeInfo


class VerifyError(UserError):
    """verify cannot run as asked: bad options, a missing layer, or BitBake cannot run
    here (root, host tools, locale); the message says how to fix it (exit 2)."""


# --- what the generated layer says about its nodes ----------------------------------------

ASSIGNMENT = re.compile(r'^\s*([A-Za-z0-9_/:.-]+)\s*(\?\?=|\?=|:=|=)\s*"(.*)"\s*$')


def assignments(text: str) -> dict[str, str]:
    """Return NAME -> value of the plain `NAME = "value"` lines of a conf file (the
    generated fragments use nothing else)."""
    out = {}
    for line in text.splitlines():
        match = ASSIGNMENT.match(line)
        if match:
            out[match.group(1)] = match.group(3)
    return out


def read_nodes(layer: Path) -> list[NodeInfo]:
    """Return the nodes of the generated layer (conf/nodes/<id>.conf with MACHINE from
    conf/multiconfig/<id>.conf), in node index order."""
    nodes = []
    for path in sorted((layer / contract.NODE_FRAGMENT_DIR).glob("*.conf")):
        values = assignments(path.read_text(encoding="utf-8"))
        multiconfig = layer / contract.MULTICONFIG_DIR / path.name
        machine = assignments(multiconfig.read_text(encoding="utf-8")).get("MACHINE", "") \
            if multiconfig.is_file() else ""
        index = values.get(contract.NODE_INDEX_VAR, "0")
        nodes.append(NodeInfo(node=path.stem, machine=machine,
                              role=values.get(contract.NODE_ROLE_VAR, ""),
                              kernel=values.get(contract.KERNEL_VAR, ""),
                              index=int(index) if index.isdigit() else 0,
                              fragment=frozenset(values),
                              names=frozenset(v for v in (values.get(contract.NODE_HOSTNAME_VAR),
                                                          values.get("AOS_NODE_HOSTNAME")) if v)))
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

