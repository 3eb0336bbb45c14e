"""Fast tests of the cluster agent's logic (aos-cluster), without sockets or namespaces:
time and datagrams are fed to its Agent class by hand."""

from __future__ import annotations

import ast
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from aos_multinode.agent import aos_cluster as ac
from aos_multinode.generation.cluster import cluster_config
from aos_multinode.unitconfig.load import load_unit_config

ROOT = Path(__file__).resolve().parents[1]
FILES = ROOT / "templates/layer/recipes-support/aos-cluster-agent/files"
AGENT = Path(ac.__file__)
UNIT = FILES / "aos-cluster-agent.service"
A, B, C = "198.18.0.10", "198.18.0.11", "198.18.0.12"

UNIT_CONFIG = textwrap.dedent(f"""\
    device_id: dev
    release: "1.0"
    cluster: {{id: clu}}
    aos: {{enabled: false}}
    network:
      interfaces: [{{name: internal, device: eth0, subnet: 198.18.0.0/24}}]
    roles: {{main: {{main: true}}, worker: {{}}}}
    nodes:
      - {{index: 0, id: main, hostname: main, address: {A}, role: main}}
      - {{index: 1, id: w1, hostname: w1, address: {B}, role: worker}}
      - {{index: 2, id: w2, hostname: w2, address: {C}, role: worker}}
    """)


@pytest.fixture(scope="module")
def device(tmp_path_factory):
    """The device's cluster configuration (cluster.json), rendered by the generator from one
    Unit Config."""
    path = tmp_path_factory.mktemp("unit") / "unit.yaml"
    path.write_text(UNIT_CONFIG)
    return cluster_config(load_unit_config(path).config, "1.0")


@pytest.fixture(scope="module")
def configs(device):
    """Each node's view of the cluster configuration, as the agent loads it."""
    return {node["id"]: ac.node_view(device, node["id"]) for node in device["nodes"]}


def make_agent(configs, node="main", **changes):
    """Return an Agent for `node` (started at monotonic 0) with config `changes` applied."""
    return ac.Agent({**configs[node], **changes}, boot_id="boot-" + node,
                    instance="inst-" + node, start=0.0)


def hello(node="w1", **changes):
    """Return a valid hello (bytes) from `node`, with `changes` applied."""
    msg = {"proto": ac.PROTOCOL, "device_id": "dev", "cluster_id": "clu", "node_id": node,
           "role": "worker", "release": "1.0", "boot_id": "boot-" + node,
           "instance": "inst-" + node, "seq": 1, "clock": 1000.0, **changes}
    return json.dumps(msg).encode()


def send(agent, source, now, node="w1", **changes):
    """Deliver a hello from `node` at monotonic `now`, with both clocks at 1000 + now;
    return what the agent made of it."""
    changes.setdefault("clock", 1000.0 + now)
    return agent.receive(hello(node, **changes), source, now, 1000.0 + now)


def peer(agent, node_id):
    return agent.peers[node_id]


# --- parsing -------------------------------------------------------------------------------

def test_parse_hello_accepts_a_hello():
    assert ac.parse_hello(hello())["node_id"] == "w1"


BAD_PACKETS = [b"", b"\xff\xfe\x00", b"not json", b"[]", b"null", b"{}", b"1e999",
               b"[" * 700 + b"]" * 700, b"[" * 1300, b'{"a":' * 280,
               hello(proto="other/9"), hello(seq="1"), hello(seq=True), hello(seq=-1),
               hello(seq=2 ** 64), hello(clock=None), hello(clock="now"),
               hello(node_id=""), hello(node_id="\x1b[2Jx"), hello(node_id="n\u00e9"),
               hello(node_id=5), hello(release=["1.0"]), hello(echo=[1, 2]),
               hello(echo={"t0": 1}), hello(echo={"t0": 1, "t1": "2"}),
               hello().replace(b'"clock": 1000.0', b'"clock": NaN'),
               hello().replace(b'"clock": 1000.0', b'"clock": -Infinity'),
               hello().replace(b'"clock": 1000.0', b'"clock": 1e999')]


@pytest.mark.parametrize("data", BAD_PACKETS)
def test_malformed_packets_are_rejected(data):
    with pytest.raises(ac.BadPacket) as caught:
        ac.parse_hello(data)
    assert caught.value.kind == "malformed"


