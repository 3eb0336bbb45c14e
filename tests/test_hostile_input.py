"""Hostile input: values that pass a `^...$` pattern with a trailing newline, YAML 1.1 numbers
and booleans that do not mean what they look like, tags, names that collide with generated
files, networks no cluster can use, and paths that are no regular file. Each is refused with a
located message (exit 2 from the CLI), never a traceback, a hang or a lost file."""

from __future__ import annotations

import copy
import io
import os
import socket
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aos_multinode.generation import pins
from aos_multinode.unitconfig import fields, scalars, spec
from aos_multinode.cli import cli
from aos_multinode.errors import UnitConfigError
from aos_multinode.unitconfig.load import Loaded, check_source, load_unit_config
from aos_multinode.generation.release import ReleaseError, resolve_release
from aos_multinode.unitconfig.source import MAX_FILE_BYTES, FileProblem, parse_source, read_bounded

from conftest import REPO_ROOT, VALID_DIR, run_cli
from layer_helpers import render, scratch_dir
from aos_multinode.generation.write import write_tree

MINIMAL = VALID_DIR / "minimal.yaml"


def findings(text: str) -> list:
    """Return the findings of loading `text` ([] when it is valid)."""
    try:
        check_source(parse_source(text.encode(), "hostile.yaml"))
    except UnitConfigError as exc:
        return exc.findings
    return []


def messages_at(text: str, path: str) -> list[str]:
    return [f.message for f in findings(text) if f.path == path]


BASE = """\
device_id: dev-1
release: "1.0"
network:
  interfaces:
    - {name: lan, device: eth0, subnet: SUBNET, addressing: ADDRESSING}
roles:
  main: {main: MAIN, capabilities: {cpu_cores: CORES, memory: 2GiB, gpu: GPU}}
nodes:
  - {index: INDEX, hostname: HOST, ID role: main ADDRESS}
rebalance: {policy: {cpu: {min_timeout: TIMEOUT}}}
"""
DEFAULTS = {"SUBNET": "10.0.0.0/24", "ADDRESSING": "static", "MAIN": "true", "CORES": "4",
            "GPU": "false", "INDEX": "0", "HOST": "n0", "ID": "", "ADDRESS": ", address: 10.0.0.2",
            "TIMEOUT": "30s"}


def base(**values: str) -> str:
    text = BASE
    for key, value in {**DEFAULTS, **values}.items():
        text = text.replace(key, value)
    return text


def test_base_is_valid():
    assert findings(base()) == []


# --- Trailing newlines and other invisible characters -------------------------------------

def _str_fields(field, path=""):
    """(path, Str field) for every pattern-checked text field of the format."""
    if isinstance(field, fields.Str):
        yield path, field
    elif isinstance(field, fields.Struct):
        for key, prop in field.props.items():
            yield from _str_fields(prop.type, f"{path}.{key}" if path else key)
    elif isinstance(field, fields.Seq):
        yield from _str_fields(field.item, f"{path}[]")
    elif isinstance(field, fields.MapOf):
        yield from _str_fields(field.key, f"{path}.<key>")
        yield from _str_fields(field.value, f"{path}.<name>")


STR_FIELDS = dict(_str_fields(spec.UNIT_CONFIG))
ENDINGS = ["\n", "\r\n", "\r", "\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\t", "\x00", " "]


def test_every_text_field_is_seen():
    assert len(STR_FIELDS) >= 20
    assert "nodes[].hostname" in STR_FIELDS and "roles.<key>" in STR_FIELDS


@pytest.mark.parametrize("ending", ENDINGS, ids=lambda e: f"U+{ord(e[-1]):04X}")
@pytest.mark.parametrize("path", sorted(STR_FIELDS))
def test_no_text_field_takes_a_trailing_line_break(path, ending):
    """Python's `$` matches before a final newline: only a full match keeps "x\\n" out."""
    field = STR_FIELDS[path]
    node = yaml.compose(yaml.safe_dump(field.example + ending))
    ctx = scalars.Context("f.yaml")
    assert field.check(node, path, ctx) is scalars.INVALID
    [finding] = ctx.findings
    assert "\n" not in finding.format()
    assert field.check(yaml.compose(yaml.safe_dump(field.example)), path,
                       scalars.Context("f.yaml")) == field.example


