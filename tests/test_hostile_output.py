"""Output under hostile conditions: forged leftovers, user files inside the output, a full
or read-only disk, a file where a folder must be, closed stdout, two runs at once, Ctrl-C.

Each failure must end as a user error: exit 2, the path, the cause and the fix, no Python
traceback, and the previous output exactly as it was. The tests run real processes (the
CLI as a user runs it). Tests that need root powers (mount, chattr, chown) skip visibly,
with the reason, when the machine does not grant them. Note that as root a plain `chmod`
does not stop writes, so read-only output is made with a read-only bind mount or
`chattr +i`, never with chmod.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from layer_helpers import LAYER, MAIN_EXAMPLE, REPO_ROOT, generate, snapshot

from aos_multinode.generation.write import JOURNAL, MANIFEST, leftovers


def variant(tmp_path: Path, release: str, name: str = "changed") -> Path:
    data = yaml.safe_load(MAIN_EXAMPLE.read_text())
    data["release"] = release
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def state(out: Path) -> dict:
    return {k: v for k, v in snapshot(out).items() if k != "."}


def assert_user_error(result, *needles: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, f"{needle!r} not in {result.stderr!r}"


def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    # The outputs here are made outside git as the library makes them (as --no-git-init);
    # generate's `git init` of such output has its own tests (test_output_repository.py).
    if args and args[0] == "generate":
        args = (*args, "--no-git-init")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-m", "aos_multinode", *args], env=env,
                          capture_output=True, text=True, timeout=120, **kwargs)


# --- recovery touches only what the tool made --------------------------------------------

def test_forged_journal_deletes_nothing(tmp_path):
    out = tmp_path / "d"
    generate(MAIN_EXAMPLE, out)
    (out / "src").mkdir()
    (out / "src" / "main.c").write_text("int main(void) { return 0; }\n")
    (out / JOURNAL).write_text("src 0\n")
    before = {k: v for k, v in state(out).items() if k != JOURNAL}
    result = run("generate", str(MAIN_EXAMPLE), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert state(out) == before
    assert (out / "src" / "main.c").read_text().startswith("int main")


def test_forged_json_journal_naming_a_user_folder_deletes_nothing(tmp_path):
    """Even a journal in the tool's own format touches only the very directories (inodes)
    the run recorded."""
    out = tmp_path / "d"
    generate(MAIN_EXAMPLE, out)
    (out / "notes").mkdir()
    (out / "notes" / "todo.txt").write_text("buy milk\n")
    (out / ".notes.aos-old").mkdir()
    (out / ".notes.aos-old" / "old.txt").write_text("old\n")
    (out / JOURNAL).write_text(json.dumps({"format": "aos-multinode/swap/2", "swap": [
        {"top": "notes", "old": 1, "new": 2}, {"top": "kas", "old": None, "new": 3}]}))
    before = {k: v for k, v in state(out).items() if k != JOURNAL}
    result = run("generate", str(variant(tmp_path, "2027.1.0")), "-o", str(out))
    assert result.returncode == 0, result.stderr
    after = state(out)
    for name in ("notes", "notes/todo.txt", ".notes.aos-old", ".notes.aos-old/old.txt"):
        assert after[name] == before[name]


def test_user_folder_named_like_a_backup_is_left_alone(tmp_path):
    out = tmp_path / "d"
    generate(MAIN_EXAMPLE, out)
    (out / ".notes.aos-old").mkdir()
    (out / ".notes.aos-old" / "mine.txt").write_text("mine\n")
    (out / ".scratch.aos-new").mkdir()
    (out / ".scratch.aos-new" / "keep.txt").write_text("keep\n")
    before = state(out)
    result = run("generate", str(variant(tmp_path, "2027.1.0")), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert not (out / "notes").exists() and not (out / "scratch").exists()
    after = state(out)
    for name in (".notes.aos-old", ".notes.aos-old/mine.txt", ".scratch.aos-new",
                 ".scratch.aos-new/keep.txt"):
        assert after[name] == before[name]
    assert leftovers(out) == []  # and --check does not take them for an interrupted run
    check = run("generate", str(variant(tmp_path, "2027.1.0")), "-o", str(out), "--check")
    assert check.returncode == 0, check.stderr


# --- user files stay the same files ------------------------------------------------------

def test_user_file_keeps_inode_owner_mode_and_links(tmp_path):
    out = tmp_path / "d"
    generate(MAIN_EXAMPLE, out)
    mine = out / LAYER / "NOTES.txt"
    mine.write_text("my notes\n")
    os.chmod(mine, 0o640)
    elsewhere = tmp_path / "notes-link"
    os.link(mine, elsewhere)
    folder = out / LAYER / "my-recipes"
    folder.mkdir()
    (folder / "x.bb").write_text("SUMMARY = \"mine\"\n")
    if os.geteuid() == 0:
        os.chown(mine, 4321, 4321)
        os.chown(folder, 4321, 4321)
    before = mine.stat()
    folder_before = folder.stat()
    recipe_inode = (folder / "x.bb").stat().st_ino
    result = run("generate", str(variant(tmp_path, "2027.1.0")), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "update" in result.stdout  # the layer was rebuilt and swapped
    after = mine.stat()
    assert (after.st_ino, after.st_uid, after.st_gid, after.st_mode, after.st_nlink) == \
        (before.st_ino, before.st_uid, before.st_gid, before.st_mode, 2)
    elsewhere.write_text("edited through the other link\n")
    assert mine.read_text() == "edited through the other link\n"
    folder_after = folder.stat()
    assert (folder_after.st_uid, folder_after.st_gid, folder_after.st_mode) == \
        (folder_before.st_uid, folder_before.st_gid, folder_before.st_mode)
    assert (folder / "x.bb").stat().st_ino == recipe_inode


# --- the file system says no -------------------------------------------------------------

def mount_or_skip(*args: str) -> None:
    result = subprocess.run(["mount", *args], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"mount {' '.join(args)} is not permitted here: {result.stderr.strip()}")


@pytest.fixture
def small_tmpfs(tmp_path):
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    point = tmp_path / "small"
    point.mkdir()
    mount_or_skip("-t", "tmpfs", "-o", "size=1m", "tmpfs", str(point))
    yield point
    subprocess.run(["umount", "-l", str(point)], check=False)


def fill(directory: Path) -> None:
    try:
        with open(directory / "filler", "wb") as handle:
            while True:
                handle.write(b"\0" * 4096)
                handle.flush()
    except OSError:
        pass


def test_disk_full_is_a_user_error_and_keeps_the_output(small_tmpfs, tmp_path):
    out = small_tmpfs / "out"
    first = run("generate", str(MAIN_EXAMPLE), "-o", str(out))
    assert first.returncode == 0, first.stderr
    fill(small_tmpfs)
    before = state(out)
    result = run("generate", str(variant(tmp_path, "2027.1.0")), "-o", str(out))
    assert_user_error(result, "No space left on device", "free some space", str(out),
                      "previous output is unchanged")
    assert state(out) == before
    assert leftovers(out) == []


def test_disk_full_on_the_first_run_leaves_nothing(small_tmpfs):
    fill(small_tmpfs)
    out = small_tmpfs / "new" / "out"
    result = run("generate", str(MAIN_EXAMPLE), "-o", str(out))
    assert_user_error(result, "No space left on device", "free some space")
    assert not (small_tmpfs / "new").exists()


def test_read_only_output_is_a_user_error(tmp_path):
    """A read-only bind mount of the output (as root, chmod would not stop the writes)."""
    out = tmp_path / "out"
    generate(MAIN_EXAMPLE, out)
    view = tmp_path / "ro"
    view.mkdir()
    mount_or_skip("--bind", str(out), str(view))
    try:
        mount_or_skip("-o", "remount,bind,ro", str(view))
        before = state(out)
        same = run("generate", str(MAIN_EXAMPLE), "-o", str(view))
        assert same.returncode == 0, same.stderr  # nothing to write: fine on read-only
        result = run("generate", str(variant(tmp_path, "2027.1.0")), "-o", str(view))
        assert_user_error(result, str(view), "Read-only file system", "remount it read-write",
                          "-o")
        assert state(out) == before
    finally:
        subprocess.run(["umount", str(view)], check=False)


def chattr_or_skip(flag: str, path: Path) -> None:
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed (Debian package e2fsprogs)")
    result = subprocess.run(["chattr", flag, str(path)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"chattr {flag} is not supported here: {result.stderr.strip()}")


def test_immutable_output_is_a_user_error(tmp_path):
    out = tmp_path / "out"
    generate(MAIN_EXAMPLE, out)
    before = state(out)
    chattr_or_skip("+i", out)
    try:
        result = run("generate", str(variant(tmp_path, "2027.1.0")), "-o", str(out))
        assert_user_error(result, str(out), "Operation not permitted", "chattr -i")
    finally:
        subprocess.run(["chattr", "-i", str(out)], check=False)
    assert state(out) == before


def test_output_under_a_regular_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder\n")
    result = run("generate", str(MAIN_EXAMPLE), "-o", str(blocker / "out"))
    assert_user_error(result, f"{blocker} is a file, not a folder", "remove or rename",
                      "-o")
    assert blocker.read_text() == "not a folder\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.parametrize("command", ["show", "init"])
def test_writing_into_a_missing_folder(tmp_path, command):
    target = tmp_path / "missing" / "out.txt"
    args = (["show", str(MAIN_EXAMPLE), "-o", str(target)] if command == "show" else
            ["init", "--no-interactive", str(target)])
    result = run(*args)
    assert_user_error(result, str(target), f"the folder {target.parent} does not exist",
                      f"mkdir -p {target.parent}")
    assert not target.parent.exists()


def test_show_output_is_replaced_atomically(tmp_path):
    target = tmp_path / "topology.txt"
    target.write_text("previous\n")
    assert run("show", str(MAIN_EXAMPLE), "-o", str(target)).returncode == 0
    assert "node" in target.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["topology.txt"]


# --- stdout ------------------------------------------------------------------------------

def test_closed_stdout(tmp_path):
    result = subprocess.run(["bash", "-c", f'"{sys.executable}" -m aos_multinode validate '
                             f'"{MAIN_EXAMPLE}" >&-'], capture_output=True, text=True,
                            timeout=60)
    assert_user_error(result, "standard output is closed", "redirect it")


@pytest.mark.parametrize("args", [["schema"], ["validate", str(MAIN_EXAMPLE)],
                                  ["export", "target-system", str(MAIN_EXAMPLE)]])
def test_closed_pipe(args):
    process = subprocess.Popen([sys.executable, "-m", "aos_multinode", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()
    stderr = process.stderr.read().decode()
    process.stderr.close()
    code = process.wait(timeout=60)
    result = subprocess.CompletedProcess(args, code, "", stderr)
    assert_user_error(result, "standard output", "Broken pipe", "redirect it to a file")


# --- two runs at once, Ctrl-C ------------------------------------------------------------

SLOW_RUN = textwrap.dedent("""\
    import pathlib, sys, time
    marker, delay, wait = pathlib.Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    hook = sys.argv[4]
    real = getattr(pathlib.Path, hook)
    done = []
    def slow(self, *args, **kwargs):
        if not done:
            done.append(1)
            marker.write_text("in " + hook)
            time.sleep(delay)
        return real(self, *args, **kwargs)
    setattr(pathlib.Path, hook, slow)
    import aos_multinode.generation.write
    aos_multinode.generation.write.LOCK_WAIT_SECONDS = wait
    sys.argv = ["aos-multinode", *sys.argv[5:]]
    from aos_multinode.cli import main
    main()
