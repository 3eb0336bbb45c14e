#!/usr/bin/env python3
"""How long `.ci/run` takes on a clean clone, and what its real-BitBake tests cost.

Clones the current commit of this repository into a new folder beside it (so `../shared`
is found as in CI; the log goes to a temporary folder), runs `bash .ci/run` there with CI=true as CI does, and reports the wall
time of the whole run, of the bootstrap, and of each test of tests/test_bitbake_real.py
(from pytest's report of durations), plus the counts pytest printed:

    benchmarks/ci_bench.py [--keep] [--json-out FILE]

Run it on an otherwise idle machine: the figures are for the machine as it is (docs/
benchmarks.md says which run produced each one). Needs root, as CI (BitBake then runs as
the user `aosbuild` the tests create).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DURATION = re.compile(r"^(?P<seconds>[\d.]+)s (?P<phase>call|setup|teardown)\s+"
                      r"(?P<test>tests/\S+)$", re.M)
SUMMARY = re.compile(r"^=*\s*(?P<summary>\d+ (?:passed|failed)[^=]*?)\s*=*$", re.M)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the clone and its log")
    parser.add_argument("--json-out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()

    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()
    # As CI: the clone sits beside ../shared (the layer snapshots, the shared examples).
    clone = Path(tempfile.mkdtemp(prefix="ci-bench-", dir=ROOT.parent))
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    log = Path(tempfile.mkdtemp(prefix="ci-bench-log-")) / "ci.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTEST"))}
    env["CI"] = "true"
    start = time.monotonic()
    with open(log, "w", encoding="utf-8") as handle:
        code = subprocess.run(["bash", ".ci/run"], cwd=clone, env=env,
                              stdout=handle, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL).returncode
    seconds = time.monotonic() - start
    text = log.read_text(encoding="utf-8", errors="replace")
    bootstrap = re.search(r"ci: bootstrap took (\d+) s", text)
    real = [{"test": m["test"], "phase": m["phase"], "seconds": float(m["seconds"])}
            for m in DURATION.finditer(text) if "test_bitbake_real" in m["test"]]
    summary = SUMMARY.findall(text)
    result = {"commit": commit, "exit_code": code, "seconds": round(seconds),
              "bootstrap_seconds": int(bootstrap[1]) if bootstrap else None,
              "pytest_summary": summary[-1] if summary else None,
              "real_bitbake_durations": real, "log": str(log) if args.keep else None}
    print(json.dumps(result, indent=2))
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if not args.keep:
        shutil.rmtree(clone, ignore_errors=True)
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
