"""The bundled examples with real kas and real BitBake, offline, on the pinned upstream
layers of ../shared/yocto (see tests/real_bitbake.py for how: an ordinary user, no network).

- kas checks out every node's kas file (and the all-nodes one) of each example at the
  pinned commits, and every layer the build names exists;
- the Raspberry Pi example (scarthgap, meta-aos 9.1.1, meta-raspberrypi): kas/all-nodes.yml
  resolves every node's `aos-multinode-image` in one multiconfig build (`bitbake -g`
  through `kas shell`, as a user would): no error at all, no warning about the generated
  layer; each node is a working Aos node (the Aos initramfs the disk image waits for, the
  node's Aos core configuration from the -nodeconfig variants, and `bitbake -e` of each
  node from the same parse cache: ext4 + wic, INITRAMFS_IMAGE, AOS_ARCHITECTURE/AOS_OS, the
  role's kickstart with every partition and kernel argument, the Pi's boot files); and
  BitBake's tinfoil shows every node's split configuration files byte for byte meta-aos's;
- the gateway (wrynose): `aos-multinode verify` on its two nodes (`bitbake -S none` each):
  the extra node's identity under 1 % of its tasks, heavy reruns only for its role;
- the ECU with a second gpu node: every node's `verify` against a real bitbake-hashserv,
  then the pipeline cost, and gpu1 against gpu0 (one MACHINE, one role): no heavy task
  runs again.

Parsing is the cost (minutes per configuration on 2 cores): every test of an example shares
its checkout and build directory, and each configuration is parsed once.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from aos_multinode import aos_node, verify
from aos_multinode.generation.pins import load_pins
from kas_helpers import bblayers
from layer_helpers import EXAMPLES_DIR
from real_bitbake import Builder, generate_for, make_builder, run_builder_bitbake

pytestmark = [pytest.mark.slow, pytest.mark.bitbake]

IMAGE = "aos-multinode-image"
# The layer's recipes every node image builds.
LAYER_RECIPES = (IMAGE, "aos-node-config", "aos-multinode-device", "aos-cluster-agent")


@dataclass(frozen=True)
class Case:
    example: str
    sharing: tuple[str, ...] = ()    # two nodes of one MACHINE for the sharing measurement
    all_nodes: bool = False          # resolve kas/all-nodes.yml's multiconfig build


# Parsing is the cost: every real-BitBake step below is one parse of one configuration
# (minutes on 2 cores), and each configuration is parsed once. The gateway's nodes are
# parsed by its sharing test (verify), the ECU's (with a second gpu node) by its hashserv
# test (verify), the Raspberry Pi example's in one all-nodes multiconfig build, which also
# answers every `bitbake -e` and the config-split check from its parse cache.
CASES = [Case("two-node-gateway", sharing=("a", "b")),
         Case("three-node-ecu"),
         Case("two-board-rpi4", all_nodes=True)]


@pytest.fixture(scope="session")
def builder():
    builder, kept = make_builder()
    yield builder
    if builder.as_root:
        # Nothing started here may outlive the tests (BitBake servers, hash servers): they
        # name the work folder on their command lines.
        subprocess.run(["pkill", "-KILL", "-u", builder.user, "-f", str(builder.work)],
                       capture_output=True)
    if not kept:
        shutil.rmtree(builder.work, ignore_errors=True)


@dataclass
class Checkout:
    case: Case
    out: Path
    kas_work: Path
    unit: dict

    @property
    def build_dir(self) -> Path:
        return self.kas_work / "build"

    @property
    def nodes(self) -> list[str]:
        return [n.get("id", f"node{n['index']}") for n in self.unit["nodes"]]


_CHECKOUTS: dict[str, Checkout] = {}


def checkout_of(case: Case, builder: Builder) -> Checkout:
    """The example generated (once) into the work folder, with its kas work folder."""
    if case.example not in _CHECKOUTS:
        example = EXAMPLES_DIR / f"{case.example}.yaml"
        out = generate_for(builder, example, case.example)
        kas_work = out.parent / "kas-work"
        kas_work.mkdir(exist_ok=True)
        builder.give(kas_work)
        unit = yaml.safe_load(example.read_text(encoding="utf-8"))
        _CHECKOUTS[case.example] = Checkout(case, out, kas_work, unit)
    return _CHECKOUTS[case.example]


@pytest.fixture(params=CASES, ids=lambda case: case.example)
def checkout(request, builder: Builder) -> Checkout:
    return checkout_of(request.param, builder)


def pinned_commits(unit: dict) -> dict[str, str]:
    """The commit of every repository the example's kas files name, from the pins table."""
    table = load_pins(None)
    release = unit.get("yocto", {}).get("release", "scarthgap")
    commits = {name: repo["commit"] for name, repo in table["releases"][release]["repos"].items()}
    aos = unit.get("aos", {})
    if aos.get("enabled", True):
        commits["meta-aos"] = table["meta-aos"]["tags"][aos.get("version", "v9.1.1")]
    else:
        commits.pop("meta-virtualization", None)
        commits.pop("meta-selinux", None)
    for name, repo in (unit.get("build", {}).get("repos") or {}).items():
        commits[name] = repo["commit"]  # the examples pin their extra repositories
    return commits


def test_kas_checks_out_every_node(checkout: Checkout, builder: Builder):
    """Every node's kas file and the all-nodes one check out from the snapshots at exactly
    the pinned commits, and every layer they name is there."""
    expected = pinned_commits(checkout.unit)
    for name in [*checkout.nodes, "all-nodes"]:
        log = checkout.out.parent / f"checkout-{name}.log"
        result = builder.kas(["checkout", f"kas/{name}.yml:kas/offline-tests.yml"],
                             cwd=checkout.out, kas_work=checkout.kas_work, timeout=600, log=log)
        assert result.returncode == 0, log.read_text(encoding="utf-8")[-3000:]
        layers = bblayers(checkout.build_dir)
        assert layers and all((layer / "conf" / "layer.conf").is_file() for layer in layers)
        assert any(layer.name == "meta-aos-multinode" for layer in layers), layers
    for repo, commit in expected.items():
        # The checkouts belong to the builder: git refuses them to root without this.
        repo_dir = checkout.kas_work / repo
        head = subprocess.run(["git", "-c", "safe.directory=*", "-C", str(repo_dir),
                               "rev-parse", "HEAD"], capture_output=True, text=True)
        assert head.stdout.strip() == commit, (repo, head.stderr)


def messages_of(log: Path, checkout: Checkout, node: str) -> list[verify.BitBakeFinding]:
    """BitBake's errors and warnings in LOG, located as `aos-multinode verify` does."""
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
    layer = checkout.out / "meta-aos-multinode"
    return [verify.locate(m, layer, checkout.out, node) for m in verify.parse_messages(lines)]


def check_node_graph(checkout: Checkout, builder: Builder, node: str, graph: str) -> None:
    """NODE's part of a resolved task graph (GRAPH: task-depends.dot with its tasks named
    as in a single-node build): the image and the layer's recipes, one config recipe and
    no recipe per node; with Aos, a working Aos node (the contract,
    docs/aos-node-contract.md): see check_aos_node."""
    tasks = set(re.findall(r'^"([^"]+\.do_[\w+-]+)" \[label=', graph, re.M))
    assert len(tasks) > 1000, (node, len(tasks))
    recipes = {task.rsplit(".", 1)[0] for task in tasks}
    for recipe in LAYER_RECIPES:
        assert recipe in recipes, (node, recipe)
    # One config recipe, no recipe per node.
    assert not [r for r in recipes if r.startswith("aos-node-config-")], node
    assert f'"{IMAGE}.do_rootfs"' in graph and f'"{IMAGE}.do_build"' in graph
    if checkout.unit.get("aos", {}).get("enabled", True):
        assert {"aos-iamanager", "aos-servicemanager"} <= recipes
        check_aos_node(checkout, builder, node, graph, recipes)