def test_oversized_packets_are_rejected_before_parsing():
    padded = hello(role="r" * 200, release="x" * 253) + b" " * 2000
    with pytest.raises(ac.BadPacket) as caught:
        ac.parse_hello(padded)
    assert caught.value.kind == "oversized"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_never_crash_the_agent(configs, data):
    agent = make_agent(configs)
    assert agent.receive(data, A, 1.0, 1000.0) in ("malformed", "oversized")


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["proto", "device_id", "cluster_id", "node_id", "seq",
                                        "clock", "echo", "instance", "boot_id"]),
                       st.recursive(st.none() | st.booleans() | st.integers() | st.floats()
                                    | st.text(max_size=20),
                                    lambda inner: st.lists(inner, max_size=3)
                                    | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                                    max_leaves=8)))
def test_json_of_wrong_shapes_never_crashes_the_agent(configs, fields):
    agent = make_agent(configs)
    data = json.dumps({"proto": ac.PROTOCOL, **fields}).encode()
    agent.receive(data, B, 1.0, 1000.0)
    agent.update(2.0)
    json.dumps(agent.state(2.0, 1001.0))  # the state stays serialisable


def test_outgoing_hello_fits_and_parses(configs):
    agent = make_agent(configs, release="r" * 253)
    agent.receive(hello(), B, 0.1, 1000.0)
    packets = agent.outgoing(1000.5)
    assert sorted(address for _, address in packets) == [B, C]
    for data, _ in packets:
        assert len(data) <= ac.MAX_PACKET
        assert ac.parse_hello(data)["seq"] == 1
    to_w1 = next(data for data, address in packets if address == B)
    assert json.loads(to_w1)["echo"] == {"t0": 1000.0, "t1": 1000.0}


# --- trust ---------------------------------------------------------------------------------

@pytest.mark.parametrize("field, counter, text", [
    ("device_id", "foreign_device", "hellos of another device"),
    ("cluster_id", "foreign_cluster", "hellos of another cluster")])
def test_foreign_hellos_are_ignored_counted_and_flagged(configs, field, counter, text):
    agent = make_agent(configs)
    assert agent.receive(hello(**{field: "other"}), B, 0.1, 1000.0) == counter
    assert agent.ignored[counter] == 1
    assert peer(agent, "w1").hello is None  # never trusted
    agent.update(0.2)
    assert any(p.startswith(text + f" from {B}") for p in agent.problems())
    agent.update(7.0)  # once they stop, the flag goes; the count stays
    assert not any(text in p for p in agent.problems())
    assert agent.state(7.0, 0)["ignored"][counter] == 1


def test_unknown_node_and_own_id_are_flagged(configs):
    agent = make_agent(configs)
    assert agent.receive(hello(node="w9"), B, 0.1, 1000.0) == "unknown_node"
    assert agent.receive(hello(node="main", instance="x"), C, 0.1, 1000.0) == "duplicate_self"
    assert agent.receive(hello(node="x", instance="inst-main"), A, 0.1, 0) == "stale"
    agent.update(0.2)
    text = "; ".join(agent.problems())
    assert "unknown node ID from 198.18.0.11" in text
    assert f"another node claims this node's ID from {C}" in text


def test_strangers_are_bounded(configs):
    agent = make_agent(configs)
    for i in range(1000):
        agent.receive(hello(cluster_id="other"), f"198.18.{i // 250}.{i % 250}", i / 1e3, 0)
    assert len(agent.strangers) == ac.MAX_STRANGERS
    assert agent.ignored["foreign_cluster"] == 1000


# --- state machine -------------------------------------------------------------------------

def test_peer_waits_goes_up_down_and_back(configs):
    agent = make_agent(configs)  # down_after_s 6 from the generator
    agent.update(1.0)
    assert peer(agent, "w1").state == "waiting" and not agent.healthy
    assert send(agent, B, 2.0, seq=1) == "accepted"
    send(agent, C, 2.0, "w2", seq=1)
    agent.update(2.0)
    assert peer(agent, "w1").state == "up" and agent.healthy
    agent.update(8.5)
    assert peer(agent, "w1").state == "down" and "w1: down" in agent.problems()
    send(agent, B, 9.0, seq=2)
    send(agent, C, 9.0, "w2", seq=2)
    agent.update(9.0)
    entry = agent.state(9.0, 1009.0)["peers"][0]
    assert entry["state"] == "up" and entry["downs"] == 1 and entry["restarts"] == 0
    assert agent.healthy


