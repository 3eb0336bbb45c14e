"""source: reading YAML safely, keeping positions, refusing what a Unit Config never needs."""

from __future__ import annotations

import time

import pytest
from yaml.nodes import MappingNode, ScalarNode

from aos_multinode.unitconfig import source
from aos_multinode.errors import UnitConfigError
from aos_multinode.unitconfig.source import key_path, parse_source, position, read_source


def parse_error(text: str | bytes) -> UnitConfigError:
    data = text.encode() if isinstance(text, str) else text
    with pytest.raises(UnitConfigError) as info:
        parse_source(data, "in.yaml")
    return info.value


def only_finding(text: str | bytes):
    [finding] = parse_error(text).findings
    return finding


def value_of(mapping: MappingNode, key: str):
    return next(value for k, value in mapping.value if k.value == key)


def test_positions_are_one_based_line_and_column():
    root = parse_source(b"a: 1\nb:\n  c:   xyz\n", "in.yaml").root
    assert position(value_of(root, "a")) == (1, 4)
    assert position(value_of(value_of(root, "b"), "c")) == (3, 8)


def test_source_keeps_the_name_it_was_given():
    assert parse_source(b"a: 1\n", "shown-name.yaml").name == "shown-name.yaml"


def test_byte_order_mark_is_accepted():
    root = parse_source(b"\xef\xbb\xbfa: 1\n", "in.yaml").root
    assert value_of(root, "a").value == "1"


def test_explicit_document_markers_are_one_document():
    root = parse_source(b"---\na: 1\n...\n", "in.yaml").root
    assert isinstance(root, MappingNode)


def test_tab_inside_a_quoted_value_is_not_indentation():
    root = parse_source(b'a: "x\ty"\n', "in.yaml").root
    assert value_of(root, "a").value == "x\ty"


@pytest.mark.parametrize("text, line, message", [
    ("a: 1\nb:\n\tc: 2\n", 3, "indent with spaces only"),
    ("a: 1\n---\nb: 2\n", 3, "more than one YAML document"),
    ("- a\n- b\n", 1, "the top level is a list"),
    ("just text\n", 1, "the top level is a single value ('just text')"),
    ("---\n", 2, "the top level is empty"),
    ("# only\n# comments\n", 1, "file is empty"),
    ("a: [1, 2\nb: 3\n", 2, "(it starts on line 1)"),
    ("a: 1\nb: 'open\nc: 3\n", 2, "a quoted value that starts here is not closed"),
    ("a: *nowhere\n", 1, "'*nowhere' refers to no anchor"),
    ("a: b: c\n", 1, "quote a value that contains ': '"),
    ("a: @x\n", 1, "'@' cannot start a value"),
])
def test_syntax_and_shape_errors_are_located(text, line, message):
    finding = only_finding(text)
    assert (finding.line, finding.path) == (line, "")
    assert message in finding.message


def test_duplicate_keys_are_all_reported_with_paths():
    error = parse_error("a: 1\nb:\n  c: 1\n  c: 2\na: 3\nl:\n  - {x: 1, x: 2}\n")
    assert [(f.path, f.line) for f in error.findings] == [
        ("b.c", 4), ("a", 5), ("l[0].x", 7)]
    assert "first defined on line 3" in error.findings[0].message


@pytest.mark.parametrize("key, kind", [
    ("1", "an integer"), ("1.5", "a number"), ("yes", "a boolean"), ("off", "a boolean"),
    ("2024-01-01", "a date")])
def test_keys_yaml_reads_as_non_text_are_refused(key, kind):
    finding = only_finding(f"roles:\n  {key}: {{}}\n")
    assert finding.path == key_path("roles", key)
    assert kind in finding.message and f"'{key}':" in finding.message


def test_quoted_keys_are_names():
    root = parse_source(b"'1': a\n\"on\": b\n", "in.yaml").root
    assert [k.value for k, _ in root.value] == ["1", "on"]


def test_null_and_complex_keys_are_refused():
    assert "is empty (null)" in only_finding("x:\n  ~: 1\n").message
    finding = only_finding("x:\n  ? [a]\n  : 1\n")
    assert (finding.path, finding.line) == ("x", 2)
    assert "plain name" in finding.message


def test_merge_keys_apply_and_own_keys_win():
    root = parse_source(b"base: &b {x: 1, y: 2}\nother: &o {y: 9, z: 3}\n"
                        b"m:\n  <<: [*b, *o]\n  x: 5\n", "in.yaml").root
    merged = {k.value: v.value for k, v in value_of(root, "m").value}
    # Own keys win over merged ones; of two merged mappings the first wins (YAML merge spec).
    assert merged == {"x": "5", "y": "2", "z": "3"}


