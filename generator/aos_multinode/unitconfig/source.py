"""Read a YAML file safely into a node tree that keeps the line and column of every value.

Only reading happens here: size limit, strict UTF-8, one document, a mapping at the root,
no duplicate keys, bounded alias expansion and nesting. The values are checked in `spec`.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
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


def key_path(parent: str, key: str) -> str:
    """Return the field path of `key` inside `parent`: `parent.key`, or `parent["odd key"]`
    (JSON-quoted, so a path is always one printable line) when `key` is not a plain name."""
    if re.fullmatch(r"[A-Za-z0-9_-]+", key):
        return f"{parent}.{key}" if parent else key
    return f"{parent}[{json.dumps(key)}]"


def show(text: str, limit: int = 40) -> str:
    """Return `text` quoted for a message: one line, and cut short when it is long."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit - 3]!r}... ({len(text)} characters)"


def _fail(name: str, line: int, column: int, message: str, path: str = "") -> UnitConfigError:
    return UnitConfigError([Finding(name, line, column, path, message)])


STDIN = "-"

_NOT_A_FILE = {stat.S_IFDIR: "is a directory", stat.S_IFCHR: "is a character device",
               stat.S_IFBLK: "is a block device", stat.S_IFIFO: "is a FIFO (named pipe)",
               stat.S_IFSOCK: "is a socket"}


class FileProblem(Exception):
    """A path that cannot be read as an input file; the message says why and what to do."""


def read_source(path: Path | str, name: str | None = None) -> Source:
    """Read `path` (a regular file, or `-` for standard input) and return its checked node
    tree; raise UnitConfigError on any problem."""
    if str(path) == STDIN:
        name = name or "<stdin>"
        reader = lambda: read_bounded(sys.stdin.buffer, MAX_FILE_BYTES)  # noqa: E731
    else:
        name = name or str(path)
        reader = lambda: read_input_file(path, MAX_FILE_BYTES,  # noqa: E731
                                         "the Unit Config YAML file", dash_ok=True)
    try:
        data = reader()
    except FileProblem as exc:
        raise _fail(name, 1, 1, str(exc)) from None
    return parse_source(data, name)


def read_input_file(path: Path | str, limit: int, what: str = "the file",
                    dash_ok: bool = False) -> bytes:
    """Return the bytes of the regular file `path` (`what` it should be, for a message; with
    `dash_ok` the caller reads `-` as standard input), at most `limit`; raise FileProblem.

    Only a regular file is read: a FIFO would block until a writer comes, a device such as
    /dev/zero never ends. The size is bounded by what is read (at most one byte more than
    `limit`), not by `st_size`, which a file can outgrow while it is read."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOCTTY", 0)
                     | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise FileProblem("file not found; check the path") from None
    except OSError as exc:
        kind = _kind_of_path(Path(path))
        if kind:
            raise FileProblem(f"{kind}, not a file; give the path of {what}") from None
        raise FileProblem(f"cannot read file: {exc.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = _NOT_A_FILE.get(stat.S_IFMT(mode), "is not a regular file")
            hint = " (or '-' to read standard input)" if dash_ok and not stat.S_ISDIR(mode) \
                else ""
            raise FileProblem(f"{kind}, not a file; give the path of {what}{hint}")
        with os.fdopen(fd, "rb", closefd=True) as stream:
            fd = -1
            return read_bounded(stream, limit)
    except OSError as exc:
        raise FileProblem(f"cannot read file: {exc.strerror}") from None
    finally:
        if fd >= 0:
            os.close(fd)


def _kind_of_path(path: Path) -> str:
    """Say what `path` is when it is no regular file (a socket cannot even be opened)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return ""
    return "" if stat.S_ISREG(mode) else _NOT_A_FILE.get(stat.S_IFMT(mode), "")


def read_bounded(stream, limit: int) -> bytes:
    """Read at most `limit` + 1 bytes from `stream`; raise FileProblem when there are more."""
    chunks, total = [], 0
    while total <= limit:
        chunk = stream.read(limit + 1 - total)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > limit:
        raise FileProblem(f"file is more than {limit} bytes; a Unit Config may be at most "
                          f"{limit} bytes (1 MiB). Is this the right file?"
                          if limit == MAX_FILE_BYTES else
                          f"file is more than {limit} bytes; is this the right file?")
    return b"".join(chunks)


