"""Task signatures BitBake wrote (`bitbake -S none`): the task graph size, the stamps
and the sigdata documents read back (zstd or plain JSON)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Optional

from aos_multinode.verify import sharing
from aos_multinode.verify.sharing import TaskKey

TASK_NODE = re.compile(r'^"(?P<pn>[^"]+)\.(?P<task>do_[\w+-]+)" \[label=')


def task_graph_size(build_dir: Path) -> tuple[Optional[int], Optional[int]]:
    """Return (tasks, recipes) of the task graph `bitbake -g` wrote, or (None, None)."""
    try:
        text = (build_dir / "task-depends.dot").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None, None
    tasks = [m for m in map(TASK_NODE.match, text.splitlines()) if m]
    return len(tasks), len({m["pn"] for m in tasks})


def stamps_dir(build_dir: Path) -> Path:
    return build_dir / "tmp" / "stamps"


def collect_signatures(stamps: Path) -> dict[TaskKey, str]:
    """Return task key -> signature of every sigdata file under `stamps`."""
    if not stamps.is_dir():
        return {}
    relpaths = (path.relative_to(stamps).as_posix() for path in stamps.rglob("*.sigdata.*"))
    return sharing.signatures(relpaths)


def sigdata_path(stamps: Path, key: TaskKey, signature: str) -> Path:
    return stamps / f"{key.stamp}.{key.task}.sigdata.{signature}"


def read_sigdata(paths: list[Path]) -> list[Optional[dict]]:
    """Return the JSON documents of sigdata files (zstd-compressed JSON, as BitBake writes
    them; plain JSON is accepted too), None for a file that cannot be read."""
    out: list[Optional[dict]] = []
    for start in range(0, len(paths), 200):
        out += _read_batch(paths[start:start + 200])
    return out


def _read_batch(paths: list[Path]) -> list[Optional[dict]]:
    zstd = shutil.which("zstd")
    if zstd is None:
        return [_read_plain(path) for path in paths]
    result = subprocess.run([zstd, "-dcq", "--", *map(str, paths)], capture_output=True)
    if result.returncode != 0:
        return [_read_one(zstd, path) for path in paths]
    decoder = json.JSONDecoder()
    text, position = result.stdout.decode("utf-8", "replace"), 0
    docs: list[Optional[dict]] = []
    while len(docs) < len(paths):
        while position < len(text) and text[position].isspace():
            position += 1
        try:
            doc, position = decoder.raw_decode(text, position)
        except ValueError:
            return [_read_one(zstd, path) for path in paths]
        docs.append(doc)
    return docs


def _read_one(zstd: str, path: Path) -> Optional[dict]:
    result = subprocess.run([zstd, "-dcq", "--", str(path)], capture_output=True)
    if result.returncode != 0:
        return _read_plain(path)
    try:
        return json.loads(result.stdout)
    except ValueError:
        return None


def _read_plain(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None

