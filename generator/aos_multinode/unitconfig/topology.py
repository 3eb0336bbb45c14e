"""Topology pictures of a device: Graphviz DOT and Mermaid text, SVG/PNG through Graphviz.

Nodes are boxes labelled with id, hostname, role, address and capabilities; they hang off
the cluster network; dashed arrows show who serves time to whom; the main node is marked.
"""

from __future__ import annotations

import html
import shutil
import subprocess

from aos_multinode.errors import UserError
from aos_multinode.unitconfig.model import Node, UnitConfig
from aos_multinode.unitconfig.report import capability_text

MAIN_FILL = "#fde8c8"
NODE_FILL = "#e8f0fb"
NET_FILL = "#f2f2f2"
TIME_COLOR = "#2f7d32"


class TopologyError(UserError):
    """A picture cannot be rendered (Graphviz missing or failing)."""


def _title(config: UnitConfig, release: str | None) -> str:
    parts = [f"device {config.device_id}", f"cluster {config.cluster_id}"]
    if release:
        parts.append(f"release {release}")
    return "  ·  ".join(parts)


def _network_label(config: UnitConfig) -> str:
    cluster = config.cluster_interface
    return (f"{cluster.name} ({cluster.device})\n{cluster.subnet}, {cluster.addressing}\n"
            f"{config.discovery} discovery")


def _node_rows(config: UnitConfig, node: Node) -> list[tuple[str, str]]:
    return [("host", node.hostname), ("role", node.role.name),
            ("address", str(node.address or "dhcp")), ("machine", node.machine),
            ("capabilities", capability_text(config, node.role.name))]


def to_dot(config: UnitConfig, release: str | None = None) -> str:
    """Return a Graphviz description of the device."""
    lines = [f"graph {_dot_id(config.device_id)} {{",
             f"  graph [label={_dot_str(_title(config, release))}, labelloc=t, fontsize=16,"
             ' fontname="Helvetica", rankdir=TB, nodesep=0.5, ranksep=0.9, pad=0.3];',
             '  node [shape=plain, fontname="Helvetica", fontsize=11];',
             '  edge [fontname="Helvetica", fontsize=10, color="#555555"];',
             f"  network [shape=box, style=\"rounded,filled\", fillcolor=\"{NET_FILL}\","
             f" margin=\"0.25,0.1\", label={_dot_str(_network_label(config))}];"]
    for node in config.nodes:
        lines.append(f"  {_dot_id('node-' + node.id)} [label=<{_html_label(config, node)}>];")
    for node in config.nodes:
        lines.append(f"  network -- {_dot_id('node-' + node.id)};")
    server = config.time_server_node
    protocol = config.time_protocol.upper()
    for node in config.nodes:
        if node.id != server.id:
            lines.append(f"  {_dot_id('node-' + server.id)} -- {_dot_id('node-' + node.id)}"
                         f" [dir=forward, style=dashed, color=\"{TIME_COLOR}\", "
                         f"fontcolor=\"{TIME_COLOR}\", label=\"{protocol} time\", "
                         "constraint=false];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _html_label(config: UnitConfig, node: Node) -> str:
    fill = MAIN_FILL if node.is_main else NODE_FILL
    border = 2 if node.is_main else 1
    head = html.escape(node.id)
    sub = f"node {node.index}" + (" · ★ Aos main node" if node.is_main else "")
    rows = "".join(f'<TR><TD ALIGN="LEFT"><FONT COLOR="#666666">{html.escape(k)}</FONT></TD>'
                   f'<TD ALIGN="LEFT">{html.escape(v)}</TD></TR>'
                   for k, v in _node_rows(config, node))
    return (f'<TABLE BORDER="{border}" CELLBORDER="0" CELLSPACING="2" CELLPADDING="3" '
            f'BGCOLOR="{fill}" STYLE="ROUNDED"><TR><TD COLSPAN="2"><B>{head}</B>'
            f'<BR/><FONT POINT-SIZE="9">{sub}</FONT></TD></TR>{rows}</TABLE>')


def _dot_id(text: str) -> str:
    return '"' + text.replace('"', '') + '"'


def _dot_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_mermaid(config: UnitConfig, release: str | None = None) -> str:
    """Return a Mermaid flowchart of the device (renders on GitHub/GitLab)."""
    lines = ["---", f"title: {_title(config, release)}", "---", "flowchart TB"]
    cluster = config.cluster_interface
    lines.append(f'  network(["{cluster.name} ({cluster.device})<br/>{cluster.subnet}, '
                 f'{cluster.addressing}<br/>{config.discovery} discovery"])')
    for node in config.nodes:
        rows = "<br/>".join(f"{k}: {v}" for k, v in _node_rows(config, node))
        title = f"<b>{node.id}</b>" + (" ★ Aos main node" if node.is_main else "")
        lines.append(f'  {_mermaid_id(node)}["{title}<br/>{rows}"]')
    for node in config.nodes:
        lines.append(f"  network --- {_mermaid_id(node)}")
    server = config.time_server_node
    for node in config.nodes:
        if node.id != server.id:
            lines.append(f"  {_mermaid_id(server)} -. {config.time_protocol.upper()} time .-> "
                         f"{_mermaid_id(node)}")
    lines.append(f"  classDef main fill:{MAIN_FILL},stroke:#b36b00,stroke-width:2px")
    lines.append(f"  classDef secondary fill:{NODE_FILL},stroke:#4a6fa5")
    lines.append(f"  class {_mermaid_id(config.main_node)} main")
    others = [_mermaid_id(n) for n in config.nodes if not n.is_main]
    if others:
        lines.append(f"  class {','.join(others)} secondary")
    return "\n".join(lines) + "\n"


def _mermaid_id(node: Node) -> str:
    return "n_" + node.id.replace("-", "_")


def render_image(dot_text: str, fmt: str) -> bytes:
    """Render DOT to `fmt` (svg or png) with Graphviz's `dot`."""
    dot = shutil.which("dot")
    if dot is None:
        raise TopologyError("Graphviz is not installed (no `dot` command); install it, e.g. "
                            "`apt-get install graphviz`, or use --format dot|mermaid")
    result = subprocess.run([dot, f"-T{fmt}"], input=dot_text.encode("utf-8"),
                            capture_output=True, check=False)
    if result.returncode != 0:
        raise TopologyError(f"Graphviz failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout
