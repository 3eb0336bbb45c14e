"""The pins table and `aos-multinode pin`, against local repositories with known branch heads
and annotated tags (never the internet)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from aos_multinode.generation.pins import (PinsError, aos_commit, check_pins, git_ls_remote, load_pins,
                                refresh_pins, shipped_pins)
from kas_helpers import (THREE_NODE, TWO_NODE, commit_all, init_repo, load_yaml, local_pins,
                         read_json, run_aos, text_of, upstreams)
from kas_helpers import git_stays_local  # noqa: F401 (autouse: git reaches local repos only)

__all__ = ["local_pins", "upstreams"]  # fixtures used by name

SHA = re.compile(r"^[0-9a-f]{40}$")


def common_repos(out: Path) -> dict:
    return load_yaml(out / "kas" / "include" / "common.yml")["repos"]


def with_aos_version(tmp_path: Path, version: str) -> Path:
    text = THREE_NODE.read_text().replace("aos:\n  enabled: true\n",
                                          f"aos:\n  enabled: true\n  version: \"{version}\"\n")
    assert f'version: "{version}"' in text
    unit = tmp_path / "unit.yaml"
    unit.write_text(text)
    return unit


# --------------------------------------------------------------------------- the shipped table

def test_the_shipped_table_is_well_formed():
    table = shipped_pins()
    assert check_pins(table) == []
    assert set(table["releases"]) == {"scarthgap", "wrynose"}
    assert set(table["releases"]["scarthgap"]["repos"]) == {
        "poky", "meta-openembedded", "meta-virtualization", "meta-selinux"}
    assert set(table["releases"]["wrynose"]["repos"]) == {
        "bitbake", "openembedded-core", "meta-yocto", "meta-openembedded"}
    assert table["releases"]["wrynose"]["repos"]["bitbake"]["branch"] == "2.18"
    for release in table["releases"].values():
        for repo in release["repos"].values():
            # The upstream homes, not mirrors (facts.md).
            assert repo["url"].startswith(("https://git.yoctoproject.org/",
                                           "https://git.openembedded.org/"))
    assert "v9.1.1" in table["meta-aos"]["tags"]


# --------------------------------------------------------------------------- pin

def test_pin_records_branch_heads_and_peeled_tag_commits(upstreams, local_pins):
    table = read_json(local_pins)
    assert check_pins(table) == []
    shipped = shipped_pins()
    for release, entry in table["releases"].items():
        for name, repo in entry["repos"].items():
            assert repo["commit"] == upstreams.branches[name][repo["branch"]], (release, name)
            # Only the commit moves: URLs and branches stay the upstream ones.
            assert repo["url"] == shipped["releases"][release]["repos"][name]["url"]
            assert repo["branch"] == shipped["releases"][release]["repos"][name]["branch"]
    for tag, commit in table["meta-aos"]["tags"].items():
        # The commit the annotated tag names, not the tag object, not the branch head.
        assert commit == upstreams.aos_tags[tag]
        assert commit != upstreams.aos_tag_objects[tag]
        assert commit != upstreams.branches["meta-aos"]["main"]
    assert table["meta-aos"]["url"] == shipped["meta-aos"]["url"]


def test_generate_uses_the_refreshed_table(tmp_path, upstreams, local_pins):
    out = tmp_path / "out"
    result = run_aos("generate", THREE_NODE, "-o", out, "--pins", local_pins)
    assert result.exit_code == 0, text_of(result)
    repos = common_repos(out)
    assert repos["poky"]["commit"] == upstreams.branches["poky"]["scarthgap"]
    assert repos["meta-aos"]["commit"] == upstreams.aos_tags["v9.1.1"]


def test_pin_writes_to_stdout_by_default(upstreams):
    result = run_aos("pin", "--release", "wrynose", "--aos-version", "v9.1.0",
                     *upstreams.sources())
    assert result.exit_code == 0, text_of(result)
    table = json.loads(result.stdout)
    assert check_pins(table) == []
    shipped = shipped_pins()
    # Only what was asked moved.
    assert table["releases"]["scarthgap"] == shipped["releases"]["scarthgap"]
    assert table["releases"]["wrynose"]["repos"]["bitbake"]["commit"] == \
        upstreams.branches["bitbake"]["2.18"]
    assert table["meta-aos"]["tags"]["v9.1.0"] == upstreams.aos_tags["v9.1.0"]
    assert table["meta-aos"]["tags"]["v9.1.1"] == shipped["meta-aos"]["tags"]["v9.1.1"]


def test_pin_is_stable(upstreams, local_pins, tmp_path):
    """Pinning again against unchanged remotes gives the same file, byte for byte."""
    again = tmp_path / "again.json"
    result = run_aos("pin", "--pins", local_pins, *upstreams.sources(), "-o", again)
    assert result.exit_code == 0, text_of(result)
    assert again.read_bytes() == Path(local_pins).read_bytes()


def test_pin_follows_a_moved_branch(tmp_path):
    repo = init_repo(tmp_path / "meta-openembedded", "scarthgap")
    first = commit_all(repo, "one")
    table = refresh_pins(shipped_pins(), ["scarthgap"], [], {}, ls_remote=lambda url, ref: (
        first if ref == "refs/heads/scarthgap" else None))
    assert {r["commit"] for r in table["releases"]["scarthgap"]["repos"].values()} == {first}
    second = commit_all(repo, "two")
    assert git_ls_remote(str(tmp_path / "meta-openembedded"), "refs/heads/scarthgap") == second


def test_ls_remote_takes_exact_ref_names_only(tmp_path):
    """git ls-remote matches patterns against the tail of ref names; a branch called
    x/refs/tags/v1 must not be taken for the tag v1, lightweight or annotated."""
    repo = init_repo(tmp_path / "r")
    tagged = commit_all(repo, "tagged")
    repo.create_tag("v1")                       # lightweight
    repo.create_tag("v2", message="annotated")  # annotated
    decoy = commit_all(repo, "decoy")
    repo.git.branch("x/refs/tags/v1")
    repo.git.branch("x/refs/tags/v2")
    assert decoy != tagged
    url = str(tmp_path / "r")
    assert git_ls_remote(url, "refs/tags/v1") == tagged
    assert git_ls_remote(url, "refs/tags/v2") == tagged
    assert git_ls_remote(url, "refs/heads/main") == decoy
    assert git_ls_remote(url, "refs/tags/v3") is None


def test_pin_resolves_a_meta_aos_branch_too(upstreams, tmp_path):
    result = run_aos("pin", "--release", "scarthgap", "--aos-version", "main",
                     *upstreams.sources())
    assert result.exit_code == 0, text_of(result)
    assert json.loads(result.stdout)["meta-aos"]["tags"]["main"] == \
        upstreams.branches["meta-aos"]["main"]


def test_pin_unknown_branch_is_a_clear_error(upstreams, tmp_path):
    table = shipped_pins()
    table["releases"]["scarthgap"]["repos"]["meta-selinux"]["branch"] = "no-such-branch"
    start = tmp_path / "start.json"
    start.write_text(json.dumps(table))
    out = tmp_path / "pins.json"
    result = run_aos("pin", "--pins", start, "--release", "scarthgap", *upstreams.sources(),
                     "-o", out)
    assert result.exit_code == 2
    assert "no-such-branch" in result.stderr and "not found" in result.stderr
    assert str(upstreams.paths["meta-selinux"]) in result.stderr
    assert "Traceback" not in text_of(result)
    assert not out.exists()


def test_pin_unknown_tag_is_a_clear_error(upstreams, tmp_path):
    result = run_aos("pin", "--release", "scarthgap", "--aos-version", "v0.0.1",
                     *upstreams.sources())
    assert result.exit_code == 2
    assert "v0.0.1" in result.stderr
    assert result.stdout == ""


def test_pin_source_that_is_no_repository(upstreams, tmp_path):
    sources = [s if not s.startswith("poky=") else f"poky={tmp_path / 'nothing'}"
               for s in upstreams.sources()]
    result = run_aos("pin", "--release", "scarthgap", *sources)
    assert result.exit_code == 2
    assert "ls-remote failed" in result.stderr
    assert "Traceback" not in text_of(result)


def test_pin_rejects_a_source_for_a_repository_it_does_not_know():
    """A typo in --source would otherwise go unnoticed (and ask the internet instead)."""
    result = run_aos("pin", "--release", "scarthgap", "--source", "pokyy=/tmp/x")
    assert result.exit_code == 2
    assert "pokyy" in result.stderr and "--source" in result.stderr
    assert "poky" in result.stderr.split("known:")[1]


@pytest.mark.parametrize("source", ["poky", "=/tmp/x", "poky="])
def test_pin_rejects_a_malformed_source(source):
    result = run_aos("pin", "--source", source)
    assert result.exit_code == 2
    assert "NAME=URL" in result.stderr


def test_pin_to_an_unwritable_place(upstreams, tmp_path):
    result = run_aos("pin", *upstreams.sources(), "-o", tmp_path / "missing" / "pins.json")
    assert result.exit_code == 2
    assert "Traceback" not in text_of(result)
    assert "pins.json" in result.stderr


# --------------------------------------------------------------------------- corrupt tables

CORRUPT = {
    "not-json": "{ this is not json",
    "a-list": "[]",
    "wrong-format": json.dumps({"format": 2, "releases": {}}),
    "releases-a-list": json.dumps({"format": 1, "releases": []}),
    "repos-a-string": json.dumps({"format": 1, "releases": {"scarthgap": {"repos": "x"}}}),
    "repo-a-string": json.dumps({"format": 1, "releases": {"scarthgap": {"repos": {"poky": "x"}}}}),
    "short-sha": json.dumps({"format": 1, "releases": {"scarthgap": {"repos": {"poky": {
        "url": "u", "branch": "b", "commit": "1d54d1c"}}}}}),
    "no-branch": json.dumps({"format": 1, "releases": {"scarthgap": {"repos": {"poky": {
        "url": "u", "commit": "1" * 40}}}}}),
    "tags-a-list": json.dumps({"format": 1, "releases": {},
                               "meta-aos": {"url": "u", "tags": ["v1"]}}),
    "aos-without-url": json.dumps({"format": 1, "releases": {},
                                   "meta-aos": {"tags": {"v9.1.1": "5" * 40}}}),
}


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_a_corrupt_pins_file_is_refused(tmp_path, name):
    pins = tmp_path / "pins.json"
    pins.write_text(CORRUPT[name])
    out = tmp_path / "out"
    result = run_aos("generate", THREE_NODE, "-o", out, "--pins", pins)
    assert result.exit_code == 2, text_of(result)
    assert str(pins) in result.stderr
    assert "Traceback" not in text_of(result)
    assert not out.exists()
    result = run_aos("pin", "--pins", pins, "--source", "poky=/nonexistent")
    assert result.exit_code == 2
    assert str(pins) in result.stderr


def test_invalid_json_message_names_the_file_to_regenerate(tmp_path):
    pins = tmp_path / "pins.json"
    pins.write_text("{")
    with pytest.raises(PinsError) as raised:
        load_pins(pins)
    assert f"aos-multinode pin -o {pins}" in str(raised.value)


def test_a_missing_pins_file_is_refused(tmp_path):
    result = run_aos("generate", THREE_NODE, "-o", tmp_path / "out", "--pins",
                     tmp_path / "nope.json")
    assert result.exit_code == 2
    assert "nope.json" in result.stderr


def test_a_table_without_a_needed_repository_is_refused(tmp_path):
    table = shipped_pins()
    del table["releases"]["scarthgap"]["repos"]["meta-selinux"]
    pins = tmp_path / "pins.json"
    pins.write_text(json.dumps(table))
    out = tmp_path / "out"
    result = run_aos("generate", THREE_NODE, "-o", out, "--pins", pins)
    assert result.exit_code == 2
    assert "meta-selinux" in result.stderr and "scarthgap" in result.stderr
    assert not out.exists()
    # The gateway does not use meta-selinux: the same table is fine for it.
    table = shipped_pins()
    del table["releases"]["wrynose"]
    pins.write_text(json.dumps(table))
    result = run_aos("generate", TWO_NODE, "-o", out, "--pins", pins)
    assert result.exit_code == 2
    assert "wrynose" in result.stderr and "aos-multinode pin" in result.stderr


def test_a_table_without_meta_aos_is_refused_only_where_aos_is_used(tmp_path):
    table = shipped_pins()
    del table["meta-aos"]
    pins = tmp_path / "pins.json"
    pins.write_text(json.dumps(table))
    result = run_aos("generate", THREE_NODE, "-o", tmp_path / "a", "--pins", pins)
    assert result.exit_code == 2
    assert "meta-aos" in result.stderr and "Traceback" not in text_of(result)
    result = run_aos("generate", TWO_NODE, "-o", tmp_path / "b", "--pins", pins)
    assert result.exit_code == 0, text_of(result)


# --------------------------------------------------------------------------- aos.version

def test_unknown_aos_version_says_how_to_fix_it(tmp_path):
    unit = with_aos_version(tmp_path, "v9.9.9")
    out = tmp_path / "out"
    result = run_aos("generate", unit, "-o", out)
    assert result.exit_code == 2
    message = result.stderr
    assert "v9.9.9" in message
    assert "aos-multinode pin --aos-version v9.9.9" in message and "--pins" in message
    assert "40-character commit" in message
    assert "v9.1.1" in message  # what is known
    assert not out.exists()


def test_aos_version_as_a_full_sha_is_used_as_the_commit(tmp_path):
    sha = "0123456789abcdef0123456789abcdef01234567"
    unit = with_aos_version(tmp_path, sha)
    out = tmp_path / "out"
    result = run_aos("generate", unit, "-o", out)
    assert result.exit_code == 0, text_of(result)
    meta_aos = common_repos(out)["meta-aos"]
    assert meta_aos["commit"] == sha
    assert "branch" not in meta_aos
    assert aos_commit(shipped_pins(), sha) == sha


def test_aos_version_known_tag(tmp_path):
    unit = with_aos_version(tmp_path, "v9.1.0")
    out = tmp_path / "out"
    assert run_aos("generate", unit, "-o", out).exit_code == 0
    assert common_repos(out)["meta-aos"]["commit"] == shipped_pins()["meta-aos"]["tags"]["v9.1.0"]
    assert "# meta-aos v9.1.0" in (out / "kas" / "include" / "common.yml").read_text()
