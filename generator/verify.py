"""`aos-multinode verify`: check the generated layer with the user's own BitBake.

For every node: a build directory of its own (bblayers.conf with the user's layers and the
generated layer; local.conf with the node's MACHINE, the settings the kas files give and
`require conf/nodes/<id>.conf`), then, with the `bitbake` of the user's checkout in a clean
environment,

  bitbake -S none aos-multinode-image   parse with the node's fragment, resolve the task
                                        graph, write every task's signature (nothing built)

(or, with --no-sharing, `bitbake -g aos-multinode-image`: parse and resolve only).

The ERROR and WARNING messages are collected, those concerning the generated layer located
(file and line where BitBake gives them), and the signatures of nodes sharing a MACHINE are
compared (see `sharing`). Nothing here prints: `progress` callbacks and the returned
`VerifyResult` are the CLI's to show.
"""

from __future__ import annotations

import json
import locale
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Optional, TextIO

from aos_multinode import aos_boot, sharing
from aos_multinode.errors import UserError
from aos_multinode.sharing import NodeInfo, TaskKey

LAYER_DIR = "meta-aos-multinode"
IMAGE = "aos-multinode-image"
KAS_COMMON = "kas/include/common.yml"
WORKDIR = ".aos-multinode-verify"
UTF8 = "en_US.UTF-8"
# Our recipe names: a message naming one concerns the generated layer.
OUR_RECIPES = re.compile(r"(?<![\w./-])(aos-node-config-[A-Za-z0-9][\w+-]*|aos-cluster-agent"
                         r"|packagegroup-aos-multinode-[A-Za-z0-9][\w+-]*"
                         r"|aos-multinode-[A-Za-z0-9][\w+-]*)(?![\w/])")
# Messages that do not concern the generated layer, shown in the text report without -v.
MAX_SHOWN_ELSEWHERE = 12
# The layer's collection, as BitBake names it in layer dependency errors.
COLLECTION = re.compile(r"'(aos-multinode)'")
# Signature data read to explain an extra node's tasks: a sample (the rest is counted).
MAX_EXPLAINED_PER_RECIPE = 3
MAX_EXPLAINED = 900


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
    for path in sorted((layer / "conf" / "nodes").glob("*.conf")):
        values = assignments(path.read_text(encoding="utf-8"))
        multiconfig = layer / "conf" / "multiconfig" / path.name
        machine = assignments(multiconfig.read_text(encoding="utf-8")).get("MACHINE", "") \
            if multiconfig.is_file() else ""
        index = values.get("AOS_MULTINODE_NODE_INDEX", "0")
        nodes.append(NodeInfo(node=path.stem, machine=machine,
                              role=values.get("AOS_MULTINODE_NODE_ROLE", ""),
                              kernel=values.get("PREFERRED_PROVIDER_virtual/kernel", ""),
                              index=int(index) if index.isdigit() else 0,
                              fragment=frozenset(values),
                              names=frozenset(v for v in (values.get("AOS_MULTINODE_HOSTNAME"),
                                                          values.get("AOS_NODE_HOSTNAME")) if v)))
    return sorted(nodes, key=lambda n: (n.index, n.node))


def layer_needs_aos(layer: Path) -> bool:
    """Return True when the generated layer depends on meta-aos (aos.enabled)."""
    text = (layer / "conf" / "layer.conf").read_text(encoding="utf-8")
    match = re.search(r'^LAYERDEPENDS_\S+\s*=\s*"([^"]*)"', text, re.M)
    return bool(match) and "aos" in match.group(1).split()


# --- where the settings and layers come from ----------------------------------------------

@dataclass
class Settings:
    """What every node's build directory shares."""

    layers: list[Path]
    conf_lines: list[str]
    distro: Optional[str]
    source: str


def kas_common(directory: Path) -> Optional[tuple[Optional[str], list[str]]]:
    """Return (distro, local.conf lines) from the generated kas/include/common.yml, as kas
    would write them (headers sorted by name), or None when there is no such file."""
    path = directory / KAS_COMMON
    if not path.is_file():
        return None
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    lines = []
    for name, text in sorted((data.get("local_conf_header") or {}).items()):
        lines.append(f"# {name} (from {KAS_COMMON})")
        lines += [line for line in str(text).splitlines() if not _is_node_require(line)]
    return data.get("distro"), lines


