"""Write stage: compare rendered files with the output directory and update it atomically.

The writer owns only what it wrote. Each top-level output directory it writes to
(`meta-aos-multinode/`, `kas/`, ...) holds a manifest of the files it generated there with
their hashes. A run:
  * classifies every file: create, update, identical, delete (a stale file it generated), or
    conflict (a file it did not generate, one edited since, or a link or directory in the
    way; only --force overrides, and never for a directory or a linked parent directory);
  * if anything changes, builds every changed directory beside the old one (a copy with the
    changes applied, foreign files kept), then swaps them all in with renames under a
    journal. An interrupted run leaves the previous output: the next run rolls back a swap
    that has a journal, restores a directory from its `.X.aos-old` copy and drops
    `.X.aos-new` copies. Recovery touches only what this tool made: a journal entry is
    trusted only for the very directories (by inode) the run recorded, and a stray
    `.X.aos-old`/`.X.aos-new` only when it carries the tool's manifest.
Unchanged input changes nothing: no file is rewritten, mtimes stay.

A file planned as the user's (`user_owned`, e.g. kas/include/site.yml) is written only when
nothing is at its path: whatever is there (any content, a link) stays, even with --force. It
is not in the manifest, so it is never a stale file to delete.

Files the user keeps inside an output directory stay the same files: the new directory
holds hard links to them (same inode, owner, mode and links), never copies, unless the file
system cannot link. One run at a time writes an output directory: it holds an flock on the
directory itself (nothing is written for it); a second run waits LOCK_WAIT_SECONDS, then
stops naming the first run's pid. Every OSError while writing becomes an OutputWriteError
that says where, why and what to do; the previous output is left as it was.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from aos_multinode.atomic import OutputWriteError, os_error_text, sync_files, write_file
from aos_multinode.contract import MANIFEST
from aos_multinode.errors import OutputError
from aos_multinode.generation.render import RenderedFile

# Present only while a run swaps directories: JSON naming each directory it swaps with the
# inode of the live directory before the run (null when the run creates it) and the inode of
# the new one, so that recovery only ever touches those very directories.
JOURNAL = ".aos-multinode-swap"
JOURNAL_FORMAT = "aos-multinode/swap/2"
# How long a second run waits for the first one's lock on the output directory.
LOCK_WAIT_SECONDS = 10.0
STATUS_WORDS = ("create", "update", "identical", "delete", "conflict")


@dataclass(frozen=True)
class FileStatus:
    relpath: str
    status: str
    reason: str = ""


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _top(relpath: str) -> str:
    """The output directory a file belongs to (relpaths are normalised, '/'-separated)."""
    return relpath.split("/", 1)[0]


def _staging(out_dir: Path, top: str) -> Path:
    return out_dir / f".{top}.aos-new"


def _backup(out_dir: Path, top: str) -> Path:
    return out_dir / f".{top}.aos-old"


def _read_manifest(directory: Path) -> dict[str, str]:
    try:
        data = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        return {str(k): str(v) for k, v in data.get("files", {}).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def manifest_bytes(files: dict[str, RenderedFile]) -> bytes:
    """Return the manifest of one output directory holding `files` (relpath -> file)."""
    manifest: dict = {"generator": "aos-multinode",
                      "files": {p: _digest(f.content) for p, f in sorted(files.items())
                                if not f.user_owned}}
    nodes = [f.facts for f in files.values() if f.facts is not None]
    if nodes:
        manifest["nodes"] = sorted(nodes, key=lambda facts: (facts["index"], facts["id"]))
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _carries_manifest(directory: Path) -> bool:
    """True when `directory` is a real folder holding this tool's manifest."""
    if directory.is_symlink() or not directory.is_dir():
        return False
    try:
        data = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and data.get("generator") == "aos-multinode"


def _is_empty_dir(directory: Path) -> bool:
    try:
        return not directory.is_symlink() and directory.is_dir() and \
            not any(directory.iterdir())
    except OSError:
        return False


def _inode(path: Path) -> int | None:
    try:
        info = path.lstat()
    except OSError:
        return None
    return info.st_ino if not path.is_symlink() and path.is_dir() else None


def _remove_owned(directory: Path) -> None:
    """Remove a directory this tool made, its manifest last: a removal cut short leaves a
    directory still recognisable as the tool's, which the next run removes."""
    if not directory.is_dir() or directory.is_symlink():
        return
    for entry in sorted(directory.iterdir()):
        if entry.name != MANIFEST:
            _remove(entry)
    with suppress(FileNotFoundError):
        (directory / MANIFEST).unlink()
    directory.rmdir()


def _read_journal(journal: Path) -> list[tuple[str, int | None, int]]:
    """The entries of a journal this tool wrote; none for anything else."""
    try:
        data = json.loads(journal.read_text(encoding="utf-8"))
        if data.get("format") != JOURNAL_FORMAT:
            return []
        entries = []
        for entry in data["swap"]:
            top, old, new = entry["top"], entry["old"], entry["new"]
            if not isinstance(top, str) or top in ("", ".", "..") or "/" in top or \
                    not (old is None or isinstance(old, int)) or not isinstance(new, int):
                return []
            entries.append((top, old, new))
        return entries
    except (OSError, ValueError, UnicodeDecodeError, AttributeError, KeyError, TypeError):
        return []


def recover(out_dir: Path) -> None:
    """Undo what an interrupted run left, so the previous output is what remains.

    With a journal the run died while swapping directories: every directory it names goes
    back to its `.X.aos-old` copy, and one that did not exist before goes away, but only the
    very directories the journal recorded (by inode): a journal this tool did not write
    changes nothing. Without one, a `.X.aos-old` copy carrying the tool's manifest is
    restored only when its directory is missing (otherwise the swap had finished and the
    copy is stale). `.X.aos-new` copies of the tool (its manifest, or empty) are dropped.
    Folders that merely look like these (a user's `.notes.aos-old`) are left alone."""
    if not out_dir.is_dir():
        return
    journal = out_dir / JOURNAL
    if journal.is_file() and not journal.is_symlink():
        for top, old, new in _read_journal(journal):
            live, backup = out_dir / top, _backup(out_dir, top)
            if old is not None and _inode(backup) == old:
                if live.exists() or live.is_symlink():
                    if _inode(live) != new:
                        continue  # not what the run put there: leave both alone
                    _remove_owned(live)
                backup.rename(live)
            elif old is None and _inode(live) == new:
                _remove_owned(live)
            staging = _staging(out_dir, top)
            if _inode(staging) == new:
                _remove_owned(staging)
        journal.unlink()
    for entry in sorted(out_dir.iterdir()):
        name = entry.name
        if name.startswith(".") and name.endswith(".aos-old") and _carries_manifest(entry):
            target = out_dir / name[1:-len(".aos-old")]
            if not target.exists() and not target.is_symlink():
                entry.rename(target)
            else:
                _remove_owned(entry)
        elif name.startswith(".") and name.endswith(".aos-new") and \
                (_carries_manifest(entry) or _is_empty_dir(entry)):
            _remove_owned(entry)


def leftovers(out_dir: Path) -> list[str]:
    """Return what an interrupted run left in `out_dir` (its journal, `.X.aos-old` and
    `.X.aos-new` copies), which the next writing run cleans up with `recover`. The read-only
    modes report them instead: they never write."""
    if not out_dir.is_dir():
        return []
    return sorted(entry.name for entry in out_dir.iterdir()
                  if (entry.name == JOURNAL and entry.is_file() and not entry.is_symlink())
                  or (entry.name.startswith(".")
                      and entry.name.endswith((".aos-old", ".aos-new"))
                      and (_carries_manifest(entry) or (entry.name.endswith(".aos-new")
                                                        and _is_empty_dir(entry)))))


def _obstacle(out_dir: Path, relpath: str, force: bool) -> str | None:
    """Say what keeps `relpath` from being written as a regular file, or return None.

    A link or a file where a directory must be, or a directory where the file must be, is
    never replaced (not even with --force: the writer never writes through a link or
    deletes a directory it did not make). A link where the file must be is replaced only
    with --force; the link's target is left alone."""
    parts = PurePosixPath(relpath).parts
    path = out_dir
    for position, part in enumerate(parts):
        path = path / part
        last = position == len(parts) - 1
        if path.is_symlink():
            if last and force:
                return None
            return ("a symbolic link is in the way" if last else
                    f"{PurePosixPath(*parts[:position + 1])} is a symbolic link; the writer "
                    "does not write through links")
        if not path.exists():
            return None
        if last:
            return "a directory is in the way" if path.is_dir() else (
                None if path.is_file() else "a special file is in the way")
        if not path.is_dir():
            return f"{PurePosixPath(*parts[:position + 1])} is a file, not a directory"
    return None


def classify(out_dir: Path, files: list[RenderedFile], force: bool = False) -> list[FileStatus]:
    """Return one status per planned file and per stale generated file, sorted by path."""
    out_dir = Path(out_dir)
    planned = {f.relpath: f for f in files}
    statuses = []
    manifests: dict[str, dict[str, str]] = {}
    tops = sorted({_top(p) for p in planned})
    for top in tops:
        manifests[top] = _read_manifest(out_dir / top)
    for relpath, rendered in sorted(planned.items()):
        target = out_dir / relpath
        owned = manifests[_top(relpath)].get(relpath)
        if rendered.user_owned:
            statuses.append(_user_file_status(out_dir, relpath))
            continue
        obstacle = _obstacle(out_dir, relpath, force)
        if obstacle:
            statuses.append(FileStatus(relpath, "conflict", obstacle))
            continue
        if target.is_symlink():  # with --force: the link itself is replaced
            statuses.append(FileStatus(relpath, "update"))
            continue
        if not target.exists():
            statuses.append(FileStatus(relpath, "create"))
            continue
        current = target.read_bytes()
        if current == rendered.content and (target.stat().st_mode & 0o777) == rendered.mode:
            statuses.append(FileStatus(relpath, "identical"))
        elif owned is None and not force:
            statuses.append(FileStatus(relpath, "conflict", "exists and was not generated by "
                                       "aos-multinode"))
        elif owned is not None and owned != _digest(current) and not force:
            statuses.append(FileStatus(relpath, "conflict", "was edited since it was generated"))
        else:
            statuses.append(FileStatus(relpath, "update"))
    for top, manifest in manifests.items():
        for relpath, digest in sorted(manifest.items()):
            if relpath in planned or _top(relpath) != top:
                continue
            target = out_dir / relpath
            if _obstacle(out_dir, relpath, False) or target.is_symlink() or \
                    not target.is_file():
                continue  # gone, or no longer a file the writer made: leave it alone
            if digest != _digest(target.read_bytes()) and not force:
                statuses.append(FileStatus(relpath, "conflict", "is no longer generated but was "
                                           "edited; remove it yourself or use --force"))
            else:
                statuses.append(FileStatus(relpath, "delete"))
    return sorted(statuses, key=lambda s: s.relpath)


def _user_file_status(out_dir: Path, relpath: str) -> FileStatus:
    """A user's file: created when nothing is at its path, else left exactly as it is (a
    link too: a team may link one shared file). Its folders are checked as for any file."""
    parts = PurePosixPath(relpath).parts
    for position in range(1, len(parts)):
        folder = PurePosixPath(*parts[:position])
        path = out_dir / folder
        if path.is_symlink():
            return FileStatus(relpath, "conflict", f"{folder} is a symbolic link; the writer "
                              "does not write through links")
        if path.exists() and not path.is_dir():
            return FileStatus(relpath, "conflict", f"{folder} is a file, not a directory")
    target = out_dir / relpath
    if target.exists() or target.is_symlink():
        return FileStatus(relpath, "identical", "yours; never overwritten")
    return FileStatus(relpath, "create", "yours from now on")


