"""The progress line of `verify`: the only verify output that is written while it runs."""

from __future__ import annotations

import shutil
import sys
from typing import TextIO


class Progress:
    """Progress on a stream: one line rewritten in place on a terminal, plain lines (start,
    every 30 s, end) otherwise. Called as progress(label, step, elapsed, status)."""

    def __init__(self, stream: TextIO = sys.stderr, quiet: bool = False):
        self.stream = stream
        self.tty = stream.isatty()
        self.quiet = quiet
        self.last_plain: dict[tuple, float] = {}

    def __call__(self, label: str, step: str, elapsed: float, status: str) -> None:
        if self.quiet:
            return
        head = f"{label}: {step}"
        final = status == "done" or status.startswith("failed")
        clock = f"{int(elapsed) // 60}:{int(elapsed) % 60:02d}"
        if self.tty:
            width = shutil.get_terminal_size((80, 24)).columns - 1
            text = f"{head}  {clock}  {status}"[:width]     # one line, or \r cannot redo it
            self.stream.write("\r\x1b[K" + text + ("\n" if final else ""))
        elif final:
            self.stream.write(f"{head}: {status} ({elapsed:.0f} s)\n")
        else:
            key = (label, step)
            if key not in self.last_plain or elapsed - self.last_plain[key] >= 30:
                self.last_plain[key] = elapsed
                self.stream.write(f"{head}: running ({clock})\n")
        self.stream.flush()