def kas_layers(directory: Path, checkouts: Path) -> list[Path]:
    """Return the layers the generated kas files name (kas/include/common.yml, every
    repository but the generated layer's), found in CHECKOUTS as kas checks them out
    (CHECKOUTS/<repository>/<layer>); raise VerifyError naming what is missing."""
    path = directory / KAS_COMMON
    if not path.is_file():
        raise VerifyError(f"{path}: not found; --checkouts needs the generated kas files "
                          "(or name the layers with --layers)")
    import yaml

    repos = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("repos") or {}
    layers, missing = [], []
    for name, repo in repos.items():
        if not repo or not repo.get("url"):
            continue
        for layer in repo.get("layers") or {}:
            found = (checkouts / name / layer).resolve() if layer != "." else \
                (checkouts / name).resolve()
            (layers if (found / "conf" / "layer.conf").is_file() else missing).append(found)
    if missing:
        raise VerifyError(f"{checkouts}: missing layers the kas files name: "
                          + ", ".join(map(str, missing)))
    return layers


def _is_node_require(line: str) -> bool:
    return bool(re.match(r"^\s*(require|include)\s+conf/nodes/\S+\.conf\s*$", line))


def bblayers_layers(build_dir: Path) -> list[Path]:
    """Return the layers of BUILD_DIR/conf/bblayers.conf (`${TOPDIR}` expanded)."""
    path = build_dir / "conf" / "bblayers.conf"
    if not path.is_file():
        raise VerifyError(f"{build_dir}: no conf/bblayers.conf; pass a build directory kas "
                          "(or oe-init-build-env) made, or name the layers with --layers")
    text = path.read_text(encoding="utf-8").replace("\\\n", " ")
    layers = []
    for match in re.finditer(r'^\s*BBLAYERS\s*(?:\?\?=|\?=|\+=|=|:=)\s*"([^"]*)"', text, re.M):
        for word in match.group(1).split():
            word = word.replace("${TOPDIR}", str(build_dir.resolve()))
            if "${" in word:
                raise VerifyError(f"{path}: cannot expand {word}; name the layers with "
                                  "--layers instead")
            layers.append(Path(os.path.normpath(word)))
    if not layers:
        raise VerifyError(f"{path}: no BBLAYERS found; name the layers with --layers")
    return layers


def build_dir_conf(build_dir: Path) -> list[str]:
    """Return BUILD_DIR/conf/local.conf without its `require conf/nodes/...` line (verify
    adds each node's own)."""
    path = build_dir / "conf" / "local.conf"
    if not path.is_file():
        return []
    return [f"# from {path}"] + [line for line in path.read_text(encoding="utf-8").splitlines()
                                 if not _is_node_require(line)]


def default_conf(aos: bool) -> list[str]:
    """Return what the generated kas files put into every node's local.conf."""
    lines = ["# what the generated kas files set", 'INIT_MANAGER = "systemd"']
    if aos:
        lines.append('DISTRO_FEATURES:append = " virtualization"')
    return lines


def guess_distro(aos: bool, layers: Iterable[Path]) -> Optional[str]:
    """Return the distro the Unit Config would default to, when nothing names one."""
    if aos:
        return "aos-core"
    return "poky" if any(layer.name == "meta-poky" for layer in layers) else None


def check_layers(layers: Iterable[Path], ours: Path) -> list[Path]:
    """Return the layers (absolute, without the generated layer and duplicates); raise
    VerifyError naming a path that is not a layer."""
    out: list[Path] = []
    for layer in layers:
        layer = layer.expanduser().resolve()
        if not (layer / "conf" / "layer.conf").is_file():
            raise VerifyError(f"{layer}: not a BitBake layer (no conf/layer.conf)")
        if layer == ours or layer.name == LAYER_DIR or layer in out:
            continue
        out.append(layer)
    return out


def find_bitbake(option: Optional[Path], layers: Iterable[Path]) -> Path:
    """Return the BitBake checkout to use: --bitbake (the checkout or its bin/), else the
    one beside the layers (poky/bitbake, or ../bitbake beside openembedded-core)."""
    if option is not None:
        option = option.expanduser().resolve()
        for candidate in (option, option.parent):
            if (candidate / "bin" / "bitbake").is_file():
                return candidate
        raise VerifyError(f"{option}: no bin/bitbake there; --bitbake takes the BitBake "
                          "checkout (e.g. poky/bitbake)")
    for layer in layers:
        for candidate in (layer.parent / "bitbake", layer.parent.parent / "bitbake"):
            if (candidate / "bin" / "bitbake").is_file():
                return candidate
    raise VerifyError("BitBake not found beside the layers (poky/bitbake or ../bitbake "
                      "beside openembedded-core); name it with --bitbake DIR")


def bitbake_version(bitbake: Path) -> str:
    """Return the version of the BitBake checkout (lib/bb/__init__.py), or '?'."""
    try:
        text = (bitbake / "lib" / "bb" / "__init__.py").read_text(encoding="utf-8")
    except OSError:
        return "?"
    match = re.search(r'^__version__\s*=\s*"([^"]+)"', text, re.M)
    return match.group(1) if match else "?"


# --- can BitBake run here at all ----------------------------------------------------------

