"""Helpers shared by the tests of the generated output (test_layer_*.py, test_write.py,
test_generate_cli.py): generate an example, run the real tools, parse with BitBake.

The tests prove the generated layer with the real tools CI installs (scripts/bootstrap
--test): oelint-adv and BitBake's parser (pip), shellcheck, systemd-analyze, chronyd and
ptp4l (Debian). A test whose tool is absent is skipped with the reason, never passed.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

import pytest

from aos_multinode.generation.generate import generate_files
from aos_multinode.unitconfig.load import load_unit_config
from aos_multinode.unitconfig.model import UnitConfig
from aos_multinode.generation.render import RenderedFile
from aos_multinode.generation.write import FileStatus, write_tree

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
EXAMPLES_DIR = REPO_ROOT / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.yaml"))
# The bundled main example: the repository's own meta-aos-multinode/ (and kas/ ...) is its
# generated output.
MAIN_EXAMPLE = EXAMPLES_DIR / "three-node-ecu.yaml"
VALID_DIR = TESTS_DIR / "data" / "valid"
GOLDEN_DIR = TESTS_DIR / "golden"
STUBS_DIR = TESTS_DIR / "bitbake_stubs"
LAYER = "meta-aos-multinode"

# Debian packages that carry the external tools, for skip messages.
DEBIAN_PACKAGE = {"shellcheck": "shellcheck", "systemd-analyze": "systemd",
                  "chronyd": "chrony", "ptp4l": "linuxptp", "oelint-adv": "pip: oelint-adv"}


def example_id(path: Path) -> str:
    return path.stem


def load(path: Path) -> UnitConfig:
    return load_unit_config(path).config


def render(config: UnitConfig, out_dir: Path, release: Optional[str] = None,
           ci: bool = True) -> list[RenderedFile]:
    """Return every file generating `config` into `out_dir` would write."""
    _, files = generate_files(config, out_dir, release, ci=ci)
    return files


def generate(source: Path, out_dir: Path, release: Optional[str] = None,
             force: bool = False, ci: bool = True) -> list[FileStatus]:
    """Generate the Unit Config file `source` into `out_dir` (as `aos-multinode generate`)."""
    config = load(source)
    return write_tree(out_dir, render(config, out_dir, release, ci), force)


_GENERATED: dict[str, Path] = {}
_SCRATCH: list[Path] = []


def scratch_dir(prefix: str) -> Path:
    """A temporary folder outside any git repository, removed when the test run ends."""
    path = Path(tempfile.mkdtemp(prefix=f"aos-multinode-{prefix}-"))
    _SCRATCH.append(path)
    return path


@atexit.register
def _cleanup() -> None:
    for path in _SCRATCH:
        shutil.rmtree(path, ignore_errors=True)


def generated(source: Path) -> Path:
    """Return a folder holding the generated output of `source`, made once per test run.
    Tests must not change it."""
    key = str(source)
    if key not in _GENERATED:
        out = scratch_dir(source.stem)
        generate(source, out)
        _GENERATED[key] = out
    return _GENERATED[key]


def layer_of(source: Path) -> Path:
    return generated(source) / LAYER


def tree_files(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every regular file under `root`: relative path -> (content, permission bits)."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            out[path.relative_to(root).as_posix()] = (path.read_bytes(),
                                                      path.stat().st_mode & 0o777)
    return out


def snapshot(root: Path) -> dict[str, tuple[int, int, int, int]]:
    """Every file and folder under `root` (and `root`): (inode, mtime, size, mode), to prove
    nothing was written, replaced or touched."""
    out = {}
    for path in [root, *sorted(root.rglob("*"))]:
        info = path.lstat()
        out[path.relative_to(root).as_posix()] = (info.st_ino, info.st_mtime_ns,
                                                  info.st_size, info.st_mode)
    return out


def require_tool(name: str) -> str:
    """Return the path of the program `name`, or skip the test saying how to get it."""
    found = shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/sbin") / name) if p.exists()), None)
    if found is None:
        pytest.skip(f"{name} is not installed (Debian package {DEBIAN_PACKAGE.get(name, name)};"
                    " scripts/bootstrap --test installs it)")
    return found


def run_cli(*args: str, cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
    """Run `aos-multinode ARGS` as a user does (a new process: real exit codes, stdout and
    stderr, no shared state)."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-m", "aos_multinode", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def layer_files(layer: Path, *suffixes: str) -> list[Path]:
    return sorted(p for p in layer.rglob("*") if p.is_file() and p.name.endswith(suffixes))