@pytest.mark.parametrize("pattern", [name for name in dir(spec) if name.isupper()
                                     and isinstance(getattr(spec, name), str)
                                     and getattr(spec, name).endswith("$")])
def test_schema_patterns_refuse_a_trailing_newline_in_python_too(pattern):
    """The JSON Schema is checked by Python's jsonschema (re.search) as well as by editors
    (ECMA-262, where `$` is the end): the pattern it carries refuses "x\\n" in both."""
    import re
    regex = scalars.schema_pattern(getattr(scalars, pattern))
    for text in ("a", "1", "10.0.0.0/24", "fd00::/64", "::1", "10.0.0.1", "4GiB", "30s",
                 "node-1", "v9.1.1"):
        if re.search(getattr(scalars, pattern), text):
            assert re.search(regex, text), (pattern, text)
            assert not re.search(regex, text + "\n"), (pattern, text)


def test_size_with_a_trailing_newline_is_an_error_not_a_crash():
    """`memory: "4GiB\\n"` made `validate` itself crash (KeyError on the unit)."""
    text = base().replace("memory: 2GiB", 'memory: "4GiB\\n"')
    [message] = messages_at(text, "roles.main.capabilities.memory")
    assert "expected a size" in message


def test_duration_with_a_trailing_newline_is_refused():
    assert messages_at(base(TIMEOUT='"30s\\n"'), "rebalance.policy.cpu.min_timeout")


@pytest.mark.parametrize("ending", ENDINGS, ids=lambda e: f"U+{ord(e[-1]):04X}")
def test_release_option_takes_no_trailing_line_break(ending):
    config = load_unit_config(MINIMAL).config
    assert resolve_release(config, "2026.11.0").value == "2026.11.0"
    with pytest.raises(ReleaseError) as info:
        resolve_release(config, "2026.11.0" + ending)
    assert "\n" not in str(info.value)


def test_release_option_names_the_bad_character():
    config = load_unit_config(MINIMAL).config
    with pytest.raises(ReleaseError, match=r"U\+2028 LINE SEPARATOR"):
        resolve_release(config, "1.0\u2028")
    with pytest.raises(ReleaseError, match=r"\.\.\. \(300 characters\)"):
        resolve_release(config, "1" * 300)


def test_generate_cli_refuses_a_bad_release_option(tmp_path):
    result = run_cli("generate", str(MINIMAL), "-o", str(tmp_path / "out"), "--release",
                     "1.0\n")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize("commit", [SHA + "\n", SHA + "\r", SHA + " ", SHA.upper(), SHA[:39],
                                    SHA + "0", "v9.1.1"])
def test_pins_commit_must_be_exactly_40_hex(commit):
    table = pins.shipped_pins()
    name = next(iter(table["releases"]["scarthgap"]["repos"]))
    table["releases"]["scarthgap"]["repos"][name]["commit"] = commit
    table["meta-aos"]["tags"]["v9.1.1"] = commit
    problems = pins.check_pins(table)
    assert any(f"repos.{name}.commit" in p and "full SHA" in p for p in problems), problems
    assert any("meta-aos.tags.v9.1.1 is not a full SHA" in p for p in problems), problems


def test_aos_version_with_a_newline_is_no_commit():
    with pytest.raises(pins.PinsError):
        pins.aos_commit(pins.shipped_pins(), SHA + "\n")
    assert pins.aos_commit(pins.shipped_pins(), SHA) == SHA


@pytest.mark.parametrize("key", ["url", "branch"])
@pytest.mark.parametrize("value", ["https://x/y\n", "main\nmalicious: 1", "a b", "main\u2028"])
def test_pins_url_and_branch_are_one_word(key, value):
    table = pins.shipped_pins()
    name = next(iter(table["releases"]["scarthgap"]["repos"]))
    table["releases"]["scarthgap"]["repos"][name][key] = value
    assert any(f"repos.{name}.{key}" in p for p in pins.check_pins(table))


