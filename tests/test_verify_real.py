"""`aos-multinode verify` with real BitBake on a real checkout (not in CI).

AOS_MULTINODE_OE_DIR names a directory holding the repositories the generated kas files
name, as kas checks them out: `poky` (scarthgap; with meta-openembedded, and for
aos.enabled meta-virtualization, meta-selinux and meta-aos) or `bitbake`,
`openembedded-core`, `meta-yocto` (wrynose; with meta-openembedded). The bundled example
whose release matches runs; the test is skipped, saying why, without the checkout or as
root (BitBake refuses root). Each node parses every recipe once: minutes.
AOS_MULTINODE_MACHINE_CONF may name a file of environment workarounds (verify
--machine-conf), e.g. a BBMASK your checkout needs. None is needed on poky scarthgap or
openembedded-core wrynose: the three-node ECU's rt0 (linux-yocto-rt on genericx86-64)
resolves through the layer's own linux-yocto-rt bbappend.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from layer_helpers import EXAMPLES_DIR, generate, scratch_dir

pytestmark = [pytest.mark.slow, pytest.mark.needs_oe]

OE_DIR = os.environ.get("AOS_MULTINODE_OE_DIR")
CASES = {
    # example: (repository that marks the release, repositories it needs)
    "two-node-gateway": ("openembedded-core", ["bitbake", "openembedded-core", "meta-yocto",
                                               "meta-openembedded"]),
    "three-node-ecu": ("poky", ["poky", "meta-openembedded", "meta-virtualization",
                                "meta-selinux", "meta-aos"]),
}


def checkout_for(example: str) -> Path:
    """Return the checkout directory for EXAMPLE, or skip saying what is missing."""
    if not OE_DIR:
        pytest.skip("AOS_MULTINODE_OE_DIR is not set (a directory holding poky or "
                    "openembedded-core + bitbake + meta-yocto, as kas checks them out)")
    if os.geteuid() == 0:
        pytest.skip("BitBake refuses to run as root; run these tests as an ordinary user")
    root = Path(OE_DIR)
    marker, needed = CASES[example]
    if not (root / marker).is_dir():
        pytest.skip(f"{example} needs {marker} in AOS_MULTINODE_OE_DIR ({root})")
    missing = [name for name in needed if not (root / name).is_dir()]
    if missing:
        pytest.skip(f"{example} needs {', '.join(missing)} in AOS_MULTINODE_OE_DIR ({root})")
    return root


def run_verify(out: Path, checkouts: Path) -> tuple[int, dict, str]:
    """Run `aos-multinode verify OUT --checkouts CHECKOUTS --json` as a user would."""
    extra = os.environ.get("AOS_MULTINODE_MACHINE_CONF")
    result = subprocess.run([sys.executable, "-m", "aos_multinode", "verify", str(out),
                             "--checkouts", str(checkouts), "--json",
                             *(["--machine-conf", extra] if extra else [])],
                            capture_output=True, text=True, timeout=3 * 3600)
    data = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.returncode, data, result.stderr


@pytest.mark.parametrize("example", sorted(CASES))
def test_verify_on_real_checkout(example):
    checkouts = checkout_for(example)
    out = scratch_dir(f"verify-{example}")
    generate(EXAMPLES_DIR / f"{example}.yaml", out)
    code, data, stderr = run_verify(out, checkouts)

    assert data, stderr
    ours = [f for f in data["findings"] if f["generated_layer"]]
    assert ours == [], ours
    assert not any(node["bitbake_failed"] for node in data["nodes"]), data["nodes"]
    assert code == 0, stderr
    for node in data["nodes"]:
        assert node["task_graph_tasks"] > 1000 and node["signatures"] > 1000, node
    # Every extra node of a MACHINE adds its identity's tasks (config recipe, image, what
    # reads its hostname) under 1 %, plus what its role brings, and nothing else.
    for machine in data["sharing"]["machines"]:
        for extra in machine["extra_nodes"]:
            recipes = {r["recipe"]: r for r in extra["recipes"]}
            assert f"aos-node-config-{extra['node']}" in recipes
            assert extra["other_tasks"] == 0, extra
            assert extra["identity_percent"] < 1.0, extra
            assert extra["goal_met"], extra
