"""Authenticated hellos (HMAC-SHA256 with the device key) and their replay protection, fed to
the agent's Agent class by hand; the device key's loading, `keygen` and `status`."""

from __future__ import annotations

import json
import os
import stat

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from test_agent_unit import (A, B, C, UNIT, ac, configs, device, hello,  # noqa: F401
                             make_agent, write_state)

KEY = b"k" * 64
OTHER_KEY = b"o" * 64


class Wire:
    """Two or three agents of one device and the datagrams between them, with one clock:
    monotonic `now`, wall clock 1000 + now on every node."""

    def __init__(self, configs, key=KEY, keys=None):
        keys = keys or {}
        self.agents = {node: ac.Agent(configs[node], boot_id="b-" + node, instance="i-" + node,
                                      start=0.0, key=keys.get(node, key))
                       for node in ("main", "w1", "w2")}
        self.address = {"main": A, "w1": B, "w2": C}
        self.node_at = {a: n for n, a in self.address.items()}
        self.now = 0.0
        self.captured = []  # every datagram sent to main: what an eavesdropper records
        self.dead = set()

    def tick(self, step=0.5, welcome_only=False):
        """Every live agent sends (its due hellos or its out-of-turn answers), every
        datagram is delivered, then time advances by `step`."""
        results = []
        for node, agent in self.agents.items():
            if node in self.dead:
                continue
            only = agent.welcome if welcome_only else None
            if welcome_only and not only:
                continue
            packets = agent.outgoing(1000.0 + self.now, only, self.now)
            agent.welcome = set()
            for data, address in packets:
                target = self.node_at[address]
                if target == "main":
                    self.captured.append(data)
                if target not in self.dead:
                    results.append(self.agents[target].receive(
                        data, self.address[node], self.now, 1000.0 + self.now))
        for agent in self.agents.values():
            agent.update(self.now)
        self.now += step
        return results

    def run(self, seconds, step=0.5):
        """Ticks, each followed by the out-of-turn answers it caused."""
        results = []
        end = self.now + seconds
        while self.now < end:
            results += self.tick(0.0)
            results += self.tick(step, welcome_only=True)
        return results


def test_agents_with_one_key_become_healthy_with_sealed_hellos(configs):
    wire = Wire(configs)
    assert all(data.startswith(ac.MAC_TAG) for data, _ in
               wire.agents["main"].outgoing(1000.0, now=0.0))
    wire.run(2.0)
    for agent in wire.agents.values():
        assert agent.healthy, agent.problems()
        assert agent.ignored["unauthenticated"] == 0
        assert agent.state(wire.now, 0)["authentication"] == {
            "hellos": "hmac-sha256", "key": ac.key_fingerprint(KEY)}


def test_first_hellos_are_unproven_until_they_answer_ours(configs):
    """A sealed hello without an echo of our own clock could be a recording: it counts only
    as a reason to answer at once, and the peer's answer to that counts."""
    wire = Wire(configs)
    main = wire.agents["main"]
    first = wire.agents["w1"].outgoing(1000.0, {"main"}, 0.0)[0][0]
    assert main.receive(first, B, 0.0, 1000.0) == "unproven"
    assert main.peers["w1"].state != "up" and main.welcome == {"w1"}
    answer = main.outgoing(1000.1, main.welcome, 0.1)[0][0]
    assert wire.agents["w1"].receive(answer, A, 0.1, 1000.1) == "accepted"  # echoes w1's clock
    reply = wire.agents["w1"].outgoing(1000.2, {"main"}, 0.2)[0][0]
    assert main.receive(reply, B, 0.2, 1000.2) == "accepted"


@pytest.mark.parametrize("make", [
    lambda: hello(),                                               # plain JSON, no MAC
    lambda: ac.seal(hello(), OTHER_KEY),                           # another device's key
    lambda: ac.seal(hello(), KEY).replace(b'"w1"', b'"w2"'),       # tampered after sealing
    lambda: ac.MAC_TAG + b"0" * 64 + b" " + hello(),               # made-up MAC
])
def test_hellos_without_our_keys_mac_are_ignored_and_flagged(configs, make):
    agent = make_agent(configs)
    agent.key = KEY
    assert agent.receive(make(), B, 1.0, 1001.0) == "unauthenticated"
    assert agent.peers["w1"].hello is None and agent.peers["w1"].rx is None
    agent.update(1.0)
    assert f"hellos without our device key's MAC from {B} (node ?" in "; ".join(
        agent.problems())


def test_a_dead_node_cannot_be_masked_by_forged_or_replayed_hellos(configs):
    """The attack: w2 dies, and someone on the cluster network sends hellos for it - forged
    ones, and every sealed hello of w2 that it recorded on the wire. Without a key the
    forgery keeps w2 `up`; with one, w2 is reported down."""
    for key, masked in ((None, True), (KEY, False)):
        wire = Wire(configs, key=key)
        wire.run(3.0)
        assert wire.agents["main"].healthy
        recorded = [d for d in wire.captured if b'"node_id":"w2"' in d]
        assert recorded
        wire.dead.add("w2")
        main = wire.agents["main"]
        outcomes = set()
        forged = json.dumps({**json.loads(hello("w2")), "seq": 10 ** 6}).encode()
        for _ in range(40):  # 20 s: w2 is down after 6 s
            for data in [forged, *recorded]:
                outcomes.add(main.receive(data, C, wire.now, 1000.0 + wire.now))
            wire.run(0.5)
        assert (main.peers["w2"].state == "up") is masked
        if key:
            assert main.peers["w2"].state == "down" and "w2: down" in main.problems()
            assert "accepted" not in outcomes
            assert outcomes <= {"unauthenticated", "stale", "unproven"}