def test_never_heard_peer_is_down_after_the_window(configs):
    agent = make_agent(configs)
    agent.update(6.5)
    assert peer(agent, "w1").state == "down"


def test_stale_and_replayed_hellos_are_dropped(configs):
    agent = make_agent(configs)
    agent.receive(hello(seq=5), B, 1.0, 1000.0)
    assert agent.receive(hello(seq=5), B, 1.1, 1000.1) == "stale"
    assert agent.receive(hello(seq=4), B, 1.1, 1000.1) == "stale"
    assert agent.ignored["stale"] == 2


@pytest.mark.parametrize("changes, reason", [({"instance": "new"}, "agent restart"),
                                             ({"instance": "new", "boot_id": "b2"}, "reboot")])
def test_restart_is_counted(configs, changes, reason):
    agent = make_agent(configs)
    agent.receive(hello(seq=40), B, 1.0, 1000.0)
    assert agent.receive(hello(seq=1, **changes), B, 1.5, 1000.5) == "accepted"
    entry = agent.state(1.5, 1000.5)["peers"][0]
    assert entry["restarts"] == 1 and entry["last_restart"] == reason


def test_restart_after_silence_is_counted(configs):
    agent = make_agent(configs)
    agent.receive(hello(seq=40), B, 1.0, 1000.0)
    agent.update(20.0)  # the claimant expired
    agent.receive(hello(seq=1, instance="new"), B, 21.0, 1020.0)
    assert peer(agent, "w1").restarts == 1


def test_duplicate_node_id_is_flagged_until_one_stops(configs):
    agent = make_agent(configs)
    send(agent, C, 1.0, "w2")
    send(agent, B, 1.0)
    send(agent, "198.18.0.99", 1.2, instance="twin", boot_id="boot-twin")
    agent.update(1.5)
    assert f"w1: duplicate node ID: claimed from {B}, 198.18.0.99" in agent.problems()
    assert peer(agent, "w1").restarts == 0  # a twin is not a restart
    send(agent, B, 7.5, seq=2)
    send(agent, C, 7.5, "w2", seq=2)
    agent.update(7.6)  # the twin has been silent for the window
    assert agent.problems() == []


def test_hellos_from_an_unexpected_address_are_flagged(configs):
    agent = make_agent(configs)
    agent.receive(hello(), "198.18.0.99", 1.0, 1000.0)
    agent.update(1.0)
    assert "w1: hellos come from 198.18.0.99, configured 198.18.0.11" in agent.problems()


def test_wrong_release_and_role_are_flagged(configs):
    agent = make_agent(configs)
    agent.receive(hello(release="2.0", role="main"), B, 1.0, 1000.0)
    agent.update(1.0)
    problems = agent.problems()
    assert "w1: release 2.0 differs from ours (1.0)" in problems
    assert "w1: role main differs from the configured worker" in problems


def test_single_node_device_is_healthy(configs):
    agent = make_agent(configs, peers=[])
    agent.update(0.0)
    assert agent.healthy and agent.outgoing(0.0) == []


# --- clock offset --------------------------------------------------------------------------

def exchange(offset, delay, hold, rounds=3):
    """Run hellos between two agents whose wall clocks differ by `offset` (B minus A), over
    a link of one-way `delay`; B answers after `hold`. Return A's agent."""
    cfgs = {n: {**c} for n, c in _configs_for_clock().items()}
    a = ac.Agent(cfgs["main"], instance="ia", start=0.0)
    b = ac.Agent(cfgs["w1"], instance="ib", start=0.0)
    t = 1000.0
    for _ in range(rounds):
        for data, _ in a.outgoing(t):
            b.receive(data, A, 0.0, t + delay + offset)
        t += delay + hold
        for data, address in b.outgoing(t + offset):
            if address == A:
                a.receive(data, B, 0.0, t + delay)
        t += delay + 1.0
    return a


def _configs_for_clock():
    base = {"format": 2, "device_id": "dev", "cluster_id": "clu", "release": "1",
            "discovery": "static", "interface": {"subnet": "198.18.0.0/24"}, "port": 1,
            "hello_interval_s": 1, "down_after_s": 3, "max_clock_offset_ms": 250,
            "state_file": "/dev/null"}
    main = {"id": "main", "role": "main", "address": A}
    w1 = {"id": "w1", "role": "worker", "address": B}
    return {"main": {**base, "self": main, "peers": [w1]},
            "w1": {**base, "self": w1, "peers": [main]}}