def parse_source(data: bytes, name: str) -> Source:
    """Parse YAML bytes into a Source; raise UnitConfigError with a located message."""
    if len(data) > MAX_FILE_BYTES:
        raise _fail(name, 1, 1, f"file is {len(data)} bytes; a Unit Config may be at most "
                    f"{MAX_FILE_BYTES} bytes (1 MiB)")
    text = _decode(data, name)
    if not text.strip() or all(line.lstrip().startswith("#") or not line.strip()
                               for line in text.splitlines()):
        raise _fail(name, 1, 1, "file is empty (or only comments); a Unit Config is a YAML mapping "
                    "with at least the keys device_id, network, roles and nodes "
                    "(`aos-multinode init` writes a commented starter)")
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
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _fail(name, 1, 1, "file is UTF-16 encoded; save it as UTF-8")
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
    documents: list[Node] = []
    loader = None
    try:
        loader = _Loader(text)
        while loader.check_node():
            document = loader.get_node()
            if document is not None:
                documents.append(document)
            if len(documents) > 1:
                break
    except yaml.MarkedYAMLError as exc:
        # An unclosed quote is found only at the end of the file: point at where it opens.
        mark = exc.context_mark if "quoted scalar" in (exc.context or "") else None
        line, column = position_of_mark(mark or exc.problem_mark or exc.context_mark)
        raise _fail(name, line, column, f"invalid YAML: {_yaml_problem(exc, text)}") from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise _fail(name, line, column, f"character U+{exc.character:04X} is a control "
                    "character, which YAML does not allow; remove it") from None
    except yaml.YAMLError as exc:
        problem = " ".join(str(exc).split())
        raise _fail(name, 1, 1, f"invalid YAML: {problem}") from None
    except RecursionError:
        raise _fail(name, 1, 1, f"YAML nesting is too deep (more than {MAX_DEPTH} "
                    "levels)") from None
    finally:
        if loader is not None:
            loader.dispose()
    return documents


def _yaml_problem(exc: yaml.MarkedYAMLError, text: str) -> str:
    """Return what a YAML syntax error means for the user, with a hint how to fix it."""
    mark, start = exc.problem_mark, exc.context_mark
    problem = exc.problem or "invalid YAML"
    char = _char_at(text, mark.line, mark.column) if mark else ""
    if char == "\t" or "'\\t'" in problem:
        return _TAB_HINT
    opened = f" (it starts on line {start.line + 1})" if start and mark and \
        start.line != mark.line else ""
    if "maximum nesting depth" in problem:
        return f"nesting is too deep (more than {MAX_DEPTH} levels)"
    if "quoted scalar" in (exc.context or ""):
        return "a quoted value that starts here is not closed; add the closing quote"
    if "flow sequence" in (exc.context or "") or "flow mapping" in (exc.context or ""):
        what = "[ ... ] list" if "sequence" in (exc.context or "") else "{ ... } mapping"
        return f"{problem} in a {what}{opened}; close it or add the missing comma"
    if "undefined alias" in problem:
        alias = re.match(r"\*([^\s,\]}]+)", text.splitlines()[mark.line][mark.column:]) \
            if mark and mark.line < len(text.splitlines()) else None
        name = alias.group(1) if alias else "..."
        return (f"'*{name}' refers to no anchor: define '&{name}' on a value before this line, "
                "or quote the value if '*' is meant as text")
    if "cannot start any token" in problem and char:
        return f"{char!r} cannot start a value; put the value in quotes"
    if "mapping values are not allowed" in problem:
        return ("unexpected ':'; quote a value that contains ': ', or check the indentation "
                "of this line")
    if "did not find expected" in problem:
        return f"{problem}; check the indentation of this line and the one before"
    return f"{exc.context}: {problem}" if exc.context else problem


def _char_at(text: str, line: int, column: int) -> str:
    lines = text.splitlines()
    return lines[line][column:column + 1] if line < len(lines) else ""


def _kind(node: Node | None) -> str:
    if node is None or isinstance(node, ScalarNode) and node.tag.endswith(":null"):
        return "empty"
    if isinstance(node, SequenceNode):
        return "a list"
    if isinstance(node, ScalarNode):
        return f"a single value ({show(node.value)})"
    return "a mapping"