def test_shipped_pins_are_well_formed():
    assert pins.check_pins(pins.shipped_pins()) == []


# --- Unicode look-alikes in names ---------------------------------------------------------

@pytest.mark.parametrize("value, shown", [
    ("d\u0430ta", "U+0430 CYRILLIC SMALL LETTER A"),
    ("\u212aey", "U+212A KELVIN SIGN"),
    ("n\u00a0a", "U+00A0 NO-BREAK SPACE"),
    ("n\u200ba", "U+200B ZERO WIDTH SPACE"),
    ("\uff4e1", "U+FF4E FULLWIDTH LATIN SMALL LETTER N"),
])
def test_look_alike_characters_are_named(value, shown):
    text = base().replace("device_id: dev-1", f"device_id: {yaml.safe_dump(value)[:-1]}")
    text = text.replace("\n...", "")
    [message] = messages_at(text, "device_id")
    assert shown in message
    assert "upper-case" not in message and "use 'key'" not in message


# --- YAML 1.1 numbers, booleans and tags ---------------------------------------------------

@pytest.mark.parametrize("text, read", [
    ("010", "octal number (a leading 0), i.e. 8"), ("0o10", "got text '0o10'"),
    ("1:05", "base-60 number (like a time: 1:05 is 65), i.e. 65"),
    ("0x1F", "hexadecimal number, i.e. 31"), ("0b101", "binary number, i.e. 5"),
    ("1_000", "'_' separators, i.e. 1000"), ("+5", "'+' sign, i.e. 5"),
    (".inf", "got a number '.inf'"), ("1e3", "got text '1e3'"),
    ("1.0e+3", "got a number '1.0e+3'"), ("4.0", "got a number '4.0'"),
    ("00", "octal number (a leading 0), i.e. 0"), ("!!int 010", "octal"),
    ("!!int '0x10'", "hexadecimal"), ("!!int abc", "not an integer"),
])
@pytest.mark.parametrize("where", ["INDEX", "CORES", "TIMEOUT"])
def test_integers_must_mean_what_they_look_like(text, read, where):
    path = {"INDEX": "nodes[0].index", "CORES": "roles.main.capabilities.cpu_cores",
            "TIMEOUT": "rebalance.policy.cpu.min_timeout"}[where]
    got = messages_at(base(**{where: text}), path)
    assert got, f"{text} was accepted as {where}"
    if where != "TIMEOUT" or "got" not in read:  # a duration names its own forms
        assert read in got[0], got


@pytest.mark.parametrize("text", ["0", "7", "12", "!!int 12", "-0"])
def test_plain_decimal_integers_are_taken(text):
    assert findings(base(INDEX=text)) == []


def test_memory_as_a_yaml11_integer_is_refused():
    [message] = messages_at(base().replace("memory: 2GiB", "memory: 0x10"),
                            "roles.main.capabilities.memory")
    assert "i.e. 16" in message and "MiB" in message


@pytest.mark.parametrize("text", ["!!bool maybe", "!!bool 1", "1", "'true'", "enabled"])
def test_booleans_must_be_booleans(text):
    [message] = messages_at(base(GPU=text), "roles.main.capabilities.gpu")
    assert "expected true or false" in message


@pytest.mark.parametrize("text, value", [("true", True), ("True", True), ("TRUE", True),
                                         ("false", False), ("False", False),
                                         ("yes", True), ("On", True), ("no", False),
                                         ("off", False), ("!!bool yes", True)])
def test_true_and_false_are_taken(text, value):
    """YAML 1.1's yes/no/on/off mean what they look like (unlike 010 or 1:05): taken."""
    config = check_source(parse_source(base(GPU=text).encode(), "f.yaml")).config
    assert config.role("main").capabilities.gpu is value


