"""The field types of the Unit Config format: each knows how to check a YAML node
(returning a plain Python value, or INVALID after recording a finding in the Context) and
how to describe itself as JSON Schema. spec.py describes the format with them."""

from __future__ import annotations

import difflib
import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from aos_multinode.errors import Finding
from aos_multinode.unitconfig.scalars import (
    DNS_LABEL, INVALID, IPV4_NETWORK_PATTERN, IPV4_PATTERN, IPV6_NETWORK_PATTERN, IPV6_PATTERN,
    MAX_DURATION, MAX_SIZE, YAML_CONSTRUCTOR, Context, describe, is_tag, int_form_problem,
    char_name, matches, read_bool, read_int, reject_reason, schema_pattern)
from aos_multinode.unitconfig.source import key_path, position, show

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
    # Says why a value breaks the pattern, where the generic reason would not help.
    explain: Optional[Callable[[str], Optional[str]]] = None

    def check(self, node, path, ctx):
        if is_tag(node, "str") or (self.numbers_ok and is_tag(node, "int", "float")):
            value = node.value
        else:
            hint = " (quote it to make it text)" if is_tag(node, "bool", "null", "int",
                                                              "float", "timestamp") else ""
            return ctx.error(node, path, f"expected {self.what}, got {describe(node)}{hint}")
        if not matches(self.pattern, value):
            reason = (self.explain and self.explain(value)) or \
                reject_reason(value, self.pattern)
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
        if value is INVALID and is_tag(node, "str") and node.value.isascii() and \
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
        if not is_tag(node, "int"):
            return ctx.error(node, path, f"expected an integer, got {describe(node)}")
        problem = int_form_problem(node)
        if problem:
            return ctx.error(node, path, f"{problem} ({self._range()})")
        value = read_int(node)
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
        if not is_tag(node, "bool"):
            return ctx.error(node, path, f"expected true or false, got {describe(node)}")
        value = read_bool(node)
        if value is INVALID:
            read = YAML_CONSTRUCTOR.bool_values.get(node.value.lower())
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
        if is_tag(node, "str") and node.value in self.choices:
            return node.value
        got = show(node.value) if isinstance(node, ScalarNode) else describe(node)
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
        if is_tag(node, "int"):
            problem = int_form_problem(node)
            if problem:
                return ctx.error(node, path, f"{problem} (a bare number counts MiB)")
            mib = read_int(node)
            value = mib * 2**20 if mib is not INVALID else INVALID
        elif is_tag(node, "str") and len(node.value) <= 32 and \
                matches(SIZE_PATTERN, node.value):
            text = node.value.replace(" ", "")
            number = re.match(r"[0-9.]+", text).group(0)
            value = int(float(number) * _SIZE_UNITS[text[len(number):].lower()])
        if value is INVALID:
            return ctx.error(node, path, f"expected a size such as 512MiB, 4GiB or 4G (or an "
                             f"integer number of MiB), got {describe(node)}")
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
        if is_tag(node, "int"):
            problem = int_form_problem(node)
            if problem:
                return ctx.error(node, path, f"{problem} (a bare number counts seconds)")
            value = read_int(node)
        elif is_tag(node, "str") and node.value and len(node.value) <= 32 \
                and matches(DURATION_PATTERN, node.value):
            factors = {"d": 86400, "h": 3600, "m": 60, "s": 1}
            value = sum(int(n) * factors[u] for n, u in re.findall(r"([0-9]+)([dhms])", node.value))
        if value is INVALID:
            return ctx.error(node, path, "expected a duration such as 30s, 2m, 1h or 1m30s (or "
                             f"an integer number of seconds), got {describe(node)}")
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
        if not is_tag(node, "str"):
            return ctx.error(node, path, f"expected an IPv4 or IPv6 address, got {describe(node)}")
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
        if not is_tag(node, "str") or "/" not in node.value:
            return ctx.error(node, path, "expected a network in CIDR form such as 10.0.0.0/24 "
                             f"or fd00::/64, got {describe(node)}")
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
            return ctx.error(node, path, f"expected a list, got {describe(node)}{_empty(node)}")
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
                             f"expected a mapping, got {describe(node)}{_empty(node)}")
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
            return ctx.error(node, path, f"expected a mapping of names, got {describe(node)}"
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
    return "; give it a value or remove the key" if is_tag(node, "null") else ""


def _did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


# --- a team's own local.conf lines (build.local_conf, roles.<r>.local_conf, nodes[].local_conf)

# A BitBake variable: an upper-case name (PREFERRED_PROVIDER_virtual/kernel style tails
# allowed), then optional overrides (`:append`, `:remove`, `:pn-busybox`, `:class-target`).
BITBAKE_VARIABLE = r"^[A-Z][A-Za-z0-9_/.+-]{0,99}(:[a-z0-9][a-z0-9_.+-]{0,63}){0,4}$"
BITBAKE_VARIABLE_WHAT = ("a BitBake variable (an upper-case name like BB_NUMBER_THREADS or "
                         "PREFERRED_PROVIDER_virtual/kernel, optionally with overrides like "
                         ":append or :pn-busybox)")
# Variables whose value BitBake runs as a shell command line or names functions to run:
# code, which the Unit Config never carries (write them in a layer of your own).
CODE_VARIABLE = r"^[A-Za-z0-9_/.+-]*(CMD|_COMMAND|FUNCS|_FUNC)(:.*)?$"
# A value: printable ASCII without '"' (ends the assignment), '\' (escapes, line
# continuation) or '`'; '$' only as a `${NAME}` reference (never `${@...}`: inline Python).
_REFERENCE = r"\$\{[A-Za-z0-9_/.+-]{1,100}\}"
BITBAKE_VALUE = rf'^([\x20\x21\x23\x25-\x5b\x5d-\x5f\x61-\x7e]|{_REFERENCE}){{0,1000}}$'


def _upper_name(name: str) -> str:
    """`bb_number_threads:append` -> `BB_NUMBER_THREADS:append` (overrides stay lower-case)."""
    base, sep, overrides = name.partition(":")
    return base.upper() + sep + overrides


class BitBakeVariable(Str):
    def __init__(self):
        super().__init__(BITBAKE_VARIABLE, BITBAKE_VARIABLE_WHAT, "BB_NUMBER_THREADS")

    def check(self, node, path, ctx):
        value = super().check(node, path, ctx)
        if value is INVALID and is_tag(node, "str") and node.value.isascii() and \
                not matches(BITBAKE_VARIABLE, node.value) and \
                matches(BITBAKE_VARIABLE, _upper_name(node.value)):
            ctx.findings[-1] = Finding(
                ctx.file, *position(node), path,
                f"{show(node.value)}: BitBake variables are upper-case; use "
                f"{_upper_name(node.value)!r}")
        if value is not INVALID and matches(CODE_VARIABLE, value):
            return ctx.error(node, path, f"{show(value)}: BitBake runs the value of this "
                             "variable as commands or functions, and the Unit Config carries no "
                             "code; set it in a layer or a kas file of your own "
                             "(kas/include/site.yml)")
        return value

    def schema(self):
        return {**super().schema(), "not": {"pattern": schema_pattern(CODE_VARIABLE)}}


class BitBakeValue(FieldType):
    """The value of one `NAME = "value"` line: text or a number, no way out of the quotes,
    no inline Python, no command substitution."""

    what = ("a BitBake value (printable ASCII without '\"', '\\' or '`'; '$' only in "
            "${VAR} references)")

    def check(self, node, path, ctx):
        if is_tag(node, "str", "int", "float"):
            value = node.value
        elif is_tag(node, "bool"):
            return ctx.error(node, path, f"expected {self.what}, got {describe(node)} (quote "
                             "it: BitBake reads \"1\"/\"0\", or \"yes\" as text)")
        else:
            return ctx.error(node, path, f"expected {self.what}, got {describe(node)}"
                             f"{_empty(node)}")
        if matches(BITBAKE_VALUE, value):
            return value
        if "${@" in value:
            reason = "'${@...}' is inline Python, which the Unit Config never carries"
        elif "$(" in value or "`" in value:
            reason = "command substitution is not allowed"
        elif re.search(r"\$(?!\{[A-Za-z0-9_/.+-]{1,100}\})", value):
            reason = "'$' is allowed only in a ${VAR} reference"
        elif len(value) > 1000:
            reason = f"it is {len(value)} characters long; at most 1000 are allowed"
        else:
            bad = [ch for ch in dict.fromkeys(value) if ch != "$" and
                   not matches(BITBAKE_VALUE, ch)]
            reason = ", ".join(char_name(ch) for ch in bad[:6]) + \
                (" is" if len(bad) == 1 else " are") + " not allowed"
            if '"' in bad:
                reason += " (the value is written in double quotes; use ' inside it)"
        return ctx.error(node, path, f"{show(value)} is not {self.what}: {reason}")

    def schema(self):
        return {"anyOf": [{"type": "string", "pattern": schema_pattern(BITBAKE_VALUE)},
                          {"type": "number"}], "description": self.what}


def LocalConf() -> MapOf:
    """local.conf lines: BitBake variable -> value, written `NAME = "value"`."""
    return MapOf(BitBakeVariable(), BitBakeValue())
