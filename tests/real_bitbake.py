"""Real kas and real BitBake on the pinned upstream layers, offline.

The layers come from `../shared/yocto` beside this repository (or AOS_MULTINODE_YOCTO): one
shallow bare git repository per upstream, at the commits of the pins table, mapped to the
URLs the generated kas files name through KAS_PREMIRRORS (`unpack` prints the map).

BitBake refuses to run as root. As root (CI), the tests run kas and BitBake as the ordinary
user `aosbuild`, which they create, with a Python environment of its own made from the
system's python3 (root's interpreter is usually out of an ordinary user's reach); as an
ordinary user they run as that user with the test interpreter. Everything lives in one work
folder (AOS_MULTINODE_BITBAKE_WORK to keep and reuse it, parse caches included; otherwise a
new folder under /var/tmp, removed at the end), with no network (`unshare -n`) where possible.

In CI (the environment variable CI set) nothing here skips: a missing snapshot, tool, locale
or user is a failure. Elsewhere the tests skip and say what is missing.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Optional, Sequence

import pytest

from kas_helpers import IDENTITY, network_isolation

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
SNAPSHOTS = Path(os.environ.get("AOS_MULTINODE_YOCTO", REPO_ROOT.parent / "shared" / "yocto"))
BUILDER = "aosbuild"
IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")
# BitBake's own host checks (sanity.bbclass) stop a parse without these.
HOST_TOOLS = ("chrpath", "cpio", "diffstat", "gawk", "git", "python3", "file", "wget", "zstd",
              "lz4c", "xz", "make", "gcc", "g++", "patch", "bzip2", "unzip", "perl",
              "makeinfo")
# What every node's build adds to kas's local.conf here: no network, no uninative tarball.
OFFLINE_KAS = """\
# Written by the aos-multinode tests: BitBake on the offline snapshots.
header:
  version: 14
local_conf_header:
  99-offline-tests: |
    BB_NO_NETWORK = "1"
    INHERIT:remove = "uninative"
"""


def require(condition: object, reason: str) -> None:
    """Skip the test saying `reason` unless `condition` holds; in CI, fail instead."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI runs every real-BitBake test: nothing may skip there)",
                    pytrace=False)
    pytest.skip(reason)


def en_us_utf8() -> bool:
    result = subprocess.run(["locale", "-a"], capture_output=True, text=True)
    return any(line.lower().replace("-", "") == "en_us.utf8" for line in result.stdout.split())


@dataclass
class Builder:
    """Runs commands as the ordinary user BitBake accepts, in the shared work folder."""

    user: str
    home: Path
    work: Path
    python: str
    as_root: bool
    premirrors: str = ""

    def env(self, extra: Optional[dict[str, str]] = None) -> dict[str, str]:
        env = {"PATH": f"{Path(self.python).parent}:/usr/local/bin:/usr/bin:/bin:/usr/sbin",
               "HOME": str(self.home), "USER": self.user, "LOGNAME": self.user,
               "LANG": "en_US.UTF-8", "LC_ALL": "en_US.UTF-8", "SHELL": "/bin/sh",
               "GIT_CONFIG_NOSYSTEM": "1", **IDENTITY}
        env.update(extra or {})
        return env

    def run(self, args: Sequence[str | os.PathLike], cwd: Path, timeout: float,
            env: Optional[dict[str, str]] = None, log: Optional[Path] = None,
            offline: bool = True) -> subprocess.CompletedProcess:
        """Run ARGS as the builder (no network where possible); output to `log` too."""
        command = [str(a) for a in args]
        if self.as_root:
            command = ["runuser", "-u", self.user, "--", *command]
        if offline:
            command = [*network_isolation(), *command]
        result = subprocess.run(command, cwd=cwd, env=self.env(env), capture_output=True,
                                text=True, errors="replace", timeout=timeout,
                                stdin=subprocess.DEVNULL)
        if log is not None:
            log.write_text(f"$ {' '.join(command)}\n{result.stdout}{result.stderr}",
                           encoding="utf-8")
            self.give(log)
        return result

    def give(self, *paths: Path) -> None:
        """Make PATHS (recursively) the builder's."""
        if self.as_root:
            subprocess.run(["chown", "-R", f"{self.user}:", *map(str, paths)], check=True)

    def kas(self, args: Sequence[str | os.PathLike], cwd: Path, kas_work: Path,
            timeout: float, log: Optional[Path] = None) -> subprocess.CompletedProcess:
        """Run kas as the builder with the snapshots as premirrors."""
        return self.run([self.python, "-m", "kas", *args], cwd=cwd, timeout=timeout, log=log,
                        env={"KAS_WORK_DIR": str(kas_work), "KAS_PREMIRRORS": self.premirrors,
                             "GITCONFIG_FILE": str(self.home / ".gitconfig")})


def check_host() -> None:
    """Skip (fail in CI) when this machine cannot run the real tests."""
    require(SNAPSHOTS.is_dir() and any(SNAPSHOTS.glob("*.git.tar")),
            f"no Yocto layer snapshots at {SNAPSHOTS} (set AOS_MULTINODE_YOCTO)")
    missing = [tool for tool in HOST_TOOLS if shutil.which(tool) is None]
    require(not missing, f"BitBake's host tools are missing: {', '.join(missing)} "
                         "(scripts/bootstrap --test installs them)")
    require(en_us_utf8(), "the en_US.UTF-8 locale is missing (scripts/bootstrap --test makes it)")
    if os.geteuid() == 0:
        require(shutil.which("runuser") and shutil.which("useradd"),
                "runuser and useradd are needed to run BitBake as an ordinary user")
        require(Path("/usr/bin/python3").is_file(),
                "the system python3 is needed for the ordinary user BitBake runs as")