def test_examples_use_only_true_and_false():
    for path in sorted((REPO_ROOT / "examples").glob("*.yaml")) + \
            sorted((REPO_ROOT / "tests" / "data" / "examples").glob("*.yaml")):
        load_unit_config(path)


@pytest.mark.parametrize("text, path, message", [
    ("cluster: !custom {discovery: mdns}\n", "cluster", "'!custom' on this mapping"),
    ("cluster: !!set {discovery}\n", "cluster", "'!!set' on this mapping"),
    ("yocto: !!omap [{machine: qemux86-64}]\n", "yocto", "'!!omap' on this list"),
    ("aos: !!python/object:os.system {enabled: true}\n", "aos",
     "'!!python/object:os.system' on this mapping"),
    ("cluster: {id: !x:str dev}\n", "cluster.id", "a value tagged !x:str"),
    ("cluster: {id: !<tag:evil.org,2002:str> dev}\n", "cluster.id", "a value tagged"),
    ("format_version: !<tag:evil.org,2002:int> 1\n", "format_version", "a value tagged"),
    ("cluster: {!x:str id: dev}\n", "cluster.id", "the tag '!x:str' on key 'id'"),
])
def test_tags_are_refused_on_every_kind_of_node(text, path, message):
    found = [f.message for f in findings(base() + text) if f.path == path]
    assert found and message in found[0], findings(base() + text)


def test_a_tag_on_the_root_is_refused():
    [finding] = findings("--- !unit\n" + base())
    assert finding.path == "(top level)" and "'!unit' on this mapping" in finding.message


def test_standard_tags_stay_fine():
    text = base().replace("dev-1", "!!str dev-1").replace("network:\n", "network: !!map\n")
    assert findings(text) == []


# --- Names that collide with generated files or that a resolver reads otherwise ------------

@pytest.mark.parametrize("node_id, message", [
    ("all-nodes", "kas/all-nodes.yml"), ("localhost", "is reserved"),
    ("1st", "cannot start with a digit"), ("123", "cannot start with a digit"),
    ("0x1f", "cannot start with a digit"),
])
def test_reserved_node_ids(node_id, message):
    [got] = messages_at(base(ID=f"id: '{node_id}',"), "nodes[0].id")
    assert message in got


@pytest.mark.parametrize("node_id", ["include", "common", "n0", "node-all", "all-nodes-2"])
def test_ids_that_collide_with_nothing_are_taken(node_id):
    """kas/include/common.yml is in a folder: kas/include.yml and kas/common.yml are free."""
    assert findings(base(ID=f"id: {node_id},")) == []


@pytest.mark.parametrize("hostname, message", [
    ("localhost", "is reserved"), ("123", "reads as an IPv4 address"),
    ("0x1f", "reads as an IPv4 address"), ("0x", "reads as an IPv4 address"),
])
def test_reserved_hostnames(hostname, message):
    [got] = messages_at(base(HOST=f"'{hostname}'"), "nodes[0].hostname")
    assert message in got


@pytest.mark.parametrize("hostname", ["1node", "0xg", "n0", "localhost1", "x123"])
def test_hostnames_with_a_letter_are_taken(hostname):
    assert findings(base(HOST=hostname)) == []


def test_generated_file_names_never_collide():
    """Every file a generate would write has a path of its own (node ids, role names and
    interface names that look like generated names included)."""
    text = """\
device_id: all-nodes
release: "1"
network:
  interfaces:
    - {name: common, device: eth0, subnet: 10.0.0.0/24}
    - {name: include, device: eth1, subnet: 10.1.0.0/24, addressing: dhcp}
roles:
  common: {main: true}
  include: {}
  all-nodes: {}
nodes:
  - {index: 0, id: include, hostname: conf, role: common, address: 10.0.0.2}
  - {index: 1, id: common, hostname: files, role: include, address: 10.0.0.3}
  - {index: 2, id: node-1, hostname: all-nodes, role: all-nodes, address: 10.0.0.4}
"""
    config = check_source(parse_source(text.encode(), "f.yaml")).config
    out = scratch_dir("collide")
    files = render(config, out, release="1")
    assert len({f.relpath for f in files}) == len(files)