APT_PACKAGE = {
    "chrpath": "chrpath", "cpio": "cpio", "diffstat": "diffstat", "file": "file",
    "gawk": "gawk", "awk": "gawk", "g++": "g++", "gcc": "gcc", "cpp": "cpp", "make": "make",
    "git": "git", "wget": "wget", "xz": "xz-utils", "zstd": "zstd", "pzstd": "zstd",
    "unzstd": "zstd", "lz4": "lz4", "lz4c": "lz4", "rpcgen": "rpcsvc-proto",
    "makeinfo": "texinfo", "perl": "perl", "python3": "python3", "patch": "patch",
    "diff": "diffutils", "cmp": "diffutils", "bzip2": "bzip2", "bunzip2": "bzip2",
    "gzip": "gzip", "gunzip": "gzip", "tar": "tar", "unzip": "unzip", "socat": "socat",
    "iconv": "libc-bin", "getconf": "libc-bin", "ldd": "libc-bin", "hostname": "hostname",
    "which": "debianutils", "sed": "sed", "find": "findutils", "xargs": "findutils",
    "ar": "binutils", "as": "binutils", "ld": "binutils", "nm": "binutils",
    "objcopy": "binutils", "objdump": "binutils", "ranlib": "binutils",
    "readelf": "binutils", "strings": "binutils", "strip": "binutils", "flock": "util-linux",
    "getopt": "util-linux", "ping": "iputils-ping", "GNU make": "make",
    "C Compiler (gcc)": "gcc", "C++ Compiler (g++)": "g++",
}
YOCTO_HOST_PACKAGES = ("build-essential chrpath cpio debianutils diffstat file gawk gcc git "
                       "iputils-ping libacl1 lz4 locales python3 python3-git python3-jinja2 "
                       "python3-pexpect python3-pip python3-subunit socat texinfo unzip wget "
                       "xz-utils zstd")
ROOT_MESSAGE = ("BitBake refuses to run as root. Run `aos-multinode verify` as an ordinary "
                "user (e.g. `sudo -u builder aos-multinode verify ...`) who can write DIR "
                "(or --workdir).")
LOCALE_MESSAGE = (f"BitBake needs the {UTF8} locale, and this system does not have it. "
                  "Enable it: on Debian `sudo sed -i 's/^# *en_US.UTF-8 UTF-8/en_US.UTF-8 "
                  "UTF-8/' /etc/locale.gen && sudo locale-gen`; on Ubuntu `sudo locale-gen "
                  "en_US.UTF-8`; on Fedora `sudo dnf install glibc-langpack-en`.")


def check_host(euid: Optional[int] = None) -> None:
    """Raise VerifyError when BitBake cannot run here: as root, or without en_US.UTF-8."""
    if (os.geteuid() if euid is None else euid) == 0:
        raise VerifyError(ROOT_MESSAGE)
    if not utf8_locale_available():
        raise VerifyError(LOCALE_MESSAGE)


def utf8_locale_available() -> bool:
    """Return True when the C library knows en_US.UTF-8 (what BitBake switches to)."""
    saved = locale.setlocale(locale.LC_CTYPE)
    try:
        locale.setlocale(locale.LC_CTYPE, ("en_US", "UTF-8"))
        return True
    except locale.Error:
        return False
    finally:
        locale.setlocale(locale.LC_CTYPE, saved)


HOSTTOOLS = re.compile(r"(?:appear to be unavailable in PATH, please install them in order to "
                       r"proceed:|Please install the following missing utilities:)\s*"
                       r"(?P<tools>[^\n]+)")


def environment_problem(text: str) -> Optional[str]:
    """Return how to fix the host when BitBake's output says it cannot run here (root,
    missing host tools, locale), else None."""
    if "Do not use Bitbake as root" in text or "Do not run BitBake as root" in text:
        return ROOT_MESSAGE
    if ("locale 'en_US.UTF-8' is available" in text or "support the en_US.UTF-8 locale" in text
            or "Please use a locale setting which supports UTF-8" in text):
        return LOCALE_MESSAGE
    match = HOSTTOOLS.search(text)
    if match:
        listed = match["tools"].strip()
        tools = [t.strip() for t in (listed.split(",") if "," in listed else listed.split())
                 if t.strip()]
        packages = sorted({APT_PACKAGE.get(tool, tool) for tool in tools})
        return (f"BitBake's host check found tools missing: {', '.join(tools)}. Install them "
                f"(Debian/Ubuntu): sudo apt-get install {' '.join(packages)}\n"
                f"The Yocto Project's full host list: sudo apt-get install "
                f"{YOCTO_HOST_PACKAGES}")
    return None


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
    severity, body = "", []
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
class Finding:
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
           node: Optional[str] = None) -> Finding:
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
    return Finding(message.severity, text, file is not None or recipe is not None, shown, line)


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


