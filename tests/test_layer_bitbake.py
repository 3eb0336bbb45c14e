"""The generated layer, read by BitBake's own parser (the `bb` library of PyPI's
bitbake-setup): every conf/*.conf and every recipe parses, and the values BitBake expands are
the ones the Unit Config asks for.

openembedded-core and meta-aos are not checked out in CI: empty stand-ins for the classes the
recipes inherit and for meta-aos's aos-image.inc live in tests/bitbake_stubs/ (see its
README). So the tests assert what the layer itself sets, not what those classes would add.
"""

from __future__ import annotations

import glob
import hashlib
import re
from pathlib import Path

import pytest

from aos_multinode.contract import COLLECTION, IMAGE, NODE_CONFIG_RECIPE, PACKAGEGROUP_PREFIX
from layer_helpers import (EXAMPLES, LAYER, VALID_DIR, BitBakeParser, example_id, layer_of,
                           load, recipe_name, recipes)

SOURCES = EXAMPLES + sorted(VALID_DIR.glob("*.yaml"))

# What a node's local.conf fragment may set: its identity, meta-aos's per-node variables and
# the role's kernel. Anything else (DISTRO_FEATURES, MACHINE, INHERIT, TMPDIR, ...) would
# change far more tasks than the node's own (see the layer README, "Build cost").
# With Aos, the Aos initramfs too: the same for every node (kernel and image read it).
NODE_CONF_ALLOWED = re.compile(r"^(AOS_MULTINODE_[A-Z_]+|AOS_[A-Z_]+|"
                               r"PREFERRED_PROVIDER_virtual/kernel|"
                               r"INITRAMFS_(IMAGE|IMAGE_BUNDLE|FSTYPES)|hostname:pn-base-files)$")


def node_cases(sources):
    return [pytest.param(source, node.id, id=f"{source.stem}-{node.id}")
            for source in sources for node in load(source).nodes]


@pytest.fixture(scope="module")
def parsed():
    """Parse every recipe of an example once per node (with that node's fragment); cached."""
    cache = {}

    def get(source: Path, node_id: str):
        key = (str(source), node_id)
        if key not in cache:
            config = load(source)
            node = config.node(node_id)
            parser = BitBakeParser(layer_of(source))
            d = parser.node_data(node.id, node.machine)
            cache[key] = {recipe_name(path): parser.recipe(path, d)
                          for path in recipes(parser.layer)}
        return cache[key]
    return get


# --- conf/layer.conf -------------------------------------------------------------------

@pytest.mark.parametrize("source", SOURCES, ids=example_id)
def test_layer_conf(source):
    config = load(source)
    layer = layer_of(source)
    parser = BitBakeParser(layer)
    d = parser.conf(layer / "conf" / "layer.conf", LAYERDIR=str(layer),
                    LAYERDIR_RE=re.escape(str(layer)), BBPATH="/stubs", BBFILES="")

    assert COLLECTION in d.getVar("BBFILE_COLLECTIONS").split()
    assert d.getVar(f"LAYERSERIES_COMPAT_{COLLECTION}").split() == [config.yocto_release]
    depends = d.getVar(f"LAYERDEPENDS_{COLLECTION}").split()
    assert "core" in depends
    assert ("aos" in depends) == config.aos.enabled
    # chrony lives in meta-networking, linuxptp in meta-oe.
    assert ("networking-layer" if config.time_protocol == "ntp" else "openembedded-layer") \
        in depends
    assert d.getVar("BBPATH").split(":") == ["/stubs", str(layer)]
    int(d.getVar(f"BBFILE_PRIORITY_{COLLECTION}"))
    # Build-wide settings never belong in a layer.conf.
    for name in ("BBMULTICONFIG", "TMPDIR", "MACHINE", "DISTRO", "DISTRO_FEATURES"):
        assert d.getVar(name) is None, name

    # BitBake finds every recipe of the layer through BBFILES, and each belongs to the
    # collection through BBFILE_PATTERN.
    globs = d.getVar("BBFILES").split()
    pattern = re.compile(d.getVar(f"BBFILE_PATTERN_{COLLECTION}"))
    found = {Path(path) for g in globs for path in glob.glob(g)}
    assert found == set(recipes(layer))
    for recipe in found:
        assert pattern.match(str(recipe)), recipe
    # ... and the layer has the recipes the plan promises: the image, one config recipe for
    # every node and one packagegroup per role; no recipe per node.
    names = {recipe_name(path) for path in found}
    assert {IMAGE, NODE_CONFIG_RECIPE,
            *(f"{PACKAGEGROUP_PREFIX}{role.name}" for role in config.roles)} <= names
    assert not [name for name in names if name.startswith(f"{NODE_CONFIG_RECIPE}-")]


