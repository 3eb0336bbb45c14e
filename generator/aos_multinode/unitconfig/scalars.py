"""The scalar side of the Unit Config format: the patterns every text field is checked
against (always over the whole value), how a YAML scalar is read without YAML 1.1's
surprises (`010`, `1:05`, tags), how a refused character is named, and the Context that
collects findings while a document is checked. The field types (fields.py) build on it."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from aos_multinode.errors import Finding
from aos_multinode.unitconfig.source import position, show

INVALID = object()


DNS_LABEL = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
# A value that may land in BitBake, shell, systemd and YAML files: no quotes, no `$`, no
# braces, no spaces, no path separators, no newlines.
SAFE_NAME = r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$"
SAFE_VERSION = r"^[A-Za-z0-9][A-Za-z0-9._+~-]{0,63}$"
SEMVER = r"^(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})(-[0-9A-Za-z.-]{1,11})?$"
RECIPE_NAME = r"^[a-z0-9][a-z0-9.+-]{0,99}$"
MACHINE_NAME = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
# git check-ref-format: no '..', no '//', no '/.' and no trailing '/', '.' or '.lock'.
GIT_REF = r"^(?!.*(\.\.|//|/\.|\.lock$|[/.]$))[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$"
GIT_REF_WHAT = ("a git ref: a tag, branch or commit of letters, digits, '.', '_', '/', '-' "
                "(no '..' or '//', not ending in '/', '.' or '.lock')")
# Extra build repositories (build.repos): a kas repository name, a git URL, a full commit,
# a path inside the repository (relative, no '..' segment, no leading '/'), a kickstart name.
REPO_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
GIT_URL = (r"^(?:(?:https?|git|ssh|git\+ssh)://[A-Za-z0-9._~-]*[A-Za-z0-9]"
           r"(?::[0-9]{1,5})?|file://|[A-Za-z0-9._-]{1,64}@[A-Za-z0-9.-]{1,253}:)"
           r"[A-Za-z0-9._~/+=@%-]{0,200}$")
COMMIT = r"^[0-9a-f]{40}$"
_PATH_PART = r"(?!\.\.?(/|$))[A-Za-z0-9_.+-]{1,100}"  # a name, never '.' or '..'
REPO_PATH = rf"^(\.|{_PATH_PART}(/{_PATH_PART}){{0,15}})$"
WKS_NAME = r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}\.wks(\.in)?$"
IFACE_DEVICE = r"^[A-Za-z0-9_*?][A-Za-z0-9_.:*?-]{0,14}$"

_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = rf"{_OCTET}(\.{_OCTET}){{3}}"
_H16 = r"[0-9A-Fa-f]{1,4}"
_LS32 = rf"({_H16}:{_H16}|{_IPV4})"
# RFC 3986 IPv6address; the form Python's ipaddress accepts, without a '%scope'.
_IPV6 = "(" + "|".join([
    rf"({_H16}:){{6}}{_LS32}",
    rf"::({_H16}:){{5}}{_LS32}",
    rf"({_H16})?::({_H16}:){{4}}{_LS32}",
    rf"(({_H16}:){{0,1}}{_H16})?::({_H16}:){{3}}{_LS32}",
    rf"(({_H16}:){{0,2}}{_H16})?::({_H16}:){{2}}{_LS32}",
    rf"(({_H16}:){{0,3}}{_H16})?::{_H16}:{_LS32}",
    rf"(({_H16}:){{0,4}}{_H16})?::{_LS32}",
    rf"(({_H16}:){{0,5}}{_H16})?::{_H16}",
    rf"(({_H16}:){{0,6}}{_H16})?::",
]) + ")"
IPV4_PATTERN = rf"^{_IPV4}$"
IPV6_PATTERN = rf"^{_IPV6}$"
IPV4_NETWORK_PATTERN = rf"^{_IPV4}/(3[0-2]|[12]?[0-9])$"
IPV6_NETWORK_PATTERN = rf"^{_IPV6}/(12[0-8]|1[01][0-9]|[1-9]?[0-9])$"



def matches(pattern: str, value: str) -> bool:
    """True when ALL of `value` matches `pattern`. Never `re.match`: its `$` also matches
    before a final newline, so "node-1\\n" would pass a `^...$` pattern."""
    return re.fullmatch(pattern, value) is not None


def schema_pattern(pattern: str) -> str:
    """Return `pattern` for the JSON Schema: a final `$` there means the end of the text in
    ECMA-262 (editors), but also "before a final newline" in Python's `re` (jsonschema), so
    a `(?!\\n)` after it makes both refuse a trailing newline."""
    return pattern + r"(?!\n)" if pattern.endswith("$") else pattern


MAX_SIZE = 2**50  # 1 PiB: more than any node's RAM, small enough to catch a typo
MAX_DURATION = 365 * 86400


class Context:
    """Collects findings while one document is checked; remembers where every path lives."""

    def __init__(self, file: str):
        self.file = file
        self.findings: list[Finding] = []
        self.warnings: list[Finding] = []
        self.positions: dict[str, tuple[int, int]] = {}

    def error(self, node: Node | None, path: str, message: str) -> object:
        line, column = position(node) if node is not None else self.where(path)
        self.findings.append(Finding(self.file, line, column, path, message))
        return INVALID

    def warn(self, path: str, message: str) -> None:
        line, column = self.where(path)
        self.warnings.append(Finding(self.file, line, column, path, message, "warning"))

    def error_at(self, path: str, message: str) -> None:
        line, column = self.where(path)
        self.findings.append(Finding(self.file, line, column, path, message))

    def where(self, path: str) -> tuple[int, int]:
        """Return the position of `path`, or of its closest recorded parent."""
        while path:
            if path in self.positions:
                return self.positions[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return self.positions.get("", (1, 1))


def describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    tag = node.tag.rsplit(":", 1)[-1]
    names = {"str": "text", "int": "an integer", "float": "a number", "bool": "a boolean",
             "null": "nothing (null)", "timestamp": "a date"}
    if tag == "null":
        return names["null"]
    if tag in names and node.tag.startswith("tag:yaml.org,2002:"):
        return f"{names[tag]} {show(node.value)}"
    short = "!!" + tag if node.tag.startswith("tag:yaml.org,2002:") else node.tag
    return f"a value tagged {short}"


YAML_CONSTRUCTOR = yaml.SafeLoader("")


DECIMAL = r"-?(0|[1-9][0-9]*)"
_INT_FORMS = (  # how YAML 1.1 reads an int-tagged text that is not plain decimal
    (r"[-+]?0[0-7_]+", "an octal number (a leading 0)"),
    (r"[-+]?0x[0-9a-fA-F_]+", "a hexadecimal number"),
    (r"[-+]?0b[01_]+", "a binary number"),
    (r"[-+]?[1-9][0-9_]*(:[0-5]?[0-9])+", "a base-60 number (like a time: 1:05 is 65)"),
    (r"[-+]?[0-9]+", "a number with a '+' sign"),
    (r"[-+]?[0-9][0-9_]*", "digits with '_' separators"),
)


def _raw_int(node: ScalarNode) -> Any:
    """Return the integer YAML 1.1 reads from an int-tagged scalar, or INVALID."""
    if len(node.value) > 40:
        return INVALID
    try:
        return YAML_CONSTRUCTOR.construct_yaml_int(node)
    except (ValueError, TypeError):
        return INVALID


def int_form_problem(node: ScalarNode) -> str | None:
    """Say why an int-tagged text does not mean what it looks like (`010` is 8 to YAML 1.1,
    `1:05` is 65, `0x1F`, `0b101`, `1_000`, `+5`), or return None for plain decimal."""
    text = node.value
    if matches(DECIMAL, text):
        return None
    value = _raw_int(node)
    kind = next((what for pattern, what in _INT_FORMS if matches(pattern, text)), None)
    if value is INVALID or kind is None:
        return f"{show(text)} is not an integer"
    plain = text.lstrip("+-").replace("_", "").lstrip("0") or "0"
    looks = f", or {'-' if text.startswith('-') else ''}{plain} if that is what you meant" \
        if kind.startswith("an octal") and plain.isdigit() and int(plain) != abs(value) else ""
    quote = "; quote it if it is text" if ":" in text else ""
    return (f"{show(text)} is read by YAML 1.1 as {kind}, i.e. {value}: write integers in "
            f"plain decimal: {value}{looks}{quote}")


def read_int(node: ScalarNode) -> Any:
    """Return the integer of an int-tagged scalar written in plain decimal, or INVALID."""
    if len(node.value) > 40 or not matches(DECIMAL, node.value):
        return INVALID
    return int(node.value)


def read_bool(node: ScalarNode) -> Any:
    """Return the boolean of a bool-tagged scalar, or INVALID. YAML 1.1's yes/no/on/off
    mean what they look like, so they are taken as true/false are (a tag `!!bool maybe`
    is not)."""
    return YAML_CONSTRUCTOR.bool_values.get(node.value.lower(), INVALID)


def char_name(ch: str) -> str:
    """Name a character for a message: printable ASCII as itself, anything else with its code
    point and Unicode name, so a look-alike (Cyrillic 'а', a no-break space) or an invisible
    one (U+2028, a tab) is seen for what it is."""
    if ch == " ":
        return "space"
    if ch.isascii() and ch.isprintable():
        return repr(ch)
    name = unicodedata.name(ch, "")
    shown = f"{ch!r} " if ch.isprintable() else ""
    return f"{shown}U+{ord(ch):04X}" + (f" {name}" if name else "")


_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def reject_reason(value: str, pattern: str) -> str:
    """Say which part of `value` breaks `pattern`, so the user knows what to change."""
    if not value:
        return "it is empty"
    if any(ch in _LINE_BREAKS for ch in value):
        breaks = ", ".join(char_name(ch) for ch in dict.fromkeys(value) if ch in _LINE_BREAKS)
        return f"it contains a line break ({breaks})"
    bad = [ch for ch in dict.fromkeys(value) if not matches(pattern, f"a{ch}a")]
    for part in ("..", "//", "/."):
        if not bad and part in value and not matches(pattern, f"a{part}a"):
            return f"{part!r} is not allowed"
    if bad:
        upper = [ch for ch in bad if ch.isascii() and ch.isupper()]
        names = ["upper-case letters"] if upper else []
        names += [char_name(ch) for ch in bad if ch not in upper][:6]
        plural = len(names) > 1 or names == ["upper-case letters"]
        return f"{', '.join(names)} {'are' if plural else 'is'} not allowed"
    if not matches(pattern, value[0] + "a"):
        return f"it must not start with {char_name(value[0])}"
    if not matches(pattern, "a" + value[-1]):
        return f"it must not end with {char_name(value[-1])}"
    longest = max((n for n in range(1, 257) if matches(pattern, "a" * n)), default=0)
    if len(value) > longest:
        return f"it is {len(value)} characters long; at most {longest} are allowed"
    return "check its form"


YAML_TAG = "tag:yaml.org,2002:"


def is_tag(node: Node, *tags: str) -> bool:
    """True when `node` is a scalar with one of the standard YAML `tags` (`str`, `int`, ...):
    exactly `tag:yaml.org,2002:<name>`, so `!my:str` or `tag:x.org,2002:int` are not."""
    return isinstance(node, ScalarNode) and node.tag in {YAML_TAG + tag for tag in tags}