""")


def slow_run(tmp_path: Path, name: str, delay: float, wait: float, hook: str, *args: str):
    script = tmp_path / "slow.py"
    script.write_text(SLOW_RUN)
    marker = tmp_path / f"{name}.marker"
    # Ctrl-C as at a terminal: a run started from a background job (CI may be one) inherits
    # SIGINT ignored, and then Python never raises KeyboardInterrupt.
    process = subprocess.Popen([sys.executable, str(script), str(marker), str(delay),
                                str(wait), hook, *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    return process, marker


def wait_for(marker: Path, process) -> None:
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never got there"
        time.sleep(0.05)


def test_second_run_waits_then_names_the_first(tmp_path):
    out = tmp_path / "out"
    generate(MAIN_EXAMPLE, out)
    first, marker = slow_run(tmp_path, "first", 4, 10, "rename", "generate",
                             str(variant(tmp_path, "2027.1.0", "a")), "-o", str(out))
    wait_for(marker, first)  # the first run is in the middle of its swap
    second, _ = slow_run(tmp_path, "second", 0, 0.5, "unlink", "generate",
                         str(variant(tmp_path, "2027.2.0", "b")), "-o", str(out))
    stdout, stderr = second.communicate(timeout=60)
    assert_user_error(subprocess.CompletedProcess([], second.returncode, stdout, stderr),
                      str(out), f"(pid {first.pid})", "is writing this output directory",
                      "wait until it has finished")
    stdout, stderr = first.communicate(timeout=60)
    assert first.returncode == 0, stderr
    assert_output_of(out, variant(tmp_path, "2027.1.0", "a"))


def assert_output_of(out: Path, source: Path) -> None:
    """`out` is exactly what generating `source` there makes."""
    check = run("generate", str(source), "-o", str(out), "--check")
    assert check.returncode == 0, check.stdout + check.stderr


def test_two_concurrent_runs_serialise(tmp_path):
    """Two real runs started together on one output directory: the second waits for the
    first, both succeed, and the result that stands is the one that ran last."""
    out = tmp_path / "out"
    sources = {r: variant(tmp_path, r, r) for r in ("2027.1.0", "2027.2.0")}
    for _ in range(3):
        shutil.rmtree(out, ignore_errors=True)
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        processes = {r: subprocess.Popen([sys.executable, "-m", "aos_multinode", "generate",
                                          str(s), "-o", str(out)], env=env, text=True,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                     for r, s in sources.items()}
        results = {r: p.communicate(timeout=120) for r, p in processes.items()}
        for release, (stdout, stderr) in results.items():
            assert processes[release].returncode == 0, stderr
            assert "Traceback" not in stderr
        # The run that found an empty directory created everything; the other came second.
        firsts = [r for r, (stdout, _) in results.items() if " 0 update," in stdout
                  and "0 create" not in stdout]
        assert len(firsts) == 1, results
        last = next(r for r in results if r not in firsts)
        assert_output_of(out, sources[last])
        assert leftovers(out) == []


@pytest.mark.parametrize("hook", ["rename", "write_bytes"])
def test_ctrl_c_prints_the_documented_message_and_keeps_the_output(tmp_path, hook):
    out = tmp_path / "out"
    generate(MAIN_EXAMPLE, out)
    before = state(out)
    process, marker = slow_run(tmp_path, "run", 30, 10, hook, "generate",
                               str(variant(tmp_path, "2027.1.0")), "-o", str(out))
    wait_for(marker, process)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted; the last good output is untouched" in stderr
    assert "aborted" not in stderr and "Traceback" not in stderr
    assert state(out) == before
    assert leftovers(out) == []


# --- smaller ones ------------------------------------------------------------------------

def test_export_schema_needs_no_unit_config():
    result = run("export", "target-system", "--schema")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["$schema"]
    missing = run("export", "target-system")
    assert_user_error(missing, "UNIT_CONFIG", "--schema")


@pytest.mark.parametrize("columns", ["60", "80", "100"])
def test_help_never_splits_a_command_or_a_name(columns):
    env = {**os.environ, "COLUMNS": columns}
    for command in ["", "validate", "schema", "generate", "pin", "show", "export", "init",
                    "verify"]:
        result = subprocess.run([sys.executable, "-m", "aos_multinode", *command.split(),
                                 "--help"], env=env, capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 0, result.stderr
        text = result.stdout
        for line in text.splitlines():
            assert line.count("`") % 2 == 0, f"{command} --help splits a command: {line!r}"
            assert not line.rstrip().endswith(("-", "aos")) or line.strip().startswith("-"), \
                f"{command} --help splits a name: {line!r}"
        if command == "verify":
            assert "`bitbake -g aos-multinode-image`" in text
            assert "`bitbake -S none aos-multinode-image`" in text
        if command == "":
            assert 'eval "$(_AOS_MULTINODE_COMPLETE=bash_source aos-multinode)"' in text


def test_init_names_the_bad_option_and_writes_nothing(tmp_path):
    result = run("init", "--no-interactive", "--interface", "eth0%", cwd=tmp_path)
    assert_user_error(result, "--interface", "'eth0%'", "'%' is not allowed", "e.g. 'eth0'")
    assert "unit-config.yaml:" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def fake_checkout(tmp_path: Path) -> Path:
    """A copy of the parts of an aos-multinode checkout that make it one, with the
    repository's own generated output."""
    root = tmp_path / "aos-multinode"
    (root / "generator" / "aos_multinode").mkdir(parents=True)
    (root / "examples").mkdir()
    shutil.copy(REPO_ROOT / "setup.cfg", root / "setup.cfg")
    shutil.copy(REPO_ROOT / "generator" / "aos_multinode" / "__init__.py",
                root / "generator" / "aos_multinode" / "__init__.py")
    shutil.copy(MAIN_EXAMPLE, root / "examples" / MAIN_EXAMPLE.name)
    generate(root / "examples" / MAIN_EXAMPLE.name, root, ci=False)
    return root


