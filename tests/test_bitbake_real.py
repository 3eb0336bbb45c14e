"""The bundled examples with real kas and real BitBake, offline, on the pinned upstream
layers of ../shared/yocto (see tests/real_bitbake.py for how: an ordinary user, no network).

For each example (one per Yocto release: two-node-gateway on wrynose, three-node-ecu on
scarthgap with meta-aos 9.1.1):
- kas checks out every node's kas file (and the all-nodes one) at the pinned commits, and
  every layer the build names exists;
- BitBake parses every recipe with a node's fragment and resolves the task graph of
  `aos-multinode-image` (`bitbake -g` through `kas shell`, as a user would): no error at all,
  no warning about the generated layer; with Aos (the ECU's main node; gpu0 and rt0 are
  parsed by the hashserv test's verify runs), and the node is a working Aos node: the graph holds aos-image-initramfs (with lvm2 and softhsm) and the
  disk image waits for it, and `bitbake -e` (same configuration: the parse cache of -g)
  shows ext4 + wic, INITRAMFS_IMAGE, IMAGE_BASENAME = PN, AOS_ARCHITECTURE/AOS_OS and the
  role's kickstart with every partition and kernel argument;
- `aos-multinode verify` measures the sharing of two nodes of one MACHINE (`bitbake -S
  none` for each): the extra node's identity under 1 % of its tasks, nothing unexplained.

Parsing is the cost (minutes per node on 2 cores): every test of an example shares its
checkout and build directory, and each node is parsed once per step.
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

from aos_multinode import verify
from aos_multinode.generation.pins import load_pins
from kas_helpers import bblayers
from layer_helpers import EXAMPLES_DIR
from real_bitbake import Builder, generate_for, make_builder, run_builder_bitbake

pytestmark = [pytest.mark.slow, pytest.mark.bitbake]

IMAGE = "aos-multinode-image"


@dataclass(frozen=True)
class Case:
    example: str
    graph_nodes: tuple[str, ...]     # the nodes whose task graph `bitbake -g` resolves
    sharing: tuple[str, ...] = ()    # two nodes of one MACHINE for the sharing measurement
    all_nodes: bool = False          # resolve kas/all-nodes.yml's multiconfig build too


# Each node's graph is one parse (its fragment changes the base config).
# The real board (meta-raspberrypi, scarthgap): its node, and every node in one build.
CASES = [Case("two-node-gateway", ("a",), ("a", "b")),
         # gpu0 and rt0 are parsed and resolved (every recipe, no error) by the hashserv
         # test's `verify --node X`: a `-g` of them here would be two more parses of CI time.
         Case("three-node-ecu", ("main",)),
         Case("two-board-rpi4", ("pi0",), all_nodes=True)]
GRAPHS = [pytest.param(case, node, id=f"{case.example}-{node}")
          for case in CASES for node in case.graph_nodes]


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


@pytest.mark.parametrize("case,node", GRAPHS)
def test_task_graph_resolves(case: Case, node: str, builder: Builder):
    """`kas shell kas/<node>.yml -c 'bitbake -g aos-multinode-image'`: every recipe parses
    with the node's fragment and the image's task graph resolves, with no error at all and
    no warning about the generated layer. With Aos, the node is a working Aos node (the
    contract, docs/aos-node-contract.md): see check_aos_node."""
    checkout = checkout_of(case, builder)
    log = checkout.out.parent / f"bitbake-g-{node}.log"
    result = run_builder_bitbake(builder, checkout.out, checkout.kas_work, node,
                                 f"bitbake -g {IMAGE}", log)
    verify.wait_for_server(checkout.build_dir)
    text = log.read_text(encoding="utf-8", errors="replace")
    assert result.returncode == 0, text[-5000:]
    findings = messages_of(log, checkout, node)
    assert not [f for f in findings if f.severity == "error"], text[-5000:]
    ours = [f.format() for f in findings if f.ours]
    assert ours == [], ours
    parsed = re.search(r"Parsing of (\d+) \.bb files complete \((\d+) cached, (\d+) parsed\)"
                       r".* (\d+) errors\.", text)
    # With a kept work folder (AOS_MULTINODE_BITBAKE_WORK) and nothing changed, BitBake
    # loads every recipe from its parse cache and prints no "Parsing of" line.
    cached = re.search(r"^Loaded (\d+) entries from dependency cache\.$", text, re.M)
    assert (parsed and int(parsed[1]) > 1000 and parsed[4] == "0") or \
        (not parsed and cached and int(cached[1]) > 1000), text[-3000:]

    graph = (checkout.build_dir / "task-depends.dot").read_text(encoding="utf-8")
    tasks = set(re.findall(r'^"([^"]+\.do_[\w+-]+)" \[label=', graph, re.M))
    assert len(tasks) > 1000
    recipes = {task.rsplit(".", 1)[0] for task in tasks}
    for recipe in (IMAGE, "aos-node-config", "aos-multinode-device", "aos-cluster-agent"):
        assert recipe in recipes, recipe
    # One config recipe, no recipe per node.
    assert not [r for r in recipes if r.startswith("aos-node-config-")]
    assert f'"{IMAGE}.do_rootfs"' in graph and f'"{IMAGE}.do_build"' in graph
    if checkout.unit.get("aos", {}).get("enabled", True):
        assert {"aos-iamanager", "aos-servicemanager"} <= recipes
        check_aos_node(checkout, builder, node, graph, recipes)


def check_aos_node(checkout: Checkout, builder: Builder, node: str, graph: str,
                   recipes: set[str]) -> None:
    """The Aos initramfs is in the graph and the disk image waits for it; `bitbake -e` (same
    configuration, so the parse cache of -g) shows the Aos image settings, and the
    kickstart BitBake picked carries every partition and kernel argument."""
    assert "aos-image-initramfs" in recipes
    # Its modules and PKCS#11 backend are built for it.
    assert {"lvm2", "softhsm", "initramfs-framework"} <= recipes, sorted(recipes)[:50]
    edges = set(re.findall(r'^"([^"]+)" -> "([^"]+)"', graph, re.M))
    assert (f"{IMAGE}.do_image_wic", "aos-image-initramfs.do_image_complete") in edges
    assert f'"{IMAGE}.do_image_ext4"' in graph

    log = checkout.out.parent / f"bitbake-e-{node}.log"
    result = run_builder_bitbake(builder, checkout.out, checkout.kas_work, node,
                                 f"bitbake -e {IMAGE}", log)
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
    of every `mc:<node>:aos-multinode-image` resolves, no error, each node's image with its
    own config recipe and MACHINE."""
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
    graph = (checkout.build_dir / "task-depends.dot").read_text(encoding="utf-8")
    tasks = set(re.findall(r'^"([^"]+\.do_[\w+-]+)" \[label=', graph, re.M))
    for node in checkout.nodes:
        mine = {t for t in tasks if t.startswith(f"mc:{node}:")}
        assert len(mine) > 1000, (node, len(mine))
        recipes = {t[len(f"mc:{node}:"):].rsplit(".", 1)[0] for t in mine}
        # The one config recipe, with this multiconfig's node fragment.
        assert IMAGE in recipes and "aos-node-config" in recipes, node
        assert not [r for r in recipes if r.startswith("aos-node-config-")], node
    pi_recipes = {t.split(":", 2)[2].rsplit(".", 1)[0] for t in tasks if t.startswith("mc:pi0:")}
    main_recipes = {t.split(":", 2)[2].rsplit(".", 1)[0] for t in tasks
                    if t.startswith("mc:main:")}
    # The board's BSP reaches only the board's image.
    assert "rpi-bootfiles" in pi_recipes and "rpi-bootfiles" not in main_recipes


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

