"""Writing files so that a reader never sees half of one: every file aos-multinode writes
goes through here (`write_file`: a temporary file beside it, fsync, rename), and the
directory swap of `generation.write` makes its staged files durable with `sync_files`.
Every OSError becomes an OutputWriteError that says where, why and what to do."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import os
from contextlib import suppress
from pathlib import Path

from aos_multinode.errors import OutputError

# More files than this are made durable with one syncfs() of their file system instead of
# one fsync() each (thousands of fsync calls took most of a large run).
SYNCFS_THRESHOLD = 32


class OutputWriteError(OutputError):
    """The file system refused a write (full, read-only, immutable, a file in the way...)."""

    def __init__(self, message: str, cause: OSError | None = None):
        super().__init__(message)
        self.cause = cause


def _first_non_directory(path: Path) -> Path | None:
    for parent in [*reversed(path.parents), path]:
        if parent.exists() and not parent.is_dir():
            return parent
    return None


def os_error_text(exc: OSError, target: Path | str | None = None,
                  what: str = "choose another output location") -> str:
    """Say what an OSError means for a path: `PATH: cause; fix`."""
    path = Path(exc.filename) if exc.filename else (Path(target) if target else None)
    cause = exc.strerror or str(exc)
    code = exc.errno
    if code in (errno.ENOTDIR, errno.EEXIST) and path is not None and \
            _first_non_directory(path) is not None:
        blocker = _first_non_directory(path)
        return (f"{path}: {blocker} is a file, not a folder; remove or rename {blocker}, or "
                f"{what}")
    if code == errno.ENOENT and path is not None and not path.parent.exists():
        return (f"{path}: the folder {path.parent} does not exist; create it first "
                f"(mkdir -p {path.parent}), or {what}")
    fixes = {
        errno.ENOSPC: "the file system is full: free some space (df -h shows where), then "
                      "run again",
        errno.EDQUOT: "your disk quota is used up: free some space, then run again",
        errno.EROFS: f"the file system is mounted read-only: remount it read-write, or {what}",
        errno.EPERM: "writing is not permitted: the file or folder may be immutable "
                     f"(lsattr -d shows the 'i' flag; chattr -i clears it), or {what}",
        errno.EACCES: f"permission denied: fix the permissions (ls -ld), or {what}",
        errno.ENOENT: f"check the path, or {what}",
        errno.EISDIR: f"a folder is in the way: move it, or {what}",
    }
    fix = fixes.get(code if code is not None else -1,
                    f"check the path and the file system, or {what}")
    return f"{path if path is not None else '?'}: {cause}; {fix}"


def write_file(path: Path | str, data: bytes,
               what: str = "choose another file with -o") -> None:
    """Write one file atomically (a temporary file beside it, then a rename): a failed or
    interrupted write leaves the previous file. Raise OutputWriteError saying where, why and
    what to do."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.aos-tmp-{os.getpid()}")
    try:
        try:
            with open(temporary, "xb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            if path.is_file() and not path.is_symlink():
                os.chmod(temporary, path.stat().st_mode & 0o7777)
            os.replace(temporary, path)
        except BaseException:
            with suppress(OSError):
                temporary.unlink()
            raise
    except OSError as exc:
        if exc.filename in (None, str(temporary)):
            exc.filename = str(path)
        raise OutputWriteError(f"cannot write {os_error_text(exc, path, what)}"
                               + (". The previous file is unchanged." if path.exists() else ""),
                               exc) from None


def sync_files(paths: list[Path]) -> None:
    """Make `paths` durable before a rename publishes them: one fsync per file, or for many
    files one syncfs() of the file system holding them (Linux), never a sync() of every file
    system of the machine."""
    if len(paths) > SYNCFS_THRESHOLD and _syncfs(paths[0]):
        return
    for path in paths:
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())


def _syncfs(path: Path) -> bool:
    """Flush the file system holding `path`; return False where syncfs() is unavailable."""
    syncfs = getattr(_libc(), "syncfs", None)
    if syncfs is None:
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        return syncfs(fd) == 0
    finally:
        os.close(fd)


@functools.lru_cache(maxsize=1)
def _libc():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name, use_errno=True) if name else None
    except OSError:
        return None