def check_aos_node(checkout: Checkout, builder: Builder, node: str, graph: str,
                   recipes: set[str]) -> None:
    """The Aos initramfs is in the graph and the disk image waits for it; the image installs
    the node's configuration of Aos core from its -nodeconfig variants; `bitbake -e
    mc:NODE:aos-multinode-image` in the all-nodes build (same configuration, so the parse
    cache of -g) shows the Aos image settings, and the kickstart BitBake picked carries
    every partition and kernel argument."""
    assert "aos-image-initramfs" in recipes
    # Its modules and PKCS#11 backend are built for it.
    assert {"lvm2", "softhsm", "initramfs-framework"} <= recipes, sorted(recipes)[:50]
    edges = set(re.findall(r'^"([^"]+)" -> "([^"]+)"', graph, re.M))
    assert (f"{IMAGE}.do_image_wic", "aos-image-initramfs.do_image_complete") in edges
    assert f'"{IMAGE}.do_image_ext4"' in graph
    # Aos core's configuration comes from the variants (classes/nodeconfig.bbclass), and
    # the image's rootfs waits for their packages: the node gets its files.
    for recipe in ("aos-iamanager", "aos-servicemanager"):
        variant = aos_node.node_config_variant(recipe)
        assert variant in recipes, variant
        assert any(a == f"{IMAGE}.do_rootfs" and b.startswith(f"{variant}.do_package_write_")
                   for a, b in edges), variant
        assert (f"{variant}.do_package", f"{variant}.do_update_config") in edges
        assert (f"{variant}.do_update_config", f"{variant}.do_install") in edges

    log = checkout.out.parent / f"bitbake-e-{node}.log"
    result = run_builder_bitbake(builder, checkout.out, checkout.kas_work, "all-nodes",
                                 f"bitbake -e mc:{node}:{IMAGE}", log)
    verify.wait_for_server(checkout.build_dir)
    text = log.read_text(encoding="utf-8", errors="replace")
    assert result.returncode == 0, text[-5000:]
    env = dict(re.findall(r'^(?:export )?([A-Za-z0-9_:/-]+)="(.*)"$', text, re.M))
    assert {"ext4", "wic", "wic.bmap"} <= set(env["IMAGE_FSTYPES"].split()), env["IMAGE_FSTYPES"]
    assert env["INITRAMFS_IMAGE"] == "aos-image-initramfs"
    assert env["INITRAMFS_FSTYPES"] == "cpio.gz" and env["INITRAMFS_IMAGE_BUNDLE"] == "0"
    assert env["IMAGE_BASENAME"] == env["PN"] == IMAGE
    assert "systemd" in env["REQUIRED_DISTRO_FEATURES"].split()
    assert "systemd" in env["DISTRO_FEATURES"].split() and env["DISTRO"] == "aos-core"
    assert "read-only-rootfs" in env["IMAGE_FEATURES"].split()
    machine = env["MACHINE"]
    assert env["AOS_ARCHITECTURE"] == {"genericx86-64": "amd64", "genericarm64": "arm64",
                                       "qemux86-64": "amd64", "qemuarm64": "arm64",
                                       "raspberrypi4-64": "arm64"}[machine]
    assert env["AOS_OS"] == "linux"
    for unread in ("AOS_NODE_IP", "AOS_HOSTS", "AOS_USE_DHCP", "AOS_NODE_GW_IP"):
        assert unread not in env, unread
    role = next(n["role"] for n in checkout.unit["nodes"]
                if n.get("id", f"node{n['index']}") == node)
    efi = "efi" in env["MACHINE_FEATURES"].split()
    rpi = "rpi" in env["MACHINEOVERRIDES"].split(":")
    kind = "rpi" if rpi else "efi" if efi else "disk"
    assert env["WKS_FILE"] == f"aos-multinode-aos-{role}-{kind}.wks.in"
    # BitBake found the layer's kickstart template (it expands it into WKS_FULL_PATH).
    wks = Path(env["WKS_TEMPLATE_PATH"])
    assert wks.parent.parent.name == "meta-aos-multinode" and wks.name == env["WKS_FILE"], wks
    assert env["WKS_FILE_CHECKSUM"].endswith(":True")
    assert Path(env["WKS_FULL_PATH"]).name == env["WKS_FILE"][:-len(".in")]
    lines = wks.read_text(encoding="utf-8").splitlines()
    parts = [line for line in lines if line.startswith("part ")]
    names = [re.search(r"--part-name (\S+)", line)[1] for line in parts]
    boots = {"efi": ["boot_a", "boot_b"], "rpi": ["boot"], "disk": []}[kind]
    assert names == boots + ["rootfs", "var", "aos"], names
    if rpi:
        check_rpi_boot(env, parts, edges)
    if efi:
        (bootloader,) = [line for line in lines if line.startswith("bootloader ")]
        for argument in ("rootwait", " ro ", "rootfstype=ext4",
                         "vardir.disk=/dev/disk/by-partlabel/var",
                         "opendisk.target=/dev/disk/by-partlabel/aos", "opendisk.pkcs11=softhsm",
                         "opendisk.pkcs11.pinfile=/var/aos/iam/.usrpin",
                         "aosupdate.disk=/dev/aosvg/workdirs",
                         "aosupdate.path=sm/runtimes/rootfs"):
            assert argument in bootloader, (argument, bootloader)
        assert "initrd=${INITRAMFS_IMAGE}-${MACHINE}.rootfs.${INITRAMFS_FSTYPES}" in parts[0]