def test_merge_of_a_scalar_is_an_error_not_a_crash():
    finding = only_finding("m:\n  n:\n    <<: 5\n")
    assert (finding.path, finding.line) == ("m.n", 3)
    assert "merge key '<<'" in finding.message


def test_billion_laughs_fails_fast():
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for n in range(1, 12):
        prev, cur = chr(ord("a") + n - 1), chr(ord("a") + n)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 10) + "]")
    started = time.monotonic()
    finding = only_finding("\n".join(lines) + "\n")
    assert "billion laughs" in finding.message
    # Expanding the 10**11 references would take hours; a loose bound that a busy machine
    # cannot break.
    assert time.monotonic() - started < 30


def test_alias_expansion_below_the_limit_is_fine():
    # 10 * 10 * 10 = 1,000 leaves: shared anchors, well below the bound.
    text = ("a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [" + ", ".join(["*a"] * 10) + "]\n"
            "c: [" + ", ".join(["*b"] * 10) + "]\n")
    assert isinstance(parse_source(text.encode(), "in.yaml").root, MappingNode)


@pytest.mark.parametrize("text, path", [
    ("a: &x [*x]\n", "a[0]"),
    ("a: &x {b: *x}\n", "a.b"),
    ("a: &x [[*x]]\n", "a[0][0]"),
])
def test_recursive_aliases_are_refused(text, path):
    finding = only_finding(text)
    assert finding.path == path and "recursive alias" in finding.message


def test_nesting_limit_is_exact():
    def nested(depth: int) -> bytes:
        # The root mapping is level 0 and the value of `a` level 1: depth levels in all.
        return ("a: " + "[" * (depth - 1) + "x" + "]" * (depth - 1) + "\n").encode()

    parse_source(nested(source.MAX_DEPTH), "in.yaml")
    finding = only_finding(nested(source.MAX_DEPTH + 2))
    assert "nesting is too deep" in finding.message


def test_very_deep_flow_nesting_is_an_error_not_a_crash():
    finding = only_finding("a: " + "[" * 50_000 + "]" * 50_000 + "\n")
    assert "nesting is too deep" in finding.message


@pytest.mark.parametrize("data, line, column, message", [
    (b"a: 1\nb: caf\xe9\n", 2, 7, "byte 0xe9 is not valid UTF-8"),
    (b"a: 1\x00\n", 1, 1, "NUL character"),
    ("a: 1\n".encode("utf-16"), 1, 1, "UTF-16 encoded"),
])
def test_encoding_errors_are_located(data, line, column, message):
    finding = only_finding(data)
    assert (finding.line, finding.column) == (line, column)
    assert message in finding.message


def test_size_limit_in_parse_and_read(tmp_path):
    data = b"a: 1\n#" + b"x" * source.MAX_FILE_BYTES
    assert "at most 1048576 bytes" in only_finding(data).message
    big = tmp_path / "big.yaml"
    big.write_bytes(data)
    with pytest.raises(UnitConfigError) as info:
        read_source(big)
    assert "at most 1048576 bytes" in info.value.findings[0].message
    exact = b"a: 1\n#" + b"x" * (source.MAX_FILE_BYTES - 7) + b"\n"
    assert len(exact) == source.MAX_FILE_BYTES
    assert parse_source(exact, "in.yaml")


def test_read_source_reports_missing_files_and_folders(tmp_path):
    with pytest.raises(UnitConfigError) as info:
        read_source(tmp_path / "missing.yaml")
    assert "file not found" in info.value.findings[0].message
    with pytest.raises(UnitConfigError) as info:
        read_source(tmp_path)
    assert "is a directory" in info.value.findings[0].message


def test_read_source_names_the_file_as_given(tmp_path):
    path = tmp_path / "unit.yaml"
    path.write_text("a: 1\n")
    assert read_source(path).name == str(path)
    assert read_source(path, "shown.yaml").name == "shown.yaml"


def test_long_values_are_cut_short_in_messages():
    finding = only_finding("x" * 5000 + "\n")
    assert len(finding.message) < 200 and "(5000 characters)" in finding.message


@pytest.mark.parametrize("parent, key, expected", [
    ("", "nodes", "nodes"),
    ("roles", "gpu-1", "roles.gpu-1"),
    ("roles", "a b", 'roles["a b"]'),
    ("x", "a.b", 'x["a.b"]'),
    ("x", "line\nbreak", 'x["line\\nbreak"]'),
])
def test_key_path(parent, key, expected):
    assert key_path(parent, key) == expected


def test_finding_format_is_editor_friendly():
    finding = only_finding("a: 1\na: 2\n")
    assert finding.format() == ("in.yaml:2:1: error: a: duplicate key 'a' (first defined on "
                                "line 1); remove one of them")
    assert isinstance(parse_source(b"a: 1\n", "x").root.value[0][0], ScalarNode)
