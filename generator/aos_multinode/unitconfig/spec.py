"""The Unit Config format as data: one description from which both the validator and the
JSON Schema are made, so the two cannot drift apart.

Each field type knows how to check a YAML node (returning a plain Python value, or INVALID
after recording a finding) and how to describe itself as JSON Schema.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from aos_multinode.contract import DEFAULT_YOCTO_RELEASE, YOCTO_RELEASES
from aos_multinode.errors import Finding
from aos_multinode.unitconfig.source import key_path, position, show

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


def _describe(node: Node) -> str:
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


_CONSTRUCTOR = yaml.SafeLoader("")


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
        return _CONSTRUCTOR.construct_yaml_int(node)
    except (ValueError, TypeError):
        return INVALID


def _int_form_problem(node: ScalarNode) -> str | None:
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


def _int(node: ScalarNode) -> Any:
    """Return the integer of an int-tagged scalar written in plain decimal, or INVALID."""
    if len(node.value) > 40 or not matches(DECIMAL, node.value):
        return INVALID
    return int(node.value)


def _bool(node: ScalarNode) -> Any:
    """Return the boolean of a bool-tagged scalar, or INVALID. YAML 1.1's yes/no/on/off
    mean what they look like, so they are taken as true/false are (a tag `!!bool maybe`
    is not)."""
    return _CONSTRUCTOR.bool_values.get(node.value.lower(), INVALID)


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


def _reject_reason(value: str, pattern: str) -> str:
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


def _is_tag(node: Node, *tags: str) -> bool:
    """True when `node` is a scalar with one of the standard YAML `tags` (`str`, `int`, ...):
    exactly `tag:yaml.org,2002:<name>`, so `!my:str` or `tag:x.org,2002:int` are not."""
    return isinstance(node, ScalarNode) and node.tag in {YAML_TAG + tag for tag in tags}


class FieldType:
    """Base of all field types."""

    description: str = ""

    def check(self, node: Node, path: str, ctx: Context) -> Any:
        raise NotImplementedError

    def schema(self) -> dict:
        raise NotImplementedError


@dataclass
class Str(FieldType):
    """A string constrained by a pattern. `numbers_ok` takes a bare number's source text."""

    pattern: str
    what: str
    example: str
    numbers_ok: bool = False

    def check(self, node, path, ctx):
        if _is_tag(node, "str") or (self.numbers_ok and _is_tag(node, "int", "float")):
            value = node.value
        else:
            hint = " (quote it to make it text)" if _is_tag(node, "bool", "null", "int",
                                                              "float", "timestamp") else ""
            return ctx.error(node, path, f"expected {self.what}, got {_describe(node)}{hint}")
        if not matches(self.pattern, value):
            reason = _reject_reason(value, self.pattern)
            return ctx.error(node, path, f"{show(value)} is not {self.what}: {reason} "
                             f"(e.g. {self.example!r})")
        return value

    def schema(self):
        text = {"type": "string", "pattern": schema_pattern(self.pattern)}
        if self.numbers_ok:
            return {"anyOf": [text, {"type": "number", "minimum": 0}],
                    "description": self.what}
        return {**text, "description": self.what}


class DnsLabel(Str):
    def __init__(self):
        super().__init__(DNS_LABEL, "a DNS label (1-63 of a-z, 0-9 and '-', not starting or "
                         "ending with '-')", "node-1")

    def check(self, node, path, ctx):
        value = super().check(node, path, ctx)
        if value is INVALID and _is_tag(node, "str") and node.value.isascii() and \
                matches(DNS_LABEL, node.value.lower()):
            ctx.findings[-1] = Finding(ctx.file, *position(node), path,
                                       f"{show(node.value)} has upper-case letters; use "
                                       f"{node.value.lower()!r}")
        return value


