"""oelint-adv, the OpenEmbedded style-guide linter, on every generated recipe, bbappend,
packagegroup and class, with the Yocto release of the Unit Config and every rule (`--mode all`):
no error and no warning. Info-level suggestions (BBCLASSEXTEND on a config recipe, ...) may
stay.

One rule is suppressed: oelint.vars.homepageping fetches each HOMEPAGE over HTTP, and tests
(like CI) must not reach hosts other than package registries. oelint-adv does not run a
suppressed rule at all; the proxy variables below make any request fail fast anyway.
The layer's inline suppressions: the image's `require recipes-core/images/aos-image.inc`
(oelint.file.requirenotfound: the file is in meta-aos, which the linter does not see), and
the anonymous Python of classes/nodeconfig.bbclass (oelint.task.noanonpython: only setVar
there drops the :append operations of meta-aos's recipe; the class says why).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from aos_multinode import aos_node
from layer_helpers import EXAMPLES, VALID_DIR, example_id, layer_files, layer_of, load, recipes

SOURCES = EXAMPLES + sorted(VALID_DIR.glob("*.yaml"))
SUPPRESSED = "oelint.vars.homepageping"
FORMAT = "{path}:{line}:{severity}:{id}:{msg}"
FINDING = re.compile(r"^(?P<path>/[^:]+):(?P<line>\d+):(?P<severity>info|warning|error):"
                     r"(?P<id>[\w.-]+):(?P<msg>.*)$")


# Variables openembedded-core defines that oelint-adv's database lacks (it would call them
# misspelled): PACKAGEGROUP_DISABLE_COMPLEMENTARY is read by meta/classes-recipe/
# packagegroup.bbclass in scarthgap and wrynose; QB_KERNEL_ROOT by qemuboot.bbclass;
# do_image_wic is image_types_wic.bbclass's task (its [depends] flag); AOS_INITRAMFS_SCRIPTS
# by meta-aos's aos-image-initramfs.bb. Teaching the linter a real variable is not
# a suppression: every rule still runs.
KNOWN_VARIABLES = Path(__file__).resolve().parent / "data" / "oelint-known-variables.json"


def oelint(files: list[Path], release: str, quiet: bool = True,
           distro: str = "") -> tuple[list[dict], str]:
    """Run oelint-adv on `files`; return its findings and its whole output. DISTRO, the
    Unit Config's, is a distro the build defines (meta-aos's aos-core, poky, or the team's):
    the linter learns it as it learns the variables of KNOWN_VARIABLES."""
    try:
        import oelint_adv  # noqa: F401
    except ImportError:
        pytest.skip("oelint-adv is not installed (pip install oelint-adv)")
    env = {**os.environ, "http_proxy": "http://127.0.0.1:9", "https_proxy":
           "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
           "HTTPS_PROXY": "http://127.0.0.1:9", "no_proxy": "", "NO_PROXY": ""}
    known = constants(distro)
    command = [sys.executable, "-m", "oelint_adv", "--release", release, "--mode", "all",
               "--suppress", SUPPRESSED, "--constantmods", f"+{known}",
               "--messageformat", FORMAT, "--jobs", "1",
               *(["--quiet"] if quiet else []), *map(str, files)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    finally:
        known.unlink()
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    findings = []
    for line in result.stderr.splitlines():
        match = FINDING.match(line)
        if match:
            findings.append(match.groupdict())
    # Exit 0 only without findings; 1 with findings. Anything else is a crash.
    assert result.returncode == (1 if findings else 0), output
    return findings, output


def constants(distro: str) -> Path:
    """KNOWN_VARIABLES, plus DISTRO as a known distro, in a new temporary file (oelint()
    removes it)."""
    known = json.loads(KNOWN_VARIABLES.read_text(encoding="utf-8"))
    if distro:
        known["replacements"] = {"distros": [distro]}
    handle, name = tempfile.mkstemp(prefix="aos-multinode-oelint-", suffix=".json")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(known, out)
    return Path(name)


@pytest.mark.parametrize("source", SOURCES, ids=example_id)
def test_recipes_have_no_warnings_or_errors(source):
    config = load(source)
    files = layer_files(layer_of(source), ".bb", ".bbappend", ".bbclass")
    assert any(p.name.startswith("packagegroup-") for p in files)
    findings, output = oelint(files, config.yocto_release, distro=config.distro)
    bad = [f"{Path(f['path']).name}:{f['line']}: {f['severity']}: {f['id']}: {f['msg']}"
           for f in findings if f["severity"] != "info"]
    assert not bad, "\n".join(bad)
    # Every line it printed is a finding we understood (so none was missed by the parser).
    unparsed = [line for line in output.splitlines() if line and not FINDING.match(line)]
    assert not unparsed, unparsed


def test_only_the_homepage_ping_is_left_out():
    """`--mode all` loads every rule but the suppressed network one."""
    source = EXAMPLES[0]
    _, output = oelint(recipes(layer_of(source))[:1], load(source).yocto_release, quiet=False)
    loaded = set(re.findall(r"^\t(oelint\.[\w.-]+)$", output, re.M))
    assert SUPPRESSED not in loaded
    # Rules that only --mode all runs, and the ones the layer is written against.
    for rule in ("oelint.var.mandatoryvar.LICENSE", "oelint.var.order", "oelint.task.nocopy",
                 "oelint.vars.pathhardcode.sysconfdir", "oelint.file.requirenotfound"):
        assert rule in loaded, rule


@pytest.mark.parametrize("source", SOURCES, ids=example_id)
def test_inline_suppressions(source):
    """No blanket suppressions: the image's meta-aos require and the node-config class's
    anonymous Python are the only ones, each on its line, and only with Aos."""
    config = load(source)
    layer = layer_of(source)
    marks = []
    for path in sorted(layer.rglob("*")):
        if path.is_file():
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if "nooelint" in line:
                    marks.append((path.relative_to(layer).as_posix(), number, line.strip()))
    if not config.aos.enabled:
        assert marks == []
        return
    # Each suppression, with the exact line it covers.
    expected = {"recipes-core/images/aos-multinode-image.bb":
                ("# nooelint: oelint.file.requirenotfound",
                 "require recipes-core/images/aos-image.inc"),
                f"classes/{aos_node.NODE_CONFIG_VARIANT}.bbclass":
                ("# nooelint: oelint.task.noanonpython", "python () {")}
    assert sorted(relpath for relpath, _, _ in marks) == sorted(expected), marks
    for relpath, number, line in marks:
        mark, covered = expected[relpath]
        assert line.startswith(mark), (relpath, line)
        assert (layer / relpath).read_text().splitlines()[number] == covered, relpath


def test_the_linter_can_fail(tmp_path):
    """A recipe that breaks the style guide gets warnings and errors: the check can fail."""
    recipe = tmp_path / "meta-bad" / "recipes-core" / "bad" / "bad_1.0.bb"
    recipe.parent.mkdir(parents=True)
    recipe.write_text('SUMMARY = "bad"\n\ndo_install() {\n    mkdir -p ${D}/etc\n'
                      '    cp ${S}/x ${D}/etc/x\n}\n')
    findings, _ = oelint([recipe], "scarthgap")
    severities = {f["id"]: f["severity"] for f in findings}
    assert severities.get("oelint.var.mandatoryvar.LICENSE") == "error"
    assert "warning" in severities.values()