# --- Networks no cluster can use ---------------------------------------------------------

@pytest.mark.parametrize("subnet, addressing, message", [
    ("127.0.0.0/8", "static", "loopback"), ("127.0.0.0/24", "dhcp", "loopback"),
    ("224.0.0.0/24", "static", "multicast"), ("239.1.0.0/16", "dhcp", "multicast"),
    ("0.0.0.0/0", "static", "too large"), ("10.0.0.0/7", "static", "too large"),
    ("0.0.0.0/8", "static", "this network"), ("240.0.0.0/24", "static", "reserved"),
    ("255.255.255.255/32", "dhcp", "reserved"),
    ("169.254.0.0/16", "static", "link-local"), ("::1/128", "static", "loopback"),
    ("::/0", "dhcp", "too large"), ("ff02::/16", "static", "multicast"),
    ("fe80::/64", "static", "link-local"), ("::ffff:10.0.0.0/120", "static", "IPv4-mapped"),
    ("::/128", "dhcp", "unspecified"),
])
def test_networks_no_cluster_can_use(subnet, addressing, message):
    got = messages_at(base(SUBNET=f"'{subnet}'", ADDRESSING=addressing, ADDRESS=""),
                      "network.interfaces[0].subnet")
    assert got and message in got[0], got


@pytest.mark.parametrize("subnet, addressing", [
    ("10.0.0.0/8", "dhcp"), ("192.168.1.0/24", "dhcp"), ("fd00::/8", "dhcp"),
    ("fd00:1::/64", "dhcp"), ("169.254.0.0/16", "dhcp"), ("fe80::/64", "dhcp"),
    ("2001:db8::/64", "dhcp"), ("100.64.0.0/10", "dhcp"),
])
def test_networks_a_cluster_can_use(subnet, addressing):
    assert findings(base(SUBNET=f"'{subnet}'", ADDRESSING=addressing, ADDRESS="")) == []


# --- Paths that are no regular file -------------------------------------------------------

def run_module(*args: str, stdin=None, timeout: float = 30) -> subprocess.CompletedProcess:
    """Run `python -m aos_multinode ARGS` (a real process: a hang is caught by `timeout`)."""
    return subprocess.run([sys.executable, "-m", "aos_multinode", *args], stdin=stdin,
                          capture_output=True, text=True, timeout=timeout, check=False)


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "unit-config.yaml"
    os.mkfifo(fifo)
    result = run_module("validate", str(fifo), timeout=20)
    assert result.returncode == 2, result.stderr
    assert f"{fifo}:1:1: error: is a FIFO (named pipe), not a file" in result.stderr
    assert "Traceback" not in result.stderr


def test_dev_zero_is_refused():
    result = run_module("validate", "/dev/zero", timeout=20)
    assert result.returncode == 2
    assert "/dev/zero:1:1: error: is a character device, not a file" in result.stderr


def test_a_socket_is_refused(tmp_path):
    path = tmp_path / "s.yaml"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        result = run_cli("validate", str(path))
    finally:
        server.close()
    assert result.exit_code == 2 and "is a socket, not a file" in result.stderr


def test_a_directory_is_refused_by_the_reader(tmp_path):
    with pytest.raises(UnitConfigError, match="is a directory"):
        load_unit_config(tmp_path)


def test_stdin_is_read_with_a_dash():
    runner = CliRunner()
    result = runner.invoke(cli, ["validate", "-"], input=MINIMAL.read_text())
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["validate", "-"], input="device_id: Dev\n")
    assert result.exit_code == 2 and "<stdin>:1:12: error: device_id:" in result.stderr


def test_endless_stdin_is_cut_at_the_limit():
    with open("/dev/zero", "rb") as zero:
        result = run_module("validate", "-", stdin=zero, timeout=20)
    assert result.returncode == 2
    assert f"more than {MAX_FILE_BYTES} bytes" in result.stderr