@dataclass
class Int(FieldType):
    minimum: int | None = None
    maximum: int | None = None

    def check(self, node, path, ctx):
        if not _is_tag(node, "int"):
            return ctx.error(node, path, f"expected an integer, got {_describe(node)}")
        problem = _int_form_problem(node)
        if problem:
            return ctx.error(node, path, f"{problem} ({self._range()})")
        value = _int(node)
        if value is INVALID:
            return ctx.error(node, path, f"{show(node.value)} is not an integer that can be used "
                             f"here; use {self._range()}")
        if self.minimum is not None and value < self.minimum or \
           self.maximum is not None and value > self.maximum:
            return ctx.error(node, path, self.out_of_range(value))
        return value

    def out_of_range(self, value: int) -> str:
        return f"{value} is out of range; use {self._range()}"

    def _range(self):
        if self.maximum is None:
            return f"an integer >= {self.minimum}"
        return f"an integer from {self.minimum} to {self.maximum}"

    def schema(self):
        out = {"type": "integer"}
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        return out


class FormatVersion(Int):
    def __init__(self):
        super().__init__(1, 1)

    def out_of_range(self, value):
        return (f"format_version {value} is not supported: this aos-multinode reads format 1 "
                "only; write format_version: 1 (or leave it out)")


class Bool(FieldType):
    def check(self, node, path, ctx):
        if not _is_tag(node, "bool"):
            return ctx.error(node, path, f"expected true or false, got {_describe(node)}")
        value = _bool(node)
        if value is INVALID:
            read = _CONSTRUCTOR.bool_values.get(node.value.lower())
            meant = f" (YAML 1.1 reads it as {str(read).lower()}; write {str(read).lower()})" \
                if read is not None else ""
            return ctx.error(node, path, f"expected true or false, got {show(node.value)}{meant}")
        return value

    def schema(self):
        return {"type": "boolean"}


@dataclass
class Enum(FieldType):
    choices: tuple[str, ...]

    def check(self, node, path, ctx):
        if _is_tag(node, "str") and node.value in self.choices:
            return node.value
        got = show(node.value) if isinstance(node, ScalarNode) else _describe(node)
        hint = _did_you_mean(node.value, self.choices) if isinstance(node, ScalarNode) else ""
        return ctx.error(node, path, f"{got} is not one of {', '.join(self.choices)}{hint}")

    def schema(self):
        return {"type": "string", "enum": list(self.choices)}


_SIZE_UNITS = {"": 2**20, "b": 1, "k": 2**10, "kib": 2**10, "kb": 10**3, "m": 2**20,
               "mib": 2**20, "mb": 10**6, "g": 2**30, "gib": 2**30, "gb": 10**9,
               "t": 2**40, "tib": 2**40, "tb": 10**12}
SIZE_PATTERN = r"^[0-9]+(\.[0-9]+)? ?([KkMmGgTt]([Ii]?[Bb])?|[Bb])?$"


class Size(FieldType):
    """A memory size: an integer (MiB) or a string with a unit; checked value is in bytes."""

    def check(self, node, path, ctx):
        value = INVALID
        if _is_tag(node, "int"):
            problem = _int_form_problem(node)
            if problem:
                return ctx.error(node, path, f"{problem} (a bare number counts MiB)")
            mib = _int(node)
            value = mib * 2**20 if mib is not INVALID else INVALID
        elif _is_tag(node, "str") and len(node.value) <= 32 and \
                matches(SIZE_PATTERN, node.value):
            text = node.value.replace(" ", "")
            number = re.match(r"[0-9.]+", text).group(0)
            value = int(float(number) * _SIZE_UNITS[text[len(number):].lower()])
        if value is INVALID:
            return ctx.error(node, path, f"expected a size such as 512MiB, 4GiB or 4G (or an "
                             f"integer number of MiB), got {_describe(node)}")
        if value < 2**20:
            return ctx.error(node, path, f"{show(node.value)} is less than 1 MiB; give at least "
                             "1 MiB, e.g. 512MiB or 4GiB (a bare number counts MiB)")
        if value > MAX_SIZE:
            return ctx.error(node, path, f"{show(node.value)} is more than 1 PiB; check the number "
                             "and the unit")
        return value

    def schema(self):
        return {"anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_SIZE // 2**20},
                          {"type": "string", "pattern": schema_pattern(SIZE_PATTERN)}],
                "description": "integer MiB, or a string with a unit: 512MiB, 4GiB, 4G"}


DURATION_PATTERN = r"^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$"


