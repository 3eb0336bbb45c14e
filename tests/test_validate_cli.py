"""`aos-multinode validate` and the command line around it, run in-process with CliRunner."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import yaml

from aos_multinode import __version__
from aos_multinode.cli import cli

from conftest import EXAMPLES, INVALID_DIR, REPO_ROOT, VALID_VARIANTS, run_cli, tree_state


def table(text: str, first_header: str) -> list[dict]:
    """Parse the plain-text table of `text` whose header row starts with `first_header`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(first_header + " "))
    headers = re.split(r"\s{2,}", lines[start].strip())
    assert set(lines[start + 1].replace(" ", "")) == {"-"}
    rows = []
    for line in lines[start + 2:]:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", line.strip())
        assert len(cells) == len(headers), line
        rows.append(dict(zip(headers, cells)))
    return rows


def expected_nodes(data: dict) -> list[dict]:
    """The node rows a Unit Config must produce, worked out from the YAML alone."""
    machine = data.get("yocto", {}).get("machine", "genericx86-64")
    rows = []
    for node in sorted(data["nodes"], key=lambda n: n["index"]):
        main = data["roles"][node["role"]].get("main", False)
        rows.append({"index": str(node["index"]), "id": node.get("id", f"node{node['index']}"),
                     "hostname": node["hostname"], "address": node.get("address", "dhcp"),
                     "role": node["role"] + (" (main)" if main else ""),
                     "machine": node.get("machine", machine),
                     "storage": node.get("storage", "sd")})
    return rows


