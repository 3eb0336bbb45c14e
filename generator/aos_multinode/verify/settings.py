"""Where each node's build directory gets its settings and layers: the generated kas
files, the user's build directory or --layers; which bitbake runs."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from aos_multinode import contract
from aos_multinode.contract import LAYER_DIR
from aos_multinode.verify.layer import VerifyError

KAS_COMMON = f"{contract.KAS_DIR}/{contract.KAS_COMMON}"
# --- where the settings and layers come from ----------------------------------------------

@dataclass
class BuildSettings:
    """What every node's build directory shares."""

    layers: list[Path]
    conf_lines: list[str]
    distro: Optional[str]
    source: str


def kas_common(directory: Path) -> Optional[tuple[Optional[str], list[str]]]:
    """Return (distro, local.conf lines) from the generated kas/include/common.yml, as kas
    would write them (headers sorted by name), or None when there is no such file."""
    path = directory / KAS_COMMON
    if not path.is_file():
        return None
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    lines = []
    for name, text in sorted((data.get("local_conf_header") or {}).items()):
        lines.append(f"# {name} (from {KAS_COMMON})")
        lines += [line for line in str(text).splitlines() if not _is_node_require(line)]
    return data.get("distro"), lines


def kas_layers(directory: Path, checkouts: Path) -> list[Path]:
    """Return the layers the generated kas files name (kas/include/common.yml, every
    repository but the generated layer's), found in CHECKOUTS as kas checks them out
    (CHECKOUTS/<repository>/<layer>); raise VerifyError naming what is missing."""
    path = directory / KAS_COMMON
    if not path.is_file():
        raise VerifyError(f"{path}: not found; --checkouts needs the generated kas files "
                          "(or name the layers with --layers)")
    return _repo_layers(path, checkouts)


def kas_node_layers(directory: Path, checkouts: Path, node: str) -> list[Path]:
    """Return the layers of the extra repositories (build.repos) the node's own kas file
    names (kas/<node>.yml: its BSP, its role's layers), found in CHECKOUTS."""
    path = directory / contract.KAS_DIR / f"{node}.yml"
    return _repo_layers(path, checkouts) if path.is_file() else []


def _repo_layers(path: Path, checkouts: Path) -> list[Path]:
    import yaml

    repos = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("repos") or {}
    layers: list[Path] = []
    missing: list[Path] = []
    for name, repo in repos.items():
        if not repo or not repo.get("url"):
            continue
        for layer in repo.get("layers") or {}:
            found = (checkouts / name / layer).resolve() if layer != "." else \
                (checkouts / name).resolve()
            (layers if (found / "conf" / "layer.conf").is_file() else missing).append(found)
    if missing:
        raise VerifyError(f"{checkouts}: missing layers the kas files name ({path.name}): "
                          + ", ".join(map(str, missing)))
    return layers


def machine_layer(machine: str, layers: Iterable[Path]) -> Optional[Path]:
    """Return the layer defining MACHINE (its conf/machine/<MACHINE>.conf), or None."""
    for layer in layers:
        if (layer / "conf" / "machine" / f"{machine}.conf").is_file():
            return layer
    return None


def _is_node_require(line: str) -> bool:
    return bool(re.match(r"^\s*(require|include)\s+conf/nodes/\S+\.conf\s*$", line))


def bblayers_layers(build_dir: Path) -> list[Path]:
    """Return the layers of BUILD_DIR/conf/bblayers.conf (`${TOPDIR}` expanded)."""
    path = build_dir / "conf" / "bblayers.conf"
    if not path.is_file():
        raise VerifyError(f"{build_dir}: no conf/bblayers.conf; pass a build directory kas "
                          "(or oe-init-build-env) made, or name the layers with --layers")
    text = path.read_text(encoding="utf-8").replace("\\\n", " ")
    layers = []
    for match in re.finditer(r'^\s*BBLAYERS\s*(?:\?\?=|\?=|\+=|=|:=)\s*"([^"]*)"', text, re.M):
        for word in match.group(1).split():
            word = word.replace("${TOPDIR}", str(build_dir.resolve()))
            if "${" in word:
                raise VerifyError(f"{path}: cannot expand {word}; name the layers with "
                                  "--layers instead")
            layers.append(Path(os.path.normpath(word)))
    if not layers:
        raise VerifyError(f"{path}: no BBLAYERS found; name the layers with --layers")
    return layers


def build_dir_conf(build_dir: Path) -> list[str]:
    """Return BUILD_DIR/conf/local.conf without its `require conf/nodes/...` line (verify
    adds each node's own)."""
    path = build_dir / "conf" / "local.conf"
    if not path.is_file():
        return []
    return [f"# from {path}"] + [line for line in path.read_text(encoding="utf-8").splitlines()
                                 if not _is_node_require(line)]


def default_conf(aos: bool) -> list[str]:
    """Return what the generated kas files put into every node's local.conf."""
    lines = ["# what the generated kas files set", 'INIT_MANAGER = "systemd"']
    if aos:
        lines.append('DISTRO_FEATURES:append = " virtualization"')
    return lines


def guess_distro(aos: bool, layers: Iterable[Path]) -> Optional[str]:
    """Return the distro the Unit Config would default to, when nothing names one."""
    if aos:
        return "aos-core"
    return "poky" if any(layer.name == "meta-poky" for layer in layers) else None


def check_layers(layers: Iterable[Path], ours: Path) -> list[Path]:
    """Return the layers (absolute, without the generated layer and duplicates); raise
    VerifyError naming a path that is not a layer."""
    out: list[Path] = []
    for layer in layers:
        layer = layer.expanduser().resolve()
        if not (layer / "conf" / "layer.conf").is_file():
            raise VerifyError(f"{layer}: not a BitBake layer (no conf/layer.conf)")
        if layer == ours or layer.name == LAYER_DIR or layer in out:
            continue
        out.append(layer)
    return out


def find_bitbake(option: Optional[Path], layers: Iterable[Path]) -> Path:
    """Return the BitBake checkout to use: --bitbake (the checkout or its bin/), else the
    one beside the layers (poky/bitbake, or ../bitbake beside openembedded-core)."""
    if option is not None:
        option = option.expanduser().resolve()
        for candidate in (option, option.parent):
            if (candidate / "bin" / "bitbake").is_file():
                return candidate
        raise VerifyError(f"{option}: no bin/bitbake there; --bitbake takes the BitBake "
                          "checkout (e.g. poky/bitbake)")
    for layer in layers:
        for candidate in (layer.parent / "bitbake", layer.parent.parent / "bitbake"):
            if (candidate / "bin" / "bitbake").is_file():
                return candidate
    raise VerifyError("BitBake not found beside the layers (poky/bitbake or ../bitbake "
                      "beside openembedded-core); name it with --bitbake DIR")


def bitbake_version(bitbake: Path) -> str:
    """Return the version of the BitBake checkout (lib/bb/__init__.py), or '?'."""
    try:
        text = (bitbake / "lib" / "bb" / "__init__.py").read_text(encoding="utf-8")
    except OSError:
        return "?"
    match = re.search(r'^__version__\s*=\s*"([^"]+)"', text, re.M)
    return match.group(1) if match else "?"

