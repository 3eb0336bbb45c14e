"""`aos-multinode generate` as a user runs it: status words, --dry-run, --check, --force,
exit codes (0 done, 1 stale with --check, 2 a user error), and nothing written whenever it
says so.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from layer_helpers import LAYER, MAIN_EXAMPLE, generate, run_cli, snapshot, tree_files

STATUS_LINE = re.compile(r"^(create|update|identical|delete|conflict) +(\S+)(  \(.+\))?$")


def variant(tmp_path: Path, change, name: str = "changed") -> Path:
    data = yaml.safe_load(MAIN_EXAMPLE.read_text())
    change(data)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def drop_rt0(data):
    data["nodes"] = [n for n in data["nodes"] if n["id"] != "rt0"]
    del data["roles"]["rt"]


def statuses(stdout: str) -> dict[str, str]:
    out = {}
    for line in stdout.splitlines():
        match = STATUS_LINE.match(line)
        assert match, f"not a status line: {line!r}"
        out[match.group(2)] = match.group(1)
    return out


def test_generate_prints_changes_and_a_summary(tmp_path):
    out = tmp_path / "out"
    result = run_cli("generate", str(MAIN_EXAMPLE), "-o", str(out), "--no-git-init")
    assert result.returncode == 0, result.stderr
    *lines, summary = result.stdout.splitlines()
    assert {STATUS_LINE.match(line).group(1) for line in lines} == {"create"}
    assert re.match(r"^\d+ create, 0 update, 0 delete, 0 identical \(release 2026\.11\.0\)$",
                    summary)
    assert len(lines) == len(tree_files(out)) - len({p.split("/")[0] for p in
                                                     tree_files(out)})  # minus manifests


def test_dry_run_writes_nothing(tmp_path):
    out = tmp_path / "out"
    fresh = run_cli("generate", str(MAIN_EXAMPLE), "-o", str(out), "--dry-run")
    assert fresh.returncode == 0, fresh.stderr
    assert set(statuses(fresh.stdout).values()) == {"create"}
    assert not out.exists()

    generate(MAIN_EXAMPLE, out)
    before = snapshot(out)
    same = run_cli("generate", str(MAIN_EXAMPLE), "-o", str(out), "--dry-run", "--no-git-init")
    assert set(statuses(same.stdout).values()) == {"identical"}

    def change(data):
        drop_rt0(data)
        data["release"] = "2027.1.0"
    changed = variant(tmp_path, change)
    result = run_cli("generate", str(changed), "-o", str(out), "--dry-run", "--no-git-init")
    assert result.returncode == 0, result.stderr
    words = statuses(result.stdout)
    assert words[f"{LAYER}/conf/nodes/rt0.conf"] == "delete"
    # What all nodes share changed (release, peers); main's own fragment did not.
    assert words[f"{LAYER}/conf/aos-multinode-device.conf"] == "update"
    assert words[f"{LAYER}/conf/nodes/main.conf"] == "identical"
    assert words[f"{LAYER}/recipes-core/aos-multinode-device/files/cluster.json"] == "update"
    assert words[f"{LAYER}/COPYING.MIT"] == "identical"
    (out / "kas" / "main.yml").unlink()
    words = statuses(run_cli("generate", str(changed), "-o", str(out), "--dry-run",
                             "--no-git-init").stdout)
    assert words["kas/main.yml"] == "create"
    assert {"create", "update", "identical", "delete"} == set(words.values())
    after = snapshot(out)
    assert {k: v for k, v in after.items() if k not in (".", "kas", "kas/main.yml")} == \
        {k: v for k, v in before.items() if k not in (".", "kas", "kas/main.yml")}


def test_check(tmp_path):
    out = tmp_path / "out"
    missing = run_cli("generate", str(MAIN_EXAMPLE), "-o", str(out), "--check")
    assert missing.returncode == 1
    assert "out of date" in missing.stderr and not out.exists()

    generate(MAIN_EXAMPLE, out)
    before = snapshot(out)
    current = run_cli("generate", str(MAIN_EXAMPLE), "-o", str(out), "--check", "--no-git-init")
    assert current.returncode == 0, current.stdout + current.stderr
    assert current.stdout == ""

    stale = run_cli("generate", str(variant(tmp_path, drop_rt0)), "-o", str(out), "--check",
                    "--no-git-init")
    assert stale.returncode == 1
    listed = statuses(stale.stdout)
    assert listed and "identical" not in listed.values()
    assert listed[f"{LAYER}/conf/nodes/rt0.conf"] == "delete"
    assert re.search(r"\d+ file\(s\) out of date; run: aos-multinode generate ", stale.stderr)
    assert snapshot(out) == before


def test_conflict_exits_2_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    foreign = out / LAYER / "conf" / "layer.conf"
    foreign.parent.mkdir(parents=True)
    foreign.write_text("# my layer\n")
    before = snapshot(out)
    result = run_cli("generate", str(MAIN_EXAMPLE), "-o", str(out))
    assert result.returncode == 2
    assert "refusing to overwrite" in result.stderr and "conf/layer.conf" in result.stderr
    assert "--force" in result.stderr and "Traceback" not in result.stderr
    assert snapshot(out) == before
    dry = run_cli("generate", str(MAIN_EXAMPLE), "-o", str(out), "--dry-run")
    assert statuses(dry.stdout)[f"{LAYER}/conf/layer.conf"] == "conflict"

    forced = run_cli("generate", str(MAIN_EXAMPLE), "-o", str(out), "--force")
    assert forced.returncode == 0, forced.stderr
    assert "update    meta-aos-multinode/conf/layer.conf" in forced.stdout
    assert "# my layer" not in foreign.read_text()


def test_edited_file_exits_2(tmp_path):
    out = tmp_path / "out"
    generate(MAIN_EXAMPLE, out)
    edited = out / LAYER / "recipes-core" / "images" / "aos-multinode-image.bb"
    edited.write_text(edited.read_text() + "# tweak\n")
    changed = variant(tmp_path, lambda data: data.update(release="2027.1.0"))
    before = snapshot(out)
    result = run_cli("generate", str(changed), "-o", str(out))
    assert result.returncode == 2
    assert "aos-multinode-image.bb: was edited since it was generated" in result.stderr
    assert snapshot(out) == before
    assert run_cli("generate", str(changed), "-o", str(out), "--force").returncode == 0
    assert "# tweak" not in edited.read_text()


def test_rejected_unit_config_writes_nothing(tmp_path):
    out = tmp_path / "out"
    generate(MAIN_EXAMPLE, out)
    before = snapshot(out)
    broken = variant(tmp_path, lambda data: data["nodes"][1].update(address="10.0.0.100"),
                     "duplicate-address")
    for options in ((), ("--force",), ("--dry-run",), ("--check",)):
        result = run_cli("generate", str(broken), "-o", str(out), *options)
        assert result.returncode == 2, options
        assert "nodes[1].address" in result.stderr and "Traceback" not in result.stderr
        assert result.stdout == ""
        assert snapshot(out) == before
    fresh = tmp_path / "fresh"
    assert run_cli("generate", str(broken), "-o", str(fresh)).returncode == 2
    assert not fresh.exists()
    unreadable = tmp_path / "nothing.yaml"
    assert run_cli("generate", str(unreadable), "-o", str(fresh)).returncode == 2
    assert not fresh.exists()


def test_generate_refuses_stdin(tmp_path):
    """validate reads `-`; generate needs a file (its path is in the CI files, its release
    comes from its git repository): a usage error, nothing written."""
    from layer_helpers import run_cli as run_process

    result = run_process("generate", "-", "-o", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    assert "not `-`" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_check_prints_a_rerun_command_the_shell_can_run(tmp_path):
    """The command `--check` suggests is quoted for the shell, like the one CI runs (a path
    with a space stays one word)."""
    out = tmp_path / "build config"
    stale = run_cli("generate", str(MAIN_EXAMPLE), "-o", str(out), "--check", "--no-ci",
                    "--release", "1.0~rc1")
    assert stale.returncode == 1
    rerun = stale.stderr.split("out of date; run: ", 1)[1].strip()
    assert shlex.split(rerun) == ["aos-multinode", "generate", str(MAIN_EXAMPLE), "-o", str(out),
                                  "--release", "1.0~rc1", "--no-ci"]
