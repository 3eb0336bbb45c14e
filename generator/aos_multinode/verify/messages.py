"""BitBake's messages: read ERROR/WARNING blocks from its output and locate the ones
that concern the generated layer (file and line)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from aos_multinode import contract

# Our recipe names: a message naming one concerns the generated layer.
OUR_RECIPES = re.compile(r"(?<![\w./-])("
                         + "|".join(f"{re.escape(prefix)}[A-Za-z0-9][\\w+-]*" for prefix in
                                    (contract.PACKAGEGROUP_PREFIX, contract.RECIPE_PREFIX))
                         + f"|{re.escape(contract.NODE_CONFIG_RECIPE)}"
                         + f"|{re.escape(contract.AGENT_RECIPE)})" + r"(?![\w/])")
# Messages that do not concern the generated layer, shown in the text report without -v.
# The layer's collection, as BitBake names it in layer dependency errors.
COLLECTION = re.compile(f"'({re.escape(contract.COLLECTION)})'")
# --- BitBake's messages -------------------------------------------------------------------

LEVEL = re.compile(r"^(ERROR|WARNING|CRITICAL|FATAL): ?(.*)$")
OTHER_START = re.compile(r"^(NOTE|DEBUG|INFO|Summary|Loading cache|Loaded \d+ entries|"
                         r"Parsing recipes|Parsing of \d+|Initialising tasks|Sstate summary|"
                         r"Checking sstate|Build Configuration|Executing|Tasks Summary|"
                         r"Setscene tasks|Removing \d+ recipes|Reconnecting|"
                         r"Starting bitbake server|Waiting for|\d{4}-\d\d-\d\d \d\d:\d\d)")


@dataclass(frozen=True)
class Message:
    """One ERROR or WARNING message of BitBake, with its continuation lines."""

    severity: str
    text: str


def parse_messages(lines: Iterable[str]) -> list[Message]:
    """Return the ERROR and WARNING messages of BitBake's console output, each with the
    lines that belong to it (tracebacks, sanity lists), in order, without repeats."""
    messages: list[Message] = []
    body: list[str] = []
    severity = ""
    for raw in [*lines, "NOTE: end"]:
        line = raw.rstrip()
        match = LEVEL.match(line)
        if (match or OTHER_START.match(line)) and severity:
            message = Message(severity, "\n".join(body).strip())
            if message not in messages:
                messages.append(message)
            severity, body = "", []
        if match:
            severity = "warning" if match.group(1) == "WARNING" else "error"
            body = [match.group(2)]
        elif severity:
            body.append(line)
    return messages


@dataclass
class BitBakeFinding:
    """A BitBake message as verify reports it: where it points and which nodes saw it."""

    severity: str
    message: str
    ours: bool
    file: Optional[str] = None
    line: Optional[int] = None
    nodes: list[str] = field(default_factory=list)

    def location(self) -> str:
        if not self.file:
            return ""
        return f"{self.file}:{self.line}: " if self.line else f"{self.file}: "

    def format(self, full: bool = True) -> str:
        """Return `FILE:LINE: severity: [nodes] message` (the message's first line only
        unless `full`)."""
        text = self.message if full else (self.message.splitlines() or [""])[0]
        text = text.replace("\n", "\n    ")
        return f"{self.location()}{self.severity}: [{', '.join(self.nodes)}] {text}"

    def as_dict(self) -> dict:
        return {"severity": self.severity, "message": self.message, "generated_layer":
                self.ours, "file": self.file, "line": self.line, "nodes": self.nodes}


PATH_WITH_LINE = [
    re.compile(r"ParseError at (?P<file>/[^\s:]+):(?P<line>\d+)"),
    re.compile(r"File: '(?P<file>/[^']+)', lineno: (?P<line>\d+)"),
    re.compile(r"(?P<file>/[^\s:'\"(),\[\]]+):(?P<line>\d+)"),
]
ANY_PATH = re.compile(r"(?P<file>/[^\s:'\"(),\[\]]+)")


def locate(message: Message, layer: Path, directory: Path,
           node: Optional[str] = None) -> BitBakeFinding:
    """Return the finding for a message: whether it concerns the generated layer (a path in
    it, one of our recipe names, or a provider NODE's fragment chooses) and the file
    (relative to DIR) and line it points at."""
    text = message.text
    file, line = _path_in_layer(text, layer)
    recipe = OUR_RECIPES.search(text) or COLLECTION.search(text)
    if file is None and node is not None:
        file, line = _fragment_choice(layer / "conf" / "nodes" / f"{node}.conf", text)
    if file is None and recipe is not None:
        file = _recipe_file(layer, recipe.group(1)) if recipe.re is OUR_RECIPES else \
            layer / "conf" / "layer.conf"
    if file is not None and line is None and file.is_file():
        line = _line_of_quoted_name(file, text)
    shown = None
    if file is not None:
        shown = os.path.relpath(file, directory) if file.is_relative_to(directory) else str(file)
    return BitBakeFinding(message.severity, text, file is not None or recipe is not None, shown,
                          line)


PROVIDER_PROBLEM = re.compile(r"Nothing R?PROVIDES '([^']+)'")


def _fragment_choice(fragment: Path, text: str) -> tuple[Optional[Path], Optional[int]]:
    """Return (fragment, line) when `text` says nothing provides X and the node's fragment
    chooses X's provider (PREFERRED_PROVIDER_X, e.g. a role's kernel), else (None, None)."""
    match = PROVIDER_PROBLEM.search(text)
    if match is None or not fragment.is_file():
        return None, None
    wanted = re.compile(rf"^\s*PREFERRED_R?PROVIDER_{re.escape(match.group(1))}\s*[?:]*=")
    for number, content in enumerate(fragment.read_text(encoding="utf-8").splitlines(), 1):
        if wanted.match(content):
            return fragment, number
    return None, None


def _path_in_layer(text: str, layer: Path) -> tuple[Optional[Path], Optional[int]]:
    """Return the first path (and line) of `text` inside the layer, preferring one with a
    line number."""
    for pattern in PATH_WITH_LINE:
        for match in pattern.finditer(text):
            path = Path(os.path.normpath(match["file"]))
            if path.is_relative_to(layer):
                return path, int(match["line"])
    for match in ANY_PATH.finditer(text):
        path = Path(os.path.normpath(match["file"]))
        if path.is_relative_to(layer):
            return path, None
    return None, None


def _recipe_file(layer: Path, name: str) -> Optional[Path]:
    """Return the layer's recipe file for recipe `name` (or the package's recipe), if any."""
    candidates = sorted(layer.rglob("*.bb"))
    for path in candidates:
        if path.name.rsplit(".", 1)[0].split("_")[0] == name:
            return path
    base = re.sub(r"-(network|timesync|dev|dbg|doc|src|staticdev|locale.*)$", "", name)
    return _recipe_file(layer, base) if base != name else None


def _line_of_quoted_name(path: Path, text: str) -> Optional[int]:
    """Return the first line of `path` naming one of the quoted names in `text` that is
    not the file's own recipe, e.g. the RDEPENDS line of a package nothing provides."""
    own = path.name.rsplit(".", 1)[0].split("_")[0]
    quoted = [n for n in re.findall(r"'([A-Za-z0-9][\w.+/-]*)'", text) if n != own]
    # What is missing (not ours) first: `Nothing RPROVIDES 'htop'`, `depends on layer 'x'`.
    names = sorted(quoted, key=lambda n: bool(OUR_RECIPES.fullmatch(n)
                                              or COLLECTION.fullmatch(f"'{n}'")))
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for name in names:
        word = re.compile(rf"(?<![\w.+-]){re.escape(name)}(?![\w.+-])")
        for number, content in enumerate(lines, 1):
            if word.search(content):
                return number
    return None