class Duration(FieldType):
    """A duration: integer seconds or a string like 30s, 2m, 1h, 1m30s; value in seconds."""

    def check(self, node, path, ctx):
        value = INVALID
        if _is_tag(node, "int"):
            problem = _int_form_problem(node)
            if problem:
                return ctx.error(node, path, f"{problem} (a bare number counts seconds)")
            value = _int(node)
        elif _is_tag(node, "str") and node.value and len(node.value) <= 32 \
                and matches(DURATION_PATTERN, node.value):
            factors = {"d": 86400, "h": 3600, "m": 60, "s": 1}
            value = sum(int(n) * factors[u] for n, u in re.findall(r"([0-9]+)([dhms])", node.value))
        if value is INVALID:
            return ctx.error(node, path, "expected a duration such as 30s, 2m, 1h or 1m30s (or "
                             f"an integer number of seconds), got {_describe(node)}")
        if value < 1:
            return ctx.error(node, path, f"{show(node.value)} is too short; a duration is at least "
                             "1 second")
        if value > MAX_DURATION:
            return ctx.error(node, path, f"{show(node.value)} is longer than a year; check the "
                             "number and the unit")
        return value

    def schema(self):
        return {"anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_DURATION},
                          {"type": "string", "pattern": schema_pattern(DURATION_PATTERN),
                           "minLength": 2}],
                "description": "integer seconds, or 30s, 2m, 1h"}


class IPAddress(FieldType):
    def check(self, node, path, ctx):
        if not _is_tag(node, "str"):
            return ctx.error(node, path, f"expected an IPv4 or IPv6 address, got {_describe(node)}")
        try:
            address = ipaddress.ip_address(node.value)
        except ValueError:
            hint = " (write the address without a prefix length)" if "/" in node.value else ""
            return ctx.error(node, path, f"{show(node.value)} is not an IPv4 or IPv6 address"
                             f"{hint}")
        if address.version == 6 and address.scope_id:
            return ctx.error(node, path, "a scoped IPv6 address ('%...') is not supported")
        return address

    def schema(self):
        return {"type": "string",
                "anyOf": [{"format": "ipv4", "pattern": schema_pattern(IPV4_PATTERN)},
                          {"format": "ipv6", "pattern": schema_pattern(IPV6_PATTERN)}]}


def _prefix_hint(text: str) -> str:
    """Explain a prefix length too long for the address it follows ('10.0.0.0/33')."""
    address, _, prefix = text.partition("/")
    try:
        bits = ipaddress.ip_address(address).max_prefixlen
    except ValueError:
        return ""
    if prefix.isdigit() and int(prefix) > bits:
        return f": the prefix length /{prefix} is too long, IPv{4 if bits == 32 else 6} allows " \
               f"at most /{bits}"
    return ""


class Network(FieldType):
    def check(self, node, path, ctx):
        if not _is_tag(node, "str") or "/" not in node.value:
            return ctx.error(node, path, "expected a network in CIDR form such as 10.0.0.0/24 "
                             f"or fd00::/64, got {_describe(node)}")
        try:
            network = ipaddress.ip_network(node.value, strict=True)
        except ValueError:
            try:
                fixed = ipaddress.ip_network(node.value, strict=False)
            except ValueError:
                return ctx.error(node, path, f"{show(node.value)} is not a network in CIDR "
                                 f"form such as 10.0.0.0/24 or fd00::/64{_prefix_hint(node.value)}")
            return ctx.error(node, path, f"{show(node.value)} has host bits set; did you mean "
                             f"{fixed}?")
        if not re.search(r"/(0|[1-9][0-9]{0,2})\Z", node.value):
            return ctx.error(node, path, f"{show(node.value)}: write the prefix length in CIDR "
                             f"form: {network}")
        return network

    def schema(self):
        return {"type": "string", "anyOf": [{"pattern": schema_pattern(IPV4_NETWORK_PATTERN)},
                                            {"pattern": schema_pattern(IPV6_NETWORK_PATTERN)}]}