# --- conf/nodes/<id>.conf: the local.conf fragment ---------------------------------------

@pytest.mark.parametrize("source,node_id", node_cases(SOURCES))
def test_node_fragment(source, node_id):
    config = load(source)
    node = config.node(node_id)
    parser = BitBakeParser(layer_of(source))
    baseline = set(parser.data().keys())
    d = parser.conf(parser.layer / "conf" / "nodes" / f"{node_id}.conf")
    values = {name: d.getVar(name) for name in set(d.keys()) - baseline
              if not name.startswith("__") and name != "FILE"}

    # Raspberry Pi boot settings (a node on a board's MACHINE): only under meta-raspberrypi's
    # `rpi` override, so they set nothing for any other MACHINE (none here is rpi).
    rpi = {"CMDLINE_ROOTFS:rpi", "RPI_EXTRA_CONFIG", "IMAGE_BOOT_FILES"} & set(values)
    if rpi:
        assert any(n.machine.startswith("raspberrypi") for n in config.nodes)
        assert not d.getVar("RPI_EXTRA_CONFIG") and not d.getVar("IMAGE_BOOT_FILES")
        assert "root=PARTLABEL=rootfs" in values["CMDLINE_ROOTFS:rpi"]
    # The team's own lines (build, role and node local_conf) are the user's choice.
    team = {name.split(":")[0] for name, _ in
            (*config.local_conf, *node.role.local_conf, *node.local_conf)}
    assert not [name for name in values if not NODE_CONF_ALLOWED.match(name)
                and name not in rpi and name.split(":")[0] not in team]
    assert values["AOS_MULTINODE_DEVICE_ID"] == config.device_id
    assert values["AOS_MULTINODE_CLUSTER_ID"] == config.cluster_id
    assert values["AOS_MULTINODE_NODE_ID"] == node.id
    assert values["AOS_MULTINODE_NODE_INDEX"] == str(node.index)
    assert values["AOS_MULTINODE_NODE_ROLE"] == node.role.name
    assert values["AOS_MULTINODE_HOSTNAME"] == node.hostname
    assert values["AOS_MULTINODE_MAIN"] == ("1" if node.is_main else "0")
    assert values["AOS_MULTINODE_STORAGE"] == node.storage
    assert values["AOS_MULTINODE_RELEASE"]
    assert values.get("PREFERRED_PROVIDER_virtual/kernel") == node.role.kernel

    aos = {name: value for name, value in values.items()
           if name.startswith("AOS_") and not name.startswith("AOS_MULTINODE_")}
    if not config.aos.enabled:
        assert aos == {}
        assert not [name for name in values if name.startswith("INITRAMFS_")]
        return
    main = config.main_node
    assert aos["AOS_MAIN_NODE"] == ("1" if node.is_main else "0")
    assert aos["AOS_NODE_HOSTNAME"] == node.hostname
    assert aos["AOS_MAIN_NODE_HOSTNAME"] == main.hostname
    assert aos["AOS_UNIT_MODEL"] == config.aos.unit_model
    assert aos["AOS_UNIT_VERSION"] == config.aos.unit_version
    assert aos["AOS_NODE_TYPE"] == (node.role.node_type or f"{config.aos.unit_model}-"
                                    f"{config.aos.unit_version}-{node.role.name}")
    assert len(aos["AOS_NODE_TYPE"]) <= 64
    if main.address is not None:
        assert aos["AOS_DNS_IP"] == str(main.address)
    # Variables only the products' own recipes read are not set (nothing here reads them).
    assert not {"AOS_NODE_IP", "AOS_HOSTS", "AOS_USE_DHCP", "AOS_NODE_GW_IP"} & set(aos)
    assert aos["AOS_OS"] == "linux"
    assert "TARGET_ARCH" in d.getVar("AOS_ARCHITECTURE", False)
    for target_arch, expected in (("x86_64", "amd64"), ("aarch64", "arm64")):
        d.setVar("TARGET_ARCH", target_arch)
        assert d.getVar("AOS_ARCHITECTURE") == expected
    assert int(aos["AOS_VAR_PART_SIZE"]) >= 1024
    assert values["INITRAMFS_IMAGE"] == "aos-image-initramfs"
    # base-files writes no hostname (the image does): the same base-files, initramfs and
    # kernel for every node of a role.
    assert values["hostname:pn-base-files"] == ""
    d.setVar("OVERRIDES", d.getVar("OVERRIDES", False) + ":pn-base-files")
    d.setVar("hostname", "${AOS_NODE_HOSTNAME}", parsing=True)  # meta-aos's bbappend
    assert d.getVar("hostname") == ""
    assert values["INITRAMFS_IMAGE_BUNDLE"] == "0"
    assert values["INITRAMFS_FSTYPES"] == "cpio.gz"