def check_rpi_boot(env: dict[str, str], parts: list[str], edges: set) -> None:
    """A Raspberry Pi node boots the board's way: its boot partition is meta-raspberrypi's
    boot files (the BSP's IMAGE_BOOT_FILES) with the Aos initramfs, which config.txt names;
    the firmware passes cmdline.txt, whose root and Aos arguments come from the layer."""
    assert "--source bootimg-partition" in parts[0], parts[0]
    boot_files = env["IMAGE_BOOT_FILES"].split()
    assert "bootfiles/*" in boot_files or "${BOOTFILES_DIR_NAME}/*" in boot_files, boot_files
    assert "aos-image-initramfs-raspberrypi4-64.rootfs.cpio.gz;aos-initramfs.cpio.gz" \
        in boot_files, boot_files
    assert "initramfs aos-initramfs.cpio.gz followkernel" in env["RPI_EXTRA_CONFIG"]
    cmdline = env["CMDLINE_ROOTFS"]
    for argument in ("root=PARTLABEL=rootfs", "rootwait", "rootfstype=ext4",
                     "vardir.disk=/dev/disk/by-partlabel/var",
                     "opendisk.target=/dev/disk/by-partlabel/aos"):
        assert argument in cmdline.split(), (argument, cmdline)
    # The disk image waits for the board's boot files too (meta-raspberrypi's own edge).
    assert any(a == f"{IMAGE}.do_image_wic" and b.startswith("rpi-bootfiles.")
               for a, b in edges), "no rpi-bootfiles edge"


@pytest.mark.parametrize("case", [case for case in CASES if case.all_nodes],
                         ids=lambda case: case.example)
def test_all_nodes_task_graph_resolves(case: Case, builder: Builder):
    """kas/all-nodes.yml: every node's image in one bitbake run (one multiconfig per node,
    each with its MACHINE, fragment and the union of the extra repositories): the task graph
    of every `mc:<node>:aos-multinode-image` resolves, no error at all, no warning about the
    generated layer, and each node's part is a node image (check_node_graph: with Aos, a
    working Aos node, its `bitbake -e` from the same parse cache). Then the config split:
    each node's Aos core configuration files, byte for byte meta-aos's (check_config_split)."""
    checkout = checkout_of(case, builder)
    targets = yaml.safe_load((checkout.out / "kas" / "all-nodes.yml").read_text())["target"]
    assert targets == [f"mc:{node}:{IMAGE}" for node in checkout.nodes]
    log = checkout.out.parent / "bitbake-g-all-nodes.log"
    result = run_builder_bitbake(builder, checkout.out, checkout.kas_work, "all-nodes",
                                 f"bitbake -g {' '.join(targets)}", log, timeout=3600)
    verify.wait_for_server(checkout.build_dir)
    text = log.read_text(encoding="utf-8", errors="replace")
    assert result.returncode == 0, text[-5000:]
    findings = messages_of(log, checkout, "all-nodes")
    assert not [f for f in findings if f.severity == "error"], text[-5000:]
    assert [f.format() for f in findings if f.ours] == []
    parsed = re.search(r"Parsing of (\d+) \.bb files complete \((\d+) cached, (\d+) parsed\)"
                       r".* (\d+) errors\.", text)
    # With a kept work folder (AOS_MULTINODE_BITBAKE_WORK) and nothing changed, BitBake
    # loads every recipe from its parse cache and prints no "Parsing of" line.
    cached = re.search(r"^Loaded (\d+) entries from dependency cache\.$", text, re.M)
    assert (parsed and int(parsed[1]) > 1000 and parsed[4] == "0") or \
        (not parsed and cached and int(cached[1]) > 1000), text[-3000:]
    graph = (checkout.build_dir / "task-depends.dot").read_text(encoding="utf-8")
    for node in checkout.nodes:
        prefix = f'"mc:{node}:'
        mine = "\n".join(line.replace(prefix, '"') for line in graph.splitlines()
                         if line.startswith(prefix))
        check_node_graph(checkout, builder, node, mine)
    tasks = set(re.findall(r'^"([^"]+\.do_[\w+-]+)" \[label=', graph, re.M))
    pi_recipes = {t.split(":", 2)[2].rsplit(".", 1)[0] for t in tasks if t.startswith("mc:pi0:")}
    main_recipes = {t.split(":", 2)[2].rsplit(".", 1)[0] for t in tasks
                    if t.startswith("mc:main:")}
    # The board's BSP reaches only the board's image.
    assert "rpi-bootfiles" in pi_recipes and "rpi-bootfiles" not in main_recipes
    check_config_split(checkout, builder)


