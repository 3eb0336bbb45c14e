"""Output that works wherever it lands, and the team's own kas file.

kas resolves the generated layer and the includes from the root of the repository holding
the kas files (the git work tree, else the kas folder). `generate` makes output that is not
inside git a repository of its own, so committing it later changes nothing; --no-git-init
skips that and warns; kas files written for another root are reported by `generate` and
`--check`. kas/include/site.yml is created once and then the user's.
(Real kas checkouts of these layouts: test_kas_checkout.py.)
"""

from __future__ import annotations

import shutil
from pathlib import Path

import git
import yaml

from aos_multinode.generation.plan_kas import git_root
from layer_helpers import LAYER, MAIN_EXAMPLE, run_cli, snapshot

SITE = "kas/include/site.yml"


def layer_path(out: Path) -> str:
    common = yaml.safe_load((out / "kas" / "include" / "common.yml").read_text())
    (layer,) = common["repos"]["aos-multinode"]["layers"]
    return layer


def test_output_outside_git_becomes_a_repository_and_committing_it_changes_nothing(tmp_path):
    out = tmp_path / "out"
    assert git_root(tmp_path) is None
    made = run_cli("generate", str(MAIN_EXAMPLE), "-o", str(out))
    assert made.returncode == 0, made.stderr
    assert "made" in made.stderr and "git repository" in made.stderr
    assert git_root(out / "kas") == out.resolve()
    assert layer_path(out) == LAYER  # from the repository's root: out itself
    assert not git.Repo(out).head.is_valid()  # no commit: what to commit stays the user's
    repo = git.Repo(out)
    repo.git.add("-A")
    repo.git.commit("-q", "-m", "output", "--author", "t <t@example.com>",
                    env={"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"})
    again = run_cli("generate", str(MAIN_EXAMPLE), "-o", str(out), "--check")
    assert again.returncode == 0, again.stdout + again.stderr
    # Moved elsewhere, the repository moves with it: still current.
    moved = tmp_path / "elsewhere" / "deeper" / "out"
    moved.parent.mkdir(parents=True)
    shutil.move(str(out), moved)
    assert run_cli("generate", str(MAIN_EXAMPLE), "-o", str(moved), "--check").returncode == 0