def _check_graph(root: Node, name: str) -> None:
    """Reject duplicate keys, non-string keys, recursive aliases, too deep or too large trees.

    Key problems are collected and reported together; the limits stop at the first hit."""
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()
    findings: list[Finding] = []

    def visit(node: Node, depth: int, path: str) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        line, column = position(node)
        if key in in_progress:
            raise _fail(name, line, column, "recursive alias: an anchor refers to itself "
                        "(an '*alias' inside the value its '&anchor' names)", path)
        if depth > MAX_DEPTH:
            raise _fail(name, line, column, f"nesting is too deep (more than {MAX_DEPTH} "
                        "levels); a Unit Config needs only a few", path)
        in_progress.add(key)
        total = 1
        if not isinstance(node, ScalarNode) and node.tag not in _COLLECTION_TAGS:
            what = "mapping" if isinstance(node, MappingNode) else "list"
            findings.append(Finding(name, line, column, path or "(top level)",
                                    f"the tag {_short_tag(node.tag)} on this {what} is not "
                                    "understood; remove it (a Unit Config uses no YAML tags)"))
        if isinstance(node, MappingNode):
            findings.extend(_key_findings(node, name, path))
            for key_node, value_node in node.value:
                child = key_path(path, key_node.value) if isinstance(key_node, ScalarNode) \
                    else path
                total += visit(key_node, depth + 1, child) + visit(value_node, depth + 1, child)
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                total += visit(item, depth + 1, f"{path}[{index}]")
        in_progress.discard(key)
        if total > MAX_EXPANDED_NODES:
            raise _fail(name, line, column, "aliases expand to more than "
                        f"{MAX_EXPANDED_NODES} values; a Unit Config never needs that many "
                        "(is this a 'billion laughs' file?)", path)
        sizes[key] = total
        return total

    visit(root, 0, "")
    if findings:
        raise UnitConfigError(findings)
    _flatten_merges(root, set(), name, "")


_COLLECTION_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


def _short_tag(tag: str) -> str:
    text = "!!" + tag[len("tag:yaml.org,2002:"):] if tag.startswith("tag:yaml.org,2002:") else tag
    return show(text)


_KEY_KINDS = {"int": "an integer", "float": "a number", "bool": "a boolean (true/false)",
              "timestamp": "a date"}


def _key_findings(node: MappingNode, name: str, path: str) -> list[Finding]:
    """Return a finding for every key of `node` that is not a plain, unique name."""
    findings = []
    seen: dict[str, Node] = {}
    for key_node, _ in node.value:
        line, column = position(key_node)
        if not isinstance(key_node, ScalarNode):
            findings.append(Finding(name, line, column, path, "a key must be a plain name, "
                                    "not a list or mapping (is a '?' or a bracket misplaced?)"))
            continue
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        kind = key_node.tag[len("tag:yaml.org,2002:"):] \
            if key_node.tag.startswith("tag:yaml.org,2002:") else key_node.tag
        here = key_path(path, key_node.value)
        if kind == "null":
            findings.append(Finding(name, line, column, path, f"key {key_node.value!r} is empty "
                                    "(null); write a name before the ':'"))
        elif kind not in ("str", *_KEY_KINDS):
            findings.append(Finding(name, line, column, here, f"the tag "
                                    f"{_short_tag(key_node.tag)} on key {show(key_node.value)} "
                                    "is not understood; remove it (a Unit Config uses no YAML "
                                    "tags)"))
        elif kind != "str":
            what = _KEY_KINDS[kind]
            findings.append(Finding(name, line, column, here, f"key {show(key_node.value)} is read "
                                    f"by YAML as {what}, not a name; quote it: "
                                    f"'{key_node.value}':"))
        elif key_node.value in seen:
            first, _ = position(seen[key_node.value])
            findings.append(Finding(name, line, column, here, f"duplicate key "
                                    f"'{key_node.value}' (first defined on line {first}); "
                                    "remove one of them"))
        else:
            seen[key_node.value] = key_node
    return findings


def _flatten_merges(node: Node, done: set[int], name: str, path: str) -> None:
    """Apply YAML merge keys (`<<: *defaults`) in place; a key of the mapping itself wins."""
    if id(node) in done:
        return
    done.add(id(node))
    if isinstance(node, MappingNode):
        if any(k.tag == "tag:yaml.org,2002:merge" for k, _ in node.value):
            try:
                yaml.SafeLoader.flatten_mapping(yaml.SafeLoader(""), node)
            except yaml.MarkedYAMLError as exc:
                line, column = position_of_mark(exc.problem_mark)
                raise _fail(name, line, column, "a merge key '<<' takes a mapping or a list of "
                            "mappings, e.g. '<<: *defaults' where '&defaults' names a "
                            "mapping", path) from None
            last: dict[str, tuple[Node, Node]] = {}
            for key_node, value_node in node.value:
                last[key_node.value] = (key_node, value_node)
            node.value = list(last.values())
        for key_node, value_node in node.value:
            _flatten_merges(value_node, done, name, key_path(path, key_node.value))
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            _flatten_merges(item, done, name, f"{path}[{index}]")


def position_of_mark(mark) -> tuple[int, int]:
    """Return the 1-based (line, column) of a PyYAML mark, (1, 1) when there is none."""
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
