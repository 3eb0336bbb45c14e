"""The generated kas files, checked with the installed kas itself: its JSON schema, its
config loader and include handler, and the lowest configuration format covering the keys.

No repository is fetched here (see test_kas_checkout.py for that).
"""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import pytest
from kas import CONFIGSCHEMA, __file_version__
from kas import context as kas_context
from kas.includehandler import ConfigFile, IncludeHandler

from aos_multinode.generation.pins import shipped_pins
from aos_multinode.generation.plan_kas import KAS_FORMAT_VERSION
from kas_helpers import (THREE_NODE, TWO_NODE, commit_all, generate, init_repo, load_yaml,
                         node_ids)
from kas_helpers import git_stays_local  # noqa: F401 (autouse: git reaches local repos only)

EXAMPLES = [THREE_NODE, TWO_NODE]
SHA = re.compile(r"^[0-9a-f]{40}$")

# The kas configuration format version that introduced each key (kas docs,
# format-changelog.rst). A key absent here is one the generator must not write without
# adding it (and the version that brought it) first.
TOP_LEVEL_SINCE = {"header": 1, "machine": 1, "distro": 1, "target": 1, "repos": 1,
                   "bblayers_conf_header": 1, "local_conf_header": 1, "task": 3, "env": 6,
                   "defaults": 9, "build_system": 10, "menu_configuration": 11,
                   "overrides": 14, "artifacts": 17, "signers": 19, "buildtools": 22}
REPO_SINCE = {"url": 1, "path": 1, "layers": 1, "name": 1, "refspec": 1, "type": 7,
              "patches": 8, "commit": 14, "branch": 14, "tag": 15, "signed": 19,
              "allowed_signers": 19}


def needed_version(config: dict) -> int:
    """The lowest kas format version that has every key `config` uses."""
    versions = [TOP_LEVEL_SINCE[key] for key in config]
    if isinstance(config.get("target"), list):
        versions.append(4)  # a list of targets: version 4
    for repo in (config.get("repos") or {}).values():
        for key, value in (repo or {}).items():
            versions.append(REPO_SINCE[key])
            if key in ("url", "path", "branch", "tag") and value is None:
                versions.append(18 if key in ("branch", "tag") else 12)
        for layer in ((repo or {}).get("layers") or {}).values():
            if isinstance(layer, dict):
                versions.append(21)  # layer prio
    return max(versions)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[tuple[str, str], Path]:
    """Each example generated outside git (a plain folder, --no-git-init), outside git made
    a repository of its own by generate (init), and inside a git repository (in a
    subfolder), with the shipped pins."""
    out = {}
    for example in EXAMPLES:
        plain = tmp_path_factory.mktemp(f"{example.stem}-plain") / "out"
        generate(example, plain, "--no-git-init")
        assert not (plain / ".git").exists()
        out[(example.stem, "plain")] = plain
        fresh = tmp_path_factory.mktemp(f"{example.stem}-init") / "out"
        generate(example, fresh)
        assert (fresh / ".git").is_dir()
        out[(example.stem, "init")] = fresh
        repo_dir = tmp_path_factory.mktemp(f"{example.stem}-git")
        repo = init_repo(repo_dir)
        commit_all(repo, "empty")
        generate(example, repo_dir / "build-config")
        out[(example.stem, "git")] = repo_dir / "build-config"
    return out


CASES = [(example, where) for example in EXAMPLES for where in ("plain", "init", "git")]
IDS = [f"{example.stem}-{where}" for example, where in CASES]


def kas_files(out: Path) -> list[Path]:
    return sorted((out / "kas").rglob("*.yml"))


def kas_root(out: Path, where: str) -> Path:
    """The directory kas takes as the repository of the kas files."""
    return {"git": out.parent, "init": out, "plain": out / "kas"}[where]


@pytest.mark.parametrize("example,where", CASES, ids=IDS)
def test_the_expected_kas_files_are_written(outputs, example, where):
    out = outputs[(example.stem, where)]
    names = {path.relative_to(out / "kas").as_posix() for path in kas_files(out)}
    assert names == ({f"{node}.yml" for node in node_ids(example)}
                     | {"all-nodes.yml", "include/common.yml", "include/site.yml"})


