"""Read a YAML file safely into a node tree that keeps the line and column of every value.

Only reading happens here: size limit, strict UTF-8, one document, a mapping at the root,
no duplicate keys, bounded alias expansion and nesting. The values are checked in `spec`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from aos_multinode.errors import Finding, UnitConfigError

MAX_FILE_BYTES = 1024 * 1024
MAX_EXPANDED_NODES = 250_000
MAX_DEPTH = 64

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Source:
    """A parsed YAML document: its display name and its root mapping node."""

    name: str
    root: MappingNode


def position(node: Node) -> tuple[int, int]:
    """Return the 1-based (line, column) where `node` starts."""
    return node.start_mark.line + 1, node.start_mark.column + 1


def _fail(name: str, line: int, column: int, message: str) -> UnitConfigError:
    return UnitConfigError([Finding(name, line, column, "", message)])


def read_source(path: Path | str, name: str | None = None) -> Source:
    """Read `path` and return its checked node tree; raise UnitConfigError on any problem."""
    path = Path(path)
    name = name or str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise _fail(name, 1, 1, f"file is {size} bytes; a Unit Config may be at most "
                        f"{MAX_FILE_BYTES} bytes (1 MiB). Is this the right file?")
        data = path.read_bytes()
    except UnitConfigError:
        raise
    except IsADirectoryError:
        raise _fail(name, 1, 1, "is a directory; give the path of the Unit Config YAML file") from None
    except FileNotFoundError:
        raise _fail(name, 1, 1, "file not found; check the path") from None
    except OSError as exc:
        raise _fail(name, 1, 1, f"cannot read file: {exc.strerror}") from None
    return parse_source(data, name)


def parse_source(data: bytes, name: str) -> Source:
    """Parse YAML bytes into a Source; raise UnitConfigError with a located message."""
    if len(data) > MAX_FILE_BYTES:
        raise _fail(name, 1, 1, f"file is {len(data)} bytes; a Unit Config may be at most "
                    f"{MAX_FILE_BYTES} bytes (1 MiB)")
    text = _decode(data, name)
    if not text.strip() or all(line.lstrip().startswith("#") or not line.strip()
                               for line in text.splitlines()):
        raise _fail(name, 1, 1, "file is empty; a Unit Config is a YAML mapping with at least "
                    "device_id, network, roles and nodes (run `aos-multinode init` for a starter)")
    documents = _compose_all(text, name)
    if len(documents) > 1:
        line, column = position(documents[1])
        raise _fail(name, line, column, "file holds more than one YAML document ('---'); "
                    "a Unit Config is exactly one document: remove the extra '---' sections")
    root = documents[0] if documents else None
    if not isinstance(root, MappingNode):
        line, column = position(root) if root is not None else (1, 1)
        kind = _kind(root)
        raise _fail(name, line, column, f"the top level is {kind}; a Unit Config is a mapping "
                    "of keys such as 'device_id:' and 'nodes:'")
    _check_graph(root, name)
    return Source(name, root)


def _decode(data: bytes, name: str) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        head = data[: exc.start]
        line = head.count(b"\n") + 1
        column = exc.start - (head.rfind(b"\n") + 1) + 1
        raise _fail(name, line, column, f"byte 0x{data[exc.start]:02x} is not valid UTF-8; "
                    "save the file as UTF-8") from None
    if "\x00" in text:
        offset = text.index("\x00")
        line = text.count("\n", 0, offset) + 1
        raise _fail(name, line, 1, "file contains a NUL character; is it a binary file?")
    return text


_TAB_HINT = "a tab character is used where YAML needs spaces; indent with spaces only"


def _compose_all(text: str, name: str) -> list[Node]:
    loader = _Loader(text)
    documents = []
    try:
        while loader.check_node():
            documents.append(loader.get_node())
            if len(documents) > 1:
                break
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or "invalid YAML"
        if mark and _char_at(text, mark.line, mark.column) == "\t" or "'\\t'" in problem:
            problem = _TAB_HINT
        elif exc.context:
            problem = f"{exc.context}: {problem}"
        raise _fail(name, line, column, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise _fail(name, 1, 1, f"invalid YAML: {exc}") from None
    except RecursionError:
        raise _fail(name, 1, 1, f"YAML nesting is too deep (more than {MAX_DEPTH} levels)") from None
    finally:
        loader.dispose()
    return documents


def _char_at(text: str, line: int, column: int) -> str:
    lines = text.splitlines()
    return lines[line][column:column + 1] if line < len(lines) else ""


def _kind(node: Node | None) -> str:
    if node is None:
        return "empty"
    if isinstance(node, SequenceNode):
        return "a list"
    if isinstance(node, ScalarNode):
        return f"a single value ({node.value!r})"
    return "a mapping"


def _check_graph(root: Node, name: str) -> None:
    """Reject duplicate keys, non-string keys, recursive aliases, too deep or too large trees."""
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()

    def visit(node: Node, depth: int) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        line, column = position(node)
        if key in in_progress:
            raise _fail(name, line, column, "recursive alias: an anchor refers to itself")
        if depth > MAX_DEPTH:
            raise _fail(name, line, column, f"nesting is too deep (more than {MAX_DEPTH} levels)")
        in_progress.add(key)
        total = 1
        if isinstance(node, MappingNode):
            _check_keys(node, name)
            for key_node, value_node in node.value:
                total += visit(key_node, depth + 1) + visit(value_node, depth + 1)
        elif isinstance(node, SequenceNode):
            for item in node.value:
                total += visit(item, depth + 1)
        in_progress.discard(key)
        if total > MAX_EXPANDED_NODES:
            raise _fail(name, line, column, "aliases expand to more than "
                        f"{MAX_EXPANDED_NODES} values; a Unit Config never needs that many "
                        "(is this a 'billion laughs' file?)")
        sizes[key] = total
        return total

    visit(root, 0)
    _flatten_merges(root, set())


def _check_keys(node: MappingNode, name: str) -> None:
    seen: dict[str, Node] = {}
    for key_node, _ in node.value:
        line, column = position(key_node)
        if not isinstance(key_node, ScalarNode):
            raise _fail(name, line, column, "a key must be a plain name, not a list or mapping")
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        if key_node.value in seen:
            first, _ = position(seen[key_node.value])
            raise _fail(name, line, column, f"duplicate key '{key_node.value}' (first defined "
                        f"on line {first}); remove one of them")
        seen[key_node.value] = key_node


def _flatten_merges(node: Node, done: set[int]) -> None:
    """Apply YAML merge keys (`<<: *defaults`) in place; a key of the mapping itself wins."""
    if id(node) in done:
        return
    done.add(id(node))
    if isinstance(node, MappingNode):
        if any(k.tag == "tag:yaml.org,2002:merge" for k, _ in node.value):
            yaml.SafeLoader.flatten_mapping(yaml.SafeLoader(""), node)
            last: dict[str, tuple[Node, Node]] = {}
            for key_node, value_node in node.value:
                last[key_node.value] = (key_node, value_node)
            node.value = list(last.values())
        for _, value_node in node.value:
            _flatten_merges(value_node, done)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            _flatten_merges(item, done)