@dataclass
class Seq(FieldType):
    item: FieldType
    min_items: int = 0

    def check(self, node, path, ctx):
        if not isinstance(node, SequenceNode):
            return ctx.error(node, path, f"expected a list, got {_describe(node)}{_empty(node)}")
        if len(node.value) < self.min_items:
            return ctx.error(node, path, f"needs at least {self.min_items} entr"
                             f"{'y' if self.min_items == 1 else 'ies'}")
        out = []
        for index, item in enumerate(node.value):
            item_path = f"{path}[{index}]"
            ctx.positions[item_path] = position(item)
            out.append(self.item.check(item, item_path, ctx))
        return out

    def schema(self):
        out = {"type": "array", "items": self.item.schema()}
        if self.min_items:
            out["minItems"] = self.min_items
        return out


@dataclass
class Prop:
    """One key of a Struct: its type, whether it is required, its static default, its meaning."""

    type: FieldType
    doc: str
    required: bool = False
    default: Any = None


@dataclass
class Struct(FieldType):
    props: dict[str, Prop]
    doc: str = ""

    def check(self, node, path, ctx):
        if not isinstance(node, MappingNode):
            return ctx.error(node, path or "(top level)",
                             f"expected a mapping, got {_describe(node)}{_empty(node)}")
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            here = key_path(path, key)
            ctx.positions[here] = position(key_node)
            prop = self.props.get(key)
            if prop is None:
                hint = _did_you_mean(key, self.props) or \
                    f"; known keys here: {', '.join(self.props)}"
                ctx.error(key_node, here, f"unknown key {show(key)}{hint}")
                continue
            out[key] = prop.type.check(value_node, here, ctx)
        for key, prop in self.props.items():
            if key not in out and prop.required:
                # Reported here; the rules in `load` skip an INVALID value like a wrong one.
                out[key] = ctx.error(node, key_path(path, key),
                                     f"missing required key '{key}' ({prop.doc})")
            elif key not in out:
                out[key] = prop.type.defaults() if isinstance(prop.type, Struct) else prop.default
        return out

    def defaults(self) -> dict:
        """Return the value of an absent, optional mapping: every static default applied."""
        return {key: prop.type.defaults() if isinstance(prop.type, Struct) else prop.default
                for key, prop in self.props.items()}

    def schema(self):
        props = {}
        for key, prop in self.props.items():
            entry = dict(prop.type.schema())
            entry["description"] = prop.doc
            if prop.default is not None and not isinstance(prop.default, (dict, list)):
                entry["default"] = prop.default
            props[key] = entry
        out = {"type": "object", "properties": props, "additionalProperties": False}
        required = [k for k, p in self.props.items() if p.required]
        if required:
            out["required"] = required
        if self.doc:
            out["description"] = self.doc
        return out


@dataclass
class MapOf(FieldType):
    """A mapping from names (checked by `key`) to values of one type."""

    key: Str
    value: FieldType
    min_items: int = 0

    def check(self, node, path, ctx):
        if not isinstance(node, MappingNode):
            return ctx.error(node, path, f"expected a mapping of names, got {_describe(node)}"
                             f"{_empty(node)}")
        if len(node.value) < self.min_items:
            return ctx.error(node, path, f"needs at least {self.min_items} entry")
        out = {}
        for key_node, value_node in node.value:
            here = key_path(path, key_node.value)
            ctx.positions[here] = position(key_node)
            key = self.key.check(key_node, here, ctx)
            value = self.value.check(value_node, here, ctx)
            if key is not INVALID:
                out[key] = value
        return out

    def schema(self):
        out = {"type": "object", "propertyNames": self.key.schema(),
               "additionalProperties": self.value.schema()}
        if self.min_items:
            out["minProperties"] = self.min_items
        return out


def _empty(node: Node) -> str:
    """A hint for a key left without a value (`cluster:` and nothing below it)."""
    return "; give it a value or remove the key" if _is_tag(node, "null") else ""


def _did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _threshold(max_default: int, min_default: int) -> Struct:
    return Struct({
        "max_threshold": Prop(Int(1, 100), "percent; above it for min_timeout triggers a "
                              "rebalance", default=max_default),
        "min_threshold": Prop(Int(0, 99), "percent; a rebalance settles below it; must be "
                              "below max_threshold", default=min_default),
        "min_timeout": Prop(Duration(), "how long a threshold must be crossed (seconds)",
                            default=30),
    })


