"""The stand-ins in tests/bitbake_stubs/ are excerpts of real upstream files: each names the
snapshot, commit and path it was copied from (`# copied-from:` lines), and every line of it
that is not a comment must still be a line of one of those files in ../shared/yocto. So the
fast parser tests cannot drift from what openembedded-core and meta-aos really say."""

from __future__ import annotations

import re
import subprocess
from functools import lru_cache
from pathlib import Path

import pytest

from real_bitbake import SNAPSHOTS, require

STUBS_DIR = Path(__file__).resolve().parent / "bitbake_stubs"
STUBS = sorted(p for p in STUBS_DIR.rglob("*") if p.suffix in (".bbclass", ".bb", ".inc"))
SOURCE = re.compile(r"^# copied-from: (?P<repo>\S+\.git) (?P<commit>[0-9a-f]{40}) (?P<path>\S+)$")


def sources_of(stub: Path) -> list[re.Match]:
    lines = stub.read_text(encoding="utf-8").splitlines()
    return [m for m in map(SOURCE.match, lines) if m]


def excerpt_of(stub: Path) -> list[str]:
    """The stand-in's own lines: not blank, not a comment (a stand-in copies no comments)."""
    return [line.rstrip() for line in stub.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory) -> Path:
    require(SNAPSHOTS.is_dir() and (SNAPSHOTS / "unpack").is_file(),
            f"no Yocto layer snapshots at {SNAPSHOTS} (set AOS_MULTINODE_YOCTO)")
    dest = tmp_path_factory.mktemp("snapshots")
    subprocess.run([str(SNAPSHOTS / "unpack"), str(dest)], check=True, capture_output=True)
    return dest


@lru_cache(maxsize=None)
def _show(repo: Path, revision: str) -> tuple[int, str]:
    result = subprocess.run(["git", "-C", str(repo), "show", revision], capture_output=True,
                            text=True, errors="replace")
    return result.returncode, result.stdout


def snapshot_head(repo: Path) -> str:
    return subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()


def test_every_stand_in_names_its_source():
    assert STUBS, STUBS_DIR
    for stub in STUBS:
        assert sources_of(stub), f"{stub.relative_to(STUBS_DIR)}: no '# copied-from:' line"
        assert excerpt_of(stub), f"{stub.relative_to(STUBS_DIR)}: copies nothing"


@pytest.mark.parametrize("stub", STUBS, ids=lambda p: str(p.relative_to(STUBS_DIR)))
def test_stand_in_matches_the_snapshot(stub, snapshots):
    """The recorded commit is the one the snapshot holds, and each copied line is there."""
    files: list[str] = []
    for source in sources_of(stub):
        repo = snapshots / source["repo"]
        assert repo.is_dir(), f"{stub.name}: no snapshot {source['repo']} in {SNAPSHOTS}"
        head = snapshot_head(repo)
        assert head == source["commit"] or _show(repo, source["commit"])[0] == 0, (
            f"{stub.name} was copied from {source['repo']} {source['commit']}, the snapshot "
            f"holds {head}: copy the lines again from {source['path']} and record {head}")
        code, text = _show(repo, f"{source['commit']}:{source['path']}")
        assert code == 0, f"{source['path']} is not in {source['repo']} {source['commit']}"
        files.append(text)
    real = {line.rstrip() for text in files for line in text.splitlines()}
    drifted = [line for line in excerpt_of(stub) if line not in real]
    assert not drifted, (f"{stub.name}: these lines are not in "
                         f"{', '.join(m['path'] for m in sources_of(stub))}: {drifted}")


@pytest.mark.parametrize("stub", [s for s in STUBS if len(sources_of(s)) == 1],
                         ids=lambda p: str(p.relative_to(STUBS_DIR)))
def test_stand_in_lines_keep_their_order(stub, snapshots):
    """A stand-in copied from one file keeps that file's order (a later line may depend on
    an earlier one, as `:=` does)."""
    source = sources_of(stub)[0]
    _, text = _show(snapshots / source["repo"], f"{source['commit']}:{source['path']}")
    real = [line.rstrip() for line in text.splitlines()]
    position = 0
    for line in excerpt_of(stub):
        assert line in real[position:], f"{stub.name}: {line!r} is out of order"
        position = real.index(line, position) + 1
