"""Issue 7: show (table and pictures), export (with the shipped schemas), init (options,
interactive through a real pseudo-terminal), the generated reference and FLASHING.md."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
import yaml

from aos_multinode.generation.export import export_schema
from aos_multinode.unitconfig.load import load_unit_config
from aos_multinode.unitconfig.reference import unit_config_reference

from conftest import EXAMPLES, REPO_ROOT, run_cli

needs_graphviz = pytest.mark.skipif(shutil.which("dot") is None,
                                    reason="Graphviz `dot` is not installed")


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_show_table_names_every_node_role_and_time_server(example):
    config = load_unit_config(example).config
    result = run_cli("show", str(example))
    assert result.exit_code == 0, result.output
    for node in config.nodes:
        assert node.id in result.stdout and node.hostname in result.stdout
        assert node.role.name in result.stdout
    assert f"time {config.time_protocol} from {config.time_server}" in result.stdout


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_show_dot_and_mermaid_name_every_node_and_mark_the_main_node(example):
    config = load_unit_config(example).config
    dot = run_cli("show", str(example), "--format", "dot").stdout
    mermaid = run_cli("show", str(example), "--format", "mermaid").stdout
    assert dot.startswith("graph ") and mermaid.startswith("---")
    for node in config.nodes:
        assert f'"node-{node.id}"' in dot
        assert str(node.address) in dot and str(node.address) in mermaid
    assert dot.count("Aos main node") == 1 and mermaid.count("Aos main node") == 1
    clients = len(config.nodes) - 1
    assert dot.count("dir=forward") == clients                     # time: server -> clients
    assert mermaid.count(f"{config.time_protocol.upper()} time") == clients


@needs_graphviz
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_show_svg_parses_as_xml_and_names_every_node(example, tmp_path):
    config = load_unit_config(example).config
    out = tmp_path / "topology.svg"
    result = run_cli("show", str(example), "--format", "svg", "-o", str(out))
    assert result.exit_code == 0, result.output
    root = ET.parse(out).getroot()
    assert root.tag.endswith("svg")
    text = " ".join(t for t in root.itertext())
    for node in config.nodes:
        assert node.id in text and node.hostname in text and str(node.address) in text
    assert config.device_id in text


@needs_graphviz
def test_show_png_is_a_png(tmp_path):
    out = tmp_path / "t.png"
    result = run_cli("show", str(EXAMPLES[0]), "--format", "png", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_show_without_graphviz_is_a_clear_user_error(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    result = run_cli("show", str(EXAMPLES[0]), "--format", "svg", "-o", str(tmp_path / "x"))
    assert result.exit_code != 0
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("kind", ["target-system", "aos-unit-config"])
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_export_validates_against_the_shipped_schema(example, kind):
    config = load_unit_config(example).config
    result = run_cli("export", kind, str(example))
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    schema = export_schema(kind)
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(document, schema)
    if kind == "target-system":
        assert document["node_count"] == len(config.nodes)
        assert [n["id"] for n in document["nodes"]] == [n.id for n in config.nodes]
        assert [n["placement"]["priority"] for n in document["nodes"]] == \
            [n.role.priority for n in config.nodes]
    else:
        assert document["formatVersion"] == "7"
        assert document["version"] == config.aos.unit_config_version
        # One entry per node type (role), never a build-time node name as node ID.
        roles = list(dict.fromkeys(n.role.name for n in config.nodes))
        assert [n["nodeGroupSubject"]["codename"] for n in document["nodes"]] == \
            [f"{config.aos.unit_model}-{config.aos.unit_version}-{r}" for r in roles]
        assert not [n for n in document["nodes"] if "node" in n]
        assert result.stdout.strip() == json.dumps(document, separators=(",", ":"),
                                                   sort_keys=True)


def test_export_schema_rejects_a_broken_document():
    document = json.loads(run_cli("export", "target-system", str(EXAMPLES[0])).stdout)
    document["nodes"][0]["capabilities"]["gpu"] = "yes"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, export_schema("target-system"))


def test_export_prints_its_schema():
    result = run_cli("export", "aos-unit-config", "--schema", "unused")
    assert json.loads(result.stdout)["properties"]["formatVersion"]["const"] == "7"


@pytest.mark.parametrize("args", [
    [],
    ["--nodes", "5", "--roles", "main,gpu,rt"],
    ["--nodes", "1", "--roles", "solo"],
    ["--nodes", "3", "--no-aos", "--yocto-release", "wrynose", "--subnet", "fd00:1::/64",
     "--discovery", "mdns", "--time-sync", "ptp"],
])
def test_init_from_options_always_validates(tmp_path, args):
    target = tmp_path / "unit-config.yaml"
    result = run_cli("init", "--no-interactive", *args, str(target))
    assert result.exit_code == 0, result.output
    assert run_cli("validate", str(target)).exit_code == 0
    nodes = yaml.safe_load(target.read_text())["nodes"]
    expected = dict(zip(args[::2], args[1::2])).get("--nodes", "2")
    assert len(nodes) == int(expected)


def test_init_refuses_impossible_answers_and_writes_nothing(tmp_path):
    target = tmp_path / "u.yaml"
    result = run_cli("init", "--no-interactive", "--yocto-release", "wrynose", str(target))
    assert result.exit_code == 2 and "scarthgap" in result.output
    assert not target.exists()


def test_init_never_overwrites_without_force(tmp_path):
    target = tmp_path / "u.yaml"
    target.write_text("mine\n")
    assert run_cli("init", "--no-interactive", str(target)).exit_code == 2
    assert target.read_text() == "mine\n"
    assert run_cli("init", "--no-interactive", "--force", str(target)).exit_code == 0


def _drive(child_fd: int, answers: list[tuple[str, str]], timeout: float = 30) -> str:
    """Answer each prompt (matched by text) on a pseudo-terminal; return the screen text."""
    screen = ""
    deadline = time.monotonic() + timeout
    pending = list(answers)
    while time.monotonic() < deadline:
        ready, _, _ = select.select([child_fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(child_fd, 4096).decode(errors="replace")
            except OSError:
                break
            if not chunk:
                break
            screen += chunk
        if pending and pending[0][0] in screen.split("\n")[-1]:
            os.write(child_fd, (pending.pop(0)[1] + "\n").encode())
    return screen


def test_init_interactive_in_a_real_terminal(tmp_path):
    """init asks its questions when it runs in a terminal: driven through a real pty."""
    target = tmp_path / "u.yaml"
    pid, fd = pty.fork()
    if pid == 0:  # the child: aos-multinode in a terminal
        os.execv(sys.executable, [sys.executable, "-m", "aos_multinode", "init", str(target)])
    screen = _drive(fd, [("Device ID", "rig-9"), ("Number of nodes", "3"),
                         ("Roles", "head,worker"), ("Cluster subnet", "192.168.7.0/24"),
                         ("Yocto release", "scarthgap"), ("Use AosEdge", "n")])
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, screen
    data = yaml.safe_load(target.read_text())
    assert data["device_id"] == "rig-9" and len(data["nodes"]) == 3
    assert data["aos"]["enabled"] is False
    assert data["network"]["interfaces"][0]["subnet"] == "192.168.7.0/24"
    assert run_cli("validate", str(target)).exit_code == 0


def test_reference_doc_is_current():
    """docs/unit-config.md is generated from the validator's description: never stale."""
    assert (REPO_ROOT / "docs" / "unit-config.md").read_text() == unit_config_reference()