def _safe(what: str, example: str, pattern: str = SAFE_NAME, numbers_ok: bool = False) -> Str:
    return Str(pattern, what, example, numbers_ok)


UNIT_CONFIG = Struct({
    "format_version": Prop(FormatVersion(), "format of this file; only 1 exists", default=1),
    "device_id": Prop(DnsLabel(), "shared by every node of the device", required=True),
    "release": Prop(_safe("a release string (letters, digits, '.', '_', '+', '~', '-'; at most "
                          "64)", "2026.11.0", SAFE_VERSION, numbers_ok=True),
                    "one release stamped into every node image; derived from git when absent"),
    "cluster": Prop(Struct({
        "id": Prop(DnsLabel(), "cluster ID shared by all nodes; default: device_id"),
        "discovery": Prop(Enum(("static", "mdns")), "how nodes find each other",
                          default="static"),
    }, "cluster membership"), "cluster membership", default={}),
    "yocto": Prop(Struct({
        "release": Prop(Enum(YOCTO_RELEASES), "Yocto series codename",
                        default=DEFAULT_YOCTO_RELEASE),
        "machine": Prop(_safe("a MACHINE name (lower-case letters, digits, '-', '_', '.')",
                              "genericx86-64", MACHINE_NAME),
                        "MACHINE for nodes that do not name one", default="genericx86-64"),
        "distro": Prop(_safe("a DISTRO name", "poky", MACHINE_NAME),
                       "DISTRO; default: poky, or aos-core when aos.enabled"),
    }, "build settings"), "build settings", default={}),
    "aos": Prop(Struct({
        "enabled": Prop(Bool(), "add meta-aos and set its AOS_* variables per node",
                        default=True),
        "version": Prop(_safe(GIT_REF_WHAT, "v9.1.1", GIT_REF),
                        "meta-aos revision the kas files pin"),
        "unit_model": Prop(_safe("a unit model name", "acme-ecu"),
                           "AOS_UNIT_MODEL; default: device_id"),
        "unit_version": Prop(_safe("a version string", "1.0", SAFE_VERSION, numbers_ok=True),
                             "AOS_UNIT_VERSION", default="1.0"),
        "unit_config_version": Prop(_safe("a semantic version (MAJOR.MINOR.PATCH, at most 32 "
                                          "characters)", "1.0.0", SEMVER, numbers_ok=True),
                                    "version of the exported Aos unit config; raise it for "
                                    "every new one (the cloud refuses one that is not greater)",
                                    default="1.0.0"),
        "pkcs11": Prop(Enum(("softhsm", "optee")), "PKCS#11 backend the initramfs opens the "
                       "encrypted aos partition with (opendisk.pkcs11)", default="softhsm"),
    }, "AosEdge (meta-aos) integration"), "AosEdge (meta-aos) integration", default={}),
    "network": Prop(Struct({
        "interfaces": Prop(Seq(Struct({
            "name": Prop(DnsLabel(), "logical name, unique", required=True),
            "device": Prop(_safe("a kernel interface name or glob (at most 15 characters of "
                                 "letters, digits, '_', '.', ':', '-', '*', '?')", "eth0",
                                 IFACE_DEVICE), "kernel interface name or glob",
                           required=True),
            "subnet": Prop(Network(), "IPv4 or IPv6 network, e.g. 10.0.0.0/24", required=True),
            "addressing": Prop(Enum(("static", "dhcp")), "static addresses or DHCP",
                               default="static"),
            "gateway": Prop(IPAddress(), "gateway; must lie in subnet"),
            "mtu": Prop(Int(576, 9216), "MTU, 576-9216"),
        }), min_items=1), "internal interfaces; the first is the cluster interface",
            required=True),
    }, "internal network"), "internal network", required=True),
    "time_sync": Prop(Struct({
        "protocol": Prop(Enum(("ntp", "ptp")), "NTP (chrony) or PTP (linuxptp)",
                         default="ntp"),
        "server": Prop(DnsLabel(), "node id of the node serving time; default: the main node"),
    }, "time synchronisation"), "time synchronisation", default={}),
    "roles": Prop(MapOf(DnsLabel(), Struct({
        "main": Prop(Bool(), "nodes of this role are the Aos main node", default=False),
        "capabilities": Prop(Struct({
            "cpu_cores": Prop(Int(1, 4096), "CPU cores"),
            "memory": Prop(Size(), "RAM"),
            "gpu": Prop(Bool(), "has a GPU", default=False),
            "accelerators": Prop(Seq(_safe("an accelerator name", "npu")), "e.g. [npu, dsp]",
                                 default=[]),
            "realtime": Prop(Bool(), "real-time node", default=False),
        }), "capabilities", default={}),
        "kernel": Prop(_safe("a recipe name", "linux-yocto-rt", RECIPE_NAME),
                       "PREFERRED_PROVIDER_virtual/kernel for this role"),
        "packages": Prop(Seq(_safe("a recipe or package name", "htop", RECIPE_NAME)),
                         "extra packages in this role's images", default=[]),
        "labels": Prop(Seq(_safe("a label", "gpu")), "service placement labels", default=[]),
        "priority": Prop(Int(0, 1_000_000), "placement priority, higher first", default=0),
        "node_type": Prop(_safe("an Aos node type (at most 64 characters)", "acme-ecu-gpu"),
                          "AOS_NODE_TYPE and the unit config's nodeGroupSubject.codename; "
                          "default: <unit_model>-<unit_version>-<role>"),
        "disk": Prop(Struct({
            "boot": Prop(Size(), "each of the two EFI boot partitions (boot_a, boot_b); "
                         "default: 256MiB"),
            "var": Prop(Size(), "the RW var partition (AOS_VAR_PART_SIZE); default: 2GiB"),
            "home": Prop(Size(), "a home partition (AOS_HOME_PART_SIZE); default: none"),
            "aos": Prop(Size(), "the empty aos partition that provisioning encrypts and turns "
                        "into the aosvg LVM group; default: 4GiB"),
        }), "partition sizes of this role's nodes (with aos.enabled)", default={}),
    }), min_items=1), "per-role capability definitions", required=True),
    "nodes": Prop(Seq(Struct({
        "index": Prop(Int(0, 65535), "node index, unique", required=True),
        "id": Prop(DnsLabel(), "node ID, unique; default: node<index>"),
        "hostname": Prop(DnsLabel(), "hostname, unique", required=True),
        "address": Prop(IPAddress(), "address on the cluster interface"),
        "addresses": Prop(MapOf(DnsLabel(), IPAddress()), "addresses on the other static "
                          "interfaces", default={}),
        "role": Prop(DnsLabel(), "role name; a key of roles", required=True),
        "machine": Prop(_safe("a MACHINE name", "genericarm64", MACHINE_NAME),
                        "MACHINE; default: yocto.machine"),
        "storage": Prop(Enum(("sd", "emmc", "nvme", "usb")), "medium the image is flashed to",
                        default="sd"),
    }), min_items=1), "the nodes of the device", required=True),
    "rebalance": Prop(Struct({
        "enabled": Prop(Bool(), "Dynamic Rebalance on or off", default=True),
        "policy": Prop(Struct({
            "cpu": Prop(_threshold(80, 60), "CPU load thresholds", default={}),
            "ram": Prop(_threshold(85, 70), "RAM load thresholds", default={}),
        }), "load thresholds that trigger rebalancing", default={}),
    }), "Dynamic Rebalance", default={}),
}, "aos-multinode Unit Config (format 1)")


def json_schema() -> dict:
    """Return the JSON Schema (draft 2020-12) of the Unit Config."""
    out = {"$schema": "https://json-schema.org/draft/2020-12/schema",
           "$id": "https://aos-multinode.invalid/unit-config-1.schema.json",
           "title": "aos-multinode Unit Config"}
    out.update(UNIT_CONFIG.schema())
    return out


def check_document(root: Node, ctx: Context) -> Any:
    """Check the whole document structurally; return nested dicts with static defaults."""
    ctx.positions[""] = position(root)
    return UNIT_CONFIG.check(root, "", ctx)