# --- conf/multiconfig/<id>.conf ------------------------------------------------------------

@pytest.mark.parametrize("source", SOURCES, ids=example_id)
def test_multiconfigs(source):
    config = load(source)
    parser = BitBakeParser(layer_of(source), topdir=Path("/work/build"))
    tmpdirs = set()
    for node in config.nodes:
        path = parser.layer / "conf" / "multiconfig" / f"{node.id}.conf"
        d = parser.conf(path, BB_CURRENT_MC=node.id)
        assert d.getVar("MACHINE") == node.machine
        assert "${BB_CURRENT_MC}" in d.getVar("TMPDIR", False)
        tmpdir = d.getVar("TMPDIR")
        assert tmpdir.startswith("/work/build/") and node.id in tmpdir
        tmpdirs.add(tmpdir)
        # It pulls in the node's own fragment.
        assert d.getVar("AOS_MULTINODE_NODE_ID") == node.id
        assert d.getVar("BBMULTICONFIG") is None
    assert len(tmpdirs) == len(config.nodes), "every multiconfig needs a TMPDIR of its own"
    assert sorted(p.stem for p in (parser.layer / "conf" / "multiconfig").iterdir()) == \
        sorted(node.id for node in config.nodes)


# --- recipes -----------------------------------------------------------------------------

@pytest.mark.parametrize("source,node_id", node_cases(SOURCES))
def test_image(source, node_id, parsed):
    config = load(source)
    node = config.node(node_id)
    image = parsed(source, node_id)[IMAGE]

    installed = image.getVar("IMAGE_INSTALL").split()
    assert "aos-node-config" in installed
    assert f"packagegroup-aos-multinode-{node.role.name}" in installed
    assert not [p for p in installed if p.startswith("aos-node-config-")]
    link = image.getVar("IMAGE_LINK_NAME")
    release = image.getVar("AOS_MULTINODE_RELEASE")
    assert f"-{config.device_id}-{node.id}-{release}" in link
    assert image.getVarFlag("SKIP_RECIPE", IMAGE) == ""
    assert {"wic", "wic.bmap"} <= set(image.getVar("IMAGE_FSTYPES").split())
    # Aos: the ext4 rootfs for aos-rootfs FOTA, IMAGE_BASENAME = PN, systemd required.
    assert ("ext4" in image.getVar("IMAGE_FSTYPES").split()) == config.aos.enabled
    if config.aos.enabled:
        assert image.getVar("IMAGE_BASENAME") == image.getVar("PN") == IMAGE
        assert image.getVar("REQUIRED_DISTRO_FEATURES").split() == ["systemd"]
        assert "aos_multinode_no_machine_id" in image.getVar("ROOTFS_POSTPROCESS_COMMAND")
        assert "aos-image-initramfs:do_image_complete" in \
            image.getVarFlag("do_image_wic", "depends")
    assert "aos_multinode_identity" in image.getVar("ROOTFS_POSTPROCESS_COMMAND")
    assert image.getVarFlag("aos_multinode_identity", "func")
    # With Aos, base-files writes no hostname: the image writes what it would have.
    identity = image.getVar("aos_multinode_identity")
    assert f"echo '{node.hostname}' > " in identity
    assert (f"echo '127.0.1.1 {node.hostname}' >> " in identity) == config.aos.enabled
    # meta-aos's image include is followed exactly when Aos is on (its read-only rootfs).
    features = (image.getVar("IMAGE_FEATURES") or "").split()
    assert ("read-only-rootfs" in features) == config.aos.enabled
    assert image.getVar("LICENSE") == ("Apache-2.0" if config.aos.enabled else "MIT")


@pytest.mark.parametrize("source", [s for s in EXAMPLES if not load(s).aos.enabled],
                         ids=example_id)
