"""`aos-multinode verify` end to end, with a stand-in for bitbake.

tests/data/verify/fake-bitbake/bin/bitbake replays recorded BitBake output
(tests/data/verify/*.log) and leaves what `bitbake -g` (task-depends.dot) and
`bitbake -S none` (a stamps tree of sigdata files) leave, as a scenario file says. So these
tests prove verify's side: the build directories it writes, the clean environment, the
commands, exit codes, messages, JSON and the sharing figures. tests/test_verify_real.py runs
the real thing when a checkout is there.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aos_multinode.contract import REFERENCE_MACHINES

from aos_multinode import verify
from aos_multinode.cli.progress import Progress
from aos_multinode.cli import main

from layer_helpers import EXAMPLES_DIR, generate
from real_bitbake import require

DATA = Path(__file__).resolve().parent / "data" / "verify"
GATEWAY = EXAMPLES_DIR / "two-node-gateway.yaml"
ECU = EXAMPLES_DIR / "three-node-ecu.yaml"


def require_locale() -> None:
    require(verify.utf8_locale_available(),
            "the en_US.UTF-8 locale is missing, and verify (as BitBake) needs it: "
            "scripts/bootstrap --test makes it")


@pytest.fixture
def not_root(monkeypatch):
    """BitBake refuses root; verify checks the effective uid first. Pretend an ordinary
    user when the tests run as root (the stand-in bitbake does not care). Past that check
    verify needs the locale."""
    require_locale()
    monkeypatch.setattr(verify.host.os, "geteuid", lambda: 1000)


class Checkout:
    """A fake checkout: core/meta (a layer), core/bitbake (the stand-in), the scenario."""

    def __init__(self, root: Path, layer: Path):
        self.root = root
        self.meta = root / "core" / "meta"
        (self.meta / "conf").mkdir(parents=True)
        (self.meta / "conf" / "layer.conf").write_text('BBFILE_COLLECTIONS += "core"\n')
        # The reference MACHINEs (openembedded-core's and, for brevity, meta-yocto-bsp's):
        # verify looks for their files.
        (self.meta / "conf" / "machine").mkdir()
        for machine in REFERENCE_MACHINES:
            (self.meta / "conf" / "machine" / f"{machine}.conf").write_text("")
        self.poky = root / "core" / "meta-poky"
        (self.poky / "conf").mkdir(parents=True)
        (self.poky / "conf" / "layer.conf").write_text('BBFILE_COLLECTIONS += "yocto"\n')
        self.bitbake = root / "core" / "bitbake"
        shutil.copytree(DATA / "fake-bitbake", self.bitbake)
        # This Python, not whatever `env python3` finds (pyenv shims rewrite PATH).
        script = self.bitbake / "bin" / "bitbake"
        script.write_text(f"#!{sys.executable}\n" + script.read_text().split("\n", 1)[1])
        self.scenario: dict = {"data": str(DATA), "layer": str(layer), "tasks": 400}
        self.save()

    def save(self) -> None:
        (self.bitbake / "scenario.json").write_text(json.dumps(self.scenario))

    def node(self, node: str, mode: str, log: str = "", exit_code: int = 0) -> None:
        self.scenario.setdefault(node, {})[mode] = {"log": log, "exit": exit_code}
        self.save()

    def calls(self) -> list[dict]:
        path = self.bitbake / "calls.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] \
            if path.exists() else []


@pytest.fixture
def gateway(tmp_path) -> tuple[Path, Checkout]:
    out = tmp_path / "out"
    generate(GATEWAY, out)
    return out, Checkout(tmp_path, (out / "meta-aos-multinode").resolve())


def run(capsys, *args: str) -> tuple[int, str, str]:
    """Run `aos-multinode ARGS` in-process through main() (exit codes as a user sees
    them); return (exit code, stdout, stderr)."""
    old = sys.argv
    sys.argv = ["aos-multinode", *args]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = old
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def layers_option(checkout: Checkout) -> str:
    return f"--layers={checkout.meta},{checkout.poky}"


def test_clean_run_writes_build_dirs_and_reports_sharing(gateway, not_root, capsys):
    out, checkout = gateway
    code, stdout, stderr = run(capsys, "verify", str(out), layers_option(checkout))

    assert code == 0, stdout + stderr
    assert "Traceback" not in stderr
    # Progress: plain lines when piped, one per step at least.
    assert "[1/2] a: bitbake -S none aos-multinode-image: done" in stderr
    assert "[2/2] b: bitbake -S none aos-multinode-image: done" in stderr
    # The commands, in order, in each node's own build directory.
    calls = checkout.calls()
    # One BitBake run per node: -S none parses, resolves and writes the signatures.
    assert [(c["node"], c["argv"]) for c in calls] == [
        ("a", ["-S", "none", "aos-multinode-image"]),
        ("b", ["-S", "none", "aos-multinode-image"])]
    workdir = out / ".aos-multinode-verify"
    assert calls[0]["cwd"] == str((workdir / "a").resolve())
    # A clean environment: BitBake's bin first, UTF-8, nothing else leaking in.
    env = calls[0]["env"]
    assert env["PATH"].split(":")[0] == str(checkout.bitbake / "bin")
    assert env["LANG"] == env["LC_ALL"] == "en_US.UTF-8"
    assert set(env) <= {"PATH", "LANG", "LC_ALL", "HOME", "USER", "LOGNAME", "BUILDDIR",
                        "SHELL", "PWD", "SHLVL", "_", "LC_CTYPE"}
    # bblayers.conf: the user's layers, then the generated one.
    bblayers = (workdir / "b" / "conf" / "bblayers.conf").read_text()
    assert bblayers.index(str(checkout.meta)) < bblayers.index(str(checkout.poky)) \
        < bblayers.index(str((out / "meta-aos-multinode").resolve()))
    local = (workdir / "b" / "conf" / "local.conf").read_text()
    for line in ('MACHINE = "qemuarm64"', 'DISTRO = "poky"', 'INIT_MANAGER = "systemd"',
                 'BB_NO_NETWORK = "1"', 'TMPDIR = "${TOPDIR}/tmp"',
                 "require conf/nodes/b.conf"):
        assert line in local.splitlines(), line
    assert "conf/nodes/a.conf" not in local
    assert "virtualization" not in local          # aos.enabled is false
    assert (workdir / ".gitignore").read_text().splitlines()[-1] == "*"
    # The report.
    assert "No BitBake errors or warnings concern meta-aos-multinode." in stdout
    assert "MACHINE qemuarm64: reference node a, 404 tasks" in stdout
    assert ("b: +4 of 404 tasks (0.99 %) over a: identity 4 (0.99 %), role 0, other 0; "
            "goal met") in stdout
    assert "aos-node-config [node-config]" in stdout
    # The config recipe and the image compile nothing: no heavy task.
    assert ("heavy tasks (configure/compile/install of code) that differ: 0, light: 4; "
            "heavy tasks run again: 0\n") in stdout
    assert "aos-multinode-image [image]" in stdout
    assert "All 2 nodes: 408 unique tasks / 404 tasks of one node = 1.010" in stdout
    assert stdout.rstrip().splitlines()[-1].startswith("OK: 0 error(s)")


def test_json(gateway, not_root, capsys):
    out, checkout = gateway
    checkout.scenario["tasks"] = 1000
    checkout.save()
    code, stdout, _ = run(capsys, "verify", str(out), layers_option(checkout), "--json")
    assert code == 0
    data = json.loads(stdout)
    assert data["ok"] is True
    assert data["bitbake"]["version"] == "2.99.0"
    assert [n["node"] for n in data["nodes"]] == ["a", "b"]
    assert data["nodes"][0]["task_graph_tasks"] == 1004
    assert data["nodes"][0]["recipes"] == 502
    sharing = data["sharing"]
    extra = sharing["machines"][0]["extra_nodes"][0]
    assert extra["added_tasks"] == 4 and extra["goal_met"] is True
    assert extra["added_percent"] == pytest.approx(0.398, abs=0.001)
    assert {r["recipe"] for r in extra["recipes"]} == {"aos-node-config",
                                                       "aos-multinode-image"}
    assert extra["heavy_tasks"] == extra["heavy_rerun"] == [] and extra["light_tasks"] == 4
    assert sharing["ratio"] == pytest.approx(1008 / 1004, abs=1e-4)
    assert data["summary"] == {"errors_in_layer": 0, "warnings_in_layer": 0,
                               "errors_elsewhere": 0, "warnings_elsewhere": 0}


def test_second_run_reuses_build_dirs_and_clears_old_signatures(gateway, not_root, capsys):
    out, checkout = gateway
    run(capsys, "verify", str(out), layers_option(checkout))
    local = out / ".aos-multinode-verify" / "a" / "conf" / "local.conf"
    mtime = local.stat().st_mtime_ns
    stale = out / ".aos-multinode-verify" / "b" / "tmp" / "stamps" / "x" / "old"
    stale.mkdir(parents=True)
    (stale / f"1.0.do_compile.sigdata.{'f' * 64}").write_text("{}")
    code, stdout, _ = run(capsys, "verify", str(out), layers_option(checkout))
    assert code == 0
    assert local.stat().st_mtime_ns == mtime     # unchanged: BitBake keeps its parse cache
    assert not stale.exists()
    assert "b: +4 of 404 tasks" in stdout


def test_warning_in_the_generated_layer_is_located_and_fails(gateway, not_root, capsys):
    out, checkout = gateway
    checkout.node("a", "-S", "wrynose-wks-sanity.log", exit_code=1)
    code, stdout, stderr = run(capsys, "verify", str(out), layers_option(checkout))
    assert code == 1
    assert "In meta-aos-multinode:" in stdout
    assert "meta-aos-multinode/wic: error: [a] OE-core's config sanity checker" in stdout
    # a failed: no task graph, no signatures for it; b alone makes no comparison.
    assert [c["argv"][0] for c in checkout.calls() if c["node"] == "a"] == ["-S"]
    assert "left out (BitBake failed): a" in stdout
    assert "[1/2] a: bitbake -S none aos-multinode-image: failed (exit 1)" in stderr
    log = out / ".aos-multinode-verify" / "a" / "bitbake-S-none.log"
    assert f"full output: {log.resolve()}" in stdout
    assert "need to be moved to files/wic" in log.read_text()


def test_other_layers_warnings_do_not_fail(gateway, not_root, capsys):
    out, checkout = gateway
    checkout.node("a", "-S", "warning-elsewhere.log")
    code, stdout, _ = run(capsys, "verify", str(out), layers_option(checkout), "--json")
    assert code == 0
    data = json.loads(stdout)
    assert data["summary"]["warnings_elsewhere"] == 1
    (finding,) = data["findings"]
    assert finding["generated_layer"] is False and finding["nodes"] == ["a"]


def test_only_selected_nodes_and_no_sharing(gateway, not_root, capsys):
    out, checkout = gateway
    code, stdout, _ = run(capsys, "verify", str(out), layers_option(checkout),
                          "--node", "b", "--no-sharing")
    assert code == 0
    assert [(c["node"], c["argv"][0]) for c in checkout.calls()] == [("b", "-g")]
    assert (out / ".aos-multinode-verify" / "b" / "bitbake-g.log").is_file()
    assert "b (qemuarm64): -g ok " in stdout
    assert "s; 404 tasks in the image's graph, 202 recipes" in stdout
    assert "Sharing report: skipped (--no-sharing)" in stdout


def test_machine_conf_is_appended(gateway, not_root, capsys, tmp_path):
    out, checkout = gateway
    extra = tmp_path / "extra.conf"
    extra.write_text('BBMASK += "meta-oe/recipes-core/uutils-coreutils/"\n')
    code, _, _ = run(capsys, "verify", str(out), layers_option(checkout), "--no-sharing",
                     "--machine-conf", str(extra), "--node", "a")
    assert code == 0
    local = (out / ".aos-multinode-verify" / "a" / "conf" / "local.conf").read_text()
    assert local.rstrip().endswith('BBMASK += "meta-oe/recipes-core/uutils-coreutils/"')


def test_kas_build_dir_gives_layers_and_settings(gateway, not_root, capsys, tmp_path):
    out, checkout = gateway
    build = tmp_path / "build"
    (build / "conf").mkdir(parents=True)
    (build / "conf" / "bblayers.conf").write_text(
        'BBLAYERS ?= " \\\n    ${TOPDIR}/../core/meta \\\n    ${TOPDIR}/../core/meta-poky \\\n'
        '    ${TOPDIR}/../out/meta-aos-multinode"\nBBPATH ?= "${TOPDIR}"\nBBFILES ??= ""\n')
    (build / "conf" / "local.conf").write_text(
        '# 10-aos-multinode\nINIT_MANAGER = "systemd"\nSOMETHING_OF_MINE = "1"\n'
        '# 50-aos-multinode-node\nrequire conf/nodes/a.conf\n\nMACHINE ??= "qemuarm64"\n'
        'DISTRO ??= "poky"\n')
    code, stdout, stderr = run(capsys, "verify", str(out), "--build-dir", str(build),
                               "--no-sharing")
    assert code == 0, stdout + stderr
    local = (out / ".aos-multinode-verify" / "b" / "conf" / "local.conf").read_text()
    assert 'SOMETHING_OF_MINE = "1"' in local
    assert "conf/nodes/a.conf" not in local and "require conf/nodes/b.conf" in local
    bblayers = (out / ".aos-multinode-verify" / "b" / "conf" / "bblayers.conf").read_text()
    assert str(checkout.meta) in bblayers
    # The generated layer is named once, from DIR.
    assert bblayers.count("meta-aos-multinode") == 1


def test_aos_layer_gets_virtualization_and_aos_core(tmp_path, not_root, capsys):
    out = tmp_path / "out"
    generate(ECU, out)
    shutil.rmtree(out / "kas")              # settings from the layer alone
    checkout = Checkout(tmp_path, (out / "meta-aos-multinode").resolve())
    code, stdout, stderr = run(capsys, "verify", str(out), layers_option(checkout))
    assert code == 0, stdout + stderr
    local = (out / ".aos-multinode-verify" / "rt0" / "conf" / "local.conf").read_text()
    assert 'DISTRO = "aos-core"' in local
    assert 'DISTRO_FEATURES:append = " virtualization"' in local
    assert 'MACHINE = "genericx86-64"' in local
    # main and rt0 share genericx86-64; gpu0 is alone on genericarm64.
    assert "MACHINE genericx86-64: reference node main" in stdout
    assert "rt0: +4 of 404 tasks" in stdout
    assert "differs from main in: role rt (reference: main); kernel linux-yocto-rt" in stdout
    assert "MACHINE genericarm64: reference node gpu0" in stdout


@pytest.mark.parametrize("log,words", [
    ("hosttools-missing.log", ["tools missing: chrpath, diffstat",
                               "sudo apt-get install chrpath diffstat\n"]),
    ("sanity-missing-utilities.log", ["sudo apt-get install g++ make"]),
    ("locale-missing.log", ["en_US.UTF-8", "locale-gen"]),
    ("root.log", ["refuses to run as root"]),
])
def test_host_problems_exit_2_with_the_fix(gateway, not_root, capsys, log, words):
    out, checkout = gateway
    checkout.node("a", "-S", log, exit_code=1)
    code, stdout, stderr = run(capsys, "verify", str(out), layers_option(checkout))
    assert code == 2
    assert stdout == ""
    assert "Traceback" not in stderr
    for word in words:
        assert word in stderr


def test_root_is_refused_before_bitbake_runs(gateway, monkeypatch, capsys):
    out, checkout = gateway
    monkeypatch.setattr(verify.host.os, "geteuid", lambda: 0)
    code, stdout, stderr = run(capsys, "verify", str(out), layers_option(checkout))
    assert code == 2
    assert "BitBake refuses to run as root" in stderr and "ordinary user" in stderr
    assert checkout.calls() == []


def test_missing_locale_is_refused_before_bitbake_runs(gateway, monkeypatch, capsys):
    out, checkout = gateway
    monkeypatch.setattr(verify.host.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(verify.host, "utf8_locale_available", lambda: False)
    code, _, stderr = run(capsys, "verify", str(out), layers_option(checkout))
    assert code == 2 and "locale-gen" in stderr
    assert checkout.calls() == []


@pytest.mark.parametrize("args,message", [
    ([], "name the layers with --layers"),
    (["--layers", "/nonexistent/meta"], "not a BitBake layer"),
    (["--node", "zz"], "unknown node zz; the layer has: a, b"),
    (["--bitbake", "/nonexistent"], "no bin/bitbake there"),
    (["--build-dir", "/nonexistent"], "no conf/bblayers.conf"),
])
def test_bad_usage_exits_2(gateway, not_root, capsys, args, message):
    out, checkout = gateway
    if args[:1] in (["--node"], ["--bitbake"]):
        args = [layers_option(checkout), *args]
    code, stdout, stderr = run(capsys, "verify", str(out), *args)
    assert code == 2, stderr
    assert message in stderr and "Traceback" not in stderr
    assert checkout.calls() == []


def test_directory_without_layer(tmp_path, not_root, capsys):
    code, _, stderr = run(capsys, "verify", str(tmp_path), "--layers", str(tmp_path))
    assert code == 2
    assert "run `aos-multinode generate UNIT_CONFIG" in stderr


def test_a_layer_given_as_directory_gets_a_hint(gateway, not_root, capsys):
    out, checkout = gateway
    # `--layers A B`: B becomes DIR.
    code, _, stderr = run(capsys, "verify", "--layers", str(checkout.meta), str(checkout.poky))
    assert code == 2
    assert "is a layer, not the directory holding meta-aos-multinode/" in stderr


def test_bitbake_is_found_beside_poky_layout(tmp_path):
    poky = tmp_path / "poky"
    (poky / "bitbake" / "bin").mkdir(parents=True)
    (poky / "bitbake" / "bin" / "bitbake").write_text("")
    assert verify.find_bitbake(None, [poky / "meta"]) == poky / "bitbake"
    # openembedded-core beside bitbake (wrynose layout).
    oe = tmp_path / "wrynose"
    (oe / "bitbake" / "bin").mkdir(parents=True)
    (oe / "bitbake" / "bin" / "bitbake").write_text("")
    assert verify.find_bitbake(None, [oe / "openembedded-core" / "meta"]) == oe / "bitbake"
    # --bitbake takes the checkout or its bin/.
    assert verify.find_bitbake(oe / "bitbake" / "bin", []) == oe / "bitbake"


def test_progress_rewrites_one_line_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    progress = Progress(stream)
    progress("[1/2] a", "bitbake -g aos-multinode-image", 65.2, "Parsing recipes...")
    progress("[1/2] a", "bitbake -g aos-multinode-image", 66.0, "done")
    text = stream.getvalue()
    assert text.startswith("\r\x1b[K[1/2] a: bitbake -g aos-multinode-image  1:05  Parsing")
    assert text.endswith("1:06  done\n")


def test_progress_line_fits_the_terminal(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(shutil, "get_terminal_size",
                        lambda fallback: os.terminal_size((40, 24)))
    stream = Tty()
    Progress(stream)("[1/2] a", "bitbake -S none aos-multinode-image", 5, "x" * 100)
    assert all(len(line) <= 39 for line in stream.getvalue().split("\r\x1b[K"))


def test_progress_prints_plain_lines_when_piped():
    stream = io.StringIO()
    progress = Progress(stream)
    for second in range(0, 70, 1):
        progress("[1/1] a", "bitbake -g x", float(second), "")
    progress("[1/1] a", "bitbake -g x", 70.0, "done")
    lines = stream.getvalue().splitlines()
    assert lines == ["[1/1] a: bitbake -g x: running (0:00)",
                     "[1/1] a: bitbake -g x: running (0:30)",
                     "[1/1] a: bitbake -g x: running (1:00)",
                     "[1/1] a: bitbake -g x: done (70 s)"]


def test_wait_for_server_waits_for_the_lock(tmp_path):
    lock = tmp_path / "bitbake.lock"
    assert verify.wait_for_server(tmp_path, timeout=1)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, sys, time\n"
        f"f = open({str(lock)!r}, 'a'); fcntl.flock(f, fcntl.LOCK_EX)\n"
        "print('held', flush=True); time.sleep(30)")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert not verify.wait_for_server(tmp_path, timeout=1)
    finally:
        holder.kill()
        holder.wait()
    assert verify.wait_for_server(tmp_path, timeout=5)


def test_sigterm_stops_bitbake_and_its_server(gateway, tmp_path):
    require_locale()
    """verify in a real process, killed with SIGTERM while the (stand-in) bitbake runs:
    bitbake gets SIGINT (as on Ctrl-C) and verify ends; nothing is left running."""
    out, checkout = gateway
    checkout.scenario["a"] = {"-S": {"log": "", "exit": 0, "sleep": 60}}
    checkout.save()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    code = ("import sys; from aos_multinode import verify; verify.host.os.geteuid = lambda: 1000; "
            "from aos_multinode.cli import main; sys.argv = ['aos-multinode', 'verify', "
            f"{str(out)!r}, {layers_option(checkout)!r}]; main()")
    process = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    marker = checkout.bitbake / "sleeping"
    for _ in range(200):
        if marker.exists():
            break
        time.sleep(0.1)
    assert marker.exists(), "the stand-in bitbake did not start"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert (checkout.bitbake / "interrupted").exists()     # bitbake saw SIGINT
    pid = int(marker.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_clean_environment_drops_the_virtualenv(monkeypatch, tmp_path):
    monkeypatch.setenv("VIRTUAL_ENV", "/opt/venv")
    monkeypatch.setenv("PATH", "/opt/venv/bin:/usr/bin:/bin")
    monkeypatch.setenv("PYTHONPATH", "/somewhere")
    env = verify.clean_environment(tmp_path / "bitbake", tmp_path / "build")
    assert env["PATH"] == f"{tmp_path / 'bitbake' / 'bin'}:/usr/bin:/bin"
    assert "PYTHONPATH" not in env and "VIRTUAL_ENV" not in env
    assert env["BUILDDIR"] == str(tmp_path / "build")


def test_a_machine_no_layer_defines_is_reported_without_running_bitbake(gateway, not_root,
                                                                       capsys):
    """A node whose MACHINE no layer of its build defines (the BSP missing from the
    checkouts or the layers given): an error naming the node, the MACHINE and the fix, and
    BitBake is not run for it (exit 1)."""
    out, checkout = gateway
    (checkout.meta / "conf" / "machine" / "qemuarm64.conf").unlink()
    code, stdout, stderr = run(capsys, "verify", str(out), layers_option(checkout), "--json")
    assert code == 1, stdout + stderr
    assert "Traceback" not in stderr
    data = json.loads(stdout)
    errors = [f for f in data["findings"] if f["severity"] == "error"]
    # A reference MACHINE: the layer to add is openembedded-core's or meta-yocto-bsp's.
    assert errors and all("MACHINE 'qemuarm64' is defined by no layer" in f["message"]
                          and "openembedded-core (meta)" in f["message"] for f in errors)
    assert sorted(n for f in errors for n in f["nodes"]) == ["a", "b"]
    assert all(node["steps"] == [] for node in data["nodes"])
    assert checkout.calls() == []


def test_a_board_machine_without_its_bsp_points_at_build_repos(tmp_path, not_root, capsys):
    """The Raspberry Pi example verified without meta-raspberrypi: its Pi node is reported
    (the fix: build.repos), the x86 node still runs."""
    out = tmp_path / "out"
    generate(EXAMPLES_DIR / "two-board-rpi4.yaml", out)
    checkout = Checkout(tmp_path, (out / "meta-aos-multinode").resolve())
    code, stdout, stderr = run(capsys, "verify", str(out), layers_option(checkout), "--json")
    assert code == 1, stdout + stderr
    data = json.loads(stdout)
    [error] = [f for f in data["findings"] if f["severity"] == "error"]
    assert error["nodes"] == ["pi0"]
    assert "MACHINE 'raspberrypi4-64' is defined by no layer" in error["message"]
    assert "build.repos" in error["message"]
    assert [c["node"] for c in checkout.calls()] == ["main"]