@pytest.mark.parametrize("offset", [0.0, 0.4, -1.25])
def test_clock_offset_cancels_symmetric_delay(offset):
    a = exchange(offset, delay=0.05, hold=0.7)
    p = a.peers["w1"]
    assert p.offset() == pytest.approx(offset, abs=1e-6)
    assert p.rtt() == pytest.approx(0.1, abs=1e-6)


def test_clock_offset_above_limit_is_flagged():
    a = exchange(0.4, delay=0.001, hold=0.2)
    a.update(0.0)
    assert "w1: clock offset +400 ms exceeds 250 ms" in a.problems()
    assert a.state(0.0, 0.0)["peers"][0]["clock_offset_ms"] == pytest.approx(400, abs=0.01)


def test_clock_offset_falls_back_to_one_way_without_echo(configs):
    agent = make_agent(configs)
    agent.receive(hello(clock=1000.3), B, 1.0, 1000.0)
    assert peer(agent, "w1").offset() == pytest.approx(0.3)
    assert peer(agent, "w1").rtt() is None
    agent.receive(hello(clock=1001.0, seq=2), B, 2.0, 1001.1)  # the latest one-way sample wins
    assert peer(agent, "w1").offset() == pytest.approx(-0.1)


# --- configuration, state file and status ---------------------------------------------------

def test_generator_config_loads(device, tmp_path):
    """One file for the device; each node finds itself in it and sees the others as peers."""
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps(device))
    for node_id, peers in (("main", ["w1", "w2"]), ("w1", ["main", "w2"]),
                           ("w2", ["main", "w1"])):
        cfg = ac.load_config(str(path), node_id)
        assert cfg["self"]["id"] == node_id
        assert [peer["id"] for peer in cfg["peers"]] == peers
        assert cfg["device_id"] == "dev" and cfg["cluster_id"] == "clu"


@pytest.mark.parametrize("changes", [{"format": 1}, {"port": "x"}, {"nodes": {}},
                                     {"nodes": [{"role": "main"}]},
                                     {"hello_interval_s": 10}, {"discovery": "dns"},
                                     {"interface": None}, {"down_after_s": True}])
def test_bad_config_is_rejected(device, tmp_path, changes):
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps({**device, **changes}))
    with pytest.raises(ac.ConfigError):
        ac.load_config(str(path), "main")


@pytest.mark.parametrize("node_id", ["w9", "", "MAIN"])
def test_node_not_in_the_device_is_rejected(device, tmp_path, node_id):
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps(device))
    with pytest.raises(ac.ConfigError, match="is not one node of the device"):
        ac.load_config(str(path), node_id)


def test_node_listed_twice_is_rejected(device):
    twice = {**device, "nodes": device["nodes"] + [device["nodes"][1]]}
    with pytest.raises(ac.ConfigError, match="'w1' is not one node"):
        ac.node_view(twice, "w1")


def test_node_id_comes_from_the_generated_node_conf(tmp_path):
    """The agent reads NODE_ID from the node.conf the generator writes for each node."""
    unit = tmp_path / "unit.yaml"
    unit.write_text(UNIT_CONFIG)
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "aos_multinode", "-q", "generate",
                             str(unit), "-o", str(out), "--no-ci"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    layer = out / "meta-aos-multinode" / "recipes-core"
    for node_id in ("main", "w1", "w2"):
        path = layer / "aos-node-config" / "files" / node_id / "node.conf"
        assert ac.read_node_id(str(path)) == node_id
    cluster = layer / "aos-multinode-device" / "files" / "cluster.json"
    assert ac.load_config(str(cluster), ac.read_node_id(
        str(layer / "aos-node-config" / "files" / "w2" / "node.conf")))["self"]["id"] == "w2"


@pytest.mark.parametrize("text", ["", "NODE_ID=\n", 'NODE_ROLE="x"\n', 'NODE_ID="$(reboot)"\n',
                                  'NODE_ID="a b\\"\n'])