def test_generate_refuses_the_source_checkout(tmp_path):
    root = fake_checkout(tmp_path)
    before = state(root)
    result = run("generate", str(variant(tmp_path, "2027.1.0")), "-o", ".", cwd=root)
    assert_user_error(result, "is the aos-multinode source checkout", "-o build-config")
    assert state(root) == before
    # The checkout's own output, refreshed as documented, is still allowed.
    own = run("generate", "examples/three-node-ecu.yaml", "-o", ".", "--no-ci", cwd=root)
    assert own.returncode == 0, own.stderr
    assert state(root) == before


def test_guide_does_not_generate_into_the_checkout():
    guide = (REPO_ROOT / "docs" / "user-guide.md").read_text()
    start = guide.index("## Getting started")
    steps = guide[start:guide.index("## ", start + 3)]
    commands = [line for line in steps.splitlines() if line.startswith("    aos-multinode")]
    generate_lines = [line for line in commands if " generate " in line]
    assert generate_lines and all("-o . " not in line for line in generate_lines)
    assert any("-o build-config" in line for line in generate_lines)


def test_build_config_is_ignored_by_git():
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    result = subprocess.run(["git", "check-ignore", "-q", "build-config/kas/node0.yml"],
                            cwd=REPO_ROOT, capture_output=True)
    assert result.returncode == 0, "build-config/ (the README's first command) is not ignored"


def test_manifest_written_first_marks_a_half_built_copy(tmp_path):
    """A copy cut short while it is built is recognisable as the tool's (its manifest comes
    first) and the next run drops it."""
    out = tmp_path / "out"
    generate(MAIN_EXAMPLE, out)
    before = state(out)
    staging = out / f".{LAYER}.aos-new"
    staging.mkdir()
    (staging / MANIFEST).write_bytes((out / LAYER / MANIFEST).read_bytes())
    (staging / "half").write_text("x")
    result = run("generate", str(MAIN_EXAMPLE), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert state(out) == before
