"""Invalid Unit Configs: each is rejected with exit code 2, every finding located by field path
and line, no traceback, and nothing written.

Each file under data/invalid/ starts with comment lines that state what it must produce:
    # expect: FIELD.PATH line N     one per finding, all of them ('-' when no field path applies)
    # message: TEXT                 a piece of text that must be in the messages
    # schema: reject                a structural error the JSON Schema must reject too
A '#<' at the end of a line marks, for the reader, a line that an expect: names.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import INVALID_DIR, run_cli, tree_state

INVALID_FILES = sorted(INVALID_DIR.glob("*.yaml"))

_EXPECT = re.compile(r"^# expect: (.+) line (\d+)$")
_MESSAGE = re.compile(r"^# message: (.+)$")


@dataclass
class Expectation:
    findings: set = field(default_factory=set)  # {(path, line)}; path "" = no field path
    messages: list = field(default_factory=list)
    schema_rejects: bool = False


def read_expectation(path: Path) -> Expectation:
    """Return what the header comments of an invalid Unit Config promise."""
    expectation = Expectation()
    for raw in path.read_bytes().split(b"\n"):
        if not raw.startswith(b"#"):
            break
        line = raw.decode("ascii")
        if match := _EXPECT.match(line):
            name = "" if match.group(1) == "-" else match.group(1)
            expectation.findings.add((name, int(match.group(2))))
        elif match := _MESSAGE.match(line):
            expectation.messages.append(match.group(1))
        elif line == "# schema: reject":
            expectation.schema_rejects = True
    return expectation


def run_in_sandbox(tmp_path: Path, name: str, data: bytes, *options: str):
    """Copy `data` to a fresh folder as `name`, run validate there; return the result and
    whether the folder (and its parent) changed."""
    work = tmp_path / "work"
    work.mkdir(parents=True)
    (work / name).write_bytes(data)
    before = tree_state(tmp_path)
    result = run_cli("validate", *options, name, cwd=work)
    return result, tree_state(tmp_path) != before


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if ": error: " in line]


def assert_rejected(result, changed: bool) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert not changed, "a rejected Unit Config must not write anything"


def test_corpus_has_at_least_50_files_with_expectations():
    assert len(INVALID_FILES) >= 50
    for path in INVALID_FILES:
        assert read_expectation(path).findings, f"{path.name} has no '# expect:' line"


@pytest.mark.parametrize("path", INVALID_FILES, ids=lambda p: p.stem)
def test_invalid_config_text_output(path, tmp_path):
    expected = read_expectation(path)
    result, changed = run_in_sandbox(tmp_path, path.name, path.read_bytes())
    assert_rejected(result, changed)
    assert result.stdout == "", "nothing but findings, on stderr"
    errors = error_lines(result.stderr)
    assert len(errors) == len(expected.findings), result.stderr
    for name, line in expected.findings:
        prefix = re.escape(f"{path.name}:{line}:") + r"\d+: error: " + \
            (re.escape(f"{name}: ") if name else "")
        assert any(re.match(prefix, error) for error in errors), \
            f"no error for {name or '(file)'} on line {line} in:\n{result.stderr}"
    for message in expected.messages:
        assert message in result.stderr
    count = len(expected.findings)
    assert f"{path.name}: {count} error{'s' if count != 1 else ''}; nothing was accepted" \
        in result.stderr


@pytest.mark.parametrize("path", INVALID_FILES, ids=lambda p: p.stem)
def test_invalid_config_json_output_matches_text(path, tmp_path):
    """--format json reports the same findings as the text output, machine-readably."""
    text_result, _ = run_in_sandbox(tmp_path / "text", path.name, path.read_bytes())
    result, changed = run_in_sandbox(tmp_path / "json", path.name, path.read_bytes(),
                                     "--format", "json")
    assert_rejected(result, changed)
    report = json.loads(result.stdout)
    [entry] = report["files"]
    assert entry["file"] == path.name and entry["valid"] is False
    found = {(error["path"], error["line"]) for error in entry["errors"]}
    assert found == read_expectation(path).findings
    as_text = [f"{e['file']}:{e['line']}:{e['column']}: {e['severity']}: "
               + (f"{e['path']}: " if e["path"] else "") + e["message"]
               for e in entry["errors"]]
    assert as_text == error_lines(text_result.stderr)


def test_several_errors_are_reported_in_one_run(tmp_path):
    """Structural and cross-field mistakes all at once, in file order."""
    path = INVALID_DIR / "several-errors.yaml"
    result, _ = run_in_sandbox(tmp_path, path.name, path.read_bytes())
    lines = [int(error.split(":")[1]) for error in error_lines(result.stderr)]
    assert len(lines) >= 5 and lines == sorted(lines)
    kinds = {"is not a DNS label", "out of range", "expected a size", "outside the subnet",
             "is not defined under roles"}
    assert all(any(kind in error for error in error_lines(result.stderr)) for kind in kinds)


# Loader errors that are better made here than stored: big, empty or binary files.
GENERATED = {
    "too-large": (b"device_id: dev-1\n" + b"# " + b"x" * (1024 * 1024) + b"\n",
                  "at most 1048576 bytes (1 MiB)"),
    "empty": (b"", "file is empty"),
    "blank": (b"\n   \n\n", "file is empty"),
    "utf16": ("device_id: dev-1\n".encode("utf-16"), "UTF-16"),
    "binary": (bytes(range(128, 256)) * 4, "byte 0x80 is not valid UTF-8"),
}


@pytest.mark.parametrize("name", GENERATED)
def test_generated_loader_errors(name, tmp_path):
    data, message = GENERATED[name]
    result, changed = run_in_sandbox(tmp_path, f"{name}.yaml", data)
    assert_rejected(result, changed)
    [error] = error_lines(result.stderr)
    assert error.startswith(f"{name}.yaml:1:1: error: ")
    assert message in error


def test_file_that_does_not_exist(tmp_path):
    result = run_cli("validate", "nowhere.yaml", cwd=tmp_path)
    assert result.exit_code == 2
    assert "nowhere.yaml:1:1: error: file not found" in result.stderr
    assert list(tmp_path.iterdir()) == []


# Values that would carry code into BitBake, shell, systemd or YAML files, in every string
# field that lands in a generated file. Each is written as a JSON string (valid YAML), so
# quotes and newlines reach the validator as they are.
PAYLOADS = {
    "bitbake-python": "${@os.system('x')}",
    "command-substitution": "$(reboot)",
    "double-quote": 'a"b',
    "single-quote": "a'b",
    "newline": "a\nMACHINE = \"evil\"",
    "parent-dir": "../etc",
    "inner-parent-dir": "v1/../../etc",
    "backticks": "`id`",
    "space": "a b",
    "semicolon": "a;reboot",
    "variable": "${HOME}",
    "empty": "",
    # A valid value plus one invisible character: Python's `$` matches before a final
    # newline, so only a full match keeps these out.
    "trailing-newline": "n1\n",
    "trailing-crlf": "n1\r\n",
    "line-separator": "n1\u2028",
    "next-line": "n1\x85",
    "tab": "n1\t",
    "nul": "n1\x00",
    "terminal-escape": "n1\x1b[2J",
    "cyrillic-look-alike": "n\u0430",
    "fullwidth": "\uff4e1",
    "very-long": "n" * 300,
}

BASE = """\
device_id: dev-1
release: "1.0"
cluster: {id: dev}
yocto: {machine: genericx86-64, distro: poky}
aos: {version: v9.1.1, unit_model: model, unit_version: "1.0"}
network:
  interfaces:
    - {name: internal, device: eth0, subnet: 10.0.0.0/24}
