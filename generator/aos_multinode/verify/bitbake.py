"""Running BitBake: a clean environment, the subprocess with its output read as it
comes, stopping it and its server on a signal."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, TextIO

from aos_multinode.verify.host import UTF8
from aos_multinode.verify.layer import VerifyError

# --- running BitBake ----------------------------------------------------------------------

@dataclass
class Step:
    """One BitBake command for one node."""

    command: list[str]
    exit_code: int
    seconds: float
    output: list[str]
    log: Optional[Path] = None

    def as_dict(self) -> dict:
        return {"command": " ".join(self.command), "exit_code": self.exit_code,
                "seconds": round(self.seconds, 1), "log": str(self.log) if self.log else None}


ProgressFn = Callable[[str, str, float, str], None]


def clean_environment(bitbake: Path, build_dir: Path) -> dict[str, str]:
    """Return the environment BitBake runs in (as `env -i` plus the basics): PATH with
    BitBake's bin first (and no virtualenv), HOME, USER, en_US.UTF-8, BUILDDIR."""
    venv = os.environ.get("VIRTUAL_ENV")
    path = [p for p in os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(":")
            if p and not (venv and p.startswith(venv))]
    env = {"PATH": ":".join([str(bitbake / "bin"), *path]), "LANG": UTF8, "LC_ALL": UTF8,
           "HOME": os.environ.get("HOME", str(Path.home())), "BUILDDIR": str(build_dir),
           "SHELL": "/bin/sh"}
    for name in ("USER", "LOGNAME"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def run_bitbake(args: list[str], build_dir: Path, bitbake: Path,
                tick: Callable[[float, str], None]) -> Step:
    """Run `bitbake ARGS` in `build_dir`; call tick(elapsed, last line) about every second;
    return the step with its output. Ctrl-C stops BitBake (and its server) first."""
    command = [str(bitbake / "bin" / "bitbake"), *args]
    start = time.monotonic()
    try:
        process = subprocess.Popen(command, cwd=build_dir, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   env=clean_environment(bitbake, build_dir), text=True,
                                   encoding="utf-8", errors="replace", start_new_session=True)
    except OSError as exc:
        raise VerifyError(f"cannot run {command[0]}: {exc.strerror}") from None
    output: list[str] = []
    reader = threading.Thread(target=_read_lines, args=(process.stdout, output), daemon=True)
    reader.start()
    try:
        while process.poll() is None:
            tick(time.monotonic() - start, output[-1].strip() if output else "")
            time.sleep(0.5)
    except KeyboardInterrupt:
        stop(process)
        wait_for_server(build_dir)
        raise
    reader.join()
    wait_for_server(build_dir)
    return Step(["bitbake", *args], process.returncode, time.monotonic() - start, output)


def _read_lines(stream: TextIO, into: list[str]) -> None:
    """Append every line of `stream` to `into` as it arrives."""
    for line in stream:
        into.append(line)


def stop(process: subprocess.Popen) -> None:
    """Stop BitBake as Ctrl-C does (SIGINT to its process group), then harder."""
    for sig, grace in ((signal.SIGINT, 30), (signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_for_server(build_dir: Path, timeout: float = 60.0) -> bool:
    """Wait until no BitBake server holds BUILD_DIR/bitbake.lock; return True when free.
    BitBake's server leaves a few seconds after its client: verify never leaves one."""
    import fcntl

    lock = build_dir / "bitbake.lock"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            # Read-only: never create the lock (as root it would lock out the build user).
            with open(lock) as handle:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(handle, fcntl.LOCK_UN)
                return True
        except FileNotFoundError:
            return True
        except OSError:
            time.sleep(0.5)
    return False

@contextmanager
def interruptible():
    """While BitBake runs, SIGTERM (and SIGINT, even where a shell ignored it for a
    background job) raise KeyboardInterrupt, so that BitBake is stopped, not orphaned."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    saved = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)