class Endless(io.RawIOBase):
    """A stream that never ends and counts what was taken from it (a file that grows)."""

    def __init__(self):
        self.taken = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        buffer[:] = b"#" * len(buffer)
        self.taken += len(buffer)
        return len(buffer)


def test_reading_stops_one_byte_after_the_limit():
    stream = Endless()
    with pytest.raises(FileProblem, match="more than 100 bytes"):
        read_bounded(stream, 100)
    assert stream.taken == 101
    assert read_bounded(io.BytesIO(b"x" * 100), 100) == b"x" * 100


def test_pins_file_that_is_a_fifo_or_a_device(tmp_path):
    fifo = tmp_path / "pins.json"
    os.mkfifo(fifo)
    code = ("import sys\nfrom aos_multinode.generation import pins\n"
            "for path in sys.argv[1:]:\n"
            "    try:\n        pins.load_pins(path)\n"
            "    except pins.PinsError as exc:\n        print(exc)\n")
    result = subprocess.run([sys.executable, "-c", code, str(fifo), "/dev/zero"],
                            capture_output=True, text=True, timeout=20, check=False)
    assert result.returncode == 0, result.stderr
    assert f"{fifo}: is a FIFO (named pipe), not a file" in result.stdout
    assert "/dev/zero: is a character device, not a file" in result.stdout


# --- Property: whatever is accepted generates safely ------------------------------------

DOCUMENT = {
    "device_id": "dev-1", "release": "1.0",
    "cluster": {"id": "cluster-1", "discovery": "static"},
    "yocto": {"machine": "genericx86-64", "distro": "poky"},
    "aos": {"enabled": True, "version": "v9.1.1", "unit_model": "model",
            "unit_version": "1.0"},
    "network": {"interfaces": [
        {"name": "lan", "device": "eth0", "subnet": "10.0.0.0/24", "gateway": "10.0.0.1"},
        {"name": "can", "device": "en*", "subnet": "10.1.0.0/24"}]},
    "roles": {
        "main": {"main": True, "capabilities": {"accelerators": ["npu"]},
                 "kernel": "linux-yocto", "packages": ["htop"], "labels": ["main"]},
        "worker": {"packages": ["curl"], "labels": ["batch"]}},
    "nodes": [
        {"index": 0, "id": "head", "hostname": "h0", "address": "10.0.0.10", "role": "main",
         "machine": "genericx86-64", "addresses": {"can": "10.1.0.10"}},
        {"index": 1, "hostname": "w1", "address": "10.0.0.11", "role": "worker",
         "addresses": {"can": "10.1.0.11"}}],
}
# Where a text value sits in DOCUMENT (a path of keys and indexes).
TEXT_PLACES = [
    ("device_id",), ("release",), ("cluster", "id"), ("yocto", "machine"), ("yocto", "distro"),
    ("aos", "version"), ("aos", "unit_model"), ("aos", "unit_version"),
    ("network", "interfaces", 0, "name"), ("network", "interfaces", 0, "device"),
    ("network", "interfaces", 1, "device"), ("roles", "main", "kernel"),
    ("roles", "main", "packages", 0), ("roles", "main", "labels", 0),
    ("roles", "main", "capabilities", "accelerators", 0), ("roles", "worker", "packages", 0),
    ("nodes", 0, "id"), ("nodes", 0, "hostname"), ("nodes", 0, "machine"),
    ("nodes", 1, "hostname"),
]
HOSTILE = ["\n", "\r", "\r\n", "\t", "\x00", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\u2028",
           "\u2029", "\u200b", "\ufeff", "\u00a0", "\u0430", "\u212a", "\u0130", " ", "$", "{",
           "}", "'", '"', "`", "\\", "/", "..", ";", "#", ":", "%", "@", "*", "?", "[", "]",
           "${@", "$(", "\n---\n", "\nMACHINE = \"x\"", "-", ".", "_", "+", "~"]
# Characters no generated file may hold (except the newline and tab of its own layout).
FORBIDDEN_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"}


