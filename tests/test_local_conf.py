"""A team's own local.conf lines in the Unit Config: `build.local_conf` (every build),
`roles.<r>.local_conf`, `nodes[].local_conf`. Read back with BitBake's own parser (the node
fragment: node over role over build) and with kas's loader (the shared include); hostile
values are refused by the validator or come back from BitBake exactly as given, never
expanded into code. (Refused inputs with their messages: tests/data/invalid/local-conf-*.)
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aos_multinode.errors import UnitConfigError
from aos_multinode.unitconfig.load import load_unit_config
from layer_helpers import LAYER, MAIN_EXAMPLE, BitBakeParser, render, run_cli

SSTATE = "file://.* https://sstate.example.com/PATH;downloadfilename=PATH"


def with_local_conf(tmp_path: Path, build=None, role=None, node=None, name="unit") -> Path:
    data = yaml.safe_load(MAIN_EXAMPLE.read_text())
    if build is not None:
        data["build"] = {"local_conf": build}
    if role is not None:
        data["roles"]["gpu"]["local_conf"] = role
    if node is not None:
        next(n for n in data["nodes"] if n["id"] == "gpu0")["local_conf"] = node
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def write(files, out: Path) -> None:
    for rendered in files:
        target = out / rendered.relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(rendered.content)


def test_node_overrides_role_overrides_build_as_bitbake_reads_them(tmp_path):
    source = with_local_conf(
        tmp_path,
        build={"PACKAGE_CLASSES": "package_ipk", "BB_NUMBER_THREADS": 8,
               "SSTATE_MIRRORS": SSTATE, "BB_HASHSERVE": "auto"},
        role={"PACKAGE_CLASSES": "package_rpm", "IMAGE_INSTALL:append": " htop"},
        node={"PACKAGE_CLASSES": "package_deb", "DL_DIR": "${TOPDIR}/downloads-gpu0"})
    config = load_unit_config(source).config
    out = tmp_path / "out"
    write(render(config, out, "1.0"), out)
    parser = BitBakeParser(out / LAYER)
    values = {}
    for node in ("gpu0", "main"):
        d = parser.node_data(node, "genericx86-64")
        values[node] = {name: d.getVar(name) for name in (
            "PACKAGE_CLASSES", "BB_NUMBER_THREADS", "SSTATE_MIRRORS", "BB_HASHSERVE",
            "IMAGE_INSTALL", "DL_DIR")}
    assert values["gpu0"] == {"PACKAGE_CLASSES": "package_deb", "BB_NUMBER_THREADS": "8",
                              "SSTATE_MIRRORS": SSTATE, "BB_HASHSERVE": "auto",
                              "IMAGE_INSTALL": " htop", "DL_DIR": "/build/downloads-gpu0"}
    # Another role's node gets the build's lines only.
    assert values["main"] == {"PACKAGE_CLASSES": "package_ipk", "BB_NUMBER_THREADS": "8",
                              "SSTATE_MIRRORS": SSTATE, "BB_HASHSERVE": "auto",
                              "IMAGE_INSTALL": None, "DL_DIR": None}
    # The build's lines also reach every kas build's local.conf (the all-nodes build's own
    # settings: BB_NUMBER_THREADS, BB_HASHSERVE), before the node's fragment.
    common = yaml.safe_load((out / "kas" / "include" / "common.yml").read_text())
    header = common["local_conf_header"]
    assert sorted(header) == ["10-aos-multinode", "40-aos-multinode-build-local-conf"]
    assert header["40-aos-multinode-build-local-conf"].splitlines() == [
        'PACKAGE_CLASSES = "package_ipk"', 'BB_NUMBER_THREADS = "8"',
        f'SSTATE_MIRRORS = "{SSTATE}"', 'BB_HASHSERVE = "auto"']


def test_without_local_conf_nothing_changes(tmp_path):
    def layer_and_kas(source: Path) -> dict:  # (CI files name the Unit Config's path)
        files = render(load_unit_config(source).config, tmp_path / "out", "1.0", ci=False)
        return {f.relpath: f.content for f in files}
    empty = with_local_conf(tmp_path, build={}, role={}, node={}, name=MAIN_EXAMPLE.stem)
    assert layer_and_kas(empty) == layer_and_kas(MAIN_EXAMPLE)


def test_generate_with_local_conf_twice_rewrites_nothing(tmp_path):
    source = with_local_conf(tmp_path, build={"BB_NUMBER_THREADS": "4"},
                             node={"PACKAGE_CLASSES": "package_deb"})
    out = tmp_path / "out"
    first = run_cli("generate", str(source), "-o", str(out), "--release", "1.0")
    assert first.returncode == 0, first.stderr
    second = run_cli("generate", str(source), "-o", str(out), "--release", "1.0")
    assert "0 create, 0 update, 0 delete" in second.stdout


def test_a_rejected_value_writes_nothing(tmp_path):
    source = with_local_conf(tmp_path, node={"DISTRO_FEATURES:append": " ${@os.system('x')}"})
    out = tmp_path / "out"
    result = run_cli("generate", str(source), "-o", str(out), "--release", "1.0")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert re.search(r"unit\.yaml:\d+:\d+: error: nodes\[1\]\.local_conf", result.stderr)
    assert "inline Python" in result.stderr
    assert not out.exists()


# --- hostile values ----------------------------------------------------------------------

TRICKY = st.text(alphabet=st.sampled_from(list('ab $@{}()"\'`\\;#:=\n\t\r|&<>./-_AZ%')
                                          + ["\u2028", "\x00", "\x85", "é"]),
                 max_size=24)


@settings(max_examples=100, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(value=TRICKY)
def test_a_value_is_refused_or_read_back_by_bitbake_exactly(tmp_path, value):
    """Whatever the text, either the validator refuses it or BitBake reads back exactly that
    text (no expansion but of a ${VAR} reference, no second assignment, no Python)."""
    source = with_local_conf(tmp_path, node={"EXTRA_TEAM_VALUE": value,
                                             "AFTER_IT": "still-here"})
    try:
        config = load_unit_config(source).config
    except UnitConfigError:
        return
    assert "${@" not in value and '"' not in value and "\\" not in value
    assert all(" " <= ch <= "~" for ch in value)
    out = tmp_path / "out"
    write([f for f in render(config, out, "1.0") if f.relpath.startswith(LAYER)], out)
    d = BitBakeParser(out / LAYER).node_data("gpu0", "genericx86-64")
    assert d.getVar("EXTRA_TEAM_VALUE", False) == value
    assert d.getVar("AFTER_IT") == "still-here"
    assert not [name for name in d.keys() if name in ("INHERIT", "evil")]