@pytest.mark.parametrize("example,where", CASES, ids=IDS)
def test_every_kas_file_validates_against_the_kas_schema(outputs, example, where):
    validator = jsonschema.validators.validator_for(CONFIGSCHEMA)(CONFIGSCHEMA)
    for path in kas_files(outputs[(example.stem, where)]):
        errors = [error.message for error in validator.iter_errors(load_yaml(path))]
        assert errors == [], f"{path.name}: {errors}"


@pytest.mark.parametrize("example,where", CASES, ids=IDS)
def test_kas_loads_every_kas_file(outputs, example, where):
    """kas's own loader: YAML, schema and the supported version range of this kas."""
    for path in kas_files(outputs[(example.stem, where)]):
        loaded = ConfigFile.load(str(path))
        assert loaded.config["header"]["version"] == KAS_FORMAT_VERSION


@pytest.mark.parametrize("example,where", CASES, ids=IDS)
def test_header_version_is_the_lowest_that_covers_the_keys(outputs, example, where):
    assert KAS_FORMAT_VERSION == 14
    assert KAS_FORMAT_VERSION <= __file_version__
    for path in kas_files(outputs[(example.stem, where)]):
        config = load_yaml(path)
        assert config["header"]["version"] == 14, path.name
        assert needed_version(config) <= 14, path.name
    # The shared file pins repositories with `commit` and `branch`, which version 14 brought:
    # 13 would not do.
    common = load_yaml(outputs[(example.stem, where)] / "kas" / "include" / "common.yml")
    assert needed_version(common) == 14


def test_needed_version_sees_newer_keys():
    """The version table itself: keys of later formats raise the need."""
    assert needed_version({"header": {}, "repos": {"a": {"url": "u", "tag": "v1"}}}) == 15
    assert needed_version({"header": {}, "artifacts": {}}) == 17
    assert needed_version({"header": {}, "repos": {"a": {"layers": {"x": {"prio": 5}}}}}) == 21
    assert needed_version({"header": {}, "target": ["a", "b"]}) == 4
    with pytest.raises(KeyError):
        needed_version({"header": {}, "unknown_key": 1})


@pytest.fixture
def kas_ctx(tmp_path, monkeypatch):
    """A kas context, as kas makes one for a command, for the include handler."""
    monkeypatch.setenv("KAS_WORK_DIR", str(tmp_path))
    from kas.kas import kas_get_argparser

    old = kas_context.get_context()
    args = kas_get_argparser().parse_args(["dump", str(tmp_path / "unused.yml")])
    ctx = kas_context.create_global_context(args)
    yield ctx
    kas_context.__context__ = old


@pytest.mark.parametrize("example,where", CASES, ids=IDS)
def test_kas_include_handler_resolves_the_common_include(outputs, example, where, kas_ctx):
    out = outputs[(example.stem, where)]
    common = load_yaml(out / "kas" / "include" / "common.yml")
    for node in node_ids(example):
        handler = IncludeHandler([str(out / "kas" / f"{node}.yml")], use_lock=False)
        assert Path(handler.get_top_repo_path()).resolve() == kas_root(out, where).resolve()
        config, missing = handler.get_config()
        assert missing == []
        loaded = [Path(f.filename).resolve() for f in handler.config_files]
        assert loaded == [(out / "kas" / "include" / "common.yml").resolve(),
                          (out / "kas" / "include" / "site.yml").resolve(),
                          (out / "kas" / f"{node}.yml").resolve()]
        assert config["repos"] == common["repos"]
        assert set(config["local_conf_header"]) == {"10-aos-multinode", "50-aos-multinode-node"}
        assert config["local_conf_header"]["50-aos-multinode-node"].strip().endswith(
            f"require conf/nodes/{node}.conf")