roles:
  main:
    main: true
    capabilities: {accelerators: [npu]}
    kernel: linux-yocto
    packages: [htop]
    labels: [main]
nodes:
  - {index: 0, hostname: n0, address: 10.0.0.10, role: main, machine: genericx86-64}
"""

# field path -> (text to replace in BASE, the same with {} for the JSON-quoted payload, line)
FIELDS = {
    "device_id": ("device_id: dev-1", "device_id: {}", 1),
    "release": ('release: "1.0"', "release: {}", 2),
    "cluster.id": ("{id: dev}", "{{id: {}}}", 3),
    "yocto.machine": ("machine: genericx86-64, distro", "machine: {}, distro", 4),
    "yocto.distro": ("distro: poky", "distro: {}", 4),
    "aos.version": ("version: v9.1.1", "version: {}", 5),
    "aos.unit_model": ("unit_model: model", "unit_model: {}", 5),
    "aos.unit_version": ('unit_version: "1.0"', "unit_version: {}", 5),
    "network.interfaces[0].name": ("name: internal", "name: {}", 8),
    "network.interfaces[0].device": ("device: eth0", "device: {}", 8),
    "roles.main.capabilities.accelerators[0]": ("[npu]", "[{}]", 12),
    "roles.main.kernel": ("kernel: linux-yocto", "kernel: {}", 13),
    "roles.main.packages[0]": ("[htop]", "[{}]", 14),
    "roles.main.labels[0]": ("[main]", "[{}]", 15),
    "nodes[0].hostname": ("hostname: n0", "hostname: {}", 17),
    "nodes[0].machine": ("machine: genericx86-64}", "machine: {}}}", 17),
    "nodes[0].id": ("{index: 0,", "{{index: 0, id: {},", 17),
}


def inject(field_path: str, payload: str) -> str:
    """Return BASE with `payload` as the value of `field_path`."""
    old, new, _ = FIELDS[field_path]
    assert BASE.count(old) == 1
    return BASE.replace(old, new.format(json.dumps(payload)))


def test_injection_base_is_valid(tmp_path):
    result, _ = run_in_sandbox(tmp_path, "base.yaml", BASE.encode())
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("field_path", FIELDS)
def test_injection_is_rejected(field_path, payload, tmp_path):
    text = inject(field_path, PAYLOADS[payload])
    result, changed = run_in_sandbox(tmp_path, "inject.yaml", text.encode(), "--format", "json")
    assert_rejected(result, changed)
    [entry] = json.loads(result.stdout)["files"]
    found = {(error["path"], error["line"]) for error in entry["errors"]}
    assert (field_path, FIELDS[field_path][2]) in found
    # The role and the node's role name are one value: only a role key breaks both.
    assert len(found) == 1, found