def test_reference_lists_every_key_of_both_examples():
    reference = unit_config_reference()
    for example in EXAMPLES:
        for key in yaml.safe_load(example.read_text()):
            assert f"`{key}`" in reference


def test_flashing_guide_names_every_node_image_medium_and_release(tmp_path):
    example = EXAMPLES[-1]
    config = load_unit_config(example).config
    assert run_cli("generate", str(example), "-o", str(tmp_path)).exit_code == 0
    guide = (tmp_path / "meta-aos-multinode" / "FLASHING.md").read_text()
    release = config.release
    for node in config.nodes:
        image = f"aos-multinode-image-{config.device_id}-{node.id}-{release}-{node.machine}"
        assert f"bmaptool copy {image}.rootfs.wic" in guide
    assert f"same release: `{release}`" in guide
    assert "aos-cluster status" in guide


def test_no_color_and_pipes_give_plain_text(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("device_id: X\n")
    env = {**os.environ, "NO_COLOR": "1"}
    out = subprocess.run([sys.executable, "-m", "aos_multinode", "--color", "auto",
                          "validate", str(bad)], capture_output=True, text=True, env=env)
    assert out.returncode == 2 and "\x1b[" not in out.stderr
    forced = subprocess.run([sys.executable, "-m", "aos_multinode", "--color", "always",
                             "validate", str(bad)], capture_output=True, text=True)
    assert "\x1b[" in forced.stderr


def test_init_answers_refuse_a_trailing_newline():
    """init's answers go through the one validator (the starter file quotes what YAML would
    not read back as given), and each problem names the option behind it."""
    from aos_multinode.unitconfig.init import Answers, check_answers

    assert check_answers(Answers(device_id="my-device")) == []
    problems = check_answers(Answers(device_id="my-device\n"))
    assert problems and all(p.startswith("--device-id: ") for p in problems), problems
    assert any("line break" in p for p in problems)
    problems = check_answers(Answers(roles=("main", "worker\n")))
    assert problems and any(p.startswith("--roles: ") for p in problems), problems
    assert check_answers(Answers(roles=("main", "yes"))) == []   # quoted: a role named yes


def test_init_answers_use_the_validators_rules():
    from aos_multinode.unitconfig.init import Answers, check_answers

    [problem] = check_answers(Answers(nodes=17))
    assert problem.startswith("--nodes") and "at most 16" in problem
    [problem] = check_answers(Answers(yocto_release="wrynose"))
    assert problem.startswith("--yocto-release") and "scarthgap" in problem
    assert check_answers(Answers(yocto_release="wrynose", aos=False)) == []
    [problem] = check_answers(Answers(roles=("main", "main")))
    assert problem.startswith("--roles") and "duplicate" in problem