@pytest.mark.parametrize("example,where", CASES, ids=IDS)
def test_node_files_name_the_node_machine_image_and_fragment(outputs, example, where):
    out = outputs[(example.stem, where)]
    unit = load_yaml(example)
    default_machine = unit["yocto"]["machine"]
    for node in unit["nodes"]:
        config = load_yaml(out / "kas" / f"{node['id']}.yml")
        assert config["machine"] == node.get("machine", default_machine)
        assert config["target"] == "aos-multinode-image"
        # Shared parts come from the include, not copied per node.
        assert set(config) == {"header", "machine", "target", "local_conf_header"}
        # A TMPDIR per node (no node's images replace another's), then the fragment.
        (entry,) = config["local_conf_header"].values()
        assert list(config["local_conf_header"]) == ["50-aos-multinode-node"]
        assert [line for line in entry.splitlines() if line and not line.startswith("#")] == [
            f'TMPDIR = "${{TOPDIR}}/tmp-{node["id"]}"', f"require conf/nodes/{node['id']}.conf"]
        # The include paths are relative to the repository kas takes as `this`: the
        # generated include, then the user's own.
        common, site = config["header"]["includes"]
        assert (kas_root(out, where) / common).resolve() == \
            (out / "kas" / "include" / "common.yml").resolve()
        assert (kas_root(out, where) / site).resolve() == \
            (out / "kas" / "include" / "site.yml").resolve()


@pytest.mark.parametrize("example,where", CASES, ids=IDS)
def test_the_generated_layer_is_named_relative_to_the_kas_root(outputs, example, where):
    out = outputs[(example.stem, where)]
    repos = load_yaml(out / "kas" / "include" / "common.yml")["repos"]
    local = repos["aos-multinode"]
    assert set(local) == {"layers"}  # no url: the repository holding the kas files
    (layer,) = local["layers"]
    assert (kas_root(out, where) / layer).resolve() == (out / "meta-aos-multinode").resolve()
    assert (out / "meta-aos-multinode" / "conf" / "layer.conf").is_file()
    assert layer == {"git": "build-config/meta-aos-multinode", "init": "meta-aos-multinode",
                     "plain": "../meta-aos-multinode"}[where]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_every_repository_is_pinned_to_the_pins_table(outputs, example):
    unit = load_yaml(example)
    table = shipped_pins()
    pinned = table["releases"][unit["yocto"]["release"]]["repos"]
    repos = load_yaml(outputs[(example.stem, "plain")] / "kas" / "include" / "common.yml")["repos"]
    for name, repo in repos.items():
        if name == "aos-multinode":
            continue
        assert SHA.match(repo["commit"]), name
        if name == "meta-aos":
            version = unit["aos"].get("version", "v9.1.1")
            assert repo["url"] == table["meta-aos"]["url"]
            assert repo["commit"] == table["meta-aos"]["tags"][version]
            assert "branch" not in repo
        else:
            assert {k: repo[k] for k in ("url", "branch", "commit")} == pinned[name], name
    expected = set(pinned) | {"aos-multinode"}
    if unit["aos"]["enabled"]:
        expected |= {"meta-aos"}
    else:
        expected -= {"meta-virtualization", "meta-selinux"}
    assert set(repos) == expected


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_layers_follow_the_unit_config(outputs, example):
    unit = load_yaml(example)
    repos = load_yaml(outputs[(example.stem, "plain")] / "kas" / "include" / "common.yml")["repos"]
    layers = {name: sorted(repo.get("layers") or {}) for name, repo in repos.items()}
    aos = unit["aos"]["enabled"]
    ntp = unit["time_sync"]["protocol"] == "ntp"
    expected_oe = sorted({"meta-oe"} | ({"meta-networking"} if ntp or aos else set())
                         | ({"meta-python", "meta-filesystems"} if aos else set()))
    assert layers["meta-openembedded"] == expected_oe
    if unit["yocto"]["release"] == "scarthgap":
        assert layers["poky"] == ["meta", "meta-poky", "meta-yocto-bsp"]
        assert "bitbake" not in layers and "openembedded-core" not in layers
    else:
        assert layers["bitbake"] == []  # BitBake itself is no layer
        assert layers["openembedded-core"] == ["meta"]
        assert layers["meta-yocto"] == ["meta-poky", "meta-yocto-bsp"]
        assert "poky" not in layers
    if aos:
        assert layers["meta-aos"] == layers["meta-virtualization"] == \
            layers["meta-selinux"] == ["."]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_the_all_nodes_file_builds_every_node_through_multiconfig(outputs, example):
    out = outputs[(example.stem, "plain")]
    nodes = node_ids(example)
    config = load_yaml(out / "kas" / "all-nodes.yml")
    assert config["header"]["includes"] == ["include/common.yml", "include/site.yml"]
    assert config["target"] == [f"mc:{node}:aos-multinode-image" for node in nodes]
    (header,) = config["local_conf_header"].values()
    assert f'BBMULTICONFIG = "{" ".join(nodes)}"' in header
    for node in nodes:
        multiconfig = out / "meta-aos-multinode" / "conf" / "multiconfig" / f"{node}.conf"
        assert f"require conf/nodes/{node}.conf" in multiconfig.read_text()


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_downloads_and_sstate_come_from_the_environment(outputs, example):
    """kas passes DL_DIR, SSTATE_DIR, SSTATE_MIRRORS, BB_HASHSERVE(_UPSTREAM) through from
    the environment; the shared file only sets weak defaults, so the environment wins."""
    text = (outputs[(example.stem, "plain")] / "kas" / "include" / "common.yml").read_text()
    header = load_yaml(outputs[(example.stem, "plain")] / "kas" / "include" /
                       "common.yml")["local_conf_header"]["10-aos-multinode"]
    for line in header.splitlines():
        if line.startswith(("DL_DIR", "SSTATE_DIR")):
            assert " ?= " in line, line
    assert not re.search(r"^\s*(SSTATE_MIRRORS|BB_HASHSERVE)", header, re.M)
    for name in ("SSTATE_MIRRORS", "BB_HASHSERVE", "BB_HASHSERVE_UPSTREAM"):
        assert name in text  # documented in the file's comment


