#!/usr/bin/env python3
"""Refresh the golden trees and the repository's own generated output.

After a deliberate change to the generator or its templates, the golden-tree tests
(tests/test_layer_golden.py) fail and show the difference. When the new output is what you
want, refresh and review:

    .venv/bin/python tests/refresh_golden.py
    git diff --stat tests/golden meta-aos-multinode kas .github .gitlab
    git add tests/golden meta-aos-multinode kas .github .gitlab

It rewrites:
  * tests/golden/<example>/ for every examples/<example>.yaml: the whole output of
    `aos-multinode generate examples/<example>.yaml -o DIR`, generated into a temporary
    folder outside git (kas and CI files name paths relative to the git work tree, so
    output made outside git is the same on every machine);
  * the repository's own output of the bundled main example, exactly as
    `aos-multinode generate examples/three-node-ecu.yaml -o . --no-ci` from the repository root
    (test_layer_golden.py fails when it is stale).

Options: --golden-only / --repo-only to do one of the two; --into DIR writes the golden trees
into DIR instead of tests/golden (and nothing else), e.g. to compare them.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS_DIR))

from layer_helpers import (EXAMPLES, GOLDEN_DIR, MAIN_EXAMPLE, REPO_ROOT,  # noqa: E402
                           generate)


def refresh_golden(golden_dir: Path = GOLDEN_DIR) -> None:
    golden_dir.mkdir(exist_ok=True)
    wanted = {example.stem for example in EXAMPLES}
    for stale in sorted(golden_dir.iterdir()):
        if stale.is_dir() and stale.name not in wanted:
            shutil.rmtree(stale)
            print(f"removed   {stale} (no such example)")
    for example in EXAMPLES:
        with tempfile.TemporaryDirectory(prefix="aos-multinode-golden-") as scratch:
            out = Path(scratch) / "out"
            generate(example, out)
            target = golden_dir / example.stem
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(out, target, symlinks=True)
        count = sum(1 for p in target.rglob("*") if p.is_file())
        print(f"golden    {target}/ ({count} files)")


def refresh_repo() -> None:
    statuses = generate(MAIN_EXAMPLE, REPO_ROOT, ci=False)
    changed = [s for s in statuses if s.status != "identical"]
    for status in changed:
        print(f"{status.status:9} {status.relpath}")
    print(f"repo      {len(changed)} file(s) changed from "
          f"{MAIN_EXAMPLE.relative_to(REPO_ROOT)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--golden-only", action="store_true")
    group.add_argument("--repo-only", action="store_true")
    group.add_argument("--into", type=Path, metavar="DIR",
                       help="write the golden trees into DIR instead (nothing else)")
    args = parser.parse_args()
    if args.into:
        refresh_golden(args.into)
        return 0
    if not args.repo_only:
        refresh_golden()
    if not args.golden_only:
        refresh_repo()
    return 0


if __name__ == "__main__":
    sys.exit(main())
