"""Property-based tests: whatever a user (or a fuzzer) feeds the loader, the answer is a model
or a UnitConfigError with located findings, never another exception."""

from __future__ import annotations

import copy

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from aos_multinode.errors import UnitConfigError
from aos_multinode.unitconfig.load import Loaded, check_source
from aos_multinode.unitconfig.source import parse_source
from aos_multinode.unitconfig.spec import json_schema

from conftest import EXAMPLES, VALID_VARIANTS

SOURCES = [path.read_bytes() for path in EXAMPLES + VALID_VARIANTS]
DOCUMENTS = [yaml.safe_load(data) for data in SOURCES]
SCHEMA = Draft202012Validator(json_schema())

FAST = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-5, 70000),
    st.floats(allow_nan=False), st.text(max_size=20),
    st.sampled_from(["", "static", "dhcp", "mdns", "main", "node0", "10.0.0.300", "fd00::1",
                     "10.0.0.0/24", "4GiB", "30s", "${@x}", "$(reboot)", "a\nb", "../x",
                     "yes", "~", "0x_", "1:30", "9" * 60, "scarthgap", "eth0"]),
)
yaml_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(st.text(max_size=8), children, max_size=3)),
    max_leaves=8,
)


def outcome(data: bytes):
    """Load `data`; return the Loaded model or the UnitConfigError, and check the error is
    well formed. Any other exception fails the test."""
    try:
        return check_source(parse_source(data, "fuzz.yaml"))
    except UnitConfigError as error:
        assert error.findings, "an error without findings tells the user nothing"
        for finding in error.findings:
            assert finding.file == "fuzz.yaml" and finding.severity == "error"
            assert finding.line >= 1 and finding.column >= 1
            assert finding.message and "\n" not in finding.format()
        return error


def containers(document) -> list:
    """Every mapping and list inside `document` (the document itself included)."""
    found, todo = [], [document]
    while todo:
        node = todo.pop()
        if isinstance(node, (dict, list)):
            found.append(node)
            todo.extend(node.values() if isinstance(node, dict) else node)
    return found


@st.composite
def mutated_documents(draw):
    """A valid document with a few random edits: keys deleted or added, values replaced by
    random YAML values, list entries duplicated or dropped."""
    document = copy.deepcopy(draw(st.sampled_from(DOCUMENTS)))
    for _ in range(draw(st.integers(1, 4))):
        target = draw(st.sampled_from(containers(document)))
        action = draw(st.sampled_from(["delete", "replace", "add", "duplicate"]))
        if isinstance(target, dict) and target:
            key = draw(st.sampled_from(sorted(target, key=str)))
            if action == "delete":
                del target[key]
            elif action == "add":
                target[draw(st.text(max_size=10))] = draw(yaml_values)
            else:
                target[key] = draw(yaml_values)
        elif isinstance(target, list) and target:
            index = draw(st.integers(0, len(target) - 1))
            if action == "duplicate":
                target.append(copy.deepcopy(target[index]))
            elif action == "delete":
                del target[index]
            else:
                target[index] = draw(yaml_values)
    return document


@FAST
@given(mutated_documents())
def test_mutated_configs_never_crash(document):
    outcome(yaml.safe_dump(document, sort_keys=False).encode())


def _optional_keys(document, schema) -> list[tuple[dict, str]]:
    """(mapping, key) for every key of `document` the schema does not require."""
    found = []
    if isinstance(document, dict) and schema.get("type") == "object":
        for key, value in document.items():
            sub = schema.get("properties", {}).get(key) or schema.get("additionalProperties")
            if key not in schema.get("required", []):
                found.append((document, key))
            if isinstance(sub, dict):
                found.extend(_optional_keys(value, sub))
    elif isinstance(document, list) and schema.get("type") == "array":
        for item in document:
            found.extend(_optional_keys(item, schema["items"]))
    return found


@st.composite
def thinned_documents(draw):
    """A valid document with some optional keys left out: mostly still valid."""
    document = copy.deepcopy(draw(st.sampled_from(DOCUMENTS)))
    candidates = _optional_keys(document, json_schema())
    for mapping, key in draw(st.lists(st.sampled_from(candidates), max_size=6)):
        mapping.pop(key, None)
    return document


@FAST
@given(st.one_of(thinned_documents(), mutated_documents()))
def test_schema_accepts_whatever_the_validator_accepts(document):
    """The schema may be looser than the validator (cross-field rules), never stricter."""
    result = outcome(yaml.safe_dump(document, sort_keys=False).encode())
    if isinstance(result, Loaded):
        assert list(SCHEMA.iter_errors(document)) == []


def test_thinned_documents_are_often_valid():
    """Guard for the test above: it must see many accepted documents to prove anything."""
    accepted = 0

    @settings(max_examples=100, deadline=None, database=None, derandomize=True)
    @given(thinned_documents())
    def count(document):
        nonlocal accepted
        result = outcome(yaml.safe_dump(document, sort_keys=False).encode())
        accepted += isinstance(result, Loaded)

    count()
    assert accepted >= 30


@FAST
@given(st.sampled_from(SOURCES), st.data())
def test_text_edits_never_crash(source, data):
    """Edits on the raw text: duplicated or dropped lines (duplicate keys, broken indentation),
    inserted characters, random bytes, truncation."""
    lines = source.split(b"\n")
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, len(lines) - 1))
        action = data.draw(st.sampled_from(["dup", "drop", "insert", "bytes", "indent"]))
        if action == "dup":
            lines.insert(index, lines[index])
        elif action == "drop":
            del lines[index]
        elif action == "insert":
            at = data.draw(st.integers(0, len(lines[index])))
            text = data.draw(st.sampled_from(["\t", ":", "- ", "&a ", "*a", "<<: ", "[", "{",
                                              "'", '"', "#", "---", "? ", "!!int ", "%"]))
            lines[index] = lines[index][:at] + text.encode() + lines[index][at:]
        elif action == "bytes":
            lines[index] = data.draw(st.binary(max_size=20))
        else:
            lines[index] = b" " + lines[index]
        if not lines:
            break
    blob = b"\n".join(lines)
    cut = data.draw(st.integers(0, len(blob)))
    outcome(blob[:cut] if data.draw(st.booleans()) else blob)


@FAST
@given(st.binary(max_size=300))
def test_random_bytes_never_crash(blob):
    outcome(blob)


@FAST
@given(st.text(max_size=300))
def test_random_text_never_crashes(text):
    outcome(text.encode("utf-8", "surrogatepass"))


@FAST
@given(st.text(alphabet=" \t\n:-[]{},&*!|>'\"#%@`?<x1", max_size=200))
def test_yaml_syntax_soup_never_crashes(text):
    outcome(text.encode())


@FAST
@given(st.dictionaries(st.text(max_size=12), yaml_values, max_size=6))
def test_random_mappings_never_crash(document):
    outcome(yaml.safe_dump(document).encode())
