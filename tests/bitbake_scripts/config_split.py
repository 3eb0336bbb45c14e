"""Run with BitBake's own Python in a kas shell of kas/all-nodes.yml (tests/test_bitbake_real.py
copies it into the work folder): are a node's Aos core configuration files, as the generated
layer splits them out (classes/nodeconfig.bbclass), byte for byte what meta-aos makes?

For every node (multiconfig) and every split recipe, BitBake's tinfoil parses meta-aos's
recipe three ways, with the real configuration of that node's build:
- without any bbappend: meta-aos alone, as if the layer did not split anything;
- as the variant <recipe>-nodeconfig, with the layer's bbappend and class;
- as the recipe itself, with the layer's bbappend.
Then BitBake runs the real functions (bb.build.exec_func) in a scratch folder, on the
recipe's own file:// sources as BitBake's fetcher unpacks them:
- meta-aos: the file installed as meta-aos's do_install installs it (install -m 0644 into
  ${D}${sysconfdir}/aos: the one step reproduced here, since the rest of that do_install
  installs compiled code, which an offline machine cannot build), then meta-aos's
  do_update_config;
- the variant: its do_install (the layer's), then its do_update_config (meta-aos's).
Tasks run without pseudo (exec_func, not a build), which changes no file's bytes.

BitBake logs "When reparsing ...: the basehash value changed ... The metadata is not
deterministic" for each task of the meta-aos-alone parse: the server compares it with the
same recipe file parsed with its bbappends (its parse cache). Expected here, and harmless:
that parse is only read, never built.

Prints one JSON document: per node and recipe, the file's text from each way, and what the
recipe itself keeps (its do_update_config, do_install, RDEPENDS, do_fetch[vardepsexclude]).

    python3 config_split.py ARGS.json   (ARGS: meta_aos, variant, split, nodes, scratch)
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from pathlib import Path

BITBAKE = Path(shutil.which("bitbake")).resolve().parent.parent
sys.path.insert(0, str(BITBAKE / "lib"))

import bb.build  # noqa: E402
import bb.fetch2  # noqa: E402
import bb.tinfoil  # noqa: E402
import bb.utils  # noqa: E402


def scratch_dirs(d, root: Path) -> None:
    """Point WORKDIR, S, B, T and D of datastore D at new folders under ROOT."""
    for var in ("WORKDIR", "S", "B", "T", "D"):
        path = root / var.lower()
        path.mkdir(parents=True, exist_ok=True)
        d.setVar(var, str(path))


def unpack_local_sources(d) -> None:
    """Unpack the recipe's file:// sources into WORKDIR with BitBake's own fetcher."""
    local = [uri for uri in (d.getVar("SRC_URI") or "").split() if uri.startswith("file://")]
    fetcher = bb.fetch2.Fetch(local, d)
    fetcher.unpack(d.getVar("WORKDIR"))


def config_texts(d, files: list[str]) -> dict[str, str]:
    target = Path(d.getVar("D") + d.getVar("sysconfdir")) / "aos"
    texts = {}
    for name in files:
        path = target / name
        texts[name] = path.read_text(encoding="utf-8")
        texts[name + ":mode"] = oct(stat.S_IMODE(path.stat().st_mode))
    return texts


def meta_aos_alone(d, files: list[str], root: Path) -> dict[str, str]:
    scratch_dirs(d, root)
    unpack_local_sources(d)
    target = Path(d.getVar("D") + d.getVar("sysconfdir")) / "aos"
    target.mkdir(parents=True, exist_ok=True)
    for name in files:  # meta-aos: install -m 0644 ${WORKDIR}/<file> ${D}${sysconfdir}/aos
        shutil.copyfile(Path(d.getVar("WORKDIR")) / name, target / name)
        os.chmod(target / name, 0o644)
    bb.build.exec_func("do_update_config", d)
    return config_texts(d, files)


def variant(d, files: list[str], root: Path) -> dict[str, str]:
    scratch_dirs(d, root)
    unpack_local_sources(d)
    bb.build.exec_func("do_install", d)
    bb.build.exec_func("do_update_config", d)
    return config_texts(d, files)


def import_like_oe(config) -> None:
    """Make the modules OE's functions use (oe and its submodules, os, sys, time) known to
    functions run here, as BitBake's own processes do when they read openembedded-core's
    `addpylib ${LAYERDIR}/lib oe` and BB_GLOBAL_PYMODULES."""
    for name in (config.getVar("BB_GLOBAL_PYMODULES") or "").split():
        bb.utils._context.setdefault(name, __import__(name))
    libs = [os.path.join(layer, "lib") for layer in config.getVar("BBLAYERS").split()]
    sys.path.extend(lib for lib in libs if lib not in sys.path)
    oe = __import__("oe")
    for name in getattr(oe, "BBIMPORTS", []):
        __import__("oe." + name)
    bb.utils._context["oe"] = oe


def main() -> int:
    args = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    scratch = Path(args["scratch"])
    report: dict = {}
    with bb.tinfoil.Tinfoil() as tinfoil:
        tinfoil.prepare(config_only=False, quiet=2)
        import_like_oe(tinfoil.config_data)
        for node in args["nodes"]:
            report[node] = {}
            for recipe, files in args["split"].items():
                (recipe_file,) = sorted(Path(args["meta_aos"]).glob(
                    f"recipes-aos/{recipe}/{recipe}_*.bb"))
                real = f"mc:{node}:{recipe_file}"
                virtual = f"mc:{node}:virtual:{args['variant']}:{recipe_file}"
                alone = tinfoil.parse_recipe_file(real, appends=False)
                ours = tinfoil.parse_recipe_file(virtual)
                itself = tinfoil.parse_recipe_file(real)
                root = scratch / node / recipe
                report[node][recipe] = {
                    "hostname": alone.getVar("AOS_NODE_HOSTNAME"),
                    "variant_pn": ours.getVar("PN"),
                    "variant_depends": ours.getVar("DEPENDS") or "",
                    "variant_noexec": [task for task in ("do_configure", "do_compile")
                                       if ours.getVarFlag(task, "noexec")],
                    "meta_aos": meta_aos_alone(alone, files, root / "meta-aos"),
                    "variant": variant(ours, files, root / "variant"),
                    "recipe_update_config": (itself.getVar("do_update_config") or "").strip(),
                    "meta_aos_update_config": (alone.getVar("do_update_config") or "").strip(),
                    "recipe_install": itself.getVar("do_install", False) or "",
                    "recipe_rdepends": itself.getVar("RDEPENDS:" + itself.getVar("PN")) or "",
                    "recipe_fetch_vardepsexclude":
                        itself.getVarFlag("do_fetch", "vardepsexclude") or "",
                }
    print(json.dumps(report, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