def check_config_split(checkout: Checkout, builder: Builder) -> None:
    """tests/bitbake_scripts/config_split.py in the all-nodes build (its parse cache):
    BitBake's tinfoil parses each split Aos core recipe per node, with and without the
    layer, and runs the real functions on the recipe's own sources. Each node's files from
    the -nodeconfig variant are byte for byte (and mode) what meta-aos alone makes for that
    node; they carry that node's values; the recipe itself keeps no node value."""
    script = builder.work / "config_split.py"
    shutil.copyfile(Path(__file__).parent / "bitbake_scripts" / "config_split.py", script)
    scratch = checkout.out.parent / "config-split"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    args = scratch / "args.json"
    args.write_text(json.dumps({
        "meta_aos": str(checkout.kas_work / "meta-aos"), "variant": aos_node.NODE_CONFIG_VARIANT,
        "split": {r: list(f) for r, f in aos_node.NODE_CONFIG_SPLIT.items()},
        "nodes": checkout.nodes, "scratch": str(scratch)}), encoding="utf-8")
    builder.give(script, scratch)
    log = checkout.out.parent / "config-split.log"
    result = builder.kas(["shell", "kas/all-nodes.yml:kas/offline-tests.yml", "-c",
                          f"python3 {script} {args}"], cwd=checkout.out,
                         kas_work=checkout.kas_work, timeout=1800, log=log)
    verify.wait_for_server(checkout.build_dir)
    assert result.returncode == 0, log.read_text(encoding="utf-8")[-5000:]
    start = re.search(r"^\{$", result.stdout, re.M)  # the script's JSON, after any notes
    assert start, log.read_text(encoding="utf-8")[-5000:]
    report = json.loads(result.stdout[start.start():])
    assert sorted(report) == sorted(checkout.nodes)
    texts: dict[str, dict[str, str]] = {}
    for node, recipes in report.items():
        hostname = next(n.get("hostname", n.get("id")) for n in checkout.unit["nodes"]
                        if n.get("id", f"node{n['index']}") == node)
        assert sorted(recipes) == sorted(aos_node.NODE_CONFIG_SPLIT), recipes
        for recipe, found in recipes.items():
            where = (node, recipe)
            assert found["hostname"] == hostname, where
            assert found["variant_pn"] == aos_node.node_config_variant(recipe), where
            assert found["variant_depends"] == "", where
            assert found["variant_noexec"] == ["do_configure", "do_compile"], where
            # The same bytes and modes as meta-aos alone: nothing lost, nothing added.
            assert found["variant"] == found["meta_aos"], where
            for name in aos_node.NODE_CONFIG_SPLIT[recipe]:
                text = found["variant"][name]
                assert found["variant"][name + ":mode"] == "0o644", where
                # The node's own values are in it (meta-aos's do_update_config ran).
                data = json.loads(text)
                if recipe == "aos-iamanager":
                    assert [hostname] in [m.get("alternativeNames")
                                          for m in data["certModules"]], where
                elif recipe == "aos-servicemanager":
                    assert data["iamPublicServerUrl"] == f"{hostname}:8090", where
                else:
                    assert data["iamConfig"]["iamPublicServerUrl"] == f"{hostname}:8090", where
                texts.setdefault(recipe, {})[node] = text
            # The recipe itself: no do_update_config of its own, the files removed, the
            # variant needed, the node's values out of its signatures.
            assert found["recipe_update_config"] == "pass", where
            assert found["meta_aos_update_config"] not in ("", "pass"), where
            assert "rm ${D}${sysconfdir}/aos/$file" in found["recipe_install"], where
            assert aos_node.node_config_variant(recipe) in found["recipe_rdepends"].split()
            assert {"AOS_NODE_HOSTNAME", "AOS_MAIN_NODE_HOSTNAME"} <= \
                set(found["recipe_fetch_vardepsexclude"].split()), where
    # Two nodes, two different files per recipe.
    for recipe, per_node in texts.items():
        assert len(set(per_node.values())) == len(checkout.nodes), recipe