def expected_capabilities(role: dict) -> list[str]:
    caps = role.get("capabilities", {})
    parts = []
    if "cpu_cores" in caps:
        parts.append(f"{caps['cpu_cores']} cores")
    if "memory" in caps:
        number, unit = re.fullmatch(r"(\d+)\s*(GiB|MiB)", str(caps["memory"])).groups()
        parts.append(f"{number} {unit}")
    parts += [name for name in ("gpu", "realtime") if caps.get(name)]
    return parts + caps.get("accelerators", [])


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_validate_with_a_summary(path, tmp_path):
    data = yaml.safe_load(path.read_text())
    before = tree_state(REPO_ROOT / "tests" / "data")
    result = run_cli("validate", str(path), cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert result.stdout.startswith(f"{path}: valid\n")
    assert table(result.stdout, "index") == expected_nodes(data)
    roles = table(result.stdout, "role")
    assert [row["role"] for row in roles] == list(data["roles"])
    for row in roles:
        role = data["roles"][row["role"]]
        assert row["main"] == ("yes" if role.get("main") else "no")
        assert row["capabilities"].split(", ") == expected_capabilities(role)
        assert row["labels"] == (", ".join(role.get("labels", [])) or "-")
        assert row["priority"] == str(role.get("priority", 0))
        assert row["kernel"] == role.get("kernel", "-")
    assert f"device {data['device_id']}" in result.stdout
    assert list(tmp_path.iterdir()) == [] and tree_state(REPO_ROOT / "tests" / "data") == before


@pytest.mark.parametrize("path", VALID_VARIANTS, ids=lambda p: p.stem)
def test_valid_variants_validate(path):
    result = run_cli("validate", str(path))
    assert result.exit_code == 0, result.output
    assert table(result.stdout, "index") == expected_nodes(yaml.safe_load(path.read_text()))


@pytest.mark.parametrize("path", EXAMPLES + VALID_VARIANTS, ids=lambda p: p.stem)
def test_json_summary(path):
    data = yaml.safe_load(path.read_text())
    result = run_cli("validate", "--format", "json", str(path))
    assert result.exit_code == 0, result.output
    [entry] = json.loads(result.stdout)["files"]
    assert (entry["file"], entry["valid"], entry["errors"]) == (str(path), True, [])
    summary = entry["summary"]
    assert summary["device_id"] == data["device_id"]
    nodes = [{key: (str(node[key]) if node[key] is not None else "dhcp") if key in
              ("index", "address") else node[key]
              for key in ("index", "id", "hostname", "address", "role", "machine", "storage")}
             for node in summary["nodes"]]
    expected = [dict(row, role=row["role"].removesuffix(" (main)"))
                for row in expected_nodes(data)]
    assert nodes == expected
    assert [n["main"] for n in summary["nodes"]] == \
        [row["role"].endswith(" (main)") for row in expected_nodes(data)]
    assert [role["name"] for role in summary["roles"]] == list(data["roles"])


def test_valid_and_invalid_files_together():
    good, bad = EXAMPLES[0], INVALID_DIR / "duplicate-hostname.yaml"
    result = run_cli("validate", str(good), str(bad))
    assert result.exit_code == 2
    assert f"{good}: valid" in result.stdout
    assert f"{bad}:" in result.stderr and f"{good}" not in result.stderr
    report = json.loads(run_cli("validate", "--format", "json", str(good), str(bad)).stdout)
    assert [(f["file"], f["valid"]) for f in report["files"]] == [(str(good), True),
                                                                (str(bad), False)]


def test_warnings_are_shown_and_do_not_fail(tmp_path):
    text = re.sub(r"\n  rt:\n", "\n  spare:\n    labels: [x]\n  rt:\n", EXAMPLES[0].read_text())
    path = tmp_path / "warn.yaml"
    path.write_text(text)
    result = run_cli("validate", "warn.yaml", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    [warning] = result.stderr.splitlines()
    assert re.match(r"warn\.yaml:\d+:3: warning: roles\.spare: role 'spare' is defined but no "
                    r"node uses it$", warning)
    entry = json.loads(run_cli("validate", "--format", "json", "warn.yaml",
                               cwd=tmp_path).stdout)["files"][0]
    assert entry["valid"] and [w["path"] for w in entry["warnings"]] == ["roles.spare"]


def test_validate_needs_a_file():
    result = run_cli("validate")
    assert result.exit_code == 2
    assert "Missing argument 'FILES...'" in result.stderr


def test_validate_refuses_a_folder(tmp_path):
    result = run_cli("validate", str(tmp_path))
    assert result.exit_code == 2 and "is a directory" in result.stderr
    assert "Traceback" not in result.output


def test_unknown_format_is_a_usage_error():
    result = run_cli("validate", "--format", "xml", str(EXAMPLES[0]))
    assert result.exit_code == 2 and "'xml' is not one of 'text', 'json'" in result.stderr


def test_version():
    result = run_cli("--version")
    assert result.exit_code == 0
    assert result.stdout == f"aos-multinode, version {__version__}\n"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", __version__)


@pytest.mark.parametrize("command", [None, *sorted(cli.commands)])
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_on_every_command(command, flag):
    args = [command, flag] if command else [flag]
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    usage = f"Usage: aos-multinode {command + ' ' if command else ''}"
    assert result.stdout.startswith(usage)
    if command:
        first_paragraph = cli.commands[command].help.split("\n\n")[0]
        assert " ".join(first_paragraph.split()) in " ".join(result.stdout.split())


def test_group_help_lists_validate_and_schema():
    result = run_cli("--help")
    assert re.search(r"^  validate\s+Check Unit Config FILES", result.stdout, re.M)
    assert re.search(r"^  schema\s+Print the JSON Schema", result.stdout, re.M)


def test_schema_command_prints_json():
    result = run_cli("schema")
    assert result.exit_code == 0 and result.stderr == ""
    assert json.loads(result.stdout)["title"] == "aos-multinode Unit Config"


def test_module_entry_point_exit_codes(tmp_path):
    """`python -m aos_multinode` goes through main(): a real process gets exit code 2 and the
    findings on stderr, and 0 for a valid file."""
    bad = INVALID_DIR / "two-main-nodes.yaml"
    run = [sys.executable, "-m", "aos_multinode", "validate"]
    result = subprocess.run(run + [str(bad)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2
    assert f"{bad}:29:5: error: nodes[1].role:" in result.stderr
    assert "Traceback" not in result.stderr
    result = subprocess.run(run + [str(EXAMPLES[0])], capture_output=True, text=True)
    assert result.returncode == 0 and "valid" in result.stdout


def test_empty_file_points_to_a_command_that_exists(tmp_path):
    (tmp_path / "empty.yaml").write_text("# nothing yet\n")
    result = run_cli("validate", "empty.yaml", cwd=tmp_path)
    assert result.exit_code == 2
    hinted = re.search(r"`aos-multinode (\w+)` writes a commented starter", result.stderr)
    assert hinted and hinted.group(1) in cli.commands
