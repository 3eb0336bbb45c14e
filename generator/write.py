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
    `.X.aos-new` copies.
Unchanged input changes nothing: no file is rewritten, mtimes stay.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from aos_multinode.errors import OutputError
from aos_multinode.render import RenderedFile

MANIFEST = ".aos-multinode-manifest.json"
# Present only while a run swaps directories: one line per directory it swaps, "NAME 1" when
# the directory existed before the run, "NAME 0" when the run creates it.
JOURNAL = ".aos-multinode-swap"
STATUS_WORDS = ("create", "update", "identical", "delete", "conflict")


@dataclass(frozen=True)
class FileStatus:
    relpath: str
    status: str
    reason: str = ""


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _top(relpath: str) -> str:
    return PurePosixPath(relpath).parts[0]


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
    manifest = {"generator": "aos-multinode",
                "files": {p: _digest(f.content) for p, f in sorted(files.items())}}
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def recover(out_dir: Path) -> None:
    """Undo what an interrupted run left, so the previous output is what remains.

    With a journal the run died while swapping directories: every directory it names goes
    back to its `.X.aos-old` copy, and one that did not exist before goes away. Without one, a `.X.aos-old` copy is restored only when
    its directory is missing (otherwise the swap had finished and the copy is stale).
    `.X.aos-new` copies are always dropped."""
    if not out_dir.is_dir():
        return
    journal = out_dir / JOURNAL
    if journal.is_file():
        for line in journal.read_text(encoding="utf-8").splitlines():
            top, _, existed = line.partition(" ")
            if top in ("", ".", "..") or "/" in top:
                continue
            backup = _backup(out_dir, top)
            if backup.is_dir():
                _remove(out_dir / top)
                backup.rename(out_dir / top)
            elif existed == "0":
                _remove(out_dir / top)
        journal.unlink()
    for entry in sorted(out_dir.iterdir()):
        name = entry.name
        if name.startswith(".") and name.endswith(".aos-old") and entry.is_dir():
            target = out_dir / name[1:-len(".aos-old")]
            if not target.exists() and not target.is_symlink():
                entry.rename(target)
            else:
                shutil.rmtree(entry)
        elif name.startswith(".") and name.endswith(".aos-new") and entry.is_dir():
            shutil.rmtree(entry)


def leftovers(out_dir: Path) -> list[str]:
    """Return what an interrupted run left in `out_dir` (its journal, `.X.aos-old` and
    `.X.aos-new` copies), which the next writing run cleans up with `recover`. The read-only
    modes report them instead: they never write."""
    if not out_dir.is_dir():
        return []
    return sorted(entry.name for entry in out_dir.iterdir()
                  if entry.name == JOURNAL or (entry.name.startswith(".") and entry.is_dir()
                                              and entry.name.endswith((".aos-old", ".aos-new"))))


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


def write_tree(out_dir: Path, files: list[RenderedFile], force: bool = False) -> list[FileStatus]:
    """Bring `out_dir` up to date with `files`; return the statuses. Raise OutputError on
    conflicts without writing anything."""
    out_dir = Path(out_dir)
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
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        for top in changed:
            _stage(out_dir, top, by_top[top], [s for s in statuses if _top(s.relpath) == top])
        _swap(out_dir, changed)
    finally:
        for top in changed:
            _remove(_staging(out_dir, top))
    return statuses


def _manifest_stale(live: Path, files: dict[str, RenderedFile]) -> bool:
    try:
        return (live / MANIFEST).read_bytes() != manifest_bytes(files)
    except OSError:
        return True


def _stage(out_dir: Path, top: str, files: dict[str, RenderedFile],
           statuses: list[FileStatus]) -> None:
    """Build the new `top` directory beside the live one."""
    live = out_dir / top
    staging = _staging(out_dir, top)
    _remove(staging)
    if live.is_dir() and not live.is_symlink():
        shutil.copytree(live, staging, symlinks=True)
    else:
        staging.mkdir()
    written = []
    for status in statuses:
        target = staging / PurePosixPath(status.relpath).relative_to(top)
        if status.status in ("create", "update"):
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists() or target.is_symlink():
                target.unlink()
            target.write_bytes(files[status.relpath].content)
            os.chmod(target, files[status.relpath].mode)
            written.append(target)
        elif status.status == "delete":
            target.unlink()
            _prune_empty(target.parent, staging)
    (staging / MANIFEST).write_bytes(manifest_bytes(files))
    _fsync_files([*written, staging / MANIFEST])


def _swap(out_dir: Path, tops: list[str]) -> None:
    """Put every staged directory in place at once: all of them or, after a failure or a
    crash (see `recover`), none."""
    journal = out_dir / JOURNAL
    existed = {top: (out_dir / top).exists() or (out_dir / top).is_symlink() for top in tops}
    journal.write_text("".join(f"{top} {int(existed[top])}\n" for top in tops),
                       encoding="utf-8")
    _fsync_files([journal])
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
    for top in tops:
        _remove(_backup(out_dir, top))


def _prune_empty(directory: Path, root: Path) -> None:
    while directory != root and directory.is_dir() and not any(directory.iterdir()):
        directory.rmdir()
        directory = directory.parent


def _fsync_files(paths: list[Path]) -> None:
    """Make the new files durable before the directory swap publishes them. A few files are
    synced one by one; many at once with one sync() of the file systems, which costs one
    flush instead of one per file (thousands of fsync calls took most of a large run)."""
    if len(paths) > 32 and hasattr(os, "sync"):
        os.sync()
        return
    for path in paths:
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