def test_identity_without_a_usable_node_id_is_rejected(tmp_path, text):
    path = tmp_path / "node.conf"
    path.write_text(text)
    with pytest.raises(ac.ConfigError, match="NODE_ID"):
        ac.read_node_id(str(path))


def test_agent_with_bad_config_exits_2(tmp_path):
    (tmp_path / "c.json").write_text("{")
    assert ac.main(["agent", "--config", str(tmp_path / "c.json"), "--node", "main"]) == 2


def test_agent_without_identity_exits_2(device, tmp_path, capsys):
    (tmp_path / "c.json").write_text(json.dumps(device))
    code = ac.main(["agent", "--config", str(tmp_path / "c.json"),
                    "--identity", str(tmp_path / "missing.conf")])
    assert code == 2
    assert "missing.conf" in capsys.readouterr().err


def write_state(agent, path, now):
    ac.write_state(str(path), agent.state(now, 1000.0))


def test_status_reports_healthy_and_not(configs, tmp_path, capsys, monkeypatch):
    agent = make_agent(configs)
    now = ac.time.monotonic()
    agent.start = now
    agent.receive(hello(), B, now, 1000.0)
    agent.receive(hello(node="w2"), C, now, 1000.0)
    agent.update(now)
    path = tmp_path / "state.json"
    write_state(agent, path, now)
    assert not list(tmp_path.glob("*.tmp"))
    assert ac.main(["status", "--state", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["NODE", "ADDRESS", "STATE", "RELEASE", "CLOCK",
                                           "OFFSET", "LAST", "SEEN"]
    assert "w1" in out and "healthy" in out
    agent.receive(hello(release="9", seq=2), B, now, 1000.0)
    write_state(agent, path, now)
    assert ac.main(["status", "--json", "--state", str(path)]) == 1
    assert "w1: release 9 differs from ours (1.0)" in json.loads(capsys.readouterr().out)[
        "problems"]


def test_status_of_stale_state_is_unhealthy(configs, tmp_path, capsys):
    agent = make_agent(configs, peers=[])
    path = tmp_path / "state.json"
    write_state(agent, path, ac.time.monotonic() - 60)
    assert ac.main(["status", "--state", str(path)]) == 1
    assert "the agent is not running" in capsys.readouterr().out


def test_status_without_state_or_with_garbage(tmp_path):
    assert ac.main(["status", "--state", str(tmp_path / "none.json")]) == 1
    (tmp_path / "bad.json").write_text('{"peers": 1}')
    assert ac.main(["status", "--state", str(tmp_path / "bad.json")]) == 2
    (tmp_path / "odd.json").write_text('{"peers": [1], "problems": [], "monotonic": 1, '
                                       '"down_after_s": 6}')
    assert ac.main(["status", "--state", str(tmp_path / "odd.json")]) == 2
    (tmp_path / "worse.json").write_bytes(b"\xff")
    assert ac.main(["status", "--state", str(tmp_path / "worse.json")]) == 2


def test_status_usage_error_exits_2():
    with pytest.raises(SystemExit) as caught:
        ac.main(["status", "--bogus"])
    assert caught.value.code == 2


# --- system glue ----------------------------------------------------------------------------

def test_mdns_lookup_goes_through_getaddrinfo(configs, monkeypatch):
    seen = []

    def fake_getaddrinfo(name, port, family, kind):
        seen.append(name)
        if name == "w2.local":
            raise socket.gaierror("not found")
        return [(family, kind, 17, "", (B, 0)), (family, kind, 17, "", (B, 0))]

    monkeypatch.setattr(ac.socket, "getaddrinfo", fake_getaddrinfo)
    agent = make_agent(configs, discovery="mdns")
    assert ac.lookup_name(agent.cfg, peer(agent, "w1")) == "w1.local"
    assert ac.resolve("w1.local", socket.AF_INET) == [B]
    assert ac.resolve("w2.local", socket.AF_INET) == []
    assert seen == ["w1.local", "w2.local"]


def test_notify_reaches_systemd_socket(tmp_path, monkeypatch):
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        ac.notify("READY=1")
        assert server.recv(100) == b"READY=1"
    monkeypatch.delenv("NOTIFY_SOCKET")
    ac.notify("READY=1")  # no socket: a no-op


def test_agent_is_plain_python_without_jinja():
    text = AGENT.read_text()
    assert os.access(AGENT, os.X_OK) and text.startswith("#!/usr/bin/env python3\n")
    assert not any(mark in text for mark in ("{{", "{%", "{#"))


def verify_unit(tmp_path, unit_text, executable=True):
    """Run `systemd-analyze verify` on `unit_text` in a fake root that holds the agent at
    /usr/bin/aos-cluster and the host's systemd units; return (exit code, our messages)."""
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "usr/lib/systemd").mkdir(parents=True)
    (root / "usr/lib/systemd/system").symlink_to("/usr/lib/systemd/system")
    shutil.copy(AGENT, root / "usr/bin/aos-cluster")
    os.chmod(root / "usr/bin/aos-cluster", 0o755 if executable else 0o644)
    (root / "etc/systemd/system" / UNIT.name).write_text(unit_text)
    result = subprocess.run(["systemd-analyze", "verify", f"--root={root}", UNIT.name],
                            capture_output=True, text=True, timeout=60)
    # Keep only messages about our unit: the host's own units may draw warnings in a fake root.
    ours = [line for line in (result.stdout + result.stderr).splitlines()
            if "aos-cluster" in line]
    return result.returncode, ours


needs_systemd = pytest.mark.skipif(shutil.which("systemd-analyze") is None
                                   or not Path("/usr/lib/systemd/system/sysinit.target").exists(),
                                   reason="systemd-analyze or the host's systemd units missing")


@needs_systemd
def test_service_unit_verifies(tmp_path):
    assert verify_unit(tmp_path, UNIT.read_text()) == (0, [])


@needs_systemd
def test_unit_check_is_meaningful(tmp_path):
    """The same check catches a typo and a missing executable, so a pass means something."""
    code, messages = verify_unit(tmp_path / "a", UNIT.read_text().replace("TasksMax", "TaskMax"))
    assert any("Unknown key" in line for line in messages)
    code, messages = verify_unit(tmp_path / "b", UNIT.read_text(), executable=False)
    assert code != 0 and any("not executable" in line for line in messages)


def test_unit_runs_the_agent_as_documented():
    text = UNIT.read_text()
    assert "ExecStart=/usr/bin/aos-cluster agent --config /etc/aos-multinode/cluster.json" in text
    for line in ("Restart=on-failure", "RuntimeDirectory=aos-cluster", "ProtectSystem=strict",
                 "After=network-online.target systemd-networkd.service"):
        assert line in text
    assert ac.STATE_FILE.startswith("/run/aos-cluster/")


def test_newcomers_and_restarted_peers_are_answered_at_once(configs):
    agent = make_agent(configs)
    send(agent, B, 1.0)
    assert agent.welcome == {"w1"}
    assert [address for _, address in agent.outgoing(1001.0, agent.welcome)] == [B]
    agent.welcome.clear()
    agent.update(1.0)
    send(agent, B, 1.5, seq=2)
    assert agent.welcome == set()  # already up: the next tick is soon enough
    send(agent, B, 3.0, seq=1, instance="new")
    assert agent.welcome == {"w1"}


def test_out_of_turn_answers_are_rate_limited(configs):
    """A peer that claims a new instance in every hello (or a spoofer doing so) is answered
    out of turn at most once per hello_interval_s (2 s here), not once per hello: before,
    each such hello cost one reply and one state-file write."""
    agent = make_agent(configs)
    answered = 0
    for i in range(1000):  # 1000 churned hellos over 4 s
        assert send(agent, B, 1.0 + i * 0.004, seq=1, instance=f"churn{i}") == "accepted"
        if agent.welcome:  # what run_agent does: answer, write the state file
            answered += 1
            agent.outgoing(1000.0, agent.welcome)
            agent.welcome.clear()
    assert answered == 2  # at 1.0 and 3.0
    assert agent.counters["received"] == 1000 and agent.counters["sent"] == 2


def test_next_expiry_is_when_the_first_silent_peer_goes_down(configs):
    agent = make_agent(configs)
    assert agent.next_expiry() == float("inf")
    send(agent, B, 1.0)
    send(agent, C, 2.0, "w2")
    agent.update(2.0)
    expiry = agent.next_expiry()
    assert expiry == pytest.approx(7.0, abs=0.01)
    agent.update(expiry)
    assert peer(agent, "w1").state == "down" and peer(agent, "w2").state == "up"


# Each module the agent imports -> the openembedded-core python3 package holding it
# (python3-manifest.json); docs/agent.md and the recipe's RDEPENDS follow this table.
IMPORTS = {"argparse": "python3-core", "collections": "python3-core", "ipaddress": "python3-core",
           "hashlib": "python3-crypt", "hmac": "python3-netclient",
           "math": "python3-core", "os": "python3-core", "select": "python3-core",
           "signal": "python3-core", "sys": "python3-core", "threading": "python3-core",
           "time": "python3-core", "json": "python3-json", "socket": "python3-io"}


def test_agent_imports_only_what_the_recipe_provides():
    tree = ast.parse(AGENT.read_text())
    names = {alias.name.split(".")[0] for node in ast.walk(tree)
             if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module.split(".")[0] for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom)}
    assert names == set(IMPORTS)
    docs = (ROOT / "docs/agent.md").read_text()
    rdepends = " ".join(sorted(set(IMPORTS.values())))
    assert f"RDEPENDS:${{PN}} = \"{rdepends}\"" in docs
    recipe = (FILES.parent / "aos-cluster-agent.bb.j2").read_text()
    assert f"{{{{ device_recipe }}}} {rdepends}\"" in recipe


