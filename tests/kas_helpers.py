"""Helpers and shared fixtures of the kas, pins, release and CI-pipeline tests.

Everything here works offline: the upstream layer repositories (poky, bitbake,
openembedded-core, meta-yocto, meta-openembedded, meta-virtualization, meta-selinux, meta-aos)
are small bare git repositories made by the tests, with the layer folders the generated kas
files name, each with a minimal conf/layer.conf, and for poky / openembedded-core an
`oe-init-build-env` good enough for kas. A pins table pointing at their commits comes from
`aos-multinode pin --source NAME=<local repo>`, and kas reaches them through KAS_PREMIRRORS.
When `unshare -n` works (root on Linux), kas runs without any network at all.

Import the fixtures into a test module by name (`from kas_helpers import upstreams`): the
expensive parts are built once per session whichever module asks first.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

import git
import pytest
import yaml
from click.testing import CliRunner

from aos_multinode.cli import main
from aos_multinode.generation.pins import shipped_pins

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
EXAMPLES_DIR = TESTS_DIR.parent / "examples"
THREE_NODE = EXAMPLES_DIR / "three-node-ecu.yaml"
TWO_NODE = EXAMPLES_DIR / "two-node-gateway.yaml"

IDENTITY = {"GIT_AUTHOR_NAME": "aos-multinode tests", "GIT_AUTHOR_EMAIL": "tests@example.invalid",
            "GIT_COMMITTER_NAME": "aos-multinode tests",
            "GIT_COMMITTER_EMAIL": "tests@example.invalid"}


# --------------------------------------------------------------------------- the CLI

@dataclass(frozen=True)
class Run:
    exit_code: int
    stdout: str
    stderr: str


def run_aos(*args: str | os.PathLike, cwd: Optional[Path] = None) -> Run:
    """Run `aos-multinode ARGS` in-process through the real entry point (so user errors
    become messages and exit code 2 exactly as for a user)."""
    runner = CliRunner()
    old_argv, old_cwd = sys.argv, Path.cwd()
    with runner.isolation() as (out, err, _mixed):
        sys.argv = ["aos-multinode", *map(str, args)]
        if cwd is not None:
            os.chdir(cwd)
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            sys.argv = old_argv
            os.chdir(old_cwd)
            sys.stdout.flush()
            sys.stderr.flush()
        return Run(code, out.getvalue().decode(), err.getvalue().decode())


# --------------------------------------------------------------------------- git

def init_repo(path: Path, branch: str = "main") -> git.Repo:
    """A new work tree at `path` with a committer identity of its own."""
    path.mkdir(parents=True, exist_ok=True)
    repo = git.Repo.init(path, initial_branch=branch)
    with repo.config_writer() as config:
        config.set_value("user", "name", IDENTITY["GIT_AUTHOR_NAME"])
        config.set_value("user", "email", IDENTITY["GIT_AUTHOR_EMAIL"])
        config.set_value("commit", "gpgsign", "false")
        config.set_value("tag", "gpgsign", "false")
    return repo


def commit_all(repo: git.Repo, message: str) -> str:
    repo.git.add("-A")
    repo.git.commit("-q", "--allow-empty", "-m", message)
    return repo.head.commit.hexsha


def write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)


# --------------------------------------------------------------------------- upstream stand-ins

# A stand-in for openembedded-core's oe-init-build-env, enough for kas (libkas.get_build_environ):
# kas sources it from the top of the repository holding it, with the build directory as $1,
# then runs `env` and keeps what it finds. The real script creates the build directory and its
# conf/ and cds into it; kas then writes conf/local.conf and conf/bblayers.conf itself.
OE_INIT_BUILD_ENV = """\
# oe-init-build-env stand-in for the aos-multinode tests (sourced by kas)
OEROOT=$(pwd)
BUILDDIR=${1:-$OEROOT/build}
mkdir -p "$BUILDDIR/conf"
BUILDDIR=$(cd "$BUILDDIR" && pwd)
export OEROOT BUILDDIR
export BB_ENV_PASSTHROUGH_ADDITIONS="BUILDDIR"
cd "$BUILDDIR"
"""


def layer_conf(collection: str, series: str) -> str:
    return (f'BBPATH .= ":${{LAYERDIR}}"\n'
            f'BBFILES += "${{LAYERDIR}}/recipes-*/*/*.bb"\n'
            f'BBFILE_COLLECTIONS += "{collection}"\n'
            f'BBFILE_PATTERN_{collection} = "^${{LAYERDIR}}/"\n'
            f'BBFILE_PRIORITY_{collection} = "6"\n'
            f'LAYERSERIES_COMPAT_{collection} = "{series}"\n')


# What each upstream holds: its layers (folder -> collection), whether it carries
# oe-init-build-env, and other files. Layer "." is a layer at the top of the repository.
UPSTREAM_LAYOUT: dict[str, dict] = {
    "poky": {"layers": {"meta": "core", "meta-poky": "yocto", "meta-yocto-bsp": "yoctobsp"},
             "init": True, "files": {"bitbake/bin/bitbake": "#!/bin/sh\nexit 1\n"}},
    "bitbake": {"layers": {}, "files": {"bin/bitbake": "#!/bin/sh\nexit 1\n"}},
    "openembedded-core": {"layers": {"meta": "core"}, "init": True},
    "meta-yocto": {"layers": {"meta-poky": "yocto", "meta-yocto-bsp": "yoctobsp"}},
    "meta-openembedded": {"layers": {"meta-oe": "openembedded-layer",
                                     "meta-python": "meta-python",
                                     "meta-networking": "networking-layer",
                                     "meta-filesystems": "filesystems-layer",
                                     "meta-multimedia": "multimedia-layer"}},
    "meta-virtualization": {"layers": {".": "virtualization-layer"}},
    "meta-selinux": {"layers": {".": "selinux"}},
    "meta-aos": {"layers": {".": "aos"}},
}
AOS_TAGS = ("v9.1.0", "v9.1.1")


@dataclass(frozen=True)
class Upstreams:
    """Bare repositories standing in for the upstream layer repositories."""

    root: Path
    paths: dict[str, Path]           # name -> bare repository
    branches: dict[str, dict[str, str]]  # name -> branch -> head commit
    aos_tags: dict[str, str]          # meta-aos tag -> the commit it names (peeled)
    aos_tag_objects: dict[str, str]   # meta-aos tag -> the annotated tag object

    def premirrors(self, table: dict) -> str:
        """KAS_PREMIRRORS mapping every URL of the pins table to its local stand-in."""
        urls = {repo["url"]: name for release in table["releases"].values()
                for name, repo in release["repos"].items()}
        urls[table["meta-aos"]["url"]] = "meta-aos"
        return "\n".join(f"^{re.escape(url)}$ {self.paths[name]}"
                         for url, name in sorted(urls.items()))

    def sources(self) -> list[str]:
        """`--source NAME=PATH` arguments for `aos-multinode pin`."""
        out = []
        for name, path in sorted(self.paths.items()):
            out += ["--source", f"{name}={path}"]
        return out


def _series(branch: str) -> str:
    return {"2.18": "wrynose", "master": "wrynose"}.get(branch, branch)


def make_upstream(root: Path, name: str, branches: list[str]) -> tuple[Path, dict[str, str]]:
    """Make a bare repository `root/NAME.git` with one branch per `branches` (two commits
    each, so a branch head is not the first commit); return it and the branch heads."""
    layout = UPSTREAM_LAYOUT[name]
    work = init_repo(root / "src" / name, branches[0])
    heads = {}
    for index, branch in enumerate(branches):
        if index:
            work.git.checkout("-q", "-b", branch)
        series = _series(branch)
        for folder, collection in layout["layers"].items():
            write(Path(work.working_tree_dir) / folder / "conf" / "layer.conf",
                  layer_conf(collection, series))
        if layout.get("init"):
            write(Path(work.working_tree_dir) / "oe-init-build-env", OE_INIT_BUILD_ENV)
        for relpath, text in layout.get("files", {}).items():
            write(Path(work.working_tree_dir) / relpath, text, 0o755)
        commit_all(work, f"{name}: {branch} base")
        write(Path(work.working_tree_dir) / "README", f"{name} {branch}\n")
        heads[branch] = commit_all(work, f"{name}: {branch} head")
    bare = root / f"{name}.git"
    git.Repo.clone_from(work.working_tree_dir, bare, bare=True)
    return bare, heads


def make_meta_aos(root: Path) -> tuple[Path, dict[str, str], dict[str, str], dict[str, str]]:
    """meta-aos: annotated tags on older commits, a branch head past them."""
    work = init_repo(root / "src" / "meta-aos", "main")
    tree = Path(work.working_tree_dir)
    write(tree / "conf" / "layer.conf", layer_conf("aos", "scarthgap"))
    tags, objects = {}, {}
    for tag in AOS_TAGS:
        write(tree / "VERSION", tag + "\n")
        tags[tag] = commit_all(work, f"meta-aos {tag}")
        ref = work.create_tag(tag, message=f"Release {tag}")
        objects[tag] = ref.tag.hexsha
    write(tree / "VERSION", "next\n")
    head = commit_all(work, "meta-aos: after the releases")
    work.git.branch("scarthgap")
    bare = root / "meta-aos.git"
    git.Repo.clone_from(work.working_tree_dir, bare, bare=True)
    return bare, {"main": head, "scarthgap": head}, tags, objects


def build_upstreams(root: Path) -> Upstreams:
    table = shipped_pins()
    wanted: dict[str, list[str]] = {}
    for release in table["releases"].values():
        for name, repo in release["repos"].items():
            wanted.setdefault(name, [])
            if repo["branch"] not in wanted[name]:
                wanted[name].append(repo["branch"])
    paths, branches = {}, {}
    for name, names_branches in sorted(wanted.items()):
        paths[name], branches[name] = make_upstream(root, name, names_branches)
    paths["meta-aos"], branches["meta-aos"], tags, objects = make_meta_aos(root)
    return Upstreams(root, paths, branches, tags, objects)


_SESSION: dict[str, object] = {}


@pytest.fixture(autouse=True)
def git_stays_local(monkeypatch):
    """Let git reach local repositories only: a test that would ask the internet (a pins
    table's upstream URL, say) fails at once instead."""
    monkeypatch.setenv("GIT_ALLOW_PROTOCOL", "file")


@pytest.fixture(scope="session")
def upstreams(tmp_path_factory) -> Upstreams:
    """Local stand-ins for every upstream repository the shipped pins table names."""
    if "upstreams" not in _SESSION:
        _SESSION["upstreams"] = build_upstreams(tmp_path_factory.mktemp("upstreams"))
    return _SESSION["upstreams"]  # type: ignore[return-value]


@pytest.fixture(scope="session")
def local_pins(upstreams, tmp_path_factory) -> Path:
    """A pins table made by `aos-multinode pin` from the local stand-ins (every release and
    meta-aos tag of the shipped table)."""
    if "pins" not in _SESSION:
        out = tmp_path_factory.mktemp("pins") / "pins.json"
        result = run_aos("pin", *upstreams.sources(), "-o", out)
        assert result.exit_code == 0, result.stderr
        _SESSION["pins"] = out
    return _SESSION["pins"]  # type: ignore[return-value]


# --------------------------------------------------------------------------- generating

def generate(example: Path, out_dir: Path, *extra: str, cwd: Optional[Path] = None) -> Run:
    result = run_aos("generate", example, "-o", out_dir, *extra, cwd=cwd)
    assert result.exit_code == 0, result.stdout + result.stderr
    return result


def generate_in_git(example: Path, repo_dir: Path, subdir: str, *extra: str) -> Path:
    """Copy the example into a new git repository, generate into REPO/SUBDIR, commit all;
    return the output folder."""
    repo = init_repo(repo_dir)
    shutil.copy(example, repo_dir / example.name)
    commit_all(repo, "unit config")
    out = repo_dir / subdir
    generate(repo_dir / example.name, out, *extra)
    commit_all(repo, "generated output")
    return out


def load_yaml(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def node_ids(example: Path) -> list[str]:
    return [node["id"] for node in load_yaml(example)["nodes"]]


# --------------------------------------------------------------------------- kas

@lru_cache(maxsize=None)
def network_isolation() -> tuple[str, ...]:
    """The command prefix that runs a program without any network (`unshare -n`), or ()
    where that is not possible (not root, no util-linux)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    probe = subprocess.run([unshare, "-n", "true"], capture_output=True)
    return (unshare, "-n") if probe.returncode == 0 else ()


@dataclass(frozen=True)
class KasRun:
    returncode: int
    stdout: str
    stderr: str

    def check(self) -> "KasRun":
        assert self.returncode == 0, f"kas failed ({self.returncode}):\n{self.stderr}"
        return self


def run_kas(args: list[str | os.PathLike], work_dir: Path, premirrors: str = "",
            cwd: Optional[Path] = None, offline: bool = True) -> KasRun:
    """Run the installed kas (`python -m kas`) with a clean environment: KAS_WORK_DIR,
    KAS_PREMIRRORS, a git config trusting every directory, and no network when possible."""
    work_dir.mkdir(parents=True, exist_ok=True)
    gitconfig = work_dir.parent / f"{work_dir.name}.gitconfig"
    gitconfig.write_text("[safe]\n\tdirectory = *\n[protocol \"file\"]\n\tallow = always\n",
                         encoding="utf-8")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(work_dir.parent),
           "KAS_WORK_DIR": str(work_dir), "GITCONFIG_FILE": str(gitconfig),
           "KAS_PREMIRRORS": premirrors, "LANG": "C.UTF-8",
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_ALLOW_PROTOCOL": "file", **IDENTITY}
    prefix = network_isolation() if offline else ()
    proc = subprocess.run([*prefix, sys.executable, "-m", "kas", *map(str, args)],
                          cwd=cwd or work_dir, env=env, capture_output=True, text=True,
                          timeout=300)
    return KasRun(proc.returncode, proc.stdout, proc.stderr)


def bblayers(build_dir: Path) -> list[Path]:
    """The layers of build/conf/bblayers.conf as absolute paths (kas writes ${TOPDIR}/...)."""
    text = (build_dir / "conf" / "bblayers.conf").read_text(encoding="utf-8")
    match = re.search(r'BBLAYERS \?= "(.*?)"', text, re.S)
    assert match, text
    layers = []
    for word in match.group(1).replace("\\\n", " ").split():
        assert word.startswith("${TOPDIR}/"), word
        layers.append(Path(os.path.normpath(build_dir / word[len("${TOPDIR}/"):])))
    return layers


def expected_layers(work_dir: Path, example: Path) -> set[Path]:
    """The layers a node build of `example` needs, written out independently of the
    generator (facts.md): what the Unit Config asks for decides."""
    config = load_yaml(example)
    aos = config.get("aos", {}).get("enabled", False)
    ntp = config.get("time_sync", {}).get("protocol") == "ntp"
    release = config["yocto"]["release"]
    layers = set()
    if release == "scarthgap":
        layers |= {work_dir / "poky" / name for name in ("meta", "meta-poky", "meta-yocto-bsp")}
    else:
        layers |= {work_dir / "openembedded-core" / "meta", work_dir / "meta-yocto" / "meta-poky",
                   work_dir / "meta-yocto" / "meta-yocto-bsp"}
    oe = {"meta-oe"}
    if ntp or aos:
        oe.add("meta-networking")
    if aos:
        oe |= {"meta-python", "meta-filesystems"}
    layers |= {work_dir / "meta-openembedded" / name for name in oe}
    if aos:
        layers |= {work_dir / "meta-aos", work_dir / "meta-virtualization",
                   work_dir / "meta-selinux"}
    return layers


def git_head(path: Path) -> str:
    return git.Repo(path).head.commit.hexsha


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def text_of(result: Run) -> str:
    return result.stdout + result.stderr

