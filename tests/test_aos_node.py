"""Every node image meets the Aos node platform contract (docs/aos-node-contract.md): the
kickstarts as wic's own kickstart parser reads them (openembedded-core's
scripts/lib/wic/ksparser.py, imported from the poky snapshot in ../shared/yocto), the image
picks the role's kickstart, the Aos initramfs gets its modules, and the unit config is a
cloud artifact within Aos core's limits (validate reports each as an error, exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from aos_multinode.generation.export import export_schema
from aos_multinode.unitconfig.load import load_unit_config
from aos_multinode import aos_node
from layer_helpers import EXAMPLES_DIR, STUBS_DIR, BitBakeParser, generate, layer_of, run_cli
from real_bitbake import SNAPSHOTS, require

ECU = EXAMPLES_DIR / "three-node-ecu.yaml"
IMAGE = "aos-multinode-image"
KERNEL_ARGS = ("rootwait", "ro", "rootfstype=ext4", "vardir.disk=/dev/disk/by-partlabel/var",
               "opendisk.target=/dev/disk/by-partlabel/aos", "opendisk.pkcs11=softhsm",
               "opendisk.pkcs11.pinfile=/var/aos/iam/.usrpin",
               "aosupdate.disk=/dev/aosvg/workdirs", "aosupdate.path=sm/runtimes/rootfs")
# The variables wic reads from BitBake, as do_image_wic hands them over (WICVARS, an
# <image>.env file in the --vars folder): the genericx86-64 values of an Aos build.
WIC_VARS = {"EFI_PROVIDER": "systemd-boot", "INITRAMFS_IMAGE": "aos-image-initramfs",
            "MACHINE": "genericx86-64", "INITRAMFS_FSTYPES": "cpio.gz", "APPEND": ""}


@pytest.fixture(scope="module")
def ksparser(tmp_path_factory):
    """wic's kickstart parser from the poky scarthgap snapshot (not a copy in this repo)."""
    tarball = SNAPSHOTS / "poky-scarthgap.git.tar"
    require(tarball.is_file(), f"no poky snapshot at {tarball} (set AOS_MULTINODE_YOCTO)")
    dest = tmp_path_factory.mktemp("poky")
    subprocess.run(["tar", "-xf", str(tarball), "-C", str(dest)], check=True)
    archive = subprocess.run(["git", "-c", "safe.directory=*", "--git-dir",
                              str(dest / "poky-scarthgap.git"), "archive", "HEAD",
                              "scripts/lib/wic"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    sys.path.insert(0, str(dest / "scripts" / "lib"))
    try:
        from wic import ksparser as module
        from wic import misc
    finally:
        sys.path.remove(str(dest / "scripts" / "lib"))
    assert Path(module.__file__).is_relative_to(dest)
    # wic's own way to get BitBake's variables without running bitbake: the .env file.
    (dest / f"{IMAGE}.env").write_text("".join(f'{k}="{v}"\n' for k, v in WIC_VARS.items()))
    misc.BB_VARS.vars_dir = str(dest)
    misc.BB_VARS.default_image = IMAGE
    return module


def with_role_disk(tmp_path: Path, **disk) -> Path:
    """The ECU example with the gpu role's disk sizes set."""
    data = yaml.safe_load(ECU.read_text())
    data["roles"]["gpu"]["disk"] = disk
    path = tmp_path / "unit.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def parse_kickstart(ksparser, wks_in: Path, tmp_path: Path):
    """Parse a generated kickstart as wic does (wic expands its ${VARIABLES})."""
    wks = tmp_path / wks_in.name.replace(".wks.in", ".wks")
    wks.write_text(wks_in.read_text())
    return ksparser.KickStart(str(wks))


def by_name(ks) -> dict:
    return {part.part_name: part for part in ks.partitions}


def test_the_parser_is_wic_s_and_refuses_what_wic_refuses(ksparser, tmp_path):
    wks = tmp_path / "bad.wks"
    wks.write_text("part / --source rootfs --no-such-option\n")
    with pytest.raises(ksparser.KickStartError):
        ksparser.KickStart(str(wks))


@pytest.mark.parametrize("role", ["main", "gpu", "rt"])
def test_efi_kickstart_has_every_partition_and_kernel_argument(ksparser, tmp_path, role):
    wks_dir = layer_of(ECU) / "wic"
    ks = parse_kickstart(ksparser, wks_dir / f"aos-multinode-aos-{role}-efi.wks.in", tmp_path)
    assert [p.part_name for p in ks.partitions] == ["boot_a", "boot_b", "rootfs", "var", "aos"]
    parts = by_name(ks)
    for boot in ("boot_a", "boot_b"):
        assert parts[boot].source == "bootimg-efi" and parts[boot].fstype == "vfat"
        # The artifact name on scarthgap: IMAGE_NAME_SUFFIX ".rootfs" of the initramfs.
        assert "initrd=aos-image-initramfs-genericx86-64.rootfs.cpio.gz" in \
            parts[boot].sourceparams
        assert parts[boot].fixed_size == 256 * 1024  # KiB
    root = parts["rootfs"]
    assert (root.mountpoint, root.source, root.fstype) == ("/", "rootfs", "ext4")
    # No PARTUUID: wic writes root=PARTLABEL=<label> for a GPT "/" with a label.
    assert root.uuid is None and root.label == "rootfs" and not root.use_uuid
    var = parts["var"]
    assert (var.source, var.change_directory, var.fstype, var.mountpoint) == \
        ("rootfs", "var", "ext4", None)
    assert var.fixed_size == 2048 * 1024
    aos = parts["aos"]
    assert aos.source == "empty" and aos.mountpoint is None and aos.fixed_size == 4096 * 1024
    assert ks.bootloader.ptable == "gpt"
    assert ks.bootloader.append.split() == list(KERNEL_ARGS)


def test_disk_kickstart_without_boot_partitions(ksparser, tmp_path):
    wks_dir = layer_of(ECU) / "wic"
    ks = parse_kickstart(ksparser, wks_dir / "aos-multinode-aos-main-disk.wks.in", tmp_path)
    assert [p.part_name for p in ks.partitions] == ["rootfs", "var", "aos"]
    text = (wks_dir / "aos-multinode-aos-main-disk.wks.in").read_text()
    assert "# Kernel arguments: root=PARTLABEL=rootfs " + " ".join(KERNEL_ARGS) in text


def test_role_disk_sizes_reach_the_kickstart_and_meta_aos(ksparser, tmp_path):
    unit = with_role_disk(tmp_path, var="1GiB", home=512, aos="8GiB", boot="128MiB")
    out = tmp_path / "out"
    generate(unit, out, ci=False)
    layer = out / "meta-aos-multinode"
    ks = parse_kickstart(ksparser, layer / "wic" / "aos-multinode-aos-gpu-efi.wks.in",
                         tmp_path)
    assert [p.part_name for p in ks.partitions] == \
        ["boot_a", "boot_b", "rootfs", "home", "var", "aos"]
    parts = by_name(ks)
    assert parts["home"].change_directory == "home"
    assert {name: parts[name].fixed_size // 1024 for name in parts if name != "rootfs"} == \
        {"boot_a": 128, "boot_b": 128, "home": 512, "var": 1024, "aos": 8192}
    # meta-aos's own RW images (do_create_rw_parts, KiB) get the same sizes.
    gpu = (layer / "conf" / "nodes" / "gpu0.conf").read_text()
    assert 'AOS_VAR_PART_SIZE = "1048576"' in gpu and 'AOS_HOME_PART_SIZE = "524288"' in gpu
    main = (layer / "conf" / "nodes" / "main.conf").read_text()
    assert 'AOS_VAR_PART_SIZE = "2097152"' in main and "AOS_HOME_PART_SIZE" not in main
    # Other roles keep the defaults.
    ks = parse_kickstart(ksparser, layer / "wic" / "aos-multinode-aos-rt-efi.wks.in", tmp_path)
    assert "home" not in by_name(ks)


@pytest.mark.parametrize("node_id", ["main", "gpu0", "rt0"])
def test_image_picks_the_role_kickstart(node_id):
    config = load_unit_config(ECU).config
    node = config.node(node_id)
    parser = BitBakeParser(layer_of(ECU))
    image_bb = parser.layer / "recipes-core" / "images" / f"{IMAGE}.bb"
    for features, kind in (("efi pci", "efi"), ("", "disk")):
        d = parser.node_data(node.id, node.machine, MACHINE_FEATURES=features,
                             WKS_FILE="machine-own.wks", localstatedir="/var")
        image = parser.recipe(image_bb, d)
        wks = image.getVar("WKS_FILE")
        assert wks == f"aos-multinode-aos-{node.role.name}-{kind}.wks.in"
        assert (parser.layer / "wic" / wks).is_file()
        cmdline = image.getVar("QB_KERNEL_CMDLINE_APPEND").split()
        assert set(KERNEL_ARGS) <= set(cmdline)
        assert image.getVar("QB_KERNEL_ROOT") == "PARTLABEL=rootfs"


def test_aos_core_configuration_is_split_from_its_code():
    """BitBake's parser, meta-aos's recipes (stand-ins: their own lines) with the layer's
    bbappends, with two nodes' fragments: with the device's DISTRO each recipe
    keeps its code and reads no node value (no do_update_config of its own, the config file
    removed, the node variables out of do_fetch's signature) and needs its -nodeconfig
    variant, which installs only the config file and runs meta-aos's own do_update_config
    again whenever a node value changes. With another DISTRO nothing changes."""
    parser = BitBakeParser(layer_of(ECU))
    overrides = "pn-${PN}:${MACHINE}:${DISTRO}:${CLASSOVERRIDE}"
    for recipe, files in aos_node.NODE_CONFIG_SPLIT.items():
        bbappend = parser.layer / "recipes-aos" / recipe / f"{recipe}_%.bbappend"
        stub = (STUBS_DIR / "recipes-aos" / f"{recipe}_git.bb").read_text(encoding="utf-8")
        update_config = stub[stub.index("python do_update_config() {") + 28:]
        update_config = update_config[:update_config.index("\n}")]
        meta_aos = [line for line in update_config.splitlines()
                    if line.strip() and not line.lstrip().startswith("#")]
        for node in ("gpu0", "rt0"):
            d = parser.node_data(node, "genericarm64", DISTRO="aos-core", OVERRIDES=overrides,
                                 CLASSOVERRIDE="class-target")
            found = parser.variants(bbappend, d)
            assert sorted(found) == ["", aos_node.NODE_CONFIG_VARIANT], recipe
            itself, variant = found[""], found[aos_node.NODE_CONFIG_VARIANT]
            assert itself.getVar("do_update_config").strip() == "pass"
            assert aos_node.node_config_variant(recipe) in \
                itself.getVar(f"RDEPENDS:{recipe}").split()
            excluded = itself.getVarFlag("do_fetch", "vardepsexclude").split()
            assert set(aos_node.NODE_CONFIG_VARS) <= set(excluded)
            assert "rm ${D}${sysconfdir}/aos/$file" in itself.getVar("do_install")
            assert itself.getVar("AOS_NODE_CONFIG_FILES").split() == list(files)
            # The variant: its own name, the config files only, meta-aos's do_update_config.
            assert variant.getVar("PN") == aos_node.node_config_variant(recipe)
            assert variant.getVar("CLASSOVERRIDE") == "class-nodeconfig"
            assert variant.getVar("do_install").strip() == "aos_node_config_install"
            assert variant.getVar("DEPENDS") == ""
            assert variant.getVar(f"RDEPENDS:{variant.getVar('PN')}") == ""
            assert [line for line in variant.getVar("do_update_config").splitlines()
                    if line.strip() and not line.lstrip().startswith("#")] == meta_aos
            assert "do_update_config" in variant.getVarFlag("do_install", "vardeps").split()
            assert variant.getVarFlag("do_configure", "noexec") == "1"
            assert variant.getVarFlag("do_compile", "noexec") == "1"
            assert variant.getVar("PACKAGE_ARCH", False) == "${MACHINE_ARCH}"
            assert variant.getVar("AOS_NODE_HOSTNAME") == node
        # Another DISTRO: meta-aos's recipe as it is, no variant.
        other = parser.variants(bbappend, parser.node_data(
            "gpu0", "genericarm64", DISTRO="poky", OVERRIDES=overrides,
            CLASSOVERRIDE="class-target"))
        assert sorted(other) == [""]
        assert [line for line in other[""].getVar("do_update_config").splitlines()
                if line.strip() and not line.lstrip().startswith("#")] == meta_aos
        assert f"{recipe}-nodeconfig" not in (other[""].getVar(f"RDEPENDS:{recipe}") or "")


def test_initramfs_gets_the_products_modules_and_pkcs11_backend():
    parser = BitBakeParser(layer_of(ECU))
    bbappend = parser.layer / "recipes-core" / "images" / "aos-image-initramfs.bbappend"
    # Another DISTRO's initramfs is left as meta-aos makes it (yocto-check-layer).
    other = parser.recipe(bbappend, parser.data(OVERRIDES="poky"))
    assert "initramfs-module-lvm" not in other.getVar("PACKAGE_INSTALL").split()
    # DISTROOVERRIDES is ${DISTRO}: aos-core (its distro conf does not change it).
    initramfs = parser.recipe(bbappend, parser.data(OVERRIDES="genericarm64:aos-core"))
    installed = initramfs.getVar("PACKAGE_INSTALL").split()
    for package in ("initramfs-module-vardir", "initramfs-module-machineid",
                    "initramfs-module-aosupdate", "initramfs-module-lvm",
                    "initramfs-module-opendisk", "initramfs-module-rundir", "lvm2", "softhsm"):
        assert package in installed, package


def test_no_unit_config_or_rebalance_file_in_the_layer():
    layer = layer_of(ECU)
    names = [p.name for p in layer.rglob("*")]
    assert not [n for n in names if "rebalance" in n or "unit-config" in n or "aos_unit" in n]
    for path in layer.rglob("*"):
        if path.is_file():
            assert "aos_unit.cfg" not in path.read_text(errors="replace"), path


# --- the unit config: a cloud artifact within Aos core's limits ----------------------------

def unit_with(tmp_path: Path, nodes: int, roles: int = 3, labels: int = 1,
              label_length: int = 8, **aos) -> Path:
    """A valid Aos Unit Config with `nodes` nodes spread over `roles` roles."""
    role_names = ["main"] + [f"r{i}" for i in range(1, roles)]
    others = role_names[1:] or role_names
    data = {
        "device_id": "limits", "release": "1.0.0",
        "aos": {"enabled": True, "unit_model": "acme", "unit_version": "1.0", **aos},
        "network": {"interfaces": [{"name": "internal", "device": "eth0",
                                    "subnet": "10.0.0.0/24"}]},
        "roles": {name: {"main": name == "main", "priority": 100 - i,
                         "labels": [f"{name}-{j}".ljust(label_length, "x")
                                    for j in range(labels)]}
                  for i, name in enumerate(role_names)},
        "nodes": [{"index": i, "id": f"n{i}", "hostname": f"n{i}", "address": f"10.0.0.{10 + i}",
                   "role": "main" if i == 0 else others[(i - 1) % len(others)]}
                  for i in range(nodes)],
    }
    path = tmp_path / "unit.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def validate_errors(path: Path) -> tuple[int, str]:
    result = run_cli("validate", str(path))
    return result.returncode, result.stdout + result.stderr


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_seventeen_nodes_are_refused_with_file_and_line(tmp_path):
    path = unit_with(tmp_path, 17)
    code, output = validate_errors(path)
    assert code == 2, output
    line = line_of(path, "id: n16")
    assert f"{path}:{line - 1}:" in output or f"{path}:{line}:" in output, output
    assert "nodes[16]: 17 nodes; Aos core manages at most 16 nodes" in output
    assert "remove 1 node(s)" in output
    assert "Traceback" not in output


def test_sixteen_nodes_fit_and_export_within_4096_bytes(tmp_path):
    path = unit_with(tmp_path, 16, roles=6, labels=4, label_length=32)
    code, output = validate_errors(path)
    assert code == 0, output
    result = run_cli("export", "aos-unit-config", str(path))
    assert result.returncode == 0, result.stderr
    text = result.stdout.strip()
    assert len(text.encode()) <= 4096, len(text.encode())
    document = json.loads(text)
    jsonschema.validate(document, export_schema("aos-unit-config"))
    assert len(document["nodes"]) == 6  # one entry per node type
    assert all(len(e["labels"]) == 4 for e in document["nodes"])


def test_a_unit_config_over_4096_bytes_is_refused(tmp_path):
    path = unit_with(tmp_path, 16, roles=16, labels=4, label_length=60)
    code, output = validate_errors(path)
    assert code == 2, output
    assert "bytes (export aos-unit-config); Aos core loads at most 4096" in output


@pytest.mark.parametrize("change,where,message", [
    (lambda d: d["roles"]["main"].update(labels=["a", "b", "c", "d", "e"]),
     "roles.main.labels[4]", "has 5 labels; Aos core allows at most 4"),
    (lambda d: d["roles"]["main"].update(labels=["l" * 65]),
     "roles.main.labels[0]", "65 characters long; at most 64 are allowed"),
    (lambda d: d["aos"].update(unit_model="m" * 60),
     "roles.main", "characters; Aos core allows at most 64"),
    (lambda d: d["roles"]["main"].update(node_type="t" * 65),
     "roles.main.node_type", "65 characters long; at most 64 are allowed"),
])
def test_each_aos_limit_is_an_error_with_its_fix(tmp_path, change, where, message):
    path = unit_with(tmp_path, 3)
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    code, output = validate_errors(path)
    assert code == 2, output
    assert f": error: {where}: " in output and message in output, output


def test_limits_apply_only_with_aos(tmp_path):
    path = unit_with(tmp_path, 17)
    data = yaml.safe_load(path.read_text())
    data["aos"]["enabled"] = False
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert validate_errors(path)[0] == 0


def test_unit_config_meets_the_contract():
    """Field names and types Aos core's parser reads; nodeGroupSubject.codename on every
    entry, equal to the AOS_NODE_TYPE of the role's nodes; no node.codename; compact."""
    result = run_cli("export", "aos-unit-config", str(ECU))
    assert result.returncode == 0, result.stderr
    text = result.stdout.strip()
    document = json.loads(text)
    assert text == json.dumps(document, separators=(",", ":"), sort_keys=True)
    assert len(text.encode()) <= 4096
    assert document["formatVersion"] == "7" and document["version"] == "1.0.0"
    layer = layer_of(ECU)
    node_types = {}
    for conf in (layer / "conf" / "nodes").glob("*.conf"):
        for line in conf.read_text().splitlines():
            if line.startswith("AOS_NODE_TYPE = "):
                node_types[conf.stem] = line.split('"')[1]
    assert sorted(e["nodeGroupSubject"]["codename"] for e in document["nodes"]) == \
        sorted(set(node_types.values()))
    for entry in document["nodes"]:
        assert set(entry) == {"nodeGroupSubject", "labels", "priority", "alertRules"}
        assert isinstance(entry["priority"], int) and entry["priority"] >= 0
        assert len(entry["labels"]) <= 4 and all(len(label) <= 64 for label in entry["labels"])
        for kind in ("cpu", "ram"):
            rule = entry["alertRules"][kind]
            assert rule["minTimeout"].startswith("PT") and rule["minTimeout"].endswith("S")
            assert 0 < rule["minThreshold"] < rule["maxThreshold"] <= 1


def test_unit_config_version_is_the_user_s(tmp_path):
    path = unit_with(tmp_path, 3, unit_config_version="2.3.4")
    document = json.loads(run_cli("export", "aos-unit-config", str(path)).stdout)
    assert document["version"] == "2.3.4"
    override = run_cli("export", "aos-unit-config", str(path), "--version", "2.4.0")
    assert json.loads(override.stdout)["version"] == "2.4.0"
    for args in (["--version", "2.4"], ["--release", "2026.11.0"]):
        result = run_cli("export", "aos-unit-config", str(path), *args)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr


def test_unit_config_version_must_be_semver(tmp_path):
    path = unit_with(tmp_path, 3, unit_config_version="2026.11")
    code, output = validate_errors(path)
    assert code == 2 and "aos.unit_config_version" in output, output


def test_network_variables_nothing_reads_are_not_set():
    text = "\n".join(p.read_text() for p in (layer_of(ECU) / "conf").rglob("*.conf"))
    for name in ("AOS_NODE_IP", "AOS_HOSTS", "AOS_USE_DHCP", "AOS_NODE_GW_IP"):
        assert name not in text


def test_verify_names_what_a_foreign_bootloader_must_pass(tmp_path):
    from aos_multinode.verify.aos_boot import bootloader_notes

    layer = layer_of(ECU)
    notes = bootloader_notes(layer, [("main", "genericx86-64"), ("q", "qemuarm64"),
                                     ("pi", "raspberrypi4-64")])
    assert len(notes) == 1 and notes[0].startswith("pi (raspberrypi4-64): ")
    assert "aos-image-initramfs-raspberrypi4-64.rootfs.cpio.gz" in notes[0]
    assert notes[0].endswith("pass: root=PARTLABEL=rootfs " + " ".join(KERNEL_ARGS))
    # Without Aos there is nothing to say.
    gateway = layer_of(EXAMPLES_DIR / "two-node-gateway.yaml")
    assert bootloader_notes(gateway, [("a", "raspberrypi4-64")]) == []


def test_init_keeps_aos_within_16_nodes(tmp_path):
    refused = run_cli("init", str(tmp_path / "u17.yaml"), "--no-interactive", "--nodes", "17")
    assert refused.returncode == 2 and "at most 16 nodes" in refused.stderr
    assert not (tmp_path / "u17.yaml").exists()
    made = run_cli("init", str(tmp_path / "u16.yaml"), "--no-interactive", "--nodes", "16")
    assert made.returncode == 0, made.stderr
    assert validate_errors(tmp_path / "u16.yaml")[0] == 0


def test_without_aos_the_disk_image_waits_for_the_machine_s_initramfs():
    gateway = EXAMPLES_DIR / "two-node-gateway.yaml"
    config = load_unit_config(gateway).config
    node = config.nodes[0]
    parser = BitBakeParser(layer_of(gateway))
    image_bb = next((parser.layer / "recipes-core" / "images").glob(f"{IMAGE}.bb"))
    with_initramfs = parser.recipe(image_bb, parser.node_data(
        node.id, node.machine, INITRAMFS_IMAGE="core-image-minimal-initramfs"))
    assert "core-image-minimal-initramfs:do_image_complete" in \
        with_initramfs.getVarFlag("do_image_wic", "depends").split()
    without = parser.recipe(image_bb, parser.node_data(node.id, node.machine))
    assert not [dep for dep in (without.getVarFlag("do_image_wic", "depends") or "").split()
                if ":" not in dep or "initramfs" in dep]