# --- what a hostile sender can make the agent do ---------------------------------------------

def test_a_hello_replayed_from_another_address_is_stale(configs):
    agent = make_agent(configs)
    assert send(agent, B, 1.0, seq=7) == "accepted"
    assert send(agent, "198.18.0.99", 1.1, seq=7) == "stale"
    assert send(agent, "198.18.0.99", 1.2, seq=3) == "stale"
    assert list(peer(agent, "w1").claimants) == [B]  # no made-up duplicate either


def test_a_spoofer_cannot_grow_memory_or_the_state_file(configs):
    """Unknown node IDs, other devices and clusters, churned instances of every peer, each
    from a new source address, with the longest strings allowed: every table stays bounded
    and so does the state file."""
    agent = make_agent(configs)
    long = "x" * ac.MAX_TEXT
    for i in range(5000):
        source, now = f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", 1.0 + i / 1e4
        kind = i % 4
        if kind == 0:
            agent.receive(hello(node=f"n{i}-{long}"[:253]), source, now, 1000.0)
        elif kind == 1:
            agent.receive(hello(device_id=f"d{i}{long}"[:253]), source, now, 1000.0)
        else:
            agent.receive(hello(node=("w1", "w2")[kind - 2], instance=f"i{i}", seq=i,
                                release=long), source, now, 1000.0)
    agent.update(1.5)
    assert len(agent.strangers) <= ac.MAX_STRANGERS
    assert all(len(p.claimants) <= ac.MAX_CLAIMANTS for p in agent.peers.values())
    assert agent.welcome <= set(agent.peers)
    assert len(json.dumps(agent.state(1.5, 1001.5))) < 100_000