# Warnings verify itself causes by running offline (BB_NO_NETWORK): poky fetches its
# uninative tarball on the first build. Without it every node's native tasks change alike.
OFFLINE_WARNINGS = re.compile(r"^(Disabling uninative as unable to fetch uninative tarball: "
                              r"Network access disabled through BB_NO_NETWORK|To build your "
                              r"own uninative loader, please bitbake uninative-tarball)")


def ours_offline(message: Message) -> bool:
    """Return True for a warning that only verify's offline setting causes."""
    return message.severity == "warning" and bool(OFFLINE_WARNINGS.match(message.text))


def merge_findings(per_node: dict[str, list[BitBakeFinding]]) -> list[BitBakeFinding]:
    """Return the findings of all nodes, one per distinct message, each naming the nodes
    that reported it; the generated layer's first, then errors before warnings."""
    merged: dict[tuple, BitBakeFinding] = {}
    for node, findings in per_node.items():
        for finding in findings:
            key = (finding.severity, finding.message, finding.file, finding.line)
            merged.setdefault(key, BitBakeFinding(finding.severity, finding.message, finding.ours,
                                           finding.file, finding.line)).nodes.append(node)
    return sorted(merged.values(), key=lambda f: (not f.ours, f.severity != "error",
                                                  f.file or "", f.line or 0))

