"""`kas dump`, `kas checkout` and `kas lock` on the generated kas files, offline: every
upstream is a local bare repository made by the test, pinned by `aos-multinode pin`, reached
through KAS_PREMIRRORS, and kas runs in a network namespace of its own where possible.

Checked for output outside git (--no-git-init: kas takes the kas folder as the repository
`this`) and inside a git repository (kas takes the work tree's top), for both examples; and
for output generated outside git that is committed afterwards (generate made it a
repository; or, with --no-git-init, the user's `git init` and a second generate).
"""

from __future__ import annotations

import re
from pathlib import Path

import git
import pytest
import yaml

from aos_multinode.generation.pins import load_pins
from kas_helpers import (THREE_NODE, TWO_NODE, bblayers, expected_layers, generate,
                         generate_in_git, git_head, load_yaml, local_pins, network_isolation,
                         node_ids, run_aos, run_kas, upstreams)
from kas_helpers import git_stays_local  # noqa: F401 (autouse: git reaches local repos only)

__all__ = ["local_pins", "upstreams"]  # fixtures used by name

EXAMPLES = [THREE_NODE, TWO_NODE]
CASES = [(example, where) for example in EXAMPLES for where in ("plain", "git")]
IDS = [f"{example.stem}-{where}" for example, where in CASES]


def make_output(example: Path, where: str, base: Path, pins: Path) -> Path:
    if where == "git":
        return generate_in_git(example, base / "repo", "build-config", "--pins", str(pins))
    out = base / "out"
    generate(example, out, "--pins", str(pins), "--no-git-init")
    return out


def pinned_commits(example: Path, pins: Path) -> dict[str, str]:
    table = load_pins(pins)
    unit = load_yaml(example)
    commits = {name: repo["commit"]
               for name, repo in table["releases"][unit["yocto"]["release"]]["repos"].items()}
    if unit["aos"]["enabled"]:
        commits["meta-aos"] = table["meta-aos"]["tags"][unit["aos"].get("version", "v9.1.1")]
    else:
        commits.pop("meta-virtualization", None)
        commits.pop("meta-selinux", None)
    return commits


def test_kas_runs_without_a_network_here():
    """Not a requirement (kas is pointed at local repositories either way), but say so when
    the offline proof is weaker than it could be."""
    if not network_isolation():
        pytest.skip("unshare -n is not available: kas runs with the host's network")
    assert network_isolation()[-1] == "-n"


@pytest.mark.parametrize("example,where", CASES, ids=IDS)
def test_kas_checkout_sets_up_every_node_build(example, where, tmp_path, upstreams,
                                               local_pins):
    out = make_output(example, where, tmp_path, local_pins)
    premirrors = upstreams.premirrors(load_pins(local_pins))
    work = tmp_path / "work"
    build = work / "build"
    commits = pinned_commits(example, local_pins)
    root = out.parent if where == "git" else out / "kas"  # plain: --no-git-init
    for node in node_ids(example):
        run = run_kas(["checkout", out / "kas" / f"{node}.yml"], work, premirrors).check()
        # (git prints the work tree's real path; outside git kas uses the folder as given)
        assert (f"Using {root} as root for repository aos-multinode" in run.stderr
                or f"Using {root.resolve()} as root for repository aos-multinode" in run.stderr)
        local_conf = (build / "conf" / "local.conf").read_text()
        # The shared header first, then the node's fragment (kas sorts the keys).
        assert local_conf.index("# 10-aos-multinode") < local_conf.index(
            "# 50-aos-multinode-node")
        assert re.search(rf"^require conf/nodes/{node}\.conf$", local_conf, re.M)
        unit = load_yaml(example)
        machine = next(n.get("machine", unit["yocto"]["machine"])
                       for n in unit["nodes"] if n["id"] == node)
        assert f'MACHINE ??= "{machine}"' in local_conf
        layers = set(bblayers(build))
        assert len(layers) == len(bblayers(build))
        assert layers == expected_layers(work, example) | {
            (out / "meta-aos-multinode").resolve()}
        for layer in layers:
            assert (layer / "conf" / "layer.conf").is_file(), layer
        for name, commit in commits.items():
            assert git_head(work / name) == commit, name
    if load_yaml(example)["yocto"]["release"] == "wrynose":
        # BitBake is checked out beside openembedded-core (found as ../bitbake) but is no layer.
        assert (work / "bitbake" / "bin" / "bitbake").is_file()
        assert not any("bitbake" in layer.parts for layer in bblayers(build))