HASHSERV_CASE = CASES[1]  # the ECU: three nodes, two MACHINEs, scarthgap's own bitbake


def hashserv_requests(builder: Builder, client: Path, address: str) -> int:
    """The number of requests the server answered so far (`bitbake-hashclient stats`)."""
    result = builder.run([builder.python, client, "--address", address, "stats"],
                         cwd=client.parent, timeout=60, offline=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return int(json.loads(result.stdout)["requests"]["num"])


def test_node_builds_query_a_team_hashserv_and_the_pipeline_cost(builder: Builder):
    """A team's hash-equivalence server, as docs/team-infrastructure.md runs it: the
    snapshot's own `bitbake-hashserv` (poky's bitbake) on a unix socket; every node's
    `bitbake -S none` (through `aos-multinode verify --machine-conf` setting BB_HASHSERVE
    and OEEquivHash) asks it for unihashes, node after node. Then `aos-multinode
    pipeline-cost` on the signatures those runs wrote: the generated pipeline runs at most
    1.05 x the unique tasks of all nodes, the naive matrix one full build per node."""
    checkout = checkout_of(HASHSERV_CASE, builder)
    if not (checkout.kas_work / "poky" / "bitbake" / "bin" / "bitbake-hashserv").is_file():
        result = builder.kas(["checkout", "kas/main.yml:kas/offline-tests.yml"],
                             cwd=checkout.out, kas_work=checkout.kas_work, timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr
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
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
        log.close()
    check_pipeline_cost(checkout, builder)


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