def write_tree(out_dir: Path, files: list[RenderedFile], force: bool = False) -> list[FileStatus]:
    """Bring `out_dir` up to date with `files`; return the statuses. Raise OutputError on
    conflicts without writing anything, OutputWriteError when the file system refuses a
    write (the previous output stays as it was)."""
    out_dir = Path(out_dir)
    made: list[Path] = []
    try:
        made = _make_dirs(out_dir)
        with _locked(out_dir):
            return _write_locked(out_dir, files, force)
    except OSError as exc:
        _unmake(made)
        raise OutputWriteError(
            "cannot write the output: "
            + os_error_text(exc, out_dir, "choose another output directory with -o")
            + ". The previous output is unchanged.", exc) from None
    except BaseException:
        _unmake(made)
        raise


def _make_dirs(out_dir: Path) -> list[Path]:
    """Create `out_dir` and its missing parents; return the ones created, outermost first."""
    made = []
    for path in [*reversed(out_dir.parents), out_dir]:
        if path.exists() or path.is_symlink():
            continue
        try:
            path.mkdir()
        except FileExistsError:
            if path.is_dir():   # a concurrent run made it first: theirs, not ours
                continue
            raise
        made.append(path)
    return made


def _unmake(made: list[Path]) -> None:
    """Remove the folders a failed run created, if they are still empty."""
    for path in reversed(made):
        try:
            path.rmdir()
        except OSError:
            return


def _lock_holder(fd: int) -> int | None:
    """The pid holding an flock on the file open as `fd` (Linux /proc/locks), if known."""
    info = os.fstat(fd)
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) < 6 or fields[1] == "->" or fields[1] != "FLOCK":
            continue
        try:
            major, minor, inode = fields[5].split(":")
            if (int(major, 16), int(minor, 16), int(inode)) == \
                    (os.major(info.st_dev), os.minor(info.st_dev), info.st_ino):
                return int(fields[4])
        except ValueError:
            continue
    return None