LINE_ENDS = ["\n", "\r\n", "\r", "\u2028", "\x85"]
# Valid-looking names, and names of generated files or hosts.
VALID_TEXT = st.one_of(st.from_regex(r"[a-z][a-z0-9-]{0,6}[a-z0-9]", fullmatch=True),
                       st.sampled_from(["all-nodes", "include", "common", "localhost", "1st",
                                        "conf", "files", "kas", "default", "123", "0x1f"]))


@st.composite
def hostile_text(draw, original: str) -> str:
    kind = draw(st.sampled_from(["append", "append", "insert", "replace", "random", "keep",
                                 "valid", "valid"]))
    if kind == "random":
        return draw(st.text(max_size=12))
    if kind == "keep":
        return original
    if kind == "valid":
        return draw(VALID_TEXT)
    bad = draw(st.one_of(st.sampled_from(LINE_ENDS), st.sampled_from(HOSTILE)))
    if kind == "append":
        return original + bad
    if kind == "replace":
        return bad
    at = draw(st.integers(0, len(original)))
    return original[:at] + bad + original[at:]


@st.composite
def hostile_documents(draw) -> dict:
    document = copy.deepcopy(DOCUMENT)
    for place in draw(st.lists(st.sampled_from(TEXT_PLACES), min_size=0, max_size=3,
                               unique=True)):
        *parents, last = place
        target = document
        for step in parents:
            target = target[step]
        target[last] = draw(hostile_text(target[last]))
    if draw(st.booleans()):  # a hostile role name (the key and the nodes naming it)
        name = draw(hostile_text("worker"))
        document["roles"][name] = document["roles"].pop("worker")
        document["nodes"][1]["role"] = name
    if draw(st.booleans()):  # a hostile interface name (and the address map key)
        name = draw(hostile_text("can"))
        document["network"]["interfaces"][1]["name"] = name
        for node in document["nodes"]:
            node["addresses"] = {name: node["addresses"]["can"]}
    return document


def check_output(files) -> None:
    relpaths = [f.relpath for f in files]
    assert len(set(relpaths)) == len(relpaths), "two files at one path: one is lost"
    for file in files:
        assert file.relpath.isascii() and file.relpath.isprintable(), repr(file.relpath)
        assert " " not in file.relpath and ".." not in file.relpath.split("/")
        text = file.content.decode("utf-8")
        bad = {ch for ch in text if ch not in "\n\t"
               and unicodedata.category(ch) in FORBIDDEN_CATEGORIES}
        assert not bad, f"{file.relpath} holds {sorted(map(repr, bad))}"
        assert "\r" not in text


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(hostile_documents(), st.booleans())
def test_whatever_is_accepted_generates_safe_files(document, raw_unicode):
    """For every Unit Config the validator accepts, `generate` runs through and no generated
    file holds a control, format or line-separator character from a value."""
    data = yaml.safe_dump(document, sort_keys=False, allow_unicode=raw_unicode).encode()
    try:
        loaded = check_source(parse_source(data, "hostile.yaml"))
    except UnitConfigError as error:
        for finding in error.findings:
            assert finding.line >= 1 and "\n" not in finding.format()
        return
    assert isinstance(loaded, Loaded)
    out = scratch_dir("hostile")
    try:
        files = render(loaded.config, out, release=loaded.config.release)
    except pins.PinsError as error:  # a well-formed aos.version the pins table does not know
        assert "has no known commit" in str(error) and "\n" not in str(error)
        return
    check_output(files)
    write_tree(out, files)


def test_the_hostile_strategy_accepts_some_documents():
    """Guard for the property above: it must see accepted documents to prove anything."""
    accepted = 0

    @settings(max_examples=120, deadline=None, database=None, derandomize=True)
    @given(hostile_documents())
    def count(document):
        nonlocal accepted
        try:
            check_source(parse_source(yaml.safe_dump(document).encode(), "f.yaml"))
            accepted += 1
        except UnitConfigError:
            pass

    count()
    assert accepted >= 10