def ensure_user() -> pwd.struct_passwd:
    """Return the builder account, creating it (as root) when missing."""
    try:
        return pwd.getpwnam(BUILDER)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", BUILDER], check=True)
        return pwd.getpwnam(BUILDER)


def make_work_dir() -> tuple[Path, bool]:
    """Return the work folder and whether it is kept after the session."""
    kept = os.environ.get("AOS_MULTINODE_BITBAKE_WORK")
    if kept:
        path = Path(kept)
        path.mkdir(parents=True, exist_ok=True)
        return path.resolve(), True
    return Path(tempfile.mkdtemp(prefix="aos-multinode-bitbake-", dir="/var/tmp")), False


def project_copy(dest: Path) -> Path:
    """Copy what building the aos-multinode package needs (not .venv, .git, tests)."""
    if dest.exists():
        shutil.rmtree(dest)
    ignore = shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.egg-info", "build",
                                    "tests", "dist", ".pytest_cache", ".hypothesis")
    shutil.copytree(REPO_ROOT, dest, ignore=ignore)
    return dest


def builder_python(builder: Builder) -> str:
    """Make (once per work folder and project version) the builder's own virtualenv with
    aos-multinode and the kas of the test environment; return its python."""
    venv = builder.work / "venv"
    python = venv / "bin" / "python"
    kas_version = metadata.version("kas")
    stamp = venv / "aos-multinode-tests.stamp"
    source = project_copy(builder.work / "aos-multinode-src")
    # Every file: templates and data change the generated output as much as code does.
    wanted = f"kas=={kas_version}\n" + "".join(
        f"{p}:{p.stat().st_mtime_ns}\n" for p in sorted(source.rglob("*")) if p.is_file())
    if stamp.is_file() and stamp.read_text(encoding="utf-8") == wanted and python.exists():
        return str(python)
    builder.give(source)
    make = builder.run(["/usr/bin/python3", "-m", "venv", "--clear", venv], cwd=builder.work,
                       timeout=300, offline=False)
    assert make.returncode == 0, make.stderr
    install = builder.run([python, "-m", "pip", "install", "-q", "--no-cache-dir",
                           str(source), f"kas=={kas_version}"], cwd=builder.work, timeout=900,
                          env={"TMPDIR": str(builder.work)}, offline=False)
    assert install.returncode == 0, install.stdout + install.stderr
    stamp.write_text(wanted, encoding="utf-8")
    return str(python)


def make_builder() -> tuple[Builder, bool]:
    """Set up the builder (user, work folder, Python, snapshots); return it and whether
    the work folder is kept."""
    check_host()
    work, kept = make_work_dir()
    if os.geteuid() == 0:
        account = ensure_user()
        builder = Builder(BUILDER, Path(account.pw_dir), work, "", True)
        work.chmod(0o755)
        builder.give(work)
        builder.python = builder_python(builder)
    else:
        builder = Builder(pwd.getpwuid(os.geteuid()).pw_name, Path.home(), work,
                          sys.executable, False)
    gitconfig = builder.home / ".gitconfig"
    text = "[safe]\n\tdirectory = *\n[protocol \"file\"]\n\tallow = always\n"
    if not gitconfig.is_file() or "directory = *" not in gitconfig.read_text(encoding="utf-8"):
        with open(gitconfig, "a", encoding="utf-8") as handle:
            handle.write(text)
        builder.give(gitconfig)
    unpacked = builder.run([SNAPSHOTS / "unpack", work / "snapshots"], cwd=work, timeout=600)
    assert unpacked.returncode == 0, unpacked.stderr
    builder.premirrors = unpacked.stdout
    return builder, kept


def generate_for(builder: Builder, example: Path, name: str) -> Path:
    """Generate EXAMPLE into WORK/NAME/out (outside git) for the builder; return it."""
    out = builder.work / name / "out"
    out.parent.mkdir(parents=True, exist_ok=True)
    unit_config = out.parent / example.name
    shutil.copyfile(example, unit_config)
    builder.give(out.parent)
    result = builder.run([builder.python, "-m", "aos_multinode", "generate", unit_config,
                          "-o", out, "--no-ci"], cwd=out.parent, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (out / "kas" / "offline-tests.yml").write_text(OFFLINE_KAS, encoding="utf-8")
    builder.give(out / "kas" / "offline-tests.yml")
    return out


def run_builder_bitbake(builder: Builder, out: Path, kas_work: Path, node: str,
                        command: str, log: Path, timeout: float = 1800
                        ) -> subprocess.CompletedProcess:
    """`kas shell kas/NODE.yml:kas/offline-tests.yml -c COMMAND` in the node's build."""
    return builder.kas(["shell", f"kas/{node}.yml:kas/offline-tests.yml", "-c", command],
                       cwd=out, kas_work=kas_work, timeout=timeout, log=log)