def test_image_wks_follows_efi(source):
    """On an EFI machine the image uses the layer's PARTUUID wks (with the machine's
    initramfs when it has one); elsewhere the machine's own, else a root file system image.
    The kickstarts live where the release searches them (wic/, files/wic/ from 5.1 on)."""
    config = load(source)
    node = config.nodes[0]
    parser = BitBakeParser(layer_of(source))
    wks_dir = parser.layer / ("wic" if config.yocto_release == "scarthgap" else "files/wic")
    image = parser.layer / "recipes-core" / "images" / f"{IMAGE}.bb"
    cases = [({"MACHINE_FEATURES": "efi pci"}, "aos-multinode-efi.wks.in"),
             ({"MACHINE_FEATURES": "efi", "INITRAMFS_IMAGE": "core-image-initramfs-boot"},
              "aos-multinode-efi-initrd.wks.in"),
             ({"WKS_FILE": "machine.wks"}, "machine.wks"),
             ({}, "aos-multinode-rootfs.wks.in")]
    for variables, expected in cases:
        parsed = parser.recipe(image, parser.node_data(node.id, node.machine, **variables))
        assert parsed.getVar("WKS_FILE") == expected, variables
        if expected.startswith("aos-multinode"):
            assert (wks_dir / expected).is_file()


@pytest.mark.parametrize("source", SOURCES, ids=example_id)
def test_image_without_node_is_skipped(source):
    """Without a node fragment the image says what to do instead of building a nameless
    image; with one it is not skipped."""
    parser = BitBakeParser(layer_of(source))
    image = parser.recipe(parser.layer / "recipes-core" / "images" / f"{IMAGE}.bb")
    reason = image.getVarFlag("SKIP_RECIPE", IMAGE)
    assert reason and "conf/nodes/" in reason


@pytest.mark.parametrize("source,node_id", node_cases(SOURCES))
def test_node_config_recipes(source, node_id, parsed):
    config = load(source)
    node = config.node(node_id)
    datastores = parsed(source, node_id)
    # One recipe: the fragment selects the node, whose folder alone it fetches.
    recipe = datastores["aos-node-config"]
    assert recipe.getVar("AOS_NODE_CONFIG_ID") == node.id
    assert f"file://{node.id}/" in recipe.getVar("SRC_URI").split()
    assert not [u for u in recipe.getVar("SRC_URI").split()
                if u.startswith("file://") and u not in (f"file://{node.id}/", "file://COPYING.MIT")]
    assert recipe.getVarFlag("SKIP_RECIPE", "aos-node-config") == ""
    # Machine-specific config: its own package architecture, and only for its MACHINE.
    assert recipe.getVar("PACKAGE_ARCH", False) == "${MACHINE_ARCH}"
    compatible = recipe.getVar("COMPATIBLE_MACHINE")
    assert re.match(compatible, node.machine)
    for near in (f"{node.machine}x", f"x{node.machine}", "qemux86-64", "raspberrypi4"):
        if near != node.machine:
            assert not re.match(compatible, near), near
    assert recipe.getVar("PACKAGES").split() == ["aos-node-config"]
    # Every node's folder is there for its own build.
    files = layer_of(source) / "recipes-core" / "aos-node-config" / "files"
    folders = sorted(p.name for p in files.iterdir() if p.is_dir())
    assert folders == sorted(n.id for n in config.nodes)


@pytest.mark.parametrize("source", SOURCES, ids=example_id)
def test_node_config_without_node_is_skipped(source):
    """Without a node fragment the config recipe says what to do; with the fragment of a
    node the device does not have, or on another MACHINE, it is incompatible."""
    config = load(source)
    parser = BitBakeParser(layer_of(source))
    path = parser.layer / "recipes-core" / "aos-node-config" / "aos-node-config_1.0.bb"
    recipe = parser.recipe(path)
    reason = recipe.getVarFlag("SKIP_RECIPE", "aos-node-config")
    assert reason and "conf/nodes/" in reason
    node = config.nodes[0]
    for node_id, machine in ((node.id, "another-machine"), ("not-a-node", node.machine)):
        data = parser.node_data(node.id, machine)
        data.setVar("AOS_MULTINODE_NODE_ID", node_id)
        compatible = parser.recipe(path, data).getVar("COMPATIBLE_MACHINE")
        assert compatible and not re.match(compatible, machine), (node_id, machine)