@contextmanager
def _locked(out_dir: Path):
    """Hold the output directory for this run (an flock on the directory itself: nothing is
    written for it). A second run waits up to LOCK_WAIT_SECONDS, then stops, naming the
    first."""
    fd = os.open(out_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _lock_holder(fd)
                    who = f"(pid {holder}) " if holder else ""
                    raise OutputError(
                        f"{out_dir}: another aos-multinode run {who}is writing this output "
                        f"directory (waited {LOCK_WAIT_SECONDS:g} s); wait until it has "
                        "finished, or stop it, then run again") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


def _write_locked(out_dir: Path, files: list[RenderedFile], force: bool) -> list[FileStatus]:
    recover(out_dir)
    statuses = classify(out_dir, files, force)
    conflicts = [s for s in statuses if s.status == "conflict"]
    if conflicts:
        lines = "\n".join(f"  {out_dir / s.relpath}: {s.reason}" for s in conflicts)
        raise OutputError(f"refusing to overwrite files aos-multinode does not own:\n{lines}\n"
                          "Move them away, or pass --force to replace them.")
    planned = {f.relpath: f for f in files}
    by_top: dict[str, dict[str, RenderedFile]] = {}
    for relpath, rendered in planned.items():
        by_top.setdefault(_top(relpath), {})[relpath] = rendered
    changed = sorted(top for top, top_files in by_top.items()
                     if any(s.status != "identical" for s in statuses if _top(s.relpath) == top)
                     or _manifest_stale(out_dir / top, top_files))
    if not changed:
        return statuses
    staged: dict[str, int] = {}
    try:
        for top in changed:
            _stage(out_dir, top, by_top[top], [s for s in statuses if _top(s.relpath) == top],
                   staged)
        _swap(out_dir, changed, staged)
    finally:
        for top in staged:
            staging = _staging(out_dir, top)
            if _inode(staging) == staged[top]:
                with suppress(OSError):
                    _remove_owned(staging)
    return statuses


def _manifest_stale(live: Path, files: dict[str, RenderedFile]) -> bool:
    try:
        return (live / MANIFEST).read_bytes() != manifest_bytes(files)
    except OSError:
        return True


def _stage(out_dir: Path, top: str, files: dict[str, RenderedFile],
           statuses: list[FileStatus], staged: dict[str, int]) -> None:
    """Build the new `top` directory beside the live one; record its inode in `staged` as
    soon as it exists (the caller removes it when the run fails). Everything the
    run does not change is hard-linked from the live directory: the user's own files stay
    the very same files."""
    live = out_dir / top
    staging = _staging(out_dir, top)
    if staging.exists() or staging.is_symlink():
        if not (_carries_manifest(staging) or _is_empty_dir(staging)):
            raise OutputError(f"{staging} is in the way: aos-multinode builds the new {top}/ "
                              "there, and this is not a copy it made; move it away")
        _remove_owned(staging)
    staging.mkdir()
    staged[top] = staging.lstat().st_ino
    # The manifest first: from now on the copy is recognisably the tool's.
    (staging / MANIFEST).write_bytes(manifest_bytes(files))
    if live.is_dir() and not live.is_symlink():
        _link_tree(live, staging, top_level=True)
    written = []
    for status in statuses:
        target = staging / PurePosixPath(status.relpath).relative_to(top)
        if status.status in ("create", "update"):
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists() or target.is_symlink():
                target.unlink()  # a link to the live file: never write through it
            target.write_bytes(files[status.relpath].content)
            os.chmod(target, files[status.relpath].mode)
            written.append(target)
        elif status.status == "delete":
            target.unlink()
            _prune_empty(target.parent, staging)
    sync_files([*written, staging / MANIFEST])


def _link_tree(source: Path, target: Path, top_level: bool = False) -> None:
    """Fill `target` (an existing folder) with hard links to everything in `source`;
    folders are made anew with the same mode, owner and times. The live manifest is not
    linked: the new one is already there."""
    for entry in sorted(os.scandir(source), key=lambda e: e.name):
        if top_level and entry.name == MANIFEST:
            continue
        destination = target / entry.name
        if entry.is_dir(follow_symlinks=False):
            destination.mkdir()
            _link_tree(Path(entry.path), destination)
            continue
        try:
            os.link(entry.path, destination, follow_symlinks=False)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP,
                                 errno.EACCES):
                raise
            if entry.is_symlink():  # the file system cannot link: copy what we can
                os.symlink(os.readlink(entry.path), destination)
            else:
                shutil.copy2(entry.path, destination, follow_symlinks=False)
            _copy_owner(Path(entry.path), destination)
    shutil.copystat(source, target, follow_symlinks=False)
    _copy_owner(source, target)


def _copy_owner(source: Path, target: Path) -> None:
    info = source.lstat()
    with suppress(OSError):
        os.chown(target, info.st_uid, info.st_gid, follow_symlinks=False)


def _swap(out_dir: Path, tops: list[str], staged: dict[str, int]) -> None:
    """Put every staged directory in place at once: all of them or, after a failure or a
    crash (see `recover`), none."""
    journal = out_dir / JOURNAL
    if journal.exists() or journal.is_symlink():
        _remove(journal)
    entries: list[dict[str, Any]] = [{"top": top, "old": _inode(out_dir / top),
                                      "new": staged[top]} for top in tops]
    write_file(journal, (json.dumps({"format": JOURNAL_FORMAT, "swap": entries}) + "\n")
               .encode("utf-8"), "choose another output directory with -o")
    try:
        for top in tops:
            live = out_dir / top
            if live.exists() or live.is_symlink():
                live.rename(_backup(out_dir, top))
            _staging(out_dir, top).rename(live)
    except BaseException:
        recover(out_dir)
        raise
    journal.unlink()  # the commit point: from here on the new output stands
    for entry in entries:
        backup = _backup(out_dir, entry["top"])
        if entry["old"] is not None and _inode(backup) == entry["old"]:
            with suppress(OSError):  # the output stands; a leftover copy is removed next run
                _remove(backup)


def _prune_empty(directory: Path, root: Path) -> None:
    while directory != root and directory.is_dir() and not any(directory.iterdir()):
        directory.rmdir()
        directory = directory.parent
