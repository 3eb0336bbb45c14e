"""A wheel built from this repository, installed into a fresh venv, works on its own: the
console script, every command's help, shell completion, and all package data (templates,
schemas, pins). Slow: it builds, creates a venv and installs the dependencies with pip."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from aos_multinode.cli import cli

from conftest import EXAMPLES, INVALID_DIR, REPO_ROOT

pytestmark = pytest.mark.slow

# Files the package must carry: folder in the repository -> (package, folder inside it).
PACKAGE_DATA = {"templates": ("aos_multinode.templates", ""),
                "generator/aos_multinode/data": ("aos_multinode", "data")}
JUNK = ("__pycache__", ".pyc", ".egg-info")
# Added to the copy only (never to the repository): a hidden file and a deep folder, so the
# packaging rules are proven for shapes the templates may take later.
PROBES = ["templates/layer/.probe-hidden.j2", "templates/probe-deep/a/b/c/probe.txt",
          "templates/probe-deep/.hidden-dir/probe.yml.j2"]


def source_files() -> list[str]:
    """The files of the working tree a user would build from: tracked and new, not ignored."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO_ROOT, capture_output=True, check=True).stdout.decode()
        return [name for name in listed.split("\0") if name and (REPO_ROOT / name).is_file()]
    except (OSError, subprocess.CalledProcessError):
        return [str(p.relative_to(REPO_ROOT)) for p in REPO_ROOT.rglob("*")
                if p.is_file() and ".git" not in p.parts and not any(j in str(p) for j in JUNK)]


def data_files(root: Path) -> dict[str, bool]:
    """Every file under `root` (relative path -> is it executable), build junk left out."""
    return {str(p.relative_to(root)): os.access(p, os.X_OK) for p in sorted(root.rglob("*"))
            if p.is_file() and not any(j in str(p) for j in JUNK)}


def run(*args, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """Build the wheel from a copy of the working tree, install it into a fresh venv."""
    tmp = tmp_path_factory.mktemp("package")
    src = tmp / "src"
    for name in source_files():
        target = src / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, target)
    for name in PROBES:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text("probe\n")
    dist = tmp / "dist"
    run(sys.executable, "-m", "build", "--wheel", "--outdir", dist, src)
    [wheel] = dist.glob("aos_multinode-*.whl")
    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", wheel)
    work = tmp / "work"
    work.mkdir()
    return {"src": src, "python": python, "bin": env_dir / "bin", "work": work, "wheel": wheel}


def test_wheel_is_installed_not_the_checkout(installed):
    where = run(installed["python"], "-c", "import aos_multinode; print(aos_multinode.__file__)",
                cwd=installed["work"]).stdout.strip()
    assert "site-packages" in where and not where.startswith(str(REPO_ROOT))


def test_version(installed):
    from aos_multinode import __version__

    result = run(installed["bin"] / "aos-multinode", "--version", cwd=installed["work"])
    assert result.stdout == f"aos-multinode, version {__version__}\n"
    assert f"aos_multinode-{__version__}-" in installed["wheel"].name


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_validate_an_example(installed, example):
    shutil.copy(example, installed["work"] / example.name)
    result = run(installed["bin"] / "aos-multinode", "validate", example.name,
                 cwd=installed["work"])
    assert result.stdout.startswith(f"{example.name}: valid")


def test_validate_an_invalid_file(installed):
    bad = INVALID_DIR / "duplicate-address.yaml"
    result = subprocess.run([installed["bin"] / "aos-multinode", "validate", bad],
                            capture_output=True, text=True, cwd=installed["work"])
    assert result.returncode == 2
    assert f"{bad}:28:5: error: nodes[1].address:" in result.stderr
    assert "Traceback" not in result.stderr


def test_schema(installed):
    result = run(installed["bin"] / "aos-multinode", "schema", cwd=installed["work"])
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "nodes" in schema["required"]


@pytest.mark.parametrize("command", [None, *sorted(cli.commands)])
def test_help(installed, command):
    args = [command, "--help"] if command else ["--help"]
    result = run(installed["bin"] / "aos-multinode", *args, cwd=installed["work"])
    assert result.stdout.startswith("Usage: aos-multinode")


@pytest.mark.parametrize("shell, marker", [("bash", "complete -o nosort -F"),
                                           ("zsh", "compdef"), ("fish", "complete --no-files")])
def test_shell_completion(installed, shell, marker):
    env = dict(os.environ, _AOS_MULTINODE_COMPLETE=f"{shell}_source")
    result = run(installed["bin"] / "aos-multinode", env=env, cwd=installed["work"])
    assert marker in result.stdout and "_AOS_MULTINODE_COMPLETE" in result.stdout


def test_completion_completes_commands(installed):
    env = dict(os.environ, _AOS_MULTINODE_COMPLETE="bash_complete", COMP_WORDS="aos-multinode va",
               COMP_CWORD="1")
    result = run(installed["bin"] / "aos-multinode", env=env, cwd=installed["work"])
    assert "plain,validate" in result.stdout.splitlines()


@pytest.mark.parametrize("folder", PACKAGE_DATA)
def test_package_data_is_installed(installed, folder):
    """Every file under the repository's templates/ (and generator/aos_multinode/data/) is in the
    installed package, nested folders and executable bits included."""
    expected = data_files(installed["src"] / folder)
    assert expected, f"{folder}/ is empty: nothing to check"
    package, inside = PACKAGE_DATA[folder]
    listing = run(installed["python"], "-c", f"""
import importlib.resources, json, os
root = importlib.resources.files({package!r})
root = root.joinpath({inside!r}) if {inside!r} else root
assert root.is_dir()
out = {{}}
def walk(node, prefix):
    for child in node.iterdir():
        name = prefix + child.name
        if child.is_dir():
            walk(child, name + "/")
        elif "__pycache__" not in name and not name.endswith(".pyc"):
            out[name] = os.access(str(child), os.X_OK)
walk(root, "")
print(json.dumps(out))
""", cwd=installed["work"]).stdout
    assert json.loads(listing) == expected


def test_package_data_checks_cover_nested_and_hidden_files(installed):
    """The comparison above includes nested folders and hidden files (the probes at least)."""
    files = data_files(installed["src"] / "templates")
    assert "layer/.probe-hidden.j2" in files and "probe-deep/a/b/c/probe.txt" in files
    assert "probe-deep/.hidden-dir/probe.yml.j2" in files
    assert [name for name in files if name.count("/") >= 2 and "probe" not in name], \
        "the repository's templates/ has no nested folders"
