"""Golden trees: the whole output of every example, byte for byte, and the repository's own
generated output (meta-aos-multinode/, kas/, ...) of the bundled main example.

When a change to the generator or templates is deliberate, refresh them and review the
diff:  .venv/bin/python tests/refresh_golden.py   (see its docstring).
"""

from __future__ import annotations

import difflib
import subprocess
import sys
from pathlib import Path

import pytest

from layer_helpers import (EXAMPLES, GOLDEN_DIR, MAIN_EXAMPLE, REPO_ROOT, example_id,
                           generate, load, render, run_cli, tree_files)
from aos_multinode.generation.plan_kas import git_root
from aos_multinode.generation.write import MANIFEST, manifest_bytes

REFRESH = "run: .venv/bin/python tests/refresh_golden.py (and review git diff)"
SHOWN_DIFFS = 3
SHOWN_LINES = 40


def compare_trees(expected: dict, actual: dict, modes=lambda mode: mode) -> list[str]:
    """Describe how `actual` differs from `expected` (relpath -> (bytes, mode)): missing and
    extra files, then unified diffs of the first differing files."""
    report = []
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    if missing:
        report.append("missing: " + ", ".join(missing))
    if extra:
        report.append("not expected: " + ", ".join(extra))
    changed = [p for p in sorted(set(expected) & set(actual)) if expected[p] != actual[p]
               and (expected[p][0] != actual[p][0] or modes(expected[p][1]) !=
                    modes(actual[p][1]))]
    for relpath in changed[:SHOWN_DIFFS]:
        (old, old_mode), (new, new_mode) = expected[relpath], actual[relpath]
        if modes(old_mode) != modes(new_mode):
            report.append(f"{relpath}: mode {oct(old_mode)} expected, got {oct(new_mode)}")
        if old != new:
            diff = list(difflib.unified_diff(
                old.decode(errors="replace").splitlines(),
                new.decode(errors="replace").splitlines(),
                f"expected/{relpath}", f"generated/{relpath}", lineterm="", n=2))
            report.append("\n".join(diff[:SHOWN_LINES] + (["..."] if len(diff) > SHOWN_LINES
                                                             else [])))
    if len(changed) > SHOWN_DIFFS:
        report.append(f"... and {len(changed) - SHOWN_DIFFS} more changed: "
                      + ", ".join(changed[SHOWN_DIFFS:]))
    return report


def executable(mode: int) -> bool:
    """git keeps only whether a file is executable; the checkout's umask sets the rest."""
    return bool(mode & 0o100)


@pytest.mark.parametrize("source", EXAMPLES, ids=example_id)
def test_golden_tree(source, tmp_path):
    out = tmp_path / "out"
    assert git_root(tmp_path) is None, f"{tmp_path} is inside a git work tree: golden " \
        "output is made outside git"
    generate(source, out)
    golden = GOLDEN_DIR / source.stem
    assert golden.is_dir(), f"no golden tree for {source.name}; {REFRESH}"
    report = compare_trees(tree_files(golden), tree_files(out), executable)
    assert not report, f"{source.name}: output differs from {golden}; {REFRESH}\n" + \
        "\n".join(report)


def test_every_golden_tree_has_an_example():
    assert sorted(p.name for p in GOLDEN_DIR.iterdir() if p.is_dir()) == \
        sorted(s.stem for s in EXAMPLES)


def test_generated_modes_are_exact(tmp_path):
    """Written files get exactly the mode planned (scripts 0755, the rest 0644), whatever
    the umask."""
    source = MAIN_EXAMPLE
    out = tmp_path / "out"
    files = render(load(source), out)
    generate(source, out)
    for rendered in files:
        assert (out / rendered.relpath).stat().st_mode & 0o777 == rendered.mode
        assert rendered.mode in (0o644, 0o755)


def test_repository_output_is_current():
    """The repository's meta-aos-multinode/ and kas/ are the output of the bundled main
    example (without CI files: this repository's own CI is .ci/run): `generate --no-ci
    --check` agrees, and so does every byte, mode and manifest."""
    result = run_cli("generate", str(MAIN_EXAMPLE.relative_to(REPO_ROOT)), "-o", ".",
                     "--no-ci", "--check", cwd=REPO_ROOT)
    assert result.returncode == 0, f"the repository's generated output is stale; {REFRESH}" \
        f"\n{result.stdout}{result.stderr}"

    files = render(load(MAIN_EXAMPLE), REPO_ROOT, ci=False)
    expected = {f.relpath: (f.content, f.mode) for f in files}
    tops = sorted({f.relpath.split("/")[0] for f in files})
    for top in tops:
        mine = {p: f for p, f in ((f.relpath, f) for f in files) if p.split("/")[0] == top}
        expected[f"{top}/{MANIFEST}"] = (manifest_bytes(mine), 0o644)
    actual = {}
    for top in tops:
        for relpath, value in tree_files(REPO_ROOT / top).items():
            actual[f"{top}/{relpath}"] = value
    # Files the generator does not own may live beside its output (.github/ of this
    # repository); they are not compared.
    actual = {p: v for p, v in actual.items() if p in expected}
    report = compare_trees(expected, actual, executable)
    assert not report, f"the repository's generated output is stale; {REFRESH}\n" + \
        "\n".join(report)


def test_refresh_script_writes_the_golden_trees(tmp_path):
    """tests/refresh_golden.py, the documented way to refresh, writes exactly the golden
    trees the tests compare with (into a scratch folder here: --into)."""
    script = REPO_ROOT / "tests" / "refresh_golden.py"
    result = subprocess.run([sys.executable, str(script), "--into", str(tmp_path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(e.stem for e in EXAMPLES)
    for example in EXAMPLES:
        assert tree_files(tmp_path / example.stem) == tree_files(GOLDEN_DIR / example.stem), \
            example.stem
