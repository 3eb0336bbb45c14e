"""One release for every node: from --release, the Unit Config, or `git describe --tags
--always --dirty` of the repository holding the Unit Config (throwaway repositories here)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aos_multinode.generation.release import sanitize
from kas_helpers import (THREE_NODE, TWO_NODE, commit_all, init_repo, load_yaml, node_ids,
                         run_aos, text_of)
from kas_helpers import git_stays_local  # noqa: F401 (autouse: git reaches local repos only)


def without_release(example: Path, folder: Path) -> Path:
    """A copy of the example in `folder` with no `release:` (so git decides)."""
    text = example.read_text()
    stripped = re.sub(r"^release:.*\n", "", text, flags=re.M)
    assert stripped != text
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / example.name
    target.write_text(stripped)
    return target


def unit_repo(tmp_path: Path, example: Path = THREE_NODE):
    """A git repository holding the example (without release), committed once."""
    repo = init_repo(tmp_path / "repo")
    unit = without_release(example, tmp_path / "repo")
    commit_all(repo, "unit config")
    return repo, unit


def generated_release(out: Path, example: Path) -> set[str]:
    """Every release the output records: node fragments, kas files, CI files."""
    found = set()
    for node in node_ids(example):
        conf = (out / "meta-aos-multinode" / "conf" / "nodes" / f"{node}.conf").read_text()
        found |= set(re.findall(r'^AOS_MULTINODE_RELEASE = "(.*)"$', conf, re.M))
        kas = (out / "kas" / f"{node}.yml").read_text()
        found |= set(re.findall(r"release (\S+):$", kas, re.M))
    for name in ("include/common.yml", "all-nodes.yml"):
        found |= set(re.findall(r"release ([^\s),]+)", (out / "kas" / name).read_text()))
    workflow = load_yaml(out / ".github" / "workflows" / "aos-multinode.yml")
    nodes = node_ids(example)
    for job_id, job in workflow["jobs"].items():
        for step in job["steps"] if job_id.startswith("images-") else []:
            if step.get("uses", "").startswith("actions/upload-artifact"):
                name = step["with"]["name"]  # DEVICE-NODE-RELEASE
                node = next(n for n in nodes if f"-{n}-" in name)
                found.add(name.split(f"-{node}-", 1)[1])
    gitlab = load_yaml(out / ".gitlab" / "ci" / "aos-multinode.yml")
    for job_id, job in gitlab.items():
        for line in job["script"] if job_id.startswith("aos-multinode-images-") else []:
            if line.startswith("mkdir -p deploy/"):  # deploy/DEVICE-NODE-RELEASE
                node = next(n for n in nodes if f"-{n}-" in line)
                found.add(line.split(f"-{node}-", 1)[1])
    return found


def assert_release_everywhere(out: Path, example: Path, release: str) -> None:
    assert generated_release(out, example) == {release}
    image = (out / "meta-aos-multinode" / "recipes-core" / "images" /
             "aos-multinode-image.bb").read_text()
    # The image file name and /etc/os-release take the node fragment's release.
    assert re.search(r"^IMAGE_LINK_NAME = .*\$\{AOS_MULTINODE_RELEASE\}", image, re.M)
    assert "IMAGE_VERSION=" in image and "${AOS_MULTINODE_RELEASE}" in image


def test_release_from_the_unit_config(tmp_path):
    out = tmp_path / "out"
    result = run_aos("generate", THREE_NODE, "-o", out)
    assert result.exit_code == 0, text_of(result)
    assert "(release 2026.11.0)" in result.stdout
    assert_release_everywhere(out, THREE_NODE, "2026.11.0")


def test_release_option_overrides_the_unit_config_and_git(tmp_path):
    repo, unit = unit_repo(tmp_path)
    repo.create_tag("v7.0.0")
    out = tmp_path / "out"
    result = run_aos("generate", unit, "-o", out, "--release", "2027.1.0-rc1")
    assert result.exit_code == 0, text_of(result)
    assert_release_everywhere(out, THREE_NODE, "2027.1.0-rc1")
    result = run_aos("generate", TWO_NODE, "-o", tmp_path / "two", "--release", "9.9.9")
    assert result.exit_code == 0, text_of(result)
    assert_release_everywhere(tmp_path / "two", TWO_NODE, "9.9.9")


@pytest.mark.parametrize("bad", ["1.0/x", "-1", "a b", "x" * 65, "${X}"])
def test_an_unusable_release_option_is_refused(tmp_path, bad):
    out = tmp_path / "out"
    result = run_aos("generate", THREE_NODE, "-o", out, "--release", bad)
    assert result.exit_code == 2
    assert "--release" in result.stderr
    assert not out.exists()


def test_tagged_commit_gives_the_tag(tmp_path):
    repo, unit = unit_repo(tmp_path)
    repo.create_tag("v1.2.3", message="release 1.2.3")
    out = tmp_path / "out"
    result = run_aos("generate", unit, "-o", out)
    assert result.exit_code == 0, text_of(result)
    assert "(release v1.2.3)" in result.stdout
    assert "dirty" not in result.stderr
    assert_release_everywhere(out, THREE_NODE, "v1.2.3")


def test_commits_after_a_tag_are_counted(tmp_path):
    repo, unit = unit_repo(tmp_path)
    repo.create_tag("v1.2.3")
    (unit.parent / "notes.txt").write_text("x\n")
    sha = commit_all(repo, "more")
    out = tmp_path / "out"
    result = run_aos("generate", unit, "-o", out)
    assert result.exit_code == 0, text_of(result)
    short = repo.git.rev_parse("--short", sha)
    assert_release_everywhere(out, THREE_NODE, f"v1.2.3-1-g{short}")


def test_untagged_commit_gives_the_short_sha(tmp_path):
    repo, unit = unit_repo(tmp_path, TWO_NODE)
    out = tmp_path / "out"
    result = run_aos("generate", unit, "-o", out)
    assert result.exit_code == 0, text_of(result)
    short = repo.git.rev_parse("--short", "HEAD")
    assert re.fullmatch(r"[0-9a-f]{7,40}", short)
    assert f"(release {short})" in result.stdout
    assert_release_everywhere(out, TWO_NODE, short)


def test_dirty_tree_is_allowed_warned_about_and_visible(tmp_path):
    repo, unit = unit_repo(tmp_path)
    repo.create_tag("v2.0.0")
    unit.write_text(unit.read_text() + "# a local change\n")
    out = tmp_path / "out"
    result = run_aos("generate", unit, "-o", out)
    assert result.exit_code == 0, text_of(result)
    assert "warning" in result.stderr and "dirty" in result.stderr
    assert "v2.0.0-dirty" in result.stderr
    assert_release_everywhere(out, THREE_NODE, "v2.0.0-dirty")


def test_an_uncommitted_unit_config_counts_as_dirty(tmp_path):
    """`git describe --dirty` ignores untracked files; a release must not name a commit that
    does not hold the Unit Config it was made from."""
    repo = init_repo(tmp_path / "repo")
    (tmp_path / "repo" / "README").write_text("x\n")
    commit_all(repo, "readme")
    repo.create_tag("v3.0.0")
    unit = without_release(THREE_NODE, tmp_path / "repo" / "sub")
    result = run_aos("generate", unit, "-o", tmp_path / "out")
    assert result.exit_code == 0, text_of(result)
    assert "v3.0.0-dirty" in result.stderr
    assert_release_everywhere(tmp_path / "out", THREE_NODE, "v3.0.0-dirty")


def test_generated_output_inside_the_repository_does_not_make_it_dirty(tmp_path):
    """New (untracked) output files are not changes to the commit: regenerating right after
    a clean checkout keeps a clean release."""
    repo, unit = unit_repo(tmp_path)
    repo.create_tag("v4.0.0")
    out = unit.parent / "build-config"
    assert run_aos("generate", unit, "-o", out).exit_code == 0
    result = run_aos("generate", unit, "-o", out)
    assert result.exit_code == 0, text_of(result)
    assert "dirty" not in result.stderr
    assert_release_everywhere(out, THREE_NODE, "v4.0.0")


def test_a_tag_with_a_slash_is_sanitized(tmp_path):
    repo, unit = unit_repo(tmp_path)
    repo.create_tag("release/2026.11")
    out = tmp_path / "out"
    result = run_aos("generate", unit, "-o", out)
    assert result.exit_code == 0, text_of(result)
    assert_release_everywhere(out, THREE_NODE, "release-2026.11")


def test_outside_git_without_a_release_is_a_clear_error_and_writes_nothing(tmp_path):
    unit = without_release(THREE_NODE, tmp_path / "plain")
    out = tmp_path / "out"
    result = run_aos("generate", unit, "-o", out)
    assert result.exit_code == 2
    message = result.stderr
    assert "release" in message and "git" in message
    assert "--release" in message and "release:" in message
    assert "Traceback" not in text_of(result)
    assert not out.exists()


def test_a_repository_without_commits_is_a_clear_error(tmp_path):
    init_repo(tmp_path / "repo")
    unit = without_release(THREE_NODE, tmp_path / "repo")
    out = tmp_path / "out"
    result = run_aos("generate", unit, "-o", out)
    assert result.exit_code == 2
    assert "--release" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("described,expected", [
    ("v1.0", "v1.0"),
    ("release/1.0", "release-1.0"),
    ("v1.0-3-gabc1234-dirty", "v1.0-3-gabc1234-dirty"),
    ("/weird tag:1", "weird-tag-1"),
    ("abc" * 30, ("abc" * 30)[:64]),
])
def test_sanitize(described, expected):
    assert sanitize(described) == expected
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+~-]{0,63}", sanitize(described))