@pytest.mark.parametrize("case", [case for case in CASES if case.sharing],
                         ids=lambda case: case.example)
def test_sharing_of_two_nodes_of_one_machine(case: Case, builder: Builder):
    """`aos-multinode verify --node X --node Y` on two nodes of one MACHINE: clean, and the
    extra node adds its identity (under 1 % of its tasks) and its role, nothing else.
    (Measured on one example: each node costs a full parse.)"""
    checkout = checkout_of(case, builder)
    nodes = case.sharing
    args = [builder.python, "-m", "aos_multinode", "verify", checkout.out, "--checkouts",
            checkout.kas_work, "--json", *[a for n in nodes for a in ("--node", n)]]
    log = checkout.out.parent / "verify.log"
    result = builder.run(args, cwd=checkout.out, timeout=3600, log=log)
    assert result.stdout.strip(), log.read_text(encoding="utf-8")[-5000:]
    data = json.loads(result.stdout)
    assert [f for f in data["findings"] if f["generated_layer"]] == []
    assert not any(node["bitbake_failed"] for node in data["nodes"]), data["nodes"]
    assert result.returncode == 0, result.stderr[-3000:]
    assert [node["node"] for node in data["nodes"]] == list(nodes)
    for node in data["nodes"]:
        assert node["task_graph_tasks"] > 1000 and node["signatures"] > 1000, node
        # The node image's graph (its signatures: one per task): the image and the layer's
        # recipes, one config recipe and no recipe per node.
        signed = verify.collect_signatures(verify.stamps_dir(
            checkout.out / ".aos-multinode-verify" / node["node"]))
        recipes = {key.recipe for key in signed}
        for recipe in LAYER_RECIPES:
            assert recipe in recipes, (node["node"], recipe)
        assert not [r for r in recipes if r.startswith("aos-node-config-")]
        assert {(IMAGE, "do_rootfs"), (IMAGE, "do_build")} <= \
            {(key.recipe, key.task) for key in signed}
    machines = data["sharing"]["machines"]
    extras = [extra for machine in machines for extra in machine["extra_nodes"]]
    assert [extra["node"] for extra in extras] == list(nodes[1:])
    for extra in extras:
        recipes = {r["recipe"] for r in extra["recipes"]}
        assert "aos-node-config" in recipes and IMAGE in recipes
        assert extra["other_tasks"] == 0, extra
        assert 0 < extra["identity_percent"] < 1.0, extra
        assert extra["goal_met"], extra
        # Heavy tasks (configure/compile/install of code) run again only for recipes the
        # extra node's role brings (the worker's htop, its packagegroup compiles nothing);
        # the config recipe and the image are light.
        category = {r["recipe"]: r["category"] for r in extra["recipes"]}
        rerun = {label.split(":")[0] for label in extra["heavy_rerun"]}
        assert all(category.get(recipe) == "role" for recipe in rerun), (rerun, category)
        assert set(extra["heavy_tasks"]) <= set(extra["heavy_rerun"])
        assert not [t for t in extra["heavy_rerun"] if t.startswith(("aos-node-config:",
                                                                        f"{IMAGE}:"))]
        assert extra["light_tasks"] == extra["added_tasks"] - len(extra["heavy_tasks"]) > 0
        assert extra["heavy_goal_met"], extra
    # Every node of the example was verified: the pipeline cost of its generated CI.
    if set(nodes) == set(checkout.nodes):
        check_pipeline_cost(checkout, builder)


# --------------------------------------------------------------------------- team scale (issue 17)

HASHSERV_CASE = CASES[1]  # the ECU: two MACHINEs, scarthgap's own bitbake


def ecu_with_gpu1(builder: Builder) -> Checkout:
    """The ECU with a second gpu node (gpu1: gpu0's MACHINE and role; written here, not a
    bundled example), generated beside the ECU and checked out with the ECU's repositories."""
    ecu = checkout_of(HASHSERV_CASE, builder)
    unit = yaml.safe_load((EXAMPLES_DIR / "three-node-ecu.yaml").read_text(encoding="utf-8"))
    gpu0 = next(n for n in unit["nodes"] if n.get("id") == "gpu0")
    address = gpu0["address"].rsplit(".", 1)
    unit["nodes"].append({**gpu0, "index": max(n["index"] for n in unit["nodes"]) + 1,
                          "id": "gpu1", "hostname": "gpu1",
                          "address": f"{address[0]}.{int(address[1]) + 100}"})
    variant = builder.work / "three-node-ecu-gpu1.yaml"
    variant.write_text(yaml.safe_dump(unit, sort_keys=False), encoding="utf-8")
    out = generate_for(builder, variant, "three-node-ecu-gpu1")
    return Checkout(HASHSERV_CASE, out, ecu.kas_work, unit)