def test_unproven_hellos_cannot_make_us_answer_more_than_once_per_interval(configs):
    wire = Wire(configs)
    main = wire.agents["main"]
    recorded = wire.agents["w1"].outgoing(1000.0, {"main"}, 0.0)[0][0]
    answered = 0
    for i in range(500):
        main.receive(recorded.replace(b"i-w1", b"i-w1"), B, 0.01 * i, 1000.0)
        if main.welcome:
            answered += 1
            main.welcome.clear()
    assert answered == 3  # 5 s at one answer per hello_interval_s (2 s)


def test_challenges_stay_bounded(configs):
    agent = make_agent(configs)
    agent.key = KEY
    for i in range(10 * ac.MAX_CHALLENGES):
        agent.outgoing(1000.0 + i, now=i / 1000)
    assert len(agent.challenges) == ac.MAX_CHALLENGES
    agent.update(100.0)
    assert agent.challenges == {}


def test_an_agent_without_a_key_still_takes_sealed_hellos(configs):
    """Rollout: a node that has no key yet hears nodes that have one (it cannot check their
    MAC, so to it they are unauthenticated hellos, as before)."""
    agent = make_agent(configs)
    assert agent.receive(ac.seal(hello(), KEY), B, 1.0, 1000.0) == "accepted"
    assert agent.receive(ac.MAC_TAG + b"x" * 10, B, 1.0, 1000.0) == "malformed"


SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(st.binary(max_size=1500), st.booleans())
def test_any_datagram_to_a_keyed_agent(configs, data, tagged):
    agent = make_agent(configs)
    agent.key = KEY
    if tagged:
        data = ac.MAC_TAG + data
    assert agent.receive(data, B, 1.0, 1000.0) in ac.IGNORED


# --- the key on the node ----------------------------------------------------------------------

def test_key_loading(tmp_path, monkeypatch):
    path = tmp_path / "cluster.key"
    assert ac.load_key(str(path)) is None  # no file: not authenticated
    path.write_bytes(b"")
    assert ac.load_key(str(path)) is None
    path.write_bytes(b"none")
    assert ac.load_key(str(path)) is None  # the unit's default credential (SetCredential=)
    path.write_bytes(b"  " + KEY + b"\n")
    assert ac.load_key(str(path)) == KEY
    for bad in (b"short\n", b"x" * (ac.MAX_KEY + 1)):
        path.write_bytes(bad)
        with pytest.raises(ac.ConfigError, match="aos-cluster keygen"):
            ac.load_key(str(path))
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert ac.default_key_path() == str(tmp_path / "cluster.key")
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    assert ac.default_key_path() == ac.KEY_FILE


def test_agent_with_an_unusable_key_exits_2(device, tmp_path, capsys):
    """A key file that is there but unusable is a provisioning fault: the agent says so and
    does not quietly run unauthenticated."""
    (tmp_path / "c.json").write_text(json.dumps(device))
    (tmp_path / "key").write_text("too short")
    assert ac.main(["agent", "--config", str(tmp_path / "c.json"), "--node", "main",
                    "--key", str(tmp_path / "key")]) == 2
    assert "device key" in capsys.readouterr().err


def test_keygen(tmp_path, capsys):
    out = tmp_path / "cluster.key"
    assert ac.main(["keygen", "--out", str(out)]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    key = ac.load_key(str(out))
    assert len(key) == 64 and int(key, 16) >= 0
    assert ac.main(["keygen", "--out", str(out)]) == 2  # never overwrites a key
    assert ac.load_key(str(out)) == key
    assert ac.main(["keygen"]) == 0
    printed = capsys.readouterr().out.strip()
    assert len(printed) == 64 and printed.encode() != key


@pytest.mark.parametrize("key, line", [
    (None, "hellos: NOT authenticated"),
    (KEY, f"hellos: authenticated (HMAC-SHA256, key {ac.key_fingerprint(KEY)})")])
def test_status_says_whether_hellos_are_authenticated(configs, tmp_path, capsys, key, line):
    agent = make_agent(configs, peers=[])
    agent.key = key
    agent.update(ac.time.monotonic())
    path = tmp_path / "state.json"
    write_state(agent, path, ac.time.monotonic())
    assert ac.main(["status", "--state", str(path)]) == 0
    assert line in capsys.readouterr().out
    assert ac.main(["status", "--json", "--state", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["authentication"]["hellos"] == (
        "hmac-sha256" if key else "not authenticated")
    assert os.fsencode(KEY) not in path.read_bytes()  # the key itself is never written


def test_unit_passes_the_key_as_a_credential():
    """The key file stays root-only; systemd copies it for the service's dynamic user, and
    without it the default "none" (no key) applies instead of a failed start."""
    text = UNIT.read_text()
    assert f"LoadCredential={ac.KEY_CREDENTIAL}:{ac.KEY_FILE}" in text
    assert f"SetCredential={ac.KEY_CREDENTIAL}:{ac.NO_KEY.decode()}" in text