@pytest.mark.parametrize("source,node_id", node_cases(EXAMPLES))
def test_support_recipes(source, node_id, parsed):
    config = load(source)
    datastores = parsed(source, node_id)
    for role in config.roles:
        group = datastores[f"packagegroup-aos-multinode-{role.name}"]
        rdepends = group.getVar(f"RDEPENDS:packagegroup-aos-multinode-{role.name}").split()
        assert {"aos-cluster-agent", "aos-multinode-timesync"} <= set(rdepends)
        assert set(role.packages) <= set(rdepends)
        # No unit config or rebalance file in any image: the cloud delivers the unit config.
        assert not [p for p in rdepends if "rebalance" in p or "unit-config" in p]
    timesync = datastores["aos-multinode-timesync"]
    runtime = timesync.getVar("RDEPENDS:aos-multinode-timesync").split()
    assert ("chrony" if config.time_protocol == "ntp" else "linuxptp") in runtime
    agent = datastores["aos-cluster-agent"]
    assert agent.getVar("SYSTEMD_SERVICE:aos-cluster-agent") == "aos-cluster-agent.service"


@pytest.mark.parametrize("source", SOURCES, ids=example_id)
def test_local_files_and_license_checksums(source, parsed):
    """Every file:// a recipe of the layer fetches exists beside it, and LIC_FILES_CHKSUM
    holds the real md5 of the license text it names. (A bbappend's sources are its recipe's.)"""
    config = load(source)
    node = config.nodes[0]
    for path in recipes(layer_of(source)):
        if path.suffix == ".bbappend":
            continue
        recipe = parsed(source, node.id)[recipe_name(path)]
        files = path.parent / "files"
        for uri in (recipe.getVar("SRC_URI") or "").split():
            assert uri.startswith("file://"), f"{path.name}: only local files, got {uri}"
            local = files / uri[len("file://"):].split(";")[0]
            assert local.exists(), f"{path.name}: {uri} is missing ({local})"
        for entry in (recipe.getVar("LIC_FILES_CHKSUM") or "").split():
            name, _, params = entry[len("file://"):].partition(";")
            md5 = dict(p.split("=", 1) for p in params.split(";"))["md5"]
            assert hashlib.md5((files / name).read_bytes()).hexdigest() == md5, path.name


@pytest.mark.parametrize("source", SOURCES, ids=example_id)
def test_only_node_recipes_and_image_differ_between_nodes(source, parsed):
    """The build-cost design, checked on the parsed data: for nodes that share a MACHINE,
    every recipe but the image and the config recipe expands to exactly the same values
    whichever node's fragment is in local.conf; the config recipe's values differ only by
    the node's id. So BitBake gives their tasks the same signatures and builds
    them once."""
    config = load(source)
    by_machine = {}
    for node in config.nodes:
        by_machine.setdefault(node.machine, []).append(node)
    node_vars = set()
    for node in config.nodes:
        for d in parsed(source, node.id).values():
            node_vars |= {k for k in d.keys() if k.startswith("AOS_") or
                          k == "PREFERRED_PROVIDER_virtual/kernel"}
            break
    for nodes in by_machine.values():
        if len(nodes) < 2:
            continue
        first = parsed(source, nodes[0].id)
        for other in nodes[1:]:
            second = parsed(source, other.id)
            for name, d in first.items():
                if name == IMAGE:
                    continue
                a, b = _expanded(d, node_vars), _expanded(second[name], node_vars)
                differ = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
                if name == NODE_CONFIG_RECIPE:
                    # The config recipe differs by the node it installs, and by nothing else:
                    # each differing value names its node (and the same with the names swapped).
                    def named(value: object, node: str) -> str:
                        return re.sub(rf"(?<![\w-]){re.escape(node)}(?![\w-])", "<node>",
                                      str(value))
                    assert differ and all(
                        named(a[k], nodes[0].id) == named(b[k], other.id) != str(a[k])
                        for k in differ), (name, differ)
                    continue
                assert not differ, f"{name} differs between {nodes[0].id} and {other.id}: " \
                                   f"{differ}"


def _expanded(d, skip) -> dict:
    out = {}
    for name in d.keys():
        if name in skip or name.startswith("__") or name in ("FILE", "BBINCLUDED"):
            continue
        try:
            out[name] = d.getVar(name)
        except Exception as exc:  # an expansion error is a value too
            out[name] = f"<{type(exc).__name__}>"
    return out


def test_parser_rejects_a_broken_recipe(tmp_path):
    """The parser really checks: an unclosed shell function fails the parse."""
    layer = tmp_path / LAYER
    (layer / "recipes-core" / "broken").mkdir(parents=True)
    broken = layer / "recipes-core" / "broken" / "broken_1.0.bb"
    broken.write_text('SUMMARY = "broken"\ndo_install() {\n    install -d ${D}\n')
    parser = BitBakeParser(layer)
    with pytest.raises(Exception, match="never closed|Unparsed|unclosed"):
        parser.recipe(broken)