# --- BitBake's own parser --------------------------------------------------------------

def bitbake():
    """Import BitBake's `bb` library (PyPI bitbake-setup), or skip the test."""
    try:
        import hashserv  # noqa: F401  (BitBake's; absent from bitbake-setup)
    except ImportError:
        stub = str(STUBS_DIR / "python")
        if stub not in sys.path:
            sys.path.append(stub)
    try:
        import bb
        import bb.data
        import bb.parse
        import bb.siggen
        import bb.utils  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"BitBake's parser is not importable ({exc}); pip install bitbake-setup")
    return bb


class BitBakeParser:
    """Parse the generated layer's files with BitBake's own parser and datastore.

    BBPATH holds tests/bitbake_stubs (stand-ins for openembedded-core's classes and meta-aos's
    aos-image.inc, which CI does not check out) and then the layer, as a build would."""

    def __init__(self, layer: Path, topdir: Path = Path("/build")):
        self.bb = bitbake()
        self.layer = layer
        self.topdir = topdir

    def data(self, **variables: str):
        """A fresh datastore with what bitbake.conf would give the recipes we parse."""
        d = self.bb.data.init()
        d.setVar("BBPATH", f"{STUBS_DIR}:{self.layer}")
        d.setVar("TOPDIR", str(self.topdir))
        d.setVar("__bbclasstype", "recipe")
        # As in openembedded-core's bitbake.conf: PN and PV from the recipe's file name.
        d.setVar("PN", "${@bb.parse.vars_from_file(d.getVar('FILE', False), d)[0] or "
                 "'defaultpkgname'}")
        d.setVar("PV", "${@bb.parse.vars_from_file(d.getVar('FILE', False), d)[1] or '1.0'}")
        # As in bitbake.conf: the recipe (pn-${PN}) and the MACHINE (MACHINEOVERRIDES ?=
        # "${MACHINE}") are overrides.
        d.setVar("OVERRIDES", "pn-${PN}:${MACHINE}")
        for name, value in variables.items():
            d.setVar(name, value)
        return d

    def conf(self, path: Path, d=None, **variables: str):
        """Parse one .conf file into `d` (or a fresh datastore) and return the datastore."""
        d = self.data(**variables) if d is None else d
        self.bb.parse.handle(str(path), d, 0)
        return d

    def node_data(self, node_id: str, machine: str, **variables: str):
        """A datastore with the node's local.conf fragment and MACHINE, as its build has."""
        d = self.data(MACHINE=machine, **variables)
        return self.conf(self.layer / "conf" / "nodes" / f"{node_id}.conf", d)

    def recipe(self, path: Path, d=None):
        """Parse and finalise one recipe on top of `d`; return the recipe's datastore. A
        bbappend is applied, as BitBake does (__BBAPPEND), to the stand-in of the recipe it
        appends to (tests/bitbake_stubs/recipes-*/)."""
        return self.variants(path, d)[""]

    def variants(self, path: Path, d=None) -> dict:
        """As recipe(), but return every datastore BitBake makes of the file: the recipe
        ("") and its BBCLASSEXTEND variants (by class name)."""
        base = self.data() if d is None else self.bb.data.createCopy(d)
        if base.getVar("DISTRO_FEATURES") is None:
            # The generated kas files set INIT_MANAGER = "systemd" (features_check reads it).
            base.setVar("DISTRO_FEATURES", "systemd")
        self.bb.parse.siggen = self.bb.siggen.init(base)
        if path.suffix == ".bbappend":
            base.setVar("__BBAPPEND", str(path))
            path = appended_stub(path)
        return self.bb.parse.handle(str(path), base, 0)


def appended_stub(bbappend: Path) -> Path:
    """Return the stand-in recipe a bbappend of the layer applies to."""
    name = recipe_name(bbappend)
    stubs = sorted([*STUBS_DIR.glob(f"recipes-*/{name}_*.bb"),
                    *STUBS_DIR.glob(f"recipes-*/*/{name}.bb")])
    assert stubs, f"no stand-in recipe for {bbappend.name} under {STUBS_DIR}"
    return stubs[0]


def recipes(layer: Path) -> list[Path]:
    """Every recipe and bbappend of the layer."""
    return layer_files(layer, ".bb", ".bbappend")


def recipe_name(path: Path) -> str:
    return path.name.rsplit(".", 1)[0].split("_")[0]