def test_output_inside_a_repository_is_not_made_one(tmp_path):
    git.Repo.init(tmp_path)
    out = tmp_path / "sub" / "out"
    result = run_cli("generate", str(MAIN_EXAMPLE), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert not (out / ".git").exists() and "git repository" not in result.stderr
    assert layer_path(out) == f"sub/out/{LAYER}"


def test_no_git_init_warns_and_a_later_git_init_is_reported(tmp_path):
    out = tmp_path / "out"
    plain = run_cli("generate", str(MAIN_EXAMPLE), "-o", str(out), "--no-git-init")
    assert plain.returncode == 0, plain.stderr
    assert not (out / ".git").exists()
    assert "not in a git repository (--no-git-init)" in plain.stderr
    assert "breaks them until you run" in plain.stderr
    assert layer_path(out) == f"../{LAYER}"
    assert run_cli("generate", str(MAIN_EXAMPLE), "-o", str(out), "--check",
                   "--no-git-init").returncode == 0
    # The trap: the user makes the folder a repository afterwards.
    git.Repo.init(out)
    check = run_cli("generate", str(MAIN_EXAMPLE), "-o", str(out), "--check", "--no-git-init")
    assert check.returncode == 1
    assert f"name the layer as ../{LAYER}" in check.stderr
    assert f"needs {LAYER}" in check.stderr and "--no-git-init" in check.stderr
    before = snapshot(out)
    fixed = run_cli("generate", str(MAIN_EXAMPLE), "-o", str(out))
    assert fixed.returncode == 0, fixed.stderr
    assert "put into or out of git, or moved" in fixed.stderr
    assert "update    kas/include/common.yml" in fixed.stdout
    assert layer_path(out) == LAYER
    assert snapshot(out) != before
    assert "put into or out of git" not in run_cli(
        "generate", str(MAIN_EXAMPLE), "-o", str(out)).stderr


def test_check_and_dry_run_never_make_a_repository(tmp_path):
    out = tmp_path / "out"
    dry = run_cli("generate", str(MAIN_EXAMPLE), "-o", str(out), "--dry-run")
    assert dry.returncode == 0 and "would make" in dry.stderr
    assert run_cli("generate", str(MAIN_EXAMPLE), "-o", str(out), "--check").returncode == 1
    assert not out.exists()


def test_a_rejected_run_makes_no_repository(tmp_path):
    out = tmp_path / "out"
    (out / "kas").mkdir(parents=True)
    (out / "kas" / "main.yml").write_text("mine\n")
    result = run_cli("generate", str(MAIN_EXAMPLE), "-o", str(out))
    assert result.returncode == 2 and "does not own" in result.stderr
    assert not (out / ".git").exists()


# --- kas/include/site.yml: the team's own ---------------------------------------------

def test_the_site_file_is_created_once_and_never_overwritten(tmp_path):
    out = tmp_path / "out"
    assert run_cli("generate", str(MAIN_EXAMPLE), "-o", str(out)).returncode == 0
    site = out / SITE
    assert yaml.safe_load(site.read_text()) == {"header": {"version": 14}}
    assert "site.yml" not in (out / "kas" / ".aos-multinode-manifest.json").read_text()
    mine = "header:\n  version: 14\nenv:\n  DL_DIR: /srv/dl\n"
    site.write_text(mine)
    before = snapshot(out)
    for extra in ([], ["--force"]):
        result = run_cli("generate", str(MAIN_EXAMPLE), "-o", str(out), *extra)
        assert result.returncode == 0, result.stderr
        assert "0 create, 0 update, 0 delete" in result.stdout
    assert site.read_text() == mine and snapshot(out) == before
    check = run_cli("generate", str(MAIN_EXAMPLE), "-o", str(out), "--check")
    assert check.returncode == 0, check.stdout + check.stderr
    # Removing a node (stale files deleted) keeps it.
    data = yaml.safe_load(MAIN_EXAMPLE.read_text())
    data["nodes"] = [n for n in data["nodes"] if n["id"] != "rt0"]
    del data["roles"]["rt"]
    smaller = tmp_path / "smaller.yaml"
    smaller.write_text(yaml.safe_dump(data, sort_keys=False))
    result = run_cli("generate", str(smaller), "-o", str(out))
    assert result.returncode == 0 and "delete    kas/rt0.yml" in result.stdout
    assert site.read_text() == mine


def test_a_deleted_site_file_comes_back_as_the_template(tmp_path):
    out = tmp_path / "out"
    assert run_cli("generate", str(MAIN_EXAMPLE), "-o", str(out)).returncode == 0
    template = (out / SITE).read_bytes()
    (out / SITE).unlink()
    check = run_cli("generate", str(MAIN_EXAMPLE), "-o", str(out), "--check")
    assert check.returncode == 1 and SITE in check.stdout  # every kas file includes it
    result = run_cli("generate", str(MAIN_EXAMPLE), "-o", str(out))
    assert result.stdout.splitlines()[0] == f"create    {SITE}"
    assert (out / SITE).read_bytes() == template


def test_a_linked_site_file_is_kept(tmp_path):
    """A team may share one site file between devices with a link."""
    shared = tmp_path / "team-site.yml"
    shared.write_text("header:\n  version: 14\n")
    out = tmp_path / "out"
    (out / "kas" / "include").mkdir(parents=True)
    (out / SITE).symlink_to(shared)
    result = run_cli("generate", str(MAIN_EXAMPLE), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert (out / SITE).is_symlink() and (out / SITE).resolve() == shared
    assert shared.read_text() == "header:\n  version: 14\n"


def test_a_link_above_the_site_file_is_still_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    (out / "kas").mkdir(parents=True)
    (out / "kas" / "include").symlink_to(elsewhere)
    result = run_cli("generate", str(MAIN_EXAMPLE), "-o", str(out))
    assert result.returncode == 2 and "symbolic link" in result.stderr
    assert not any(elsewhere.iterdir())