@pytest.mark.parametrize("example,where", CASES, ids=IDS)
def test_kas_dump_resolves_the_include(example, where, tmp_path, upstreams, local_pins):
    out = make_output(example, where, tmp_path, local_pins)
    premirrors = upstreams.premirrors(load_pins(local_pins))
    common = load_yaml(out / "kas" / "include" / "common.yml")
    node = node_ids(example)[-1]
    run = run_kas(["dump", out / "kas" / f"{node}.yml"], tmp_path / "work", premirrors).check()
    dumped = yaml.safe_load(run.stdout)
    assert "includes" not in dumped["header"]
    assert dumped["repos"] == common["repos"]
    headers = dumped["local_conf_header"]
    assert headers.keys() == {*common["local_conf_header"], "50-aos-multinode-node"}
    assert all(headers[key] == value for key, value in common["local_conf_header"].items())
    assert node_settings(headers["50-aos-multinode-node"]) == [
        f'TMPDIR = "${{TOPDIR}}/tmp-{node}"', f"require conf/nodes/{node}.conf"]
    assert dumped["target"] == "aos-multinode-image"
    assert dumped["distro"] == common["distro"]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_kas_checkout_of_the_all_nodes_file_sets_up_multiconfig(example, tmp_path, upstreams,
                                                                local_pins):
    out = make_output(example, "plain", tmp_path, local_pins)
    premirrors = upstreams.premirrors(load_pins(local_pins))
    work = tmp_path / "work"
    nodes = node_ids(example)
    run = run_kas(["dump", out / "kas" / "all-nodes.yml"], work, premirrors).check()
    assert yaml.safe_load(run.stdout)["target"] == [f"mc:{n}:aos-multinode-image"
                                                   for n in nodes]
    run_kas(["checkout", out / "kas" / "all-nodes.yml"], work, premirrors).check()
    local_conf = (work / "build" / "conf" / "local.conf").read_text()
    assert f'BBMULTICONFIG = "{" ".join(nodes)}"' in local_conf
    # kas derives the same list from the mc: targets.
    kas_line = re.search(r'^BBMULTICONFIG \?= "(.*)"$', local_conf, re.M)
    assert kas_line and sorted(kas_line.group(1).split()) == sorted(nodes)
    assert "require conf/nodes/" not in local_conf  # each multiconfig requires its own
    layer = (out / "meta-aos-multinode").resolve()
    assert layer in bblayers(work / "build")
    for node in nodes:
        assert (layer / "conf" / "multiconfig" / f"{node}.conf").is_file()


def test_kas_lock_and_the_pins_agree(tmp_path, upstreams, local_pins):
    """Every repository is already pinned to a commit, so `kas lock` has nothing to add;
    `kas dump --lock` records exactly the pinned commits; a lock file a user writes beside a
    node file still overrides a pin, and `generate --check` leaves it alone."""
    example = THREE_NODE
    out = make_output(example, "plain", tmp_path, local_pins)
    premirrors = upstreams.premirrors(load_pins(local_pins))
    work = tmp_path / "work"
    node_file = out / "kas" / "main.yml"
    commits = pinned_commits(example, local_pins)

    run = run_kas(["lock", node_file], work, premirrors).check()
    assert "Nothing to lock" in run.stderr
    assert not list((out / "kas").rglob("*.lock.yml"))

    run = run_kas(["dump", "--lock", node_file], work, premirrors).check()
    lock = yaml.safe_load(run.stdout)
    assert lock["header"]["version"] == 14
    assert {name: entry["commit"] for name, entry in lock["overrides"]["repos"].items()} == \
        commits

    # A user's lock file pins meta-openembedded to the commit before the pinned one.
    older = upstreams.branches["meta-openembedded"]["scarthgap"]
    import git

    older = git.Repo(upstreams.paths["meta-openembedded"]).commit(older).parents[0].hexsha
    (out / "kas" / "main.lock.yml").write_text(yaml.safe_dump(
        {"header": {"version": 14},
         "overrides": {"repos": {"meta-openembedded": {"commit": older}}}}))
    run_kas(["checkout", node_file], work, premirrors).check()
    assert git_head(work / "meta-openembedded") == older
    check = run_aos("generate", example, "-o", out, "--pins", local_pins, "--check",
                    "--no-git-init")
    assert check.exit_code == 0, check.stdout + check.stderr
    assert (out / "kas" / "main.lock.yml").is_file()