def test_kas_passes_the_cache_variables_through():
    """What the comment promises is what the installed kas does."""
    import inspect

    from kas import libkas

    source = inspect.getsource(libkas.get_build_environ)
    for name in ("SSTATE_DIR", "DL_DIR", "SSTATE_MIRRORS", "BB_HASHSERVE",
                 "BB_HASHSERVE_UPSTREAM"):
        assert f"'{name}'" in source


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_the_site_file_is_the_users_and_kas_merges_it_last(outputs, example, kas_ctx,
                                                         tmp_path):
    """kas/include/site.yml: a valid kas file that sets nothing until the user edits it;
    what it sets overrides the generated include (a repository's url, a local.conf entry)."""
    out = outputs[(example.stem, "plain")]
    site = out / "kas" / "include" / "site.yml"
    stub = load_yaml(site)
    assert stub == {"header": {"version": KAS_FORMAT_VERSION}}
    manifest = (out / "kas" / ".aos-multinode-manifest.json").read_text()
    assert "site.yml" not in manifest  # never a stale file the writer could delete
    copy = tmp_path / "out"
    import shutil
    shutil.copytree(out, copy, symlinks=True)
    (copy / "kas" / "include" / "site.yml").write_text(
        "header:\n  version: 14\nrepos:\n  meta-openembedded:\n"
        "    url: https://mirror.example.com/meta-openembedded\n"
        "local_conf_header:\n  90-site: |\n    BB_NUMBER_THREADS = \"3\"\n")
    node = node_ids(example)[0]
    handler = IncludeHandler([str(copy / "kas" / f"{node}.yml")], use_lock=False)
    config, missing = handler.get_config()
    assert missing == []
    assert config["repos"]["meta-openembedded"]["url"] == \
        "https://mirror.example.com/meta-openembedded"
    assert SHA.match(config["repos"]["meta-openembedded"]["commit"])  # the pin stays
    assert sorted(config["local_conf_header"]) == ["10-aos-multinode",
                                                   "50-aos-multinode-node", "90-site"]
