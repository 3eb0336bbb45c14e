"""build.repos: extra repositories (a board's BSP layer, a team's own layers) in the Unit
Config. Each node's kas file lists the ones its build needs (its MACHINE's, its role's, its
own, and where their patches come from), all-nodes.yml the union; `pin --unit-config`
resolves their branches (local repositories here, never the internet); a node on a board
gets the board's boot (Raspberry Pi: the -rpi kickstart, cmdline.txt, the initramfs)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aos_multinode.contract import REFERENCE_MACHINES
from aos_multinode.unitconfig.load import load_unit_config
from kas_helpers import (EXAMPLES_DIR, commit_all, init_repo, load_yaml, read_json, run_aos,
                         text_of)
from kas_helpers import git_stays_local  # noqa: F401 (autouse: git reaches local repos only)
from kas_helpers import upstreams  # noqa: F401 (fixture)

RPI = EXAMPLES_DIR / "two-board-rpi4.yaml"
RPI_COMMIT = "6ca1f75017cc5d5acdb8bb05634c4bc01fa049fd"

BOARDS = """\
device_id: dev-1
release: "1.0"
aos: {enabled: false}
network:
  interfaces: [{name: internal, device: eth0, subnet: 10.0.0.0/24}]
build:
  repos:
    meta-board:
      url: URL
      branch: scarthgap
      layers: [meta-board-bsp, meta-board-extra]
      machines: [acme-board]
      patches:
        fix-boot: {repo: team-patches, path: board/0001-fix-boot.patch}
    team-patches:
      url: URL2
      commit: "1111111111111111111111111111111111111111"
    meta-gpu:
      url: URL3
      commit: "2222222222222222222222222222222222222222"
roles:
  main: {main: true}
  gpu: {repos: [meta-gpu]}
nodes:
  - {index: 0, id: main, hostname: n0, address: 10.0.0.10, role: main}
  - {index: 1, id: board0, hostname: n1, address: 10.0.0.11, role: gpu, machine: acme-board}
  - {index: 2, id: gpu0, hostname: n2, address: 10.0.0.12, role: gpu}