def hashserv_requests(builder: Builder, client: Path, address: str) -> int:
    """The number of requests the server answered so far (`bitbake-hashclient stats`)."""
    result = builder.run([builder.python, client, "--address", address, "stats"],
                         cwd=client.parent, timeout=60, offline=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return int(json.loads(result.stdout)["requests"]["num"])


def test_node_builds_query_a_team_hashserv_and_the_pipeline_cost(builder: Builder):
    """The ECU with a second gpu node (ecu_with_gpu1). A team's hash-equivalence server, as
    docs/team-infrastructure.md runs it: the snapshot's own `bitbake-hashserv` (poky's
    bitbake) on a unix socket; every node's `bitbake -S none` (through `aos-multinode verify
    --machine-conf` setting BB_HASHSERVE and OEEquivHash) asks it for unihashes, node after
    node: every node parses and resolves, no error. Then `aos-multinode pipeline-cost` on
    the signatures those runs wrote: the generated pipeline runs at most 1.05 x the unique
    tasks of all nodes, the naive matrix one full build per node. And gpu1 against gpu0
    (check_extra_node_of_a_role): an extra node of a MACHINE and role compiles nothing."""
    ecu = checkout_of(HASHSERV_CASE, builder)
    if not (ecu.kas_work / "poky" / "bitbake" / "bin" / "bitbake-hashserv").is_file():
        result = builder.kas(["checkout", "kas/main.yml:kas/offline-tests.yml"],
                             cwd=ecu.out, kas_work=ecu.kas_work, timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr
    checkout = ecu_with_gpu1(builder)
    bin_dir = checkout.kas_work / "poky" / "bitbake" / "bin"
    serve = checkout.out.parent / "hashserv"
    shutil.rmtree(serve, ignore_errors=True)
    serve.mkdir()
    builder.give(serve)
    address = f"unix://{serve / 'hashserve.sock'}"
    conf = serve / "hashserv.conf"
    conf.write_text(f'BB_SIGNATURE_HANDLER = "OEEquivHash"\nBB_HASHSERVE = "{address}"\n',
                    encoding="utf-8")
    builder.give(conf)
    command = [builder.python, str(bin_dir / "bitbake-hashserv"), "--bind", address,
               "--database", str(serve / "hashserv.db"), "--log", "INFO"]
    if builder.as_root:
        command = ["runuser", "-u", builder.user, "--", *command]
    log = open(serve / "hashserv.log", "w", encoding="utf-8")
    server = subprocess.Popen(command, cwd=serve, env=builder.env(), stdout=log,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        for _ in range(300):
            if (serve / "hashserve.sock").exists() or server.poll() is not None:
                break
            time.sleep(0.1)
        assert server.poll() is None, (serve / "hashserv.log").read_text(encoding="utf-8")
        client = bin_dir / "bitbake-hashclient"
        counts = [hashserv_requests(builder, client, address)]
        for node in checkout.nodes:
            # BitBake keeps the unihashes it got in the build directory (bb_unihashes.dat)
            # and asks the server only for the others: a kept work folder must forget them.
            cache = checkout.out / ".aos-multinode-verify" / node / "cache"
            (cache / "bb_unihashes.dat").unlink(missing_ok=True)
            args = [builder.python, "-m", "aos_multinode", "verify", checkout.out,
                    "--checkouts", checkout.kas_work, "--machine-conf", conf, "--json",
                    "--node", node]
            vlog = checkout.out.parent / f"verify-hashserv-{node}.log"
            result = builder.run(args, cwd=checkout.out, timeout=3600, log=vlog)
            assert result.stdout.strip(), vlog.read_text(encoding="utf-8")[-5000:]
            data = json.loads(result.stdout)
            assert not any(n["bitbake_failed"] for n in data["nodes"]), data["nodes"]
            assert data["nodes"][0]["signatures"] > 1000, data["nodes"]
            # stats itself is one request: BitBake asks for the unihash of every setscene
            # task of the node's graph (thousands; the others keep their taskhash).
            counts.append(hashserv_requests(builder, client, address))
            assert counts[-1] > counts[-2] + 500, (node, counts)
            assert [f for f in data["findings"] if f["generated_layer"]] == [], node
        # Both nodes again (their parse caches: no new parse), for the sharing report.
        check_extra_node_of_a_role(checkout, builder, conf)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
        log.close()
    check_pipeline_cost(checkout, builder)


def check_extra_node_of_a_role(checkout: Checkout, builder: Builder, conf: Path) -> None:
    """`aos-multinode verify --node gpu0 --node gpu1`: gpu1 adds its identity only, and runs
    no heavy task again (docs/benchmarks.md, "Heavy tasks per extra node"): meta-aos's
    Aos core recipes are the same for both nodes (their configuration files come from the
    -nodeconfig variants, which compile nothing), so gpu1's build takes them from the
    sstate cache gpu0's filled."""
    args = [builder.python, "-m", "aos_multinode", "verify", checkout.out, "--checkouts",
            checkout.kas_work, "--machine-conf", conf, "--json", "--node", "gpu0",
            "--node", "gpu1"]
    log = checkout.out.parent / "verify-gpu0-gpu1.log"
    result = builder.run(args, cwd=checkout.out, timeout=3600, log=log)
    assert result.stdout.strip(), log.read_text(encoding="utf-8")[-5000:]
    data = json.loads(result.stdout)
    assert result.returncode == 0, result.stderr[-3000:]
    (extra,) = [e for m in data["sharing"]["machines"] for e in m["extra_nodes"]]
    assert extra["node"] == "gpu1" and extra["reference"] == "gpu0"
    assert extra["differences"] == [] and extra["other_tasks"] == extra["role_tasks"] == 0
    assert extra["identity_tasks"] == extra["added_tasks"] > 0, extra
    category = {r["recipe"]: r["category"] for r in extra["recipes"]}
    # The node's Aos core configuration: the variants, light. Aos core itself: shared; at
    # most its packaging steps after do_package differ (its package needs the node's
    # variant), through dependencies only, never a node value.
    for recipe in ("aos-iamanager", "aos-servicemanager"):
        assert category.get(aos_node.node_config_variant(recipe)) == "identity", category
    for found in extra["recipes"]:
        if found["recipe"] in aos_node.NODE_CONFIG_SPLIT:
            assert all(c.startswith("dependencies only") for c in found["causes"]), found
    # base-files writes no hostname: it, the Aos initramfs and the kernel are shared too.
    assert not {"base-files", "aos-image-initramfs", "linux-yocto"} & set(category), category
    assert not [label for label in extra["heavy_rerun"]
                if label.split(":")[0] in aos_node.NODE_CONFIG_SPLIT], extra["heavy_rerun"]
    assert extra["heavy_tasks"] == [] and extra["heavy_rerun"] == [], extra
    assert extra["heavy_goal_met"] is True, extra
    (checkout.out.parent / "verify-gpu0-gpu1.json").write_text(result.stdout, encoding="utf-8")


def check_pipeline_cost(checkout: Checkout, builder: Builder) -> dict:
    """`aos-multinode pipeline-cost` on the signatures verify left for every node."""
    result = builder.run([builder.python, "-m", "aos_multinode", "pipeline-cost", checkout.out,
                          "--json"], cwd=checkout.out, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    cost = json.loads(result.stdout)
    (checkout.out.parent / "pipeline-cost.json").write_text(result.stdout, encoding="utf-8")
    # Every node in exactly one job, the nodes of one MACHINE together.
    assert sorted(n for job in cost["jobs"] for n in job["nodes"]) == sorted(checkout.nodes)
    machines = {node["node"]: node["machine"] for node in cost["nodes"]}
    assert [len({machines[n] for n in job["nodes"]}) for job in cost["jobs"]] == \
        [1] * len(cost["jobs"])
    assert len(cost["jobs"]) == len(set(machines.values()))
    unique, total, naive = cost["unique_tasks"], cost["pipeline_tasks"], cost["naive_tasks"]
    assert unique > 1000 and total <= 1.05 * unique, cost
    assert naive == sum(n["tasks"] for n in cost["nodes"]) and naive > total, cost
    return cost
