"""The writer: deterministic, idempotent, atomic, and it owns only what it wrote.

Atomicity is tested two ways: failures raised inside the run (the writer cleans up), and
real crashes (a child process killed with os._exit at every rename of the directory swap
and while staging), after which the next run must find the previous output.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from layer_helpers import (EXAMPLES, LAYER, MAIN_EXAMPLE, generate, load, render, run_cli,
                           snapshot, tree_files)
from aos_multinode.errors import OutputError
from aos_multinode.generation.write import (JOURNAL, MANIFEST, OutputWriteError, classify, recover,
                                  write_tree)

LEFTOVERS = (".aos-new", ".aos-old", JOURNAL)


def variant(tmp_path: Path, source: Path, name: str, change) -> Path:
    """Write a copy of the Unit Config `source` changed by `change(data)`."""
    data = yaml.safe_load(source.read_text())
    change(data)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def without_node(node_id: str):
    def change(data):
        data["nodes"] = [n for n in data["nodes"] if n.get("id") != node_id]
        used = {n["role"] for n in data["nodes"]}
        data["roles"] = {k: v for k, v in data["roles"].items() if k in used}
    return change


def new_release(release: str):
    def change(data):
        data["release"] = release
    return change


def state(out: Path) -> dict:
    """Every file and folder inside `out` (inode, mtime, size, mode). `out` itself is left
    out: a run that fails still creates and removes its staging folder there."""
    return {k: v for k, v in snapshot(out).items() if k != "."}


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.endswith(LEFTOVERS))


def contents(out: Path) -> dict:
    return tree_files(out)


# --- deterministic -----------------------------------------------------------------------

@pytest.mark.parametrize("source", EXAMPLES, ids=lambda p: p.stem)
def test_deterministic(source, tmp_path):
    """Same input, same bytes: in two folders, and in two processes with different hash
    seeds (set and dict order cannot leak into the output)."""
    first, second = tmp_path / "one" / "out", tmp_path / "two" / "elsewhere"
    generate(source, first)
    generate(source, second)
    assert contents(first) == contents(second)
    for seed in ("1", "2"):
        out = tmp_path / f"seed{seed}"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-m", "aos_multinode", "generate", str(source), "-o",
                        str(out), "--no-git-init"], env=env, check=True, capture_output=True)
        assert contents(out) == contents(first)
    text = b"".join(content for content, _ in contents(first).values())
    assert str(tmp_path).encode() not in text


# --- idempotent --------------------------------------------------------------------------

@pytest.mark.parametrize("source", EXAMPLES, ids=lambda p: p.stem)
def test_idempotent(source, tmp_path):
    out = tmp_path / "out"
    generate(source, out)
    before = snapshot(out)
    statuses = generate(source, out)
    assert {s.status for s in statuses} == {"identical"}
    assert snapshot(out) == before  # same inodes, mtimes, sizes, modes: nothing written


def test_missing_manifest_is_rewritten(tmp_path):
    """A run that finds every file current but the manifest gone writes the manifest back,
    so the next change still knows what the writer owns."""
    out = tmp_path / "out"
    generate(MAIN_EXAMPLE, out)
    manifest = (out / LAYER / MANIFEST).read_bytes()
    (out / LAYER / MANIFEST).unlink()
    assert {s.status for s in generate(MAIN_EXAMPLE, out)} == {"identical"}
    assert (out / LAYER / MANIFEST).read_bytes() == manifest


# --- atomic: failures inside the run -----------------------------------------------------

@pytest.mark.parametrize("point", ["first", "second", "middle", "last"])
def test_failed_write_leaves_previous_output(point, tmp_path, monkeypatch):
    out = tmp_path / "out"
    generate(MAIN_EXAMPLE, out)
    before = state(out)
    changed = variant(tmp_path, MAIN_EXAMPLE, "changed", new_release("2027.1.0"))
    files = render(load(changed), out)
    statuses = classify(out, files)
    # Written: each created or updated file, and a manifest per changed folder.
    writes = sum(1 for s in statuses if s.status in ("create", "update")) + \
        len({s.relpath.split("/")[0] for s in statuses if s.status != "identical"})
    after = {"first": 0, "second": 1, "middle": writes // 2, "last": writes - 1}[point]
    real = Path.write_bytes
    calls = []

    def failing(self, data):
        calls.append(self)
        if len(calls) > after:
            raise OSError(28, "No space left on device")
        return real(self, data)
    monkeypatch.setattr(Path, "write_bytes", failing)
    with pytest.raises(OutputWriteError, match="No space left on device; the file system is "
                       "full"):
        write_tree(out, files)
    monkeypatch.undo()
    assert state(out) == before
    assert leftovers(out) == []


@pytest.mark.parametrize("failing_call", [1, 2, 3, 4, 5, 8])
def test_failed_swap_leaves_previous_output(failing_call, tmp_path, monkeypatch):
    """A rename of the swap fails (the first, a middle or the last one): every output
    directory is back as it was, not a mix of old and new."""
    out = tmp_path / "out"
    generate(MAIN_EXAMPLE, out)
    before = state(out)
    changed = variant(tmp_path, MAIN_EXAMPLE, "changed", new_release("2027.1.0"))
    files = render(load(changed), out)
    tops = {f.relpath.split("/")[0] for f in files}
    assert len(tops) >= 2, "needs several output directories to test"
    real = Path.rename
    calls = []

    def failing(self, target):
        calls.append(self)
        if len(calls) == failing_call:
            raise OSError(5, "Input/output error")
        return real(self, target)
    monkeypatch.setattr(Path, "rename", failing)
    with pytest.raises(OutputWriteError, match="Input/output error"):
        write_tree(out, files)
    monkeypatch.undo()
    assert state(out) == before
    assert leftovers(out) == []


# --- atomic: crashes ---------------------------------------------------------------------

CRASHING_RUN = textwrap.dedent("""\
    import os, sys, pathlib
    limit, what = int(sys.argv[1]), sys.argv[2]
    calls = [0]
    def crash_on(name):
        real = getattr(pathlib.Path, name)
        def wrapper(self, *args, **kwargs):
            calls[0] += 1
            if calls[0] == limit:
                os._exit(9)          # killed: no cleanup, no finally
            return real(self, *args, **kwargs)
        setattr(pathlib.Path, name, wrapper)
    crash_on(what)
    sys.argv = ["aos-multinode", *sys.argv[3:]]
    from aos_multinode.cli import main
    main()
