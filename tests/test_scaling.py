"""What keeps `generate` linear in the number of nodes: a node's own files do not depend on
how many other nodes the device has. Everything that lists every node (cluster.json, hosts,
the README, kas/all-nodes.yml, the CI files) exists once per device, not once per
node. The time and memory figures are measured by benchmarks/generate_bench.py (see
docs/benchmarks.md), not here."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from layer_helpers import generate

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("generate_bench",
                                               ROOT / "benchmarks" / "generate_bench.py")
generate_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(generate_bench)


def per_node_files(out: Path, node_id: str) -> dict[str, bytes]:
    """Return every output file that belongs to one node, by path."""
    layer = out / "meta-aos-multinode"
    paths = [layer / "conf" / "nodes" / f"{node_id}.conf",
             layer / "conf" / "multiconfig" / f"{node_id}.conf",
             out / "kas" / f"{node_id}.yml",
             *sorted((layer / "recipes-core" / "aos-node-config" / "files" / node_id).iterdir())]
    return {str(p.relative_to(out)): p.read_bytes() for p in paths}


def make(tmp_path: Path, nodes: int) -> Path:
    data = generate_bench.unit_config(nodes)
    data["device_id"] = "scaling"  # the same device, only the number of nodes differs
    data["aos"]["enabled"] = False  # Aos core manages at most 16 nodes: 60 needs it off
    source = tmp_path / f"unit-{nodes}.yaml"
    source.write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / f"out-{nodes}"
    generate(source, out, ci=False)
    return out


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scaling")
    return {n: make(tmp, n) for n in (3, 60)}


@pytest.mark.parametrize("node_id", ["n0", "n1", "n2"])
def test_a_node_s_files_do_not_depend_on_the_number_of_nodes(outputs, node_id):
    small, large = per_node_files(outputs[3], node_id), per_node_files(outputs[60], node_id)
    assert len(small) >= 5
    assert small == large


def test_device_wide_files_list_every_node_once(outputs):
    out = outputs[60]
    layer = out / "meta-aos-multinode"
    device = layer / "recipes-core" / "aos-multinode-device" / "files"
    cluster = (device / "cluster.json").read_text()
    hosts = (device / "hosts").read_text()
    conf = (layer / "conf" / "aos-multinode-device.conf").read_text()
    recipe = (layer / "recipes-core" / "aos-node-config" / "aos-node-config_1.0.bb").read_text()
    # One config recipe for all nodes: a build parses it once, whatever the node count.
    assert [p.name for p in layer.rglob("aos-node-config*.bb")] == ["aos-node-config_1.0.bb"]
    for index in range(60):
        assert recipe.count(f"AOS_NODE_CONFIG_MACHINE[n{index}] = ") == 1
        assert cluster.count(f'"id": "n{index}"') == 1
        assert hosts.count(f"\tn{index}\n") == 1
        assert f"n{index}" not in conf  # the device-wide fragment lists no node
    # No other file lists the peers: the output grows linearly, not with the square.
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    small = sum(p.stat().st_size for p in outputs[3].rglob("*") if p.is_file())
    per_node_bytes = (total - small) / 57
    assert per_node_bytes < 8_000, per_node_bytes
