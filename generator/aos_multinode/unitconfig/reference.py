"""The Unit Config reference (docs/unit-config.md), made from the same description as the
validator and the JSON Schema, so the documentation cannot drift from the code."""

from __future__ import annotations

from aos_multinode.unitconfig import fields, spec


def _type_text(field: fields.FieldType) -> str:
    if isinstance(field, fields.Enum):
        return " \\| ".join(f"`{c}`" for c in field.choices)
    if isinstance(field, fields.Str):
        return field.what + (" (a bare number is taken as text)" if field.numbers_ok else "")
    if isinstance(field, fields.Int):
        if field.minimum == field.maximum:
            return f"integer, only {field.minimum}"
        if field.maximum is None:
            return f"integer ≥ {field.minimum}"
        return f"integer {field.minimum}–{field.maximum}"
    if isinstance(field, fields.Bool):
        return "boolean"
    if isinstance(field, fields.Size):
        return "size: integer MiB or `512MiB`, `4GiB`, `4G`"
    if isinstance(field, fields.Duration):
        return "duration: integer seconds or `30s`, `2m`, `1h`"
    if isinstance(field, fields.IPAddress):
        return "IPv4 or IPv6 address"
    if isinstance(field, fields.Network):
        return "IPv4 or IPv6 network (CIDR)"
    if isinstance(field, fields.Seq):
        return f"list of {_type_text(field.item)}" if not isinstance(field.item, fields.Struct) \
            else "list of mappings (below)"
    if isinstance(field, fields.MapOf) and isinstance(field.key, fields.BitBakeVariable):
        return f"mapping of {field.key.what} to {_type_text(field.value)}"
    if isinstance(field, fields.BitBakeValue):
        return field.what + " or a number"
    if isinstance(field, fields.MapOf):
        inner = field.value
        return "mapping of names to " + ("mappings (below)" if isinstance(inner, fields.Struct)
                                         else _type_text(inner))
    if isinstance(field, fields.Struct):
        return "mapping (below)"
    return type(field).__name__


def _default_text(prop: fields.Prop) -> str:
    if prop.required:
        return "**required**"
    if prop.default is None or isinstance(prop.default, dict):
        return "—"
    if isinstance(prop.default, bool):
        return f"`{str(prop.default).lower()}`"
    if isinstance(prop.default, list):
        return f"`[{', '.join(map(str, prop.default))}]`"
    return f"`{prop.default}`"


def _rows(struct: fields.Struct, prefix: str, sections: list) -> list[str]:
    rows = []
    for key, prop in struct.props.items():
        path = f"{prefix}{key}"
        rows.append(f"| `{path}` | {_type_text(prop.type)} | {_default_text(prop)} | "
                    f"{prop.doc} |")
        inner = prop.type
        if isinstance(inner, fields.Seq):
            inner, path = inner.item, f"{path}[]"
        elif isinstance(inner, fields.MapOf):
            inner, path = inner.value, f"{path}.<name>"
        if isinstance(inner, fields.Struct):
            if prefix:
                rows += _rows(inner, f"{path}.", sections)
            else:
                sections.append((path, inner))
    return rows


def unit_config_reference() -> str:
    """Return the Markdown reference of every key of the Unit Config."""
    sections: list = []
    out = ["# Unit Config reference (format 1)", "",
           "Generated from the validator's own description by `aos-multinode schema --format "
           "markdown`; a test keeps this file current. The contract and its rules are "
           "explained in [the user guide](user-guide.md).", "",
           "| key | type | default | meaning |", "|---|---|---|---|"]
    out += _rows(spec.UNIT_CONFIG, "", sections)
    for path, struct in sections:
        out += ["", f"## `{path}`", "", "| key | type | default | meaning |", "|---|---|---|---|"]
        out += _rows(struct, f"{path}.", [])
    out += ["", "## Rules across keys", ""] + [f"- {rule}" for rule in RULES]
    return "\n".join(out) + "\n"


RULES = (
    "The file is one YAML mapping in UTF-8, at most 1 MiB; duplicate keys and unknown keys "
    "are errors (unknown keys get a \"did you mean\" hint).",
    "`nodes[].index`, `nodes[].id` (default `node<index>`), `nodes[].hostname` and every "
    "address are unique across the device.",
    "With a `static` cluster interface every node has an `address`; every other `static` "
    "interface needs `nodes[].addresses.<interface>` on every node; `addresses` never names "
    "the cluster interface or a `dhcp` interface.",
    "Every address (and gateway) lies inside its interface's subnet, in the same IP version, "
    "and is not the network, broadcast or gateway address; subnets do not overlap.",
    "Every `nodes[].role` names a role under `roles`; exactly one node has a role with "
    "`main: true` (the Aos main node).",
    "`time_sync.server` names a node id (default: the main node).",
    "`rebalance.policy.<x>.min_threshold` is below `max_threshold`.",
    "`aos.enabled: true` needs `yocto.release: scarthgap` (meta-aos 9).",
    "With `aos.enabled`, Aos core's fixed limits: at most 16 nodes; at most 4 `labels` per "
    "role, each at most 64 characters; the node type (`roles.<r>.node_type`, default "
    "`<unit_model>-<unit_version>-<role>`) at most 64 characters; the exported unit config "
    "(`export aos-unit-config`, compact JSON) at most 4096 bytes.",
    "Strings that reach BitBake, shell, systemd or YAML files are restricted to safe "
    "characters: no quotes, `$`, braces, spaces, newlines or `..` path parts. The whole "
    "value must match: a trailing newline, a tab, a control or look-alike Unicode character "
    "is refused anywhere.",
    "Integers are plain decimal (`8`, `1500`): YAML 1.1 forms that read as another number "
    "(`010` is 8, `1:05` is 65, `0x1F`, `0b101`, `1_000`, `+5`) are refused. Booleans are "
    "`true` or `false` (YAML 1.1's `yes`/`no`/`on`/`off` are taken too). YAML tags "
    "(`!x`, `!!set`, ...) are refused on every value, mapping and list.",
    "A node id starts with a letter (it is a BitBake multiconfig name) and is not `all-nodes` "
    "(kas/all-nodes.yml) or `localhost`; a hostname is not `localhost` nor all digits (or "
    "`0x...`), which a resolver reads as an IPv4 address; no node id is another node's "
    "hostname (/etc/hosts lists both).",
    "A subnet is a network hosts can use: at least /8, not loopback, multicast, unspecified, "
    "reserved, IPv4-mapped or in 0.0.0.0/8; a `static` interface's subnet is not link-local.",
    "The Unit Config is a regular file (or `-` for standard input), never a directory, FIFO, "
    "device or socket.",
)