"""


def boards(tmp_path: Path, url: str = "https://git.example.com/meta-board") -> Path:
    unit = tmp_path / "unit.yaml"
    unit.write_text(BOARDS.replace("URL2", "https://git.example.com/team-patches")
                    .replace("URL3", "https://git.example.com/meta-gpu").replace("URL", url))
    return unit


def test_each_node_lists_only_its_own_repositories(tmp_path):
    unit = boards(tmp_path)
    unit.write_text(unit.read_text().replace("branch: scarthgap\n", "branch: scarthgap\n"
                                             f'      commit: "{"5" * 40}"\n'))
    config = load_unit_config(unit).config
    # board0: its MACHINE's BSP, the repository its patch comes from, and its role's.
    assert config.node("board0").repos == ("meta-board", "team-patches", "meta-gpu")
    assert config.node("gpu0").repos == ("meta-gpu",)
    assert config.node("main").repos == ()
    out = tmp_path / "out"
    result = run_aos("generate", unit, "-o", out, "--no-ci")
    assert result.exit_code == 0, text_of(result)
    main = load_yaml(out / "kas" / "main.yml")
    assert "repos" not in main
    board = load_yaml(out / "kas" / "board0.yml")["repos"]
    assert list(board) == ["meta-board", "team-patches", "meta-gpu"]
    assert board["meta-board"]["layers"] == {"meta-board-bsp": None, "meta-board-extra": None}
    assert board["meta-board"]["patches"] == {
        "fix-boot": {"repo": "team-patches", "path": "board/0001-fix-boot.patch"}}
    assert board["team-patches"]["commit"] == "1" * 40
    assert board["team-patches"]["layers"] == {".": None}
    assert list(load_yaml(out / "kas" / "gpu0.yml")["repos"]) == ["meta-gpu"]
    union = load_yaml(out / "kas" / "all-nodes.yml")["repos"]
    assert list(union) == ["meta-board", "team-patches", "meta-gpu"]
    # The shared include names no extra repository.
    common = load_yaml(out / "kas" / "include" / "common.yml")["repos"]
    assert not set(common) & {"meta-board", "team-patches", "meta-gpu"}


def test_a_repository_without_a_commit_needs_the_pins_table(tmp_path):
    unit = boards(tmp_path)
    out = tmp_path / "out"
    result = run_aos("generate", unit, "-o", out, "--no-ci")
    # meta-board has a branch but no commit and the shipped table does not know it.
    assert result.exit_code == 2, text_of(result)
    text = text_of(result)
    assert re.search(r"unit\.yaml:\d+: build\.repos\.meta-board has no commit", text), text
    assert "aos-multinode pin --unit-config" in text
    assert "Traceback" not in text
    assert not out.exists()


def test_pin_resolves_and_refreshes_the_unit_configs_repositories(tmp_path, upstreams):
    upstream = init_repo(tmp_path / "meta-board", branch="scarthgap")
    first = commit_all(upstream, "first")
    unit = boards(tmp_path, url=f"file://{tmp_path / 'meta-board'}")
    pins = tmp_path / "pins.json"
    # The shipped repositories from their local stand-ins, the Unit Config's from its URL.
    result = run_aos("pin", "--release", "scarthgap", "--unit-config", unit,
                     *upstreams.sources(), "-o", pins)
    assert result.exit_code == 0, text_of(result)
    table = read_json(pins)
    entry = table["releases"]["scarthgap"]["repos"]["meta-board"]
    assert entry == {"url": f"file://{tmp_path / 'meta-board'}", "branch": "scarthgap",
                     "commit": first}
    # team-patches and meta-gpu have no branch: their commits stay the Unit Config's.
    assert "team-patches" not in table["releases"]["scarthgap"]["repos"]
    assert "has no branch" in result.stderr
    out = tmp_path / "out"
    result = run_aos("generate", unit, "-o", out, "--no-ci", "--pins", pins)
    assert result.exit_code == 0, text_of(result)
    assert load_yaml(out / "kas" / "board0.yml")["repos"]["meta-board"]["commit"] == first
    # The branch moves on: pin again, generate again.
    second = commit_all(upstream, "second")
    result = run_aos("pin", "--pins", pins, "--release", "scarthgap", "--unit-config", unit,
                     *upstreams.sources(), "-o", pins)
    assert result.exit_code == 0, text_of(result)
    result = run_aos("generate", unit, "-o", out, "--no-ci", "--pins", pins)
    assert result.exit_code == 0, text_of(result)
    assert load_yaml(out / "kas" / "board0.yml")["repos"]["meta-board"]["commit"] == second


def test_the_unit_configs_commit_is_used_when_the_table_has_another_url(tmp_path):
    unit = boards(tmp_path)
    text = unit.read_text().replace("branch: scarthgap\n      layers",
                                    f'commit: "{"3" * 40}"\n      layers')
    unit.write_text(text)
    pins = tmp_path / "pins.json"
    table = read_json(Path(__file__).resolve().parent.parent / "generator" / "aos_multinode"
                      / "data" / "pins.json")
    table["releases"]["scarthgap"]["repos"]["meta-board"] = {
        "url": "https://elsewhere.example.com/meta-board", "branch": "scarthgap",
        "commit": "4" * 40}
    import json
    pins.write_text(json.dumps(table))
    out = tmp_path / "out"
    result = run_aos("generate", unit, "-o", out, "--no-ci", "--pins", pins)
    assert result.exit_code == 0, text_of(result)
    assert load_yaml(out / "kas" / "board0.yml")["repos"]["meta-board"]["commit"] == "3" * 40


# --------------------------------------------------------------------------- the example

def test_the_raspberry_pi_example_gets_meta_raspberrypi_on_the_pi_only(tmp_path):
    out = tmp_path / "out"
    result = run_aos("generate", RPI, "-o", out, "--no-ci")
    assert result.exit_code == 0, text_of(result)
    pi = load_yaml(out / "kas" / "pi0.yml")
    assert pi["machine"] == "raspberrypi4-64"
    assert pi["repos"]["meta-raspberrypi"]["commit"] == RPI_COMMIT
    assert pi["repos"]["meta-raspberrypi"]["branch"] == "scarthgap"
    assert "repos" not in load_yaml(out / "kas" / "main.yml")
    assert "meta-raspberrypi" in load_yaml(out / "kas" / "all-nodes.yml")["repos"]
    layer = out / "meta-aos-multinode"
    # The Raspberry Pi role gets the board's kickstart; the main role does not need one.
    wic = sorted(p.name for p in (layer / "wic").iterdir())
    assert "aos-multinode-aos-sensor-rpi.wks.in" in wic
    assert "aos-multinode-aos-main-rpi.wks.in" not in wic
    kickstart = (layer / "wic" / "aos-multinode-aos-sensor-rpi.wks.in").read_text()
    assert "--source bootimg-partition" in kickstart
    assert "bootloader --ptable gpt" in kickstart
    for label in ("rootfs", "var", "aos"):
        assert f"--part-name {label}" in kickstart
    device = (layer / "conf" / "aos-multinode-device.conf").read_text()
    cmdline = re.search(r'^CMDLINE_ROOTFS:rpi = "([^"]*)"$', device, re.M)
    assert cmdline and "root=PARTLABEL=rootfs" in cmdline.group(1)
    assert "opendisk.target=/dev/disk/by-partlabel/aos" in cmdline.group(1)
    assert 'RPI_EXTRA_CONFIG:append:rpi = "\\ninitramfs aos-initramfs.cpio.gz followkernel"' \
        in device
    assert "IMAGE_BOOT_FILES:append:rpi" in device
    image = (layer / "recipes-core" / "images" / "aos-multinode-image.bb").read_text()
    assert "'rpi' if 'rpi' in (d.getVar('MACHINEOVERRIDES') or '').split(':')" in image


def test_a_kickstart_of_ones_own_per_role_and_node(tmp_path):
    text = RPI.read_text().replace("    disk: {var: 1GiB, aos: 8GiB}\n",
                                   "    disk: {var: 1GiB, aos: 8GiB}\n"
                                   "    wks_file: acme-sensor.wks.in\n")
    text = text.replace("    storage: nvme\n", "    storage: nvme\n    wks_file: acme-main.wks\n")
    unit = tmp_path / "unit.yaml"
    unit.write_text(text)
    out = tmp_path / "out"
    result = run_aos("generate", unit, "-o", out, "--no-ci")
    assert result.exit_code == 0, text_of(result)
    nodes = out / "meta-aos-multinode" / "conf" / "nodes"
    assert 'AOS_MULTINODE_WKS_FILE = "acme-main.wks"' in (nodes / "main.conf").read_text()
    assert 'AOS_MULTINODE_WKS_FILE = "acme-sensor.wks.in"' in (nodes / "pi0.conf").read_text()
    image = (out / "meta-aos-multinode" / "recipes-core" / "images" /
             "aos-multinode-image.bb").read_text()
    assert "d.getVar('AOS_MULTINODE_WKS_FILE') or" in image


@pytest.mark.parametrize("machine", ["genericx86-64", "qemuarm64", "beaglebone-yocto"])
def test_a_reference_machine_needs_no_repository(tmp_path, machine):
    assert machine in REFERENCE_MACHINES
    unit = tmp_path / "unit.yaml"
    unit.write_text(RPI.read_text().replace("machine: raspberrypi4-64", f"machine: {machine}")
                    .replace("machines: [raspberrypi4-64]", "machines: [acme-board]")
                    .replace("    storage: sd\n", "    storage: sd\n    repos: []\n"))
    result = run_aos("validate", unit)
    # meta-raspberrypi is now used by nobody: that is the only error.
    assert result.exit_code == 2
    assert "no node uses repository 'meta-raspberrypi'" in text_of(result)
    assert "is defined by no layer" not in text_of(result)


# --------------------------------------------------------------------------- with checkouts

def fake_checkouts(out: Path, root: Path, machines: dict[str, list[str]]) -> Path:
    """Every layer the generated kas files name, as kas lays them out (ROOT/<repo>/<layer>),
    each with a conf/layer.conf and the MACHINE files `machines` gives per repository."""
    for kas_file in sorted((out / "kas").rglob("*.yml")):
        for name, repo in (load_yaml(kas_file).get("repos") or {}).items():
            if not repo or not repo.get("url"):
                continue
            for layer in repo.get("layers") or {}:
                conf = root / name / layer / "conf"
                conf.mkdir(parents=True, exist_ok=True)
                (conf / "layer.conf").write_text("")
            for machine in machines.get(name, []):
                (root / name / "conf" / "machine").mkdir(parents=True, exist_ok=True)
                (root / name / "conf" / "machine" / f"{machine}.conf").write_text("")
    return root


def test_generate_with_the_checkouts_refuses_a_machine_no_layer_defines(tmp_path,
                                                                       monkeypatch):
    out = tmp_path / "out"
    assert run_aos("generate", RPI, "-o", out, "--no-ci").exit_code == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    # meta-raspberrypi checked out, but it does not define raspberrypi4-64 (say, a typo in
    # `machines` or the wrong branch); poky's meta-yocto-bsp defines genericx86-64.
    checkouts = fake_checkouts(out, tmp_path / "work", {"poky": []})
    (checkouts / "poky" / "meta-yocto-bsp" / "conf" / "machine").mkdir()
    (checkouts / "poky" / "meta-yocto-bsp" / "conf" / "machine" / "genericx86-64.conf") \
        .write_text("")
    unit = tmp_path / "unit.yaml"
    unit.write_text(RPI.read_text().replace('release: "2026.12.0"', 'release: "2026.12.1"'))
    result = run_aos("generate", unit, "-o", out, "--no-ci", "--checkouts", checkouts)
    assert result.exit_code == 2, text_of(result)
    text = text_of(result)
    line = next(n for n, t in enumerate(unit.read_text().splitlines(), 1)
                if "machine: raspberrypi4-64" in t)
    assert f"unit.yaml:{line}:" in text and "nodes[1].machine" in text, text
    assert "MACHINE 'raspberrypi4-64' of node pi0 is defined by no layer" in text
    assert "Traceback" not in text
    # Rejected: nothing written (the release change did not land).
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    # Through KAS_WORK_DIR too, and accepted once the BSP defines it.
    (checkouts / "meta-raspberrypi" / "conf" / "machine").mkdir()
    (checkouts / "meta-raspberrypi" / "conf" / "machine" / "raspberrypi4-64.conf").write_text("")
    monkeypatch.setenv("KAS_WORK_DIR", str(checkouts))
    result = run_aos("generate", unit, "-o", out, "--no-ci")
    assert result.exit_code == 0, text_of(result)