def test_log_lines_are_rate_limited_and_cut(capsys):
    now = [0.0]
    log = ac.Log(burst=3, window=10.0, clock=lambda: now[0])
    for i in range(50):
        log(f"line {i} " + "y" * 5000)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all(len(line) <= ac.MAX_LOG_LINE + 20 for line in err)
    assert log.counters["log_suppressed"] == 47
    now[0] = 10.0
    log("after")
    assert capsys.readouterr().err.splitlines() == [
        "aos-cluster: 47 log lines suppressed in 10 s", "aos-cluster: after"]


def test_one_shot_messages_are_not_limited(capsys):
    """Until the agent runs, nothing is suppressed: `status` and configuration errors always
    show, however many lines came before."""
    log = ac.Log(window=10.0, clock=lambda: 0.0)
    for i in range(100):
        log(f"line {i}")
    assert len(capsys.readouterr().err.splitlines()) == 100
    assert ac.log.burst == float("inf")


def test_drain_survives_a_bug_in_the_agent(configs, monkeypatch, capsys):
    """Belt and braces: if handling a datagram ever raised, the agent counts it and goes on
    (no traceback, no exit); the fuzz tests make sure this is not reached."""
    agent = make_agent(configs)
    monkeypatch.setattr(agent, "receive", lambda *args: 1 / 0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        for _ in range(3):
            sock.sendto(b"{}", sock.getsockname())
        ac.drain(sock, agent)
    assert agent.ignored["internal_error"] == 3
    assert "ZeroDivisionError" in capsys.readouterr().err