def commit_everything(path: Path) -> None:
    """What a user does with fresh output: git init (unless there is a repository) and
    commit it."""
    repo = git.Repo.init(path)
    repo.git.add("-A")
    repo.git.commit("-q", "-m", "generated output", env={
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"})


def checked_out_layers(out: Path, node: str, work: Path, premirrors: str) -> list[Path]:
    run_kas(["checkout", out / "kas" / f"{node}.yml"], work, premirrors).check()
    return bblayers(work / "build")


def test_output_generated_outside_git_still_checks_out_once_committed(tmp_path, upstreams,
                                                                      local_pins):
    """The issue's trap, with real kas: output generated into a plain folder, which the user
    then puts into git. generate made it a repository itself, so the layer path it wrote is
    the one kas needs before and after the commit, and after the folder moves."""
    example = THREE_NODE
    premirrors = upstreams.premirrors(load_pins(local_pins))
    out = tmp_path / "out"
    generate(example, out, "--pins", str(local_pins))
    assert (out / ".git").is_dir()
    layer = (out / "meta-aos-multinode").resolve()
    node = node_ids(example)[0]
    assert layer in checked_out_layers(out, node, tmp_path / "w1", premirrors)
    commit_everything(out)
    for name in node_ids(example):
        layers = checked_out_layers(out, name, tmp_path / "w2", premirrors)
        assert layer in layers and all(path.is_dir() for path in layers)
    moved = tmp_path / "moved" / "deeper"
    moved.parent.mkdir()
    out.rename(moved)
    layers = checked_out_layers(moved, node, tmp_path / "w3", premirrors)
    assert (moved / "meta-aos-multinode").resolve() in layers
    assert all(path.is_dir() for path in layers)


def test_git_init_after_no_git_init_breaks_until_generate_runs_again(tmp_path, upstreams,
                                                                     local_pins):
    """With --no-git-init the trap is real (kas names a layer folder that does not exist,
    which BitBake then refuses); generate and --check report it; generating again fixes it."""
    example = THREE_NODE
    premirrors = upstreams.premirrors(load_pins(local_pins))
    out = tmp_path / "out"
    generate(example, out, "--pins", str(local_pins), "--no-git-init")
    commit_everything(out)
    node = node_ids(example)[0]
    broken = checked_out_layers(out, node, tmp_path / "w1", premirrors)
    assert [path for path in broken if not path.is_dir()] == [tmp_path / "meta-aos-multinode"]
    check = run_aos("generate", example, "-o", out, "--pins", local_pins, "--check")
    assert check.exit_code == 1 and "name the layer as ../meta-aos-multinode" in check.stderr
    again = generate(example, out, "--pins", str(local_pins))
    assert "put into or out of git" in again.stderr
    layers = checked_out_layers(out, node, tmp_path / "w2", premirrors)
    assert (out / "meta-aos-multinode").resolve() in layers
    assert all(path.is_dir() for path in layers)


def node_settings(text: str) -> list[str]:
    """The settings of a node's local_conf_header entry, without its comments."""
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_team_settings_reach_local_conf_in_order(tmp_path, upstreams, local_pins):
    """The Unit Config's build.local_conf and the user's kas/include/site.yml, as real kas
    writes them into local.conf: the generated settings, then build.local_conf, then the
    node's entry (its fragment carries the role's and node's lines), then the site file's
    entry; the site file's mirror url replaces the pinned one, the pinned commit stays."""
    data = load_yaml(THREE_NODE)
    data["build"] = {"local_conf": {"BB_NUMBER_THREADS": 3, "PACKAGE_CLASSES": "package_ipk"}}
    source = tmp_path / THREE_NODE.name
    source.write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / "out"
    generate(source, out, "--pins", str(local_pins))
    meta_oe = upstreams.paths["meta-openembedded"]
    (out / "kas" / "include" / "site.yml").write_text(yaml.safe_dump({
        "header": {"version": 14},
        "repos": {"meta-openembedded": {"url": str(meta_oe)}},
        "local_conf_header": {"90-site": 'BB_HASHSERVE = "auto"\n'}}))
    premirrors = upstreams.premirrors(load_pins(local_pins))
    work = tmp_path / "work"
    run_kas(["checkout", out / "kas" / "main.yml"], work, premirrors).check()
    local_conf = (work / "build" / "conf" / "local.conf").read_text()
    order = [local_conf.index(f"# {key}") for key in (
        "10-aos-multinode", "40-aos-multinode-build-local-conf", "50-aos-multinode-node",
        "90-site")]
    assert order == sorted(order)
    assert 'BB_NUMBER_THREADS = "3"\nPACKAGE_CLASSES = "package_ipk"\n' in local_conf
    assert 'BB_HASHSERVE = "auto"' in local_conf
    assert git_head(work / "meta-openembedded") == \
        pinned_commits(THREE_NODE, local_pins)["meta-openembedded"]
    assert git.Repo(work / "meta-openembedded").remotes.origin.url == str(meta_oe)
    fragment = (out / "meta-aos-multinode" / "conf" / "nodes" / "main.conf").read_text()
    assert fragment.rstrip().endswith('# build.local_conf\nBB_NUMBER_THREADS = "3"\n'
                                      'PACKAGE_CLASSES = "package_ipk"')
