"""ShellCheck on every shell the layer ships or runs: the scripts it installs, the node
identity file devices source, and the shell functions of its recipes (with BitBake's
${VAR} references replaced by plain words, as BitBake would have expanded them).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from layer_helpers import (EXAMPLES, REPO_ROOT, VALID_DIR, example_id, layer_files,
                           layer_of, load, require_tool)

SOURCES = EXAMPLES + sorted(VALID_DIR.glob("*.yaml"))
SHEBANG = re.compile(rb"^#!\s*(/bin/sh|/bin/bash|/usr/bin/env\s+(sh|bash))\b")
# A shell function, its name with BitBake's overrides (do_install:append:aos-core); not
# anonymous Python (`python () {`).
FUNCTION = re.compile(r"^(?!python\b)([A-Za-z_][\w:-]*)\s*\(\)\s*\{\s*$")


def shellcheck(path: Path, *options: str) -> subprocess.CompletedProcess:
    tool = require_tool("shellcheck")
    return subprocess.run([tool, "--norc", *options, str(path)], capture_output=True,
                          text=True, timeout=60)


def shell_scripts(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()
                  and SHEBANG.match(p.read_bytes()[:64]))


@pytest.mark.parametrize("source", SOURCES, ids=example_id)
def test_scripts(source):
    for script in shell_scripts(layer_of(source)):
        result = shellcheck(script)
        assert result.returncode == 0, result.stdout + result.stderr
        assert script.stat().st_mode & 0o111, f"{script} is not executable"


def test_scripts_are_found():
    """The PTP start script is among the scripts checked, from a PTP example, and from the
    templates themselves."""
    ptp = [s for s in EXAMPLES if load(s).time_protocol == "ptp"]
    assert ptp, "an example with PTP is needed"
    assert "aos-ptp4l-start" in [p.name for p in shell_scripts(layer_of(ptp[0]))]
    templates = shell_scripts(REPO_ROOT / "templates")
    assert "aos-ptp4l-start" in [p.name for p in templates]
    for script in templates:
        result = shellcheck(script)
        assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("source", SOURCES, ids=example_id)
def test_node_identity_file(source, tmp_path):
    """/etc/aos-multinode/node.conf is sourced by shell scripts: it passes ShellCheck (its
    variables are used by whoever sources it, hence SC2034 off) and a real shell reads back
    exactly the values of the Unit Config."""
    config = load(source)
    layer = layer_of(source)
    for node in config.nodes:
        path = layer / "recipes-core" / "aos-node-config" / "files" / node.id / "node.conf"
        result = shellcheck(path, "--shell=sh", "--exclude=SC2034")
        assert result.returncode == 0, result.stdout
        read = subprocess.run(["sh", "-euc", '. "$1"; printf "%s\\n" "$NODE_ID" '
                               '"$DEVICE_ID" "$NODE_ROLE" "$MAIN_NODE" "$CLUSTER_DEVICE"',
                               "sh", str(path)], capture_output=True, text=True, check=True)
        assert read.stdout.splitlines() == [
            node.id, config.device_id, node.role.name, "1" if node.is_main else "0",
            config.cluster_interface.device]


def recipe_functions(path: Path) -> dict[str, str]:
    """The shell functions of a recipe or include: name -> body."""
    functions, name, body = {}, None, []
    for line in path.read_text().splitlines():
        if name is None:
            match = FUNCTION.match(line)
            if match:
                name, body = match.group(1), []
        elif line.rstrip() == "}":
            functions[name] = "\n".join(body)
            name = None
        else:
            body.append(line)
    assert name is None, f"{path}: function {name} is not closed"
    return functions


def as_shell(functions: dict[str, str]) -> str:
    """A script holding the functions, each ${VAR} replaced by a word as BitBake would."""
    names = {name: re.sub(r"[^A-Za-z0-9_]", "_", name) for name in functions}
    text = "".join(f"{names[name]}() {{\n{body}\n}}\n\n"
                   for name, body in sorted(functions.items()))
    assert "${@" not in text, "inline python in a shell function"
    text = re.sub(r"\$\{([A-Za-z0-9_]+)\}", lambda m: f"/bbvar_{m.group(1)}", text)
    calls = "".join(f"{names[name]}\n" for name in sorted(functions))
    return f"#!/bin/sh\nset -e\n\n{text}{calls}"


@pytest.mark.parametrize("source", SOURCES, ids=example_id)
def test_recipe_shell_functions(source, tmp_path):
    layer = layer_of(source)
    seen = set()
    for path in layer_files(layer, ".bb", ".bbappend", ".inc", ".bbclass"):
        functions = recipe_functions(path)
        if not functions:
            continue
        seen |= set(functions)
        script = tmp_path / f"{path.name}.sh"
        script.write_text(as_shell(functions))
        # SC2043 (a loop over one word): as_shell makes each ${VAR} one word, so a loop over
        # a BitBake list (for file in ${AOS_NODE_CONFIG_FILES}) looks like one.
        result = shellcheck(script, "--exclude=SC2043")
        assert result.returncode == 0, f"{path.relative_to(layer)}:\n{result.stdout}"
    assert {"do_install", "aos_multinode_identity"} <= seen
    if load(source).aos.enabled:
        assert {"aos_node_config_install", "do_install:append:class-target:aos-core"} <= seen


def test_shellcheck_can_fail(tmp_path):
    script = tmp_path / "broken"
    script.write_text('#!/bin/sh\nfor f in $(ls /tmp/*.conf); do\n    cat $f\ndone\n')
    assert shellcheck(script).returncode != 0
    functions = {"do_install": "    install -m 0644 ${S}/a $dir/${B}"}
    script.write_text(as_shell(functions))
    assert shellcheck(script).returncode != 0
