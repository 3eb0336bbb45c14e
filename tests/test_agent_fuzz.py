"""Property-based tests of the cluster agent's datagram handling (hypothesis): whatever a
datagram holds, the agent returns "accepted" or counts it under one of its ignored
counters, and never raises."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from test_agent_unit import A, B, ac, configs, device, hello, make_agent  # noqa: F401

OUTCOMES = ("accepted", *ac.IGNORED)
FIELDS = ["proto", "device_id", "cluster_id", "node_id", "role", "release", "boot_id",
          "instance", "seq", "clock", "echo"]
SETTINGS = settings(max_examples=400, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

# Numbers of every kind the JSON grammar allows, and then some: huge integers (the 400-digit
# clock), bools, negative numbers, NaN and the infinities (Python's json writes and reads
# those), and floats at the edges of the range.
numbers = (st.integers() | st.integers(min_value=-10 ** 1200, max_value=10 ** 1200)
           | st.sampled_from([10 ** 400, -10 ** 400, 2 ** 63, 2 ** 64, -1, 0, True, False,
                              math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, -0.0])
           | st.floats(allow_nan=True, allow_infinity=True))
texts = st.text(max_size=40) | st.sampled_from(["", "x" * 254, "\x1b[2J", "\ud800", "n\u00e9",
                                                "dev", "clu", "w1", "main", "aos-cluster/1"])
scalars = st.none() | st.booleans() | numbers | texts
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(texts, inner, max_size=4), max_leaves=12)


def encode(obj) -> bytes:
    """JSON as any sender could write it (NaN/Infinity tokens included), or b"" when even
    Python cannot write it (an integer over its digit limit)."""
    try:
        return json.dumps(obj).encode()
    except (ValueError, RecursionError):
        return b""


def outcome(agent, data: bytes, source: str = B) -> str:
    result = agent.receive(data, source, 1.0, 1000.0)
    assert result in OUTCOMES, result
    return result


def parses_or_is_ignored(data: bytes) -> None:
    """parse_hello returns a hello dict or raises BadPacket of a known kind: nothing else."""
    try:
        msg = ac.parse_hello(data)
    except ac.BadPacket as bad:
        assert bad.kind in ac.IGNORED
    else:
        assert isinstance(msg, dict) and msg["proto"] == ac.PROTOCOL


def test_a_400_digit_clock_is_malformed_not_fatal(configs):
    """The tracker's one-packet kill: an integer clock with 400 digits raised OverflowError
    in the number check (math.isfinite), before the device and cluster IDs were looked at."""
    for field in ("clock", "seq"):
        data = hello(**{field: 10 ** 400})
        with pytest.raises(ac.BadPacket):
            ac.parse_hello(data)
        assert outcome(make_agent(configs), data) == "malformed"
    for echo in ({"t0": 10 ** 400, "t1": 1.0}, {"t0": 1.0, "t1": -10 ** 400}):
        assert outcome(make_agent(configs), hello(echo=echo)) == "malformed"


@pytest.mark.parametrize("clock", [-1.0, -10 ** 20, 1e300, 2.0 ** 40, True])
def test_clocks_outside_any_plausible_wall_clock_are_malformed(configs, clock):
    """Finite but absurd clocks would turn the offset estimate into inf or NaN."""
    assert outcome(make_agent(configs), hello(clock=clock)) == "malformed"
    assert outcome(make_agent(configs), hello(echo={"t0": clock, "t1": 1.0})) == "malformed"


@SETTINGS
@given(st.binary(max_size=3000))
def test_any_bytes(configs, data):
    parses_or_is_ignored(data)
    assert outcome(make_agent(configs), data) in ac.IGNORED


@SETTINGS
@given(values)
def test_any_json_value(configs, value):
    data = encode(value)
    parses_or_is_ignored(data)
    outcome(make_agent(configs), data)


@SETTINGS
@given(st.dictionaries(st.sampled_from(FIELDS), numbers | scalars | values, min_size=1,
                       max_size=3),
       st.sampled_from(["w1", "w2", "w9", "main"]))
def test_a_valid_hello_with_any_fields_replaced(configs, changes, node):
    """Start from a hello the agent accepts and replace some fields by anything: this is
    what reaches the checks after the IDs (the 400-digit clock)."""
    data = encode({**json.loads(hello(node)), **changes})
    parses_or_is_ignored(data)
    agent = make_agent(configs)
    outcome(agent, data)
    agent.update(2.0)
    json.dumps(agent.state(2.0, 1001.0), allow_nan=False)  # the state file stays strict JSON


@SETTINGS
@given(st.integers(min_value=1, max_value=3000), st.sampled_from([b"[", b"{\"a\":", b"[{\"a\":"]))
def test_deep_nesting(configs, depth, opener):
    data = opener * depth
    parses_or_is_ignored(data)
    assert outcome(make_agent(configs), data) in ac.IGNORED


@SETTINGS
@given(st.binary(min_size=1, max_size=300), st.integers(min_value=0, max_value=400))
def test_a_valid_hello_with_bytes_spliced_in(configs, junk, at):
    """Bit rot and truncation: non-UTF-8, cut strings, stray bytes anywhere."""
    data = hello()
    assume(at <= len(data))
    parses_or_is_ignored(data[:at] + junk + data[at:])
    outcome(make_agent(configs), data[:at] + junk + data[at:])