def merge_findings(per_node: dict[str, list[Finding]]) -> list[Finding]:
    """Return the findings of all nodes, one per distinct message, each naming the nodes
    that reported it; the generated layer's first, then errors before warnings."""
    merged: dict[tuple, Finding] = {}
    for node, findings in per_node.items():
        for finding in findings:
            key = (finding.severity, finding.message, finding.file, finding.line)
            merged.setdefault(key, Finding(finding.severity, finding.message, finding.ours,
                                           finding.file, finding.line)).nodes.append(node)
    return sorted(merged.values(), key=lambda f: (not f.ours, f.severity != "error",
                                                  f.file or "", f.line or 0))


# --- running BitBake ----------------------------------------------------------------------

@dataclass
class Step:
    """One BitBake command for one node."""

    command: list[str]
    exit_code: int
    seconds: float
    output: list[str]
    log: Optional[Path] = None

    def as_dict(self) -> dict:
        return {"command": " ".join(self.command), "exit_code": self.exit_code,
                "seconds": round(self.seconds, 1), "log": str(self.log) if self.log else None}


ProgressFn = Callable[[str, str, float, str], None]


def clean_environment(bitbake: Path, build_dir: Path) -> dict[str, str]:
    """Return the environment BitBake runs in (as `env -i` plus the basics): PATH with
    BitBake's bin first (and no virtualenv), HOME, USER, en_US.UTF-8, BUILDDIR."""
    venv = os.environ.get("VIRTUAL_ENV")
    path = [p for p in os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(":")
            if p and not (venv and p.startswith(venv))]
    env = {"PATH": ":".join([str(bitbake / "bin"), *path]), "LANG": UTF8, "LC_ALL": UTF8,
           "HOME": os.environ.get("HOME", str(Path.home())), "BUILDDIR": str(build_dir),
           "SHELL": "/bin/sh"}
    for name in ("USER", "LOGNAME"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def run_bitbake(args: list[str], build_dir: Path, bitbake: Path,
                tick: Callable[[float, str], None]) -> Step:
    """Run `bitbake ARGS` in `build_dir`; call tick(elapsed, last line) about every second;
    return the step with its output. Ctrl-C stops BitBake (and its server) first."""
    command = [str(bitbake / "bin" / "bitbake"), *args]
    start = time.monotonic()
    try:
        process = subprocess.Popen(command, cwd=build_dir, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   env=clean_environment(bitbake, build_dir), text=True,
                                   encoding="utf-8", errors="replace", start_new_session=True)
    except OSError as exc:
        raise VerifyError(f"cannot run {command[0]}: {exc.strerror}") from None
    output: list[str] = []
    reader = threading.Thread(target=_read_lines, args=(process.stdout, output), daemon=True)
    reader.start()
    try:
        while process.poll() is None:
            tick(time.monotonic() - start, output[-1].strip() if output else "")
            time.sleep(0.5)
    except KeyboardInterrupt:
        stop(process)
        wait_for_server(build_dir)
        raise
    reader.join()
    wait_for_server(build_dir)
    return Step(["bitbake", *args], process.returncode, time.monotonic() - start, output)


def _read_lines(stream: TextIO, into: list[str]) -> None:
    """Append every line of `stream` to `into` as it arrives."""
    for line in stream:
        into.append(line)


def stop(process: subprocess.Popen) -> None:
    """Stop BitBake as Ctrl-C does (SIGINT to its process group), then harder."""
    for sig, grace in ((signal.SIGINT, 30), (signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_for_server(build_dir: Path, timeout: float = 60.0) -> bool:
    """Wait until no BitBake server holds BUILD_DIR/bitbake.lock; return True when free.
    BitBake's server leaves a few seconds after its client: verify never leaves one."""
    import fcntl

    lock = build_dir / "bitbake.lock"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            # Read-only: never create the lock (as root it would lock out the build user).
            with open(lock, "r") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(handle, fcntl.LOCK_UN)
                return True
        except FileNotFoundError:
            return True
        except OSError:
            time.sleep(0.5)
    return False


# --- one node -----------------------------------------------------------------------------

@dataclass
class NodeRun:
    """What verify learned about one node."""

    node: NodeInfo
    build_dir: Path
    steps: list[Step] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    graph_tasks: Optional[int] = None
    recipes: Optional[int] = None
    signatures: dict[TaskKey, str] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return any(step.exit_code != 0 for step in self.steps)

    def as_dict(self) -> dict:
        return {"node": self.node.node, "machine": self.node.machine, "role": self.node.role,
                "build_dir": str(self.build_dir), "bitbake_failed": self.failed,
                "steps": [s.as_dict() for s in self.steps], "task_graph_tasks":
                self.graph_tasks, "recipes": self.recipes, "signatures": len(self.signatures)}


def bblayers_conf(layers: list[Path], ours: Path) -> str:
    """Return the bblayers.conf of a node build directory. The nodes share BitBake's code
    parser cache (BB_CACHEDIR, keyed by the code itself): parsing the next node is faster.
    BitBake reads BB_CACHEDIR only from here, not from local.conf."""
    entries = "".join(f"    {layer} \\\n" for layer in [*layers, ours])
    return ("# Written by aos-multinode verify; rewritten on every run.\n"
            'BBPATH = "${TOPDIR}"\nBBFILES ?= ""\nBB_CACHEDIR = "${TOPDIR}/../cache"\n'
            f'BBLAYERS = " \\\n{entries}    "\n')


def local_conf(settings: Settings, node: NodeInfo, extra: str) -> str:
    """Return the local.conf of a node build directory: the shared settings, the node's
    MACHINE and fragment, an own TMPDIR, no network, then the --machine-conf text."""
    lines = ["# Written by aos-multinode verify; rewritten on every run.", *settings.conf_lines,
             "", f"# node {node.node} (aos-multinode verify)", f'MACHINE = "{node.machine}"']
    if settings.distro:
        lines.append(f'DISTRO = "{settings.distro}"')
    lines += ['TMPDIR = "${TOPDIR}/tmp"', 'BB_NO_NETWORK = "1"', 'BBMULTICONFIG = ""',
              f"require conf/nodes/{node.node}.conf"]
    if extra:
        lines += ["", "# --machine-conf", extra.rstrip("\n")]
    return "\n".join(lines) + "\n"


def write_if_changed(path: Path, text: str) -> None:
    """Write `text` to `path` unless it already holds exactly that."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def prepare_build_dir(workdir: Path, settings: Settings, layer: Path, node: NodeInfo,
                      extra: str) -> Path:
    """Create (or refresh) the node's build directory; return it."""
    build_dir = workdir / node.node
    write_if_changed(workdir / ".gitignore", "# aos-multinode verify's build directories\n*\n")
    write_if_changed(build_dir / "conf" / "bblayers.conf", bblayers_conf(settings.layers, layer))
    write_if_changed(build_dir / "conf" / "local.conf", local_conf(settings, node, extra))
    return build_dir


TASK_NODE = re.compile(r'^"(?P<pn>[^"]+)\.(?P<task>do_[\w+-]+)" \[label=')


def task_graph_size(build_dir: Path) -> tuple[Optional[int], Optional[int]]:
    """Return (tasks, recipes) of the task graph `bitbake -g` wrote, or (None, None)."""
    try:
        text = (build_dir / "task-depends.dot").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None, None
    tasks = [m for m in map(TASK_NODE.match, text.splitlines()) if m]
    return len(tasks), len({m["pn"] for m in tasks})


def stamps_dir(build_dir: Path) -> Path:
    return build_dir / "tmp" / "stamps"


def collect_signatures(stamps: Path) -> dict[TaskKey, str]:
    """Return task key -> signature of every sigdata file under `stamps`."""
    if not stamps.is_dir():
        return {}
    relpaths = (path.relative_to(stamps).as_posix() for path in stamps.rglob("*.sigdata.*"))
    return sharing.signatures(relpaths)


def sigdata_path(stamps: Path, key: TaskKey, signature: str) -> Path:
    return stamps / f"{key.stamp}.{key.task}.sigdata.{signature}"


def read_sigdata(paths: list[Path]) -> list[Optional[dict]]:
    """Return the JSON documents of sigdata files (zstd-compressed JSON, as BitBake writes
    them; plain JSON is accepted too), None for a file that cannot be read."""
    out: list[Optional[dict]] = []
    for start in range(0, len(paths), 200):
        out += _read_batch(paths[start:start + 200])
    return out


def _read_batch(paths: list[Path]) -> list[Optional[dict]]:
    zstd = shutil.which("zstd")
    if zstd is None:
        return [_read_plain(path) for path in paths]
    result = subprocess.run([zstd, "-dcq", "--", *map(str, paths)], capture_output=True)
    if result.returncode != 0:
        return [_read_one(zstd, path) for path in paths]
    decoder = json.JSONDecoder()
    text, position, docs = result.stdout.decode("utf-8", "replace"), 0, []
    while len(docs) < len(paths):
        while position < len(text) and text[position].isspace():
            position += 1
        try:
            doc, position = decoder.raw_decode(text, position)
        except ValueError:
            return [_read_one(zstd, path) for path in paths]
        docs.append(doc)
    return docs


def _read_one(zstd: str, path: Path) -> Optional[dict]:
    result = subprocess.run([zstd, "-dcq", "--", str(path)], capture_output=True)
    if result.returncode != 0:
        return _read_plain(path)
    try:
        return json.loads(result.stdout)
    except ValueError:
        return None


def _read_plain(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def explain(reference: NodeRun, node: NodeRun) -> dict[str, sharing.Evidence]:
    """Return why `node`'s tasks differ from `reference`'s: the evidence per recipe (its
    causes and the variables that differ). Reads a sample of the signature data: each
    recipe's earliest differing tasks, MAX_EXPLAINED_PER_RECIPE of one recipe and
    MAX_EXPLAINED in all."""
    keys = sharing.sample_tasks(sharing.added_tasks(reference.signatures, node.signatures),
                                MAX_EXPLAINED_PER_RECIPE, MAX_EXPLAINED)
    ref_stamps, node_stamps = stamps_dir(reference.build_dir), stamps_dir(node.build_dir)
    ref_keys = [key for key in keys if key in reference.signatures]
    ref_docs = dict(zip(ref_keys, read_sigdata(
        [sigdata_path(ref_stamps, k, reference.signatures[k]) for k in ref_keys])))
    node_docs = read_sigdata([sigdata_path(node_stamps, k, node.signatures[k]) for k in keys])
    pairs = {key: (ref_docs.get(key), doc) for key, doc in zip(keys, node_docs)
             if doc is not None}
    return sharing.recipe_evidence(pairs, (reference.node.identity_names(),
                                           node.node.identity_names()))


# --- the whole run ------------------------------------------------------------------------

@dataclass
class VerifyOptions:
    """The command line of `aos-multinode verify`."""

    directory: Path
    layers: list[Path] = field(default_factory=list)
    bitbake: Optional[Path] = None
    build_dir: Optional[Path] = None
    nodes: list[str] = field(default_factory=list)
    machine_conf: Optional[Path] = None
    workdir: Optional[Path] = None
    sharing: bool = True
    checkouts: Optional[Path] = None


@dataclass
class VerifyResult:
    """Everything verify found."""

    directory: Path
    layer: Path
    bitbake: Path
    version: str
    settings: Settings
    runs: list[NodeRun]
    findings: list[Finding]
    report: Optional[sharing.SharingReport]
    sharing_note: str = ""

    @property
    def problems(self) -> bool:
        """Return True when BitBake failed for a node, reported an error, or warned about
        the generated layer (exit 1)."""
        return (any(run.failed for run in self.runs)
                or any(f.severity == "error" or f.ours for f in self.findings))

    def counts(self) -> dict[str, int]:
        def count(ours: bool, severity: str) -> int:
            return sum(1 for f in self.findings if f.ours == ours and f.severity == severity)
        return {"errors_in_layer": count(True, "error"),
                "warnings_in_layer": count(True, "warning"),
                "errors_elsewhere": count(False, "error"),
                "warnings_elsewhere": count(False, "warning")}

    def as_dict(self) -> dict:
        return {"ok": not self.problems, "directory": str(self.directory),
                "layer": str(self.layer),
                "bitbake": {"path": str(self.bitbake), "version": self.version},
                "layers": [str(p) for p in self.settings.layers],
                "distro": self.settings.distro, "settings_from": self.settings.source,
                "nodes": [run.as_dict() for run in self.runs],
                "summary": self.counts(), "findings": [f.as_dict() for f in self.findings],
                "sharing": self.report.as_dict() if self.report else None,
                "aos_bootloader": aos_boot.bootloader_notes(
                    self.layer, [(run.node.node, run.node.machine) for run in self.runs]),
                "sharing_note": self.sharing_note}


def resolve_settings(options: VerifyOptions, layer: Path) -> Settings:
    """Return the layers and shared local.conf settings from the options, the build
    directory kas made, or the generated kas files (in that order of preference)."""
    aos = layer_needs_aos(layer)
    build_dir = options.build_dir
    if options.checkouts is not None and not options.layers:
        options = replace(options, layers=kas_layers(options.directory, options.checkouts))
    if not options.layers and build_dir is None:
        build_dir = _default_build_dir(options.directory)
        if build_dir is None:
            raise VerifyError("name the layers with --layers (e.g. --layers "
                              "poky/meta,poky/meta-poky), a kas build directory with "
                              "--build-dir, or the checkouts with --checkouts")
    layers = list(options.layers) or bblayers_layers(build_dir)
    kas = kas_common(options.directory)
    if build_dir is not None and not options.layers:
        lines, source = build_dir_conf(build_dir), f"{build_dir}/conf/local.conf"
    elif kas is not None:
        lines, source = kas[1], str(options.directory / KAS_COMMON)
    else:
        lines, source = default_conf(aos), "defaults of the generated kas files"
    checked = check_layers(layers, layer)
    distro = kas[0] if kas and kas[0] else None
    if distro is None and not any(re.match(r"^\s*DISTRO\s*\S*=", l) for l in lines):
        distro = guess_distro(aos, checked)
    return Settings(checked, lines, distro, source)


def _default_build_dir(directory: Path) -> Optional[Path]:
    """Return a kas build directory beside DIR or the current directory, if there is one."""
    for candidate in (directory / "build", Path.cwd() / "build"):
        if (candidate / "conf" / "bblayers.conf").is_file():
            return candidate
    return None


def select_nodes(all_nodes: list[NodeInfo], wanted: list[str]) -> list[NodeInfo]:
    """Return the nodes named by --node (all when none); raise VerifyError for unknown ids."""
    if not wanted:
        return all_nodes
    known = {n.node for n in all_nodes}
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise VerifyError(f"unknown node {', '.join(unknown)}; the layer has: "
                          f"{', '.join(n.node for n in all_nodes)}")
    return [n for n in all_nodes if n.node in wanted]


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


def run_node(run: NodeRun, bitbake: Path, layer: Path, directory: Path, want_sigs: bool,
             progress: ProgressFn, label: str) -> None:
    """Run `bitbake -S none` (or, without the sharing report, `bitbake -g`) for one node;
    fill `run`; report progress under `label` (e.g. "[1/3] main").

    Both parse with the node's fragment and resolve the image's task graph, so both report
    the same problems; `-S none` also writes every task's signature, and their count is the
    size of the task graph. Running `-g` after it would mostly reparse everything: its
    parse cache differs (it lacks the signature data) and on a fresh build directory BitBake
    does not always reuse the first run's configuration cache."""
    commands = [["-S", "none", IMAGE]] if want_sigs else [["-g", IMAGE]]
    for args in commands:
        command = "bitbake " + " ".join(args)
        if args[0] == "-S":
            shutil.rmtree(stamps_dir(run.build_dir), ignore_errors=True)
        step = run_bitbake(args, run.build_dir, bitbake,
                           lambda elapsed, last: progress(label, command, elapsed, last))
        run.steps.append(step)
        step.log = run.build_dir / ("bitbake" + "".join(
            f"-{a.lstrip('-')}" for a in args if a != IMAGE) + ".log")
        step.log.write_text("".join(step.output), encoding="utf-8")
        problem = environment_problem("".join(step.output))
        if problem:
            raise VerifyError(problem)
        run.findings += [locate(m, layer, directory, run.node.node)
                         for m in parse_messages(step.output) if not ours_offline(m)]
        progress(label, command, step.seconds,
                 "done" if step.exit_code == 0 else f"failed (exit {step.exit_code})")
        if step.exit_code != 0:
            return
        if args[0] == "-S":
            run.signatures = collect_signatures(stamps_dir(run.build_dir))
            run.graph_tasks = len(run.signatures)
            run.recipes = len({key.recipe for key in run.signatures})
        else:
            run.graph_tasks, run.recipes = task_graph_size(run.build_dir)


def verify(options: VerifyOptions, progress: ProgressFn) -> VerifyResult:
    """Run verify as `options` say; report progress through `progress(label, step,
    elapsed, status)`; return what was found. Raises VerifyError for bad usage or when
    BitBake cannot run here."""
    directory = options.directory.resolve()
    layer = find_layer(directory)
    nodes = select_nodes(read_nodes(layer), options.nodes)
    settings = resolve_settings(replace(options, directory=directory), layer)
    bitbake = find_bitbake(options.bitbake, settings.layers)
    extra = _read_extra(options.machine_conf)
    check_host()
    workdir = (options.workdir or directory / WORKDIR).resolve()
    _check_writable(workdir)
    runs = [NodeRun(node, prepare_build_dir(workdir, settings, layer, node, extra))
            for node in nodes]
    with interruptible():
        for number, run in enumerate(runs, 1):
            run_node(run, bitbake, layer, directory, options.sharing, progress,
                     f"[{number}/{len(runs)}] {run.node.node}")
    findings = merge_findings({run.node.node: run.findings for run in runs})
    report, note = sharing_of(runs) if options.sharing else (None, "skipped (--no-sharing)")
    return VerifyResult(directory, layer, bitbake, bitbake_version(bitbake), settings, runs,
                        findings, report, note)


@contextmanager
def interruptible():
    """While BitBake runs, SIGTERM (and SIGINT, even where a shell ignored it for a
    background job) raise KeyboardInterrupt, so that BitBake is stopped, not orphaned."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    saved = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _read_extra(path: Optional[Path]) -> str:
    if path is None:
        return ""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise VerifyError(f"{path}: {exc.strerror}") from None


def _check_writable(workdir: Path) -> None:
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VerifyError(f"{workdir}: {exc.strerror}; pick a writable place with "
                          "--workdir") from None
    if not os.access(workdir, os.W_OK):
        raise VerifyError(f"{workdir}: not writable by this user; pick another with --workdir")


def sharing_of(runs: list[NodeRun]) -> tuple[Optional[sharing.SharingReport], str]:
    """Return the sharing report over the nodes whose signatures were written, and a note
    on nodes left out."""
    good = [run for run in runs if run.signatures]
    left_out = [run.node.node for run in runs if not run.signatures]
    note = f"left out (BitBake failed): {', '.join(left_out)}" if left_out else ""
    if not good:
        return None, note or "no signatures"
    by_id = {run.node.node: run for run in good}
    evidence = {}
    for members in sharing.group_by_machine(run.node for run in good).values():
        for node in members[1:]:
            evidence[node.node] = explain(by_id[members[0].node], by_id[node.node])
    report = sharing.sharing_report([run.node for run in good],
                                    {run.node.node: run.signatures for run in good},
                                    evidence)
    return report, note


# --- text ---------------------------------------------------------------------------------

def format_result(result: VerifyResult, verbose: bool = False) -> str:
    """Return the human report: what ran, the problems (generated layer first), sharing."""
    lines = [f"BitBake {result.version} ({result.bitbake}); settings from "
             f"{result.settings.source}; DISTRO {result.settings.distro or '(as configured)'}"]
    for run in result.runs:
        steps = ", ".join(f"{' '.join(s.command[1:-1])} {'ok' if s.exit_code == 0 else 'FAILED'}"
                          f" {s.seconds:.0f} s" for s in run.steps)
        size = (f"; {run.graph_tasks:,} tasks in the image's graph, {run.recipes} recipes"
                if run.graph_tasks is not None else "")
        lines.append(f"  {run.node.node} ({run.node.machine}): {steps}{size}")
        lines += [f"    full output: {s.log}" for s in run.steps if s.exit_code and s.log]
    notes = aos_boot.bootloader_notes(result.layer, [(r.node.node, r.node.machine)
                                                     for r in result.runs])
    if notes:
        lines += ["Aos boot (a bootloader this layer does not own):"] + [f"  {n}" for n in notes]
    lines.append("")
    lines += _findings_text(result, verbose)
    if result.report is not None:
        lines += ["", sharing.format_report(result.report)]
    if result.sharing_note:
        lines.append(f"Sharing report: {result.sharing_note}")
    counts = result.counts()
    lines += ["", ("Problems found: " if result.problems else "OK: ")
              + f"{counts['errors_in_layer']} error(s) and {counts['warnings_in_layer']} "
              f"warning(s) in {LAYER_DIR}; {counts['errors_elsewhere']} error(s) and "
              f"{counts['warnings_elsewhere']} warning(s) elsewhere"]
    return "\n".join(lines)


def _findings_text(result: VerifyResult, verbose: bool) -> list[str]:
    ours = [f for f in result.findings if f.ours]
    other = [f for f in result.findings if not f.ours]
    lines = []
    if ours:
        lines.append(f"In {LAYER_DIR}:")
        lines += ["  " + f.format(full=True) for f in ours]
    else:
        lines.append(f"No BitBake errors or warnings concern {LAYER_DIR}.")
    if other:
        shown = other if verbose else other[:MAX_SHOWN_ELSEWHERE]
        lines.append("Elsewhere (other layers, the configuration or the host):")
        lines += ["  " + f.format(full=verbose) for f in shown]
        if len(shown) < len(other):
            lines.append(f"  ... {len(other) - len(shown)} more (-v or --json shows them all; "
                         "often a consequence of the first ones)")
    return lines


class Progress:
    """Progress on a stream: one line rewritten in place on a terminal, plain lines (start,
    every 30 s, end) otherwise. Called as progress(label, step, elapsed, status)."""

    def __init__(self, stream: TextIO = sys.stderr, quiet: bool = False):
        self.stream = stream
        self.tty = stream.isatty()
        self.quiet = quiet
        self.last_plain: dict[tuple, float] = {}

    def __call__(self, label: str, step: str, elapsed: float, status: str) -> None:
        if self.quiet:
            return
        head = f"{label}: {step}"
        final = status == "done" or status.startswith("failed")
        clock = f"{int(elapsed) // 60}:{int(elapsed) % 60:02d}"
        if self.tty:
            width = shutil.get_terminal_size((80, 24)).columns - 1
            text = f"{head}  {clock}  {status}"[:width]     # one line, or \r cannot redo it
            self.stream.write("\r\x1b[K" + text + ("\n" if final else ""))
        elif final:
            self.stream.write(f"{head}: {status} ({elapsed:.0f} s)\n")
        else:
            key = (label, step)
            if key not in self.last_plain or elapsed - self.last_plain[key] >= 30:
                self.last_plain[key] = elapsed
                self.stream.write(f"{head}: running ({clock})\n")
        self.stream.flush()
