"""The one atomic-write helper: whole files or the previous file, and durability without a
sync() of every file system of the machine."""

from __future__ import annotations

import os

import pytest

from aos_multinode import atomic
from aos_multinode.atomic import OutputWriteError, sync_files, write_file


def test_write_file_replaces_atomically_and_keeps_the_mode(tmp_path):
    target = tmp_path / "pins.json"
    target.write_text("old\n")
    target.chmod(0o600)
    write_file(target, b"new\n")
    assert target.read_bytes() == b"new\n"
    assert target.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pins.json"]


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "topology.svg"
    target.write_bytes(b"previous")

    def refuse(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", refuse)
    with pytest.raises(OutputWriteError, match="No space left on device.*previous file is "
                                               "unchanged"):
        write_file(target, b"next")
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["topology.svg"]


@pytest.mark.parametrize("count", [3, atomic.SYNCFS_THRESHOLD + 5])
def test_sync_files_never_syncs_the_whole_machine(tmp_path, monkeypatch, count):
    paths = []
    for index in range(count):
        paths.append(tmp_path / f"f{index}")
        paths[-1].write_bytes(b"x")

    def machine_wide():
        raise AssertionError("os.sync() flushes every file system of the machine")

    monkeypatch.setattr(os, "sync", machine_wide)
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    sync_files(paths)
    # A few files: one fsync each; many: one syncfs (or, without it, one fsync each).
    assert len(synced) == count or (count > atomic.SYNCFS_THRESHOLD and not synced)