""")


def crashing_generate(tmp_path: Path, source: Path, out: Path, limit: int, what: str):
    script = tmp_path / "crash.py"
    script.write_text(CRASHING_RUN)
    return subprocess.run([sys.executable, str(script), str(limit), what, "generate",
                           str(source), "-o", str(out)], capture_output=True, text=True,
                          timeout=120)


def count_renames(tmp_path: Path, source: Path, changed: Path) -> int:
    """How many renames a run that changes every output folder makes: two per folder
    (live -> .old, .new -> live)."""
    probe = tmp_path / "probe"
    generate(source, probe)
    statuses = generate(changed, probe)
    tops = {s.relpath.split("/")[0] for s in statuses}
    assert all(any(s.status == "update" for s in statuses if s.relpath.startswith(f"{t}/"))
               for t in tops)
    return 2 * len(tops)


@pytest.mark.slow
def test_crash_at_every_swap_step_keeps_previous_output(tmp_path):
    changed = variant(tmp_path, MAIN_EXAMPLE, "changed", new_release("2027.1.0"))
    renames = count_renames(tmp_path, MAIN_EXAMPLE, changed)
    assert renames >= 4
    for limit in range(1, renames + 1):
        out = tmp_path / f"out{limit}"
        generate(MAIN_EXAMPLE, out)
        before = state(out)
        result = crashing_generate(tmp_path, changed, out, limit, "rename")
        assert result.returncode == 9, f"rename {limit} did not crash: {result.stderr}"
        recover(out)  # what the next run does first
        assert state(out) == before, f"crash at rename {limit} of {renames}"
        assert leftovers(out) == []
        # And the next run completes the change.
        assert {s.status for s in generate(changed, out)} >= {"update"}
        assert contents(out) == contents_of(tmp_path, changed)


def contents_of(tmp_path: Path, source: Path) -> dict:
    out = tmp_path / "reference" / source.stem
    if not out.exists():
        generate(source, out)
    return contents(out)


@pytest.mark.parametrize("limit", [1, 8, 16])
def test_crash_while_staging_keeps_previous_output(limit, tmp_path):
    out = tmp_path / "out"
    generate(MAIN_EXAMPLE, out)
    before = state(out)
    changed = variant(tmp_path, MAIN_EXAMPLE, "changed", new_release("2027.1.0"))
    result = crashing_generate(tmp_path, changed, out, limit, "write_bytes")
    assert result.returncode == 9
    assert {k: v for k, v in state(out).items() if ".aos-new" not in k.split("/")[0]} == \
        before
    recover(out)
    assert state(out) == before


def test_crash_on_first_generation_leaves_nothing(tmp_path):
    out = tmp_path / "out"
    result = crashing_generate(tmp_path, MAIN_EXAMPLE, out, 2, "rename")
    assert result.returncode == 9
    recover(out)
    assert sorted(p.name for p in out.iterdir()) == []


def test_leftover_old_copy_is_restored(tmp_path):
    """A run killed between its two renames left `.meta-aos-multinode.aos-old` and no
    meta-aos-multinode/: the next run puts the old copy back before it compares."""
    out = tmp_path / "out"
    generate(MAIN_EXAMPLE, out)
    before = state(out)
    (out / LAYER).rename(out / f".{LAYER}.aos-old")
    (out / f".{LAYER}.aos-new").mkdir()
    # A half-built copy carries the tool's manifest from its first moment on.
    (out / f".{LAYER}.aos-new" / MANIFEST).write_bytes(
        (out / f".{LAYER}.aos-old" / MANIFEST).read_bytes())
    (out / f".{LAYER}.aos-new" / "half-written").write_text("x")
    statuses = generate(MAIN_EXAMPLE, out)
    assert {s.status for s in statuses} == {"identical"}
    assert state(out) == before


@pytest.mark.parametrize("mode", ["--check", "--dry-run"])
def test_read_only_modes_report_an_interrupted_run_and_write_nothing(tmp_path, mode):
    """--check and --dry-run never write, so they cannot recover: they say what an
    interrupted run left; --check fails (the output on disk is not the output)."""
    out = tmp_path / "out"
    generate(MAIN_EXAMPLE, out)
    (out / LAYER).rename(out / f".{LAYER}.aos-old")
    (out / f".{LAYER}.aos-new").mkdir()
    before = state(out)
    result = run_cli("generate", str(MAIN_EXAMPLE), "-o", str(out), mode, "--no-git-init")
    assert result.returncode == (1 if mode == "--check" else 0), result.stderr
    assert f".{LAYER}.aos-old" in result.stderr and f".{LAYER}.aos-new" in result.stderr
    assert "interrupted run" in result.stderr and "Traceback" not in result.stderr
    assert state(out) == before
    generate(MAIN_EXAMPLE, out)  # a writing run recovers; then --check is clean
    assert run_cli("generate", str(MAIN_EXAMPLE), "-o", str(out), "--check",
                   "--no-git-init").returncode == 0


# --- owns only what it wrote -------------------------------------------------------------

def test_removing_a_node_deletes_its_files(tmp_path):
    out = tmp_path / "out"
    generate(MAIN_EXAMPLE, out)
    before = set(contents(out))
    smaller = variant(tmp_path, MAIN_EXAMPLE, "smaller", without_node("rt0"))
    statuses = generate(smaller, out)
    deleted = {s.relpath for s in statuses if s.status == "delete"}
    assert deleted == before - set(contents_of(tmp_path, smaller))
    assert f"{LAYER}/conf/nodes/rt0.conf" in deleted and "kas/rt0.yml" in deleted
    assert f"{LAYER}/recipes-core/packagegroups/packagegroup-aos-multinode-rt.bb" in deleted
    assert not [p for p in contents(out) if "rt0" in p]
    assert not (out / LAYER / "recipes-core" / "aos-node-config" / "files" / "rt0").exists()
    assert contents(out) == contents_of(tmp_path, smaller)


def test_users_files_survive(tmp_path):
    """A file the user added inside the generated folders stays through changes and node
    removal; the writer never lists it."""
    out = tmp_path / "out"
    generate(MAIN_EXAMPLE, out)
    mine = out / LAYER / "recipes-core" / "mine" / "mine_1.0.bb"
    mine.parent.mkdir(parents=True)
    mine.write_text("# mine\n")
    node_dir_file = out / LAYER / "recipes-core" / "aos-node-config" / "files" / "rt0" / "notes"
    node_dir_file.write_text("notes about rt0\n")
    for changed in (variant(tmp_path, MAIN_EXAMPLE, "changed", new_release("2027.1.0")),
                    variant(tmp_path, MAIN_EXAMPLE, "smaller", without_node("rt0"))):
        statuses = generate(changed, out)
        assert not [s for s in statuses if "mine" in s.relpath or "notes" in s.relpath]
        assert mine.read_text() == "# mine\n"
        assert node_dir_file.read_text() == "notes about rt0\n"


def test_foreign_file_in_the_way(tmp_path):
    out = tmp_path / "out"
    readme = out / LAYER / "README.md"
    readme.parent.mkdir(parents=True)
    readme.write_text("my own layer\n")
    before = state(out)
    files = render(load(MAIN_EXAMPLE), out)
    with pytest.raises(OutputError, match="README.*not generated"):
        write_tree(out, files)
    assert state(out) == before
    write_tree(out, files, force=True)
    assert contents(out) == contents_of(tmp_path, MAIN_EXAMPLE)


def test_edited_file_is_a_conflict(tmp_path):
    out = tmp_path / "out"
    generate(MAIN_EXAMPLE, out)
    edited = out / LAYER / "conf" / "nodes" / "main.conf"
    edited.write_text(edited.read_text() + 'EXTRA = "1"\n')
    before = state(out)
    changed = variant(tmp_path, MAIN_EXAMPLE, "changed", new_release("2027.1.0"))
    with pytest.raises(OutputError, match="main.conf: was edited"):
        generate(changed, out)
    assert state(out) == before
    # An edited file that is no longer generated is not deleted either.
    smaller = variant(tmp_path, MAIN_EXAMPLE, "smaller", without_node("rt0"))
    stale = out / LAYER / "conf" / "nodes" / "rt0.conf"
    edited.write_text(edited.read_text().replace('EXTRA = "1"\n', ""))
    stale.write_text(stale.read_text() + "# mine now\n")
    with pytest.raises(OutputError, match="rt0.conf: is no longer generated but was edited"):
        generate(smaller, out)
    assert stale.exists()
    generate(smaller, out, force=True)
    assert not stale.exists()


def test_links_are_never_written_through(tmp_path):
    out = tmp_path / "out"
    generate(MAIN_EXAMPLE, out)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("keep\n")
    nodes = out / LAYER / "conf" / "nodes"
    target = nodes / "main.conf"
    target.unlink()
    target.symlink_to(outside / "keep")
    changed = variant(tmp_path, MAIN_EXAMPLE, "changed", new_release("2027.1.0"))
    with pytest.raises(OutputError, match="symbolic link"):
        generate(changed, out)
    generate(changed, out, force=True)  # the link is replaced, its target left alone
    assert not target.is_symlink() and (outside / "keep").read_text() == "keep\n"
    # A linked folder is never written through, even with --force.
    conf = out / LAYER / "conf"
    conf.rename(outside / "conf")
    conf.symlink_to(outside / "conf")
    before = {p: v for p, v in tree_files(outside).items()}
    for force in (False, True):
        with pytest.raises(OutputError, match="conf is a symbolic link"):
            generate(MAIN_EXAMPLE, out, force=force)
    assert tree_files(outside) == before
    # A dangling link where a file goes is in the way too.
    dangling = tmp_path / "fresh" / LAYER / "README.md"
    dangling.parent.mkdir(parents=True)
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(OutputError, match="README.md: a symbolic link"):
        generate(MAIN_EXAMPLE, tmp_path / "fresh")


def test_directory_in_the_way(tmp_path):
    out = tmp_path / "out"
    (out / LAYER / "README.md").mkdir(parents=True)
    (out / LAYER / "README.md" / "x").write_text("x")
    for force in (False, True):
        with pytest.raises(OutputError, match="README.md: a directory is in the way"):
            generate(MAIN_EXAMPLE, out, force=force)
    assert (out / LAYER / "README.md" / "x").read_text() == "x"


def test_classify_words(tmp_path):
    """classify reports every status word the CLI prints."""
    out = tmp_path / "out"
    generate(MAIN_EXAMPLE, out)
    smaller = variant(tmp_path, MAIN_EXAMPLE, "smaller", without_node("rt0"))
    bigger_release = variant(tmp_path, smaller, "release", new_release("2027.1.0"))
    (out / LAYER / "conf" / "nodes" / "rt0.conf").unlink()  # a generated file the user deleted
    statuses = classify(out, render(load(bigger_release), out))
    words = {s.status for s in statuses}
    assert {"update", "identical", "delete"} <= words
    deleted = {s.relpath for s in statuses if s.status == "delete"}
    assert f"{LAYER}/conf/multiconfig/rt0.conf" in deleted
    assert f"{LAYER}/conf/nodes/rt0.conf" not in deleted  # already gone: nothing to do
    fresh = classify(tmp_path / "none", render(load(MAIN_EXAMPLE), tmp_path / "none"))
    assert {s.status for s in fresh} == {"create"}
    assert not (tmp_path / "none").exists()


def test_cli_second_run_reports_identical(tmp_path):
    out = tmp_path / "out"
    first = run_cli("generate", str(MAIN_EXAMPLE), "-o", str(out))
    assert first.returncode == 0, first.stderr
    second = run_cli("generate", str(MAIN_EXAMPLE), "-o", str(out))
    assert second.returncode == 0
    assert second.stdout.startswith("0 create, 0 update, 0 delete, ")
    assert len(second.stdout.splitlines()) == 1


def test_output_made_by_a_concurrent_run_first_is_not_an_error(tmp_path, monkeypatch):
    """Two runs into a missing folder both see it missing; the one whose mkdir comes second
    goes on (the folder is the other run's, not its own to remove on failure)."""
    from aos_multinode.generation import write

    out = tmp_path / "new" / "out"
    real_mkdir = Path.mkdir

    def racing_mkdir(self, *args, **kwargs):
        if self == out and not self.exists():
            real_mkdir(self)          # the other run wins the race
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", racing_mkdir)
    made = write._make_dirs(out)
    assert out.is_dir() and made == [tmp_path / "new"]
