#!/usr/bin/env python3
"""aos-cluster: the cluster agent of a multi-node AosEdge device, and its status command.

  aos-cluster agent  [--config PATH] [--node ID] [--state PATH] [--port N] [--key PATH]
  aos-cluster status [--json] [--state PATH]                exit 0 healthy, 1 not, 2 error
  aos-cluster keygen [--out PATH]                           a new device key (provisioning)

The agent reads the device's cluster configuration (/etc/aos-multinode/cluster.json: every node
of the device, the same file on all of them) and finds itself there by its node ID (--node, or
NODE_ID in /etc/aos-multinode/node.conf, which only this node's image carries). It
sends every peer a small JSON hello over UDP each `hello_interval_s`, and writes what it saw to
`state_file` (atomically: tmp + rename). A hello counts only when its device and cluster IDs are
ours; anything else is ignored and counted, never trusted. Once the node holds the device key
(provisioned on each node, never in the image), hellos carry an HMAC-SHA256 and only
authenticated hellos that answer one of our recent hellos count. Python standard library only:
it gives UDP sockets, JSON, HMAC and a select loop, which POSIX shell cannot do portably.
"""

import argparse
import hashlib
import hmac
import ipaddress
import json
import math
import os
import select
import signal
import socket
import sys
import threading
import time
from collections import deque

PROTOCOL = "aos-cluster/1"
CONFIG_FILE = "/etc/aos-multinode/cluster.json"
IDENTITY_FILE = "/etc/aos-multinode/node.conf"
CONFIG_FORMAT = 2
STATE_FILE = "/run/aos-cluster/state.json"
KEY_FILE = "/var/lib/aos-multinode/cluster.key"  # root-only; the unit passes it as a credential
KEY_CREDENTIAL = "cluster.key"  # its name under $CREDENTIALS_DIRECTORY
NO_KEY = b"none"                # the unit's default credential when no key is provisioned
MIN_KEY, MAX_KEY = 32, 4096     # bytes of key material (keygen writes 64 hex digits)
MAC_TAG = b"aos-mac1 "          # an authenticated hello: MAC_TAG, 64 hex digits, " ", the JSON
MAC_CONTEXT = b"aos-cluster/1 hello\0"  # what the MAC covers is this, then the JSON
MAX_CHALLENGES = 256   # our recent hello clocks remembered, to check the echo of a peer's hello
MAX_PACKET = 1400      # one unfragmented datagram on a 1500-byte MTU; anything longer is hostile
MAX_TEXT = 253         # longest identity string accepted in a hello (a DNS name)
MAX_NUMBER = 2 ** 63   # numbers must lie within +-MAX_NUMBER (ints: 0 <= n < MAX_NUMBER)
MAX_CLOCK = 2.0 ** 40  # a clock must be 0 <= clock < 2^40 s (the year 36812)
CLOCK_SAMPLES = 8      # offset = the sample with the least round-trip delay among the last few
MAX_STRANGERS = 64     # untrusted senders remembered: spoofed floods cannot grow memory
MAX_CLAIMANTS = 8      # bound on addresses remembered per node ID
RESOLVE_EVERY_S = 30.0  # re-resolve peers' names this often once they resolved
DRAIN_BATCH = 64       # datagrams read per wake-up, so a flood cannot starve the hello timer
LOG_BURST = 30         # log lines per LOG_WINDOW_S at most; the rest are counted, not printed
LOG_WINDOW_S = 60.0
MAX_LOG_LINE = 1000    # characters of one log line at most
IGNORED = ("malformed", "oversized", "unauthenticated", "unproven", "stale", "foreign_device",
           "foreign_cluster", "unknown_node", "duplicate_self", "internal_error")
COUNTERS = ("received", "sent", "ticks", "writes", "log_suppressed")
STRANGER_TEXT = {"foreign_device": "hellos of another device", "unknown_node": "unknown node ID",
                 "foreign_cluster": "hellos of another cluster",
                 "duplicate_self": "another node claims this node's ID",
                 "unauthenticated": "hellos without our device key's MAC"}
HELLO_FIELDS = {"device_id": str, "cluster_id": str, "node_id": str, "role": str, "release": str,
                "boot_id": str, "instance": str, "seq": int, "clock": float}


class ConfigError(Exception):
    """The cluster configuration or state file cannot be used."""


class BadPacket(Exception):
    """A datagram that is not a hello; `kind` says which counter it lands in."""

    def __init__(self, kind):
        super().__init__(kind)
        self.kind = kind


def _is(value, kind):
    """Return True when `value` is a sane hello field of `kind` (str, int or float). Never
    raises, whatever `value` is: it only compares, and int-float comparison is exact in
    Python (math.isfinite(10 ** 400) would raise OverflowError)."""
    if kind is str:
        return (isinstance(value, str) and 0 < len(value) <= MAX_TEXT
                and value.isascii() and value.isprintable())  # printable: status prints them
    if type(value) is int:  # bool is an int subclass: excluded by `type(...) is`
        return (0 if kind is int else -MAX_NUMBER) <= value < MAX_NUMBER
    return kind is float and type(value) is float and -MAX_NUMBER < value < MAX_NUMBER


def _is_clock(value):
    """Return True when `value` can be a wall clock (seconds since 1970): anything else
    would make the offset estimate inf or NaN."""
    return _is(value, float) and 0 <= value < MAX_CLOCK


def _reject_constant(name):
    raise ValueError(name)  # NaN and Infinity are valid to Python's json, not to us


def parse_hello(data):
    """Return the hello carried by `data` (bytes) as a dict; raise BadPacket when it is none."""
    if len(data) > MAX_PACKET:
        raise BadPacket("oversized")
    try:
        msg = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise BadPacket("malformed") from None
    if not isinstance(msg, dict) or msg.get("proto") != PROTOCOL:
        raise BadPacket("malformed")
    if not all(_is(msg.get(key), kind) for key, kind in HELLO_FIELDS.items()):
        raise BadPacket("malformed")
    echo = msg.get("echo")
    if not _is_clock(msg["clock"]) or echo is not None and not (
            isinstance(echo, dict) and _is_clock(echo.get("t0")) and _is_clock(echo.get("t1"))):
        raise BadPacket("malformed")
    return msg


def seal(body, key):
    """Return the datagram carrying `body` (a hello's JSON) authenticated with `key`."""
    mac = hmac.new(key, MAC_CONTEXT + body, hashlib.sha256).hexdigest().encode()
    return MAC_TAG + mac + b" " + body


def unseal(data, key):
    """Return (the hello's JSON, whether its MAC was checked) of the datagram `data`. With a
    `key`, only a datagram whose MAC checks passes, before any JSON is parsed; without one,
    a MAC cannot be checked and is skipped. Raise BadPacket otherwise."""
    if len(data) > MAX_PACKET:
        raise BadPacket("oversized")
    if not data.startswith(MAC_TAG):
        if key is not None:
            raise BadPacket("unauthenticated")
        return data, False
    mac, body = data[len(MAC_TAG):len(MAC_TAG) + 64], data[len(MAC_TAG) + 65:]
    if len(mac) != 64 or data[len(MAC_TAG) + 64:len(MAC_TAG) + 65] != b" ":
        raise BadPacket("malformed")
    if key is None:
        return body, False
    expected = hmac.new(key, MAC_CONTEXT + body, hashlib.sha256).hexdigest().encode()
    if not hmac.compare_digest(mac, expected):
        raise BadPacket("unauthenticated")
    return body, True


def key_fingerprint(key):
    """Return a short public fingerprint of `key`: nodes with the same key show the same one
    in `status`, and it tells nothing about the key."""
    return hashlib.sha256(b"aos-cluster key fingerprint\0" + key).hexdigest()[:12]


def load_key(path):
    """Return the device key in the file `path`, or None when there is none (no file, an
    empty one, or NO_KEY: the unit's default). Raise ConfigError when the file is there but
    unusable: the agent must not quietly run unauthenticated then."""
    try:
        with open(path, "rb") as stream:
            key = stream.read(MAX_KEY + 1).strip()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise ConfigError(f"{path}: {err}") from None
    if key in (b"", NO_KEY):
        return None
    if not MIN_KEY <= len(key) <= MAX_KEY:
        raise ConfigError(f"{path}: a device key has {MIN_KEY} to {MAX_KEY} bytes, this one "
                          f"{len(key)}; make one with `aos-cluster keygen`")
    return key


def default_key_path():
    """Return where the agent looks for the device key: the credential systemd passes the
    service, else KEY_FILE (for a manual run as root)."""
    folder = os.environ.get("CREDENTIALS_DIRECTORY")
    return os.path.join(folder, KEY_CREDENTIAL) if folder else KEY_FILE


def same_address(a, b):
    """Return True when two address strings name the same IP (IPv6 has many spellings)."""
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a == b


class Peer:
    """What this node knows about one configured peer."""

    def __init__(self, entry):
        self.id = entry["id"]
        self.hostname = entry.get("hostname") or self.id
        self.role = entry.get("role")
        self.address = entry.get("address")
        self.targets = [self.address] if self.address else []  # where our hellos go
        self.claimants = {}    # source address -> {instance, boot_id, seq, seen}
        self.hello = None      # last accepted hello
        self.source = None     # its source address
        self.last_seen = None  # monotonic time of the last accepted hello
        self.last_seen_wall = None
        self.rx = None         # (its clock, our wall clock at receipt): echoed back to it
        self.welcomed = None   # monotonic time we last answered it out of turn
        self.rx_seen = None    # monotonic time of `rx`
        self.samples = deque(maxlen=CLOCK_SAMPLES)  # (round-trip delay, offset) in seconds
        self.state = "waiting"
        self.restarts = 0
        self.downs = 0
        self.last_restart = None

    def offset(self):
        """Return the peer's clock minus ours in seconds (least-delay sample), or None."""
        return min(self.samples)[1] if self.samples else None

    def rtt(self):
        """Return the round-trip delay of the sample behind offset(), or None when one-way."""
        delay = min(self.samples)[0] if self.samples else math.inf
        return None if math.isinf(delay) else delay


class Agent:
    """The agent's logic, free of I/O: feed it datagrams and ticks, read its state."""

    def __init__(self, config, boot_id="", instance=None, start=0.0, key=None):
        self.cfg = config
        self.key = key  # the device key (bytes): hellos are sealed and must be, or None
        self.me = config["self"]
        self.peers = {entry["id"]: Peer(entry) for entry in config["peers"]}
        self.boot_id = boot_id
        self.instance = instance or os.urandom(8).hex()  # tells a restarted agent from the old one
        self.start = start
        self.seq = 0
        self.ignored = dict.fromkeys(IGNORED, 0)
        self.counters = dict.fromkeys(COUNTERS, 0)  # what peers made us do: all bounded
        self.strangers = {}  # (kind, source) -> {node_id, device_id, cluster_id, seen}
        self.healthy = None
        self.welcome = set()  # peers that just appeared: answered at once, not next tick
        self.challenges = {}  # with a key: the clock of each recent hello of ours -> when sent

    def receive(self, data, source, now, wall):
        """Account for one datagram from `source`; return "accepted" or the counter it hit."""
        self.counters["received"] += 1
        try:
            hello = parse_hello(unseal(data, self.key)[0])
        except BadPacket as bad:
            if bad.kind == "unauthenticated":
                return self._stranger(bad.kind, None, source, now)
            return self._ignore(bad.kind)
        if hello["device_id"] != self.cfg["device_id"]:
            return self._stranger("foreign_device", hello, source, now)
        if hello["cluster_id"] != self.cfg["cluster_id"]:
            return self._stranger("foreign_cluster", hello, source, now)
        if hello["instance"] == self.instance:
            return self._ignore("stale")  # our own hello, looped back
        if hello["node_id"] == self.me["id"]:
            return self._stranger("duplicate_self", hello, source, now)
        peer = self.peers.get(hello["node_id"])
        if peer is None:
            return self._stranger("unknown_node", hello, source, now)
        return self._accept(peer, hello, source, now, wall)

    def _ignore(self, kind):
        self.ignored[kind] += 1
        return kind

    def _stranger(self, kind, hello, source, now):
        """Count an untrusted hello and remember only who sent it, to name it in problems."""
        if len(self.strangers) >= MAX_STRANGERS and (kind, source) not in self.strangers:
            del self.strangers[min(self.strangers, key=lambda k: self.strangers[k]["seen"])]
        hello = hello or dict.fromkeys(("node_id", "device_id", "cluster_id"), "?")
        self.strangers[(kind, source)] = {
            "node_id": hello["node_id"], "device_id": hello["device_id"],
            "cluster_id": hello["cluster_id"], "seen": now}
        return self._ignore(kind)

    def _welcome(self, peer, now):
        """Answer `peer` at once (not at the next tick), at most once per hello_interval_s:
        a peer claiming a new instance in every hello cannot multiply our replies and
        state-file writes, which follow the replies."""
        if peer.welcomed is None or now - peer.welcomed >= self.cfg["hello_interval_s"]:
            peer.welcomed = now
            self.welcome.add(peer.id)

    def _accept(self, peer, hello, source, now, wall):
        """Take a trusted hello into `peer`; return "accepted" or "stale" for a replayed one."""
        old = peer.claimants.get(source)
        if any(c["instance"] == hello["instance"] and hello["seq"] <= c["seq"]
               for c in peer.claimants.values()):
            return self._ignore("stale")  # duplicated, reordered or replayed (from any address)
        if self.key is not None and not self._fresh(hello, now):
            # Authentic, but it may be a recording: it does not count. Keep its clock (unless
            # it is older than what we have) so that our answer, out of turn, carries the
            # echo that proves the peer's next hello fresh.
            if (peer.rx is None or hello["clock"] > peer.rx[0]
                    or now - peer.rx_seen > self.cfg["down_after_s"]):
                peer.rx, peer.rx_seen = (hello["clock"], wall), now
            self._welcome(peer, now)
            return self._ignore("unproven")
        # Compare with the same sender, or after a silence with whoever spoke last.
        previous = old or (None if peer.claimants else peer.hello)
        restarted = previous is not None and previous["instance"] != hello["instance"]
        if restarted or peer.state != "up":
            self._welcome(peer, now)
        if restarted:
            peer.restarts += 1
            peer.last_restart = ("reboot" if previous["boot_id"] != hello["boot_id"]
                                 else "agent restart")
            peer.samples.clear()  # the peer's clock may have been stepped since
        if old is None and len(peer.claimants) >= MAX_CLAIMANTS:
            del peer.claimants[min(peer.claimants, key=lambda k: peer.claimants[k]["seen"])]
        peer.claimants[source] = {"instance": hello["instance"], "boot_id": hello["boot_id"],
                                  "seq": hello["seq"], "seen": now}
        peer.hello, peer.source, peer.last_seen, peer.last_seen_wall = hello, source, now, wall
        peer.rx, peer.rx_seen = (hello["clock"], wall), now
        self._clock_sample(peer, hello, wall)
        return "accepted"

    def _fresh(self, hello, now):
        """Return True when `hello` echoes the clock of a hello we sent within down_after_s:
        then it was made after that, not recorded earlier and replayed. Our own clock is the
        challenge, so this needs no synchronised clocks."""
        echo = hello.get("echo")
        sent = self.challenges.get(echo["t0"]) if echo else None
        return sent is not None and now - sent <= self.cfg["down_after_s"]

    def _clock_sample(self, peer, hello, t3):
        """Add an offset sample, NTP style: we sent t0, the peer got it at t1 (its clock),
        sent this hello at t2 and we got it at t3; offset = ((t1-t0) + (t2-t3)) / 2 cancels
        a symmetric network delay. Without a usable echo, fall back to one way (t2 - t3)."""
        t2, echo = hello["clock"], hello.get("echo")
        if echo:
            t0, t1 = echo["t0"], echo["t1"]
            delay = (t3 - t0) - (t2 - t1)
            if 0 <= delay <= self.cfg["down_after_s"]:
                peer.samples.append((delay, ((t1 - t0) + (t2 - t3)) / 2))
                return
        if not peer.samples or math.isinf(min(peer.samples)[0]):
            peer.samples.clear()  # one-way samples have no delay to rank them: keep the latest
            peer.samples.append((math.inf, t2 - t3))

    def outgoing(self, wall, only=None, now=0.0):
        """Return the hellos to send now (to the peers whose ids are in `only`, default all)
        at wall-clock `wall` and monotonic `now`: a list of (payload bytes, address)."""
        self.seq += 1
        out = []
        if self.key is not None:
            self.challenges.pop(wall, None)  # re-inserted last: the dict stays in send order
            self.challenges[wall] = now
            while len(self.challenges) > MAX_CHALLENGES:
                del self.challenges[next(iter(self.challenges))]
        for peer in self.peers.values():
            if only is not None and peer.id not in only:
                continue
            hello = {"proto": PROTOCOL, "device_id": self.cfg["device_id"],
                     "cluster_id": self.cfg["cluster_id"], "node_id": self.me["id"],
                     "role": self.me.get("role") or "-", "release": self.cfg["release"],
                     "boot_id": self.boot_id or "-", "instance": self.instance,
                     "seq": self.seq, "clock": wall}
            if peer.rx:
                hello["echo"] = {"t0": peer.rx[0], "t1": peer.rx[1]}
            data = json.dumps(hello, separators=(",", ":")).encode()
            if self.key is not None:
                data = seal(data, self.key)
            out.extend((data, address) for address in peer.targets)
        self.counters["sent"] += len(out)
        return out

    def update(self, now):
        """Advance every peer's state to `now`; return log lines for what changed."""
        events = []
        window = self.cfg["down_after_s"]
        for peer in self.peers.values():
            for source in [s for s, c in peer.claimants.items() if now - c["seen"] > window]:
                del peer.claimants[source]
            state = self._peer_state(peer, now)
            if state != peer.state:
                if state == "down" and peer.state == "up":
                    peer.downs += 1
                events.append(f"peer {peer.id}: {peer.state} -> {state}")
                peer.state = state
        for key in [k for k, s in self.strangers.items() if now - s["seen"] > window]:
            del self.strangers[key]
        for clock in [c for c, sent in self.challenges.items() if now - sent > window]:
            del self.challenges[clock]
        problems = self.problems()
        if (not problems) != self.healthy:
            self.healthy = not problems
            events.append("not healthy: " + "; ".join(problems) if problems else "healthy")
        return events

    def next_expiry(self):
        """Return the monotonic time at which the next peer that is up goes down if it stays
        silent (inf: none), so a dead peer is reported then and not at the following tick."""
        window = self.cfg["down_after_s"] + 0.001  # strictly past the window: it is down then
        return min((p.last_seen + window for p in self.peers.values() if p.state == "up"),
                   default=math.inf)

    def _peer_state(self, peer, now):
        """Return "up", "down" or "waiting" (never heard yet, still within down_after_s)."""
        window = self.cfg["down_after_s"]
        if peer.last_seen is not None and now - peer.last_seen <= window:
            return "up"
        return "waiting" if peer.last_seen is None and now - self.start <= window else "down"

    def peer_problems(self, peer):
        """Return what is wrong with `peer`, each as a short sentence (empty: nothing)."""
        if peer.state != "up":
            return ["waiting for its first hello" if peer.state == "waiting" else "down"]
        found, hello = [], peer.hello
        if hello["release"] != self.cfg["release"]:
            found.append(f"release {hello['release']} differs from ours ({self.cfg['release']})")
        if peer.role and hello["role"] != peer.role:
            found.append(f"role {hello['role']} differs from the configured {peer.role}")
        if len(peer.claimants) > 1:
            found.append("duplicate node ID: claimed from " + ", ".join(sorted(peer.claimants)))
        elif peer.address and not same_address(peer.source, peer.address):
            found.append(f"hellos come from {peer.source}, configured {peer.address}")
        offset, limit = peer.offset(), self.cfg["max_clock_offset_ms"]
        if offset is not None and abs(offset) * 1000 > limit:
            found.append(f"clock offset {offset * 1000:+.0f} ms exceeds {limit:g} ms")
        return found

    def problems(self):
        """Return every problem of the cluster as seen from here (empty: healthy)."""
        found = [f"{peer.id}: {text}" for peer in self.peers.values()
                 for text in self.peer_problems(peer)]
        for (kind, source), seen in sorted(self.strangers.items()):
            found.append(f"{STRANGER_TEXT[kind]} from {source} (node {seen['node_id']}, device "
                         f"{seen['device_id']}, cluster {seen['cluster_id']}): ignored")
        return found

    def state(self, now, wall):
        """Return the agent's view as JSON-ready data (the state file's content)."""
        problems = self.problems()
        return {"format": 1, "node": self.me["id"], "address": self.me.get("address"),
                "role": self.me.get("role"), "device_id": self.cfg["device_id"],
                "cluster_id": self.cfg["cluster_id"], "release": self.cfg["release"],
                "instance": self.instance, "pid": os.getpid(), "updated": wall,
                "monotonic": now, "hello_interval_s": self.cfg["hello_interval_s"],
                "down_after_s": self.cfg["down_after_s"], "healthy": not problems,
                "problems": problems, "ignored": dict(self.ignored),
                "authentication": self.authentication(),
                "counters": dict(self.counters),
                "peers": [self._peer_view(peer, now) for peer in self.peers.values()]}

    def authentication(self):
        """Return how hellos are authenticated, for the state file and `status`."""
        if self.key is None:
            return {"hellos": "not authenticated", "key": None}
        return {"hellos": "hmac-sha256", "key": key_fingerprint(self.key)}

    def _peer_view(self, peer, now):
        """Return one peer's entry of the state file."""
        offset, rtt = peer.offset(), peer.rtt()
        return {"id": peer.id, "hostname": peer.hostname, "role": peer.role,
                "address": peer.source or (peer.targets[0] if peer.targets else None),
                "state": peer.state, "release": peer.hello["release"] if peer.hello else None,
                "clock_offset_ms": None if offset is None else round(offset * 1000, 3),
                "rtt_ms": None if rtt is None else round(rtt * 1000, 3),
                "last_seen": peer.last_seen_wall,
                "last_seen_s": None if peer.last_seen is None else round(now - peer.last_seen, 3),
                "restarts": peer.restarts, "last_restart": peer.last_restart,
                "downs": peer.downs, "problems": self.peer_problems(peer)}


def load_config(path, node_id):
    """Return the cluster configuration at `path` as node `node_id` sees it (with "self" and
    "peers"), checked; raise ConfigError naming the fault."""
    try:
        with open(path, encoding="utf-8") as stream:
            cfg = json.load(stream)
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path}: {err}") from None
    if not isinstance(cfg, dict) or cfg.get("format") != CONFIG_FORMAT:
        raise ConfigError(f"{path}: not a cluster configuration of format {CONFIG_FORMAT}")
    checks = [("device_id", str), ("cluster_id", str), ("release", str), ("state_file", str),
              ("port", int), ("hello_interval_s", float), ("down_after_s", float),
              ("max_clock_offset_ms", float)]
    bad = [key for key, kind in checks if not _is(cfg.get(key), kind)]
    if not isinstance(cfg.get("interface"), dict):
        bad.append("interface")
    if not isinstance(cfg.get("nodes"), list) or not all(
            isinstance(n, dict) and _is(n.get("id"), str) for n in cfg["nodes"]):
        bad.append("nodes")
    if cfg.get("discovery") not in ("static", "mdns"):
        bad.append("discovery")
    if not bad and not (0 < cfg["hello_interval_s"] < cfg["down_after_s"]
                        and 0 < cfg["port"] < 65536):
        bad.append("port or timing (0 < hello_interval_s < down_after_s)")
    if bad:
        raise ConfigError(f"{path}: missing or invalid: {', '.join(bad)}")
    try:
        return node_view(cfg, node_id)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


def node_view(cfg, node_id):
    """Return the device-wide configuration `cfg` as node `node_id` sees it: "self" is its
    entry of "nodes", "peers" every other node's, in order."""
    mine = [node for node in cfg["nodes"] if node["id"] == node_id]
    if len(mine) != 1:
        known = ", ".join(str(node["id"]) for node in cfg["nodes"][:20])
        raise ConfigError(f"node ID {node_id!r} is not one node of the device (nodes: {known})")
    return {**cfg, "self": mine[0],
            "peers": [node for node in cfg["nodes"] if node["id"] != node_id]}


def read_node_id(path):
    """Return NODE_ID from the node's identity file (shell syntax, KEY="value" lines)."""
    try:
        with open(path, encoding="utf-8") as stream:
            lines = stream.read().splitlines()
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path}: {err}") from None
    for line in lines:
        key, sep, value = line.strip().partition("=")
        if sep and key == "NODE_ID":
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            if _is(value, str) and not any(c in value for c in "\\$`\"'"):
                return value
            break
    raise ConfigError(f"{path}: no NODE_ID=\"<node id>\" line: give the node with --node")


def address_family(cfg):
    """Return AF_INET6 when the cluster subnet is IPv6, else AF_INET."""
    return socket.AF_INET6 if ":" in str(cfg["interface"].get("subnet", "")) else socket.AF_INET


def open_socket(cfg, port):
    """Return a non-blocking UDP socket bound to this node's address (or the wildcard)."""
    family = address_family(cfg)
    sock = socket.socket(family, socket.SOCK_DGRAM)
    # Free bind: the node's own address may not be configured yet when the service starts.
    sock.setsockopt(socket.SOL_IP, getattr(socket, "IP_FREEBIND", 15), 1)
    wildcard = "::" if family == socket.AF_INET6 else "0.0.0.0"
    sock.bind((cfg["self"].get("address") or wildcard, port))
    sock.setblocking(False)
    return sock


def resolve(name, family):
    """Return the addresses `name` resolves to through the system resolver ([] if none)."""
    try:
        infos = socket.getaddrinfo(name, None, family, socket.SOCK_DGRAM)
    except (OSError, UnicodeError):
        return []
    return list(dict.fromkeys(info[4][0] for info in infos))


def lookup_name(cfg, peer):
    """Return the name to resolve for `peer`: <hostname>.local with mdns discovery."""
    return peer.hostname + ".local" if cfg["discovery"] == "mdns" else peer.hostname


def resolve_forever(agent, family):
    """Keep peers' targets current; runs in a thread because an mDNS lookup of an absent
    peer blocks for seconds, which would stall the hellos to every other peer."""
    peers = [p for p in agent.peers.values()
             if agent.cfg["discovery"] == "mdns" or not p.address]
    while True:
        for peer in peers:
            found = resolve(lookup_name(agent.cfg, peer), family)
            if found:
                peer.targets = found[:1]  # one list assignment: safe to read from the loop
        missing = any(not peer.targets for peer in peers)
        time.sleep(agent.cfg["hello_interval_s"] if missing else RESOLVE_EVERY_S)


def read_boot_id():
    """Return the kernel's boot ID, which tells a rebooted peer from a restarted agent."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as stream:
            return stream.read().strip()
    except OSError:
        return ""


def notify(message):
    """Send `message` to systemd when run as a Type=notify service; a no-op otherwise."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(message.encode(), "\0" + path[1:] if path.startswith("@") else path)
        except OSError:
            pass  # systemd gone or not listening: nothing useful to do about it


def write_state(path, state):
    """Replace the state file atomically (tmp + rename), so readers never see half a file."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as stream:
            json.dump(state, stream, indent=1)
        os.replace(tmp, path)
    except OSError as err:
        log(f"cannot write {path}: {err}")


class Log:
    """Log lines to stderr (the journal), each cut to MAX_LOG_LINE characters and, once
    limited, at most `burst` per `window` seconds, so what peers can make the running agent
    log is bounded. Lines over the budget are counted in `counters["log_suppressed"]` and
    summed up once it refills. Unlimited until limit(): one-shot errors always show."""

    def __init__(self, burst=math.inf, window=LOG_WINDOW_S, clock=time.monotonic):
        self.burst, self.window, self.clock = burst, window, clock
        self.start, self.lines, self.suppressed = -math.inf, 0, 0
        self.counters = {"log_suppressed": 0}  # the agent's counters once it runs

    def __call__(self, line):
        now = self.clock()
        if now - self.start >= self.window:
            if self.suppressed:
                self._print(f"{self.suppressed} log lines suppressed in {self.window:g} s")
            self.start, self.lines, self.suppressed = now, 0, 0
        if self.lines >= self.burst:
            self.suppressed += 1
            self.counters["log_suppressed"] += 1
            return
        self.lines += 1
        self._print(line if len(line) <= MAX_LOG_LINE else line[:MAX_LOG_LINE - 3] + "...")

    def limit(self, counters, burst=LOG_BURST):
        """Limit from now on to `burst` lines per window, counting in `counters`."""
        self.counters, self.burst = counters, burst

    @staticmethod
    def _print(line):
        print(f"aos-cluster: {line}", file=sys.stderr, flush=True)


log = Log()


def drain(sock, agent):
    """Read what is queued on `sock` (at most DRAIN_BATCH datagrams) into the agent."""
    for _ in range(DRAIN_BATCH):
        try:
            data, source = sock.recvfrom(65535)
        except BlockingIOError:
            return
        except OSError:
            continue  # e.g. a queued ICMP error: not fatal
        try:
            agent.receive(data, source[0], time.monotonic(), time.time())
        except Exception as err:  # pylint: disable=broad-except
            # A bug of ours, not the sender's fault: one datagram must never stop the agent
            # (the tests make sure no datagram gets here). Counted, logged without a traceback.
            agent.ignored["internal_error"] += 1
            log(f"internal error on a datagram from {source[0]}: {type(err).__name__}")


def send(sock, agent, port, only=None):
    """Send hellos to every peer (or those in `only`)."""
    for data, address in agent.outgoing(time.time(), only, time.monotonic()):
        try:
            sock.sendto(data, (address, port))
        except OSError:
            pass  # unreachable now: that peer will be reported down, which is the point


def refresh(agent, state_path):
    """Bring peer states up to now, log what changed and write the state file."""
    now = time.monotonic()
    for line in agent.update(now):
        log(line)
    agent.counters["writes"] += 1
    write_state(state_path, agent.state(now, time.time()))
    up = sum(peer.state == "up" for peer in agent.peers.values())
    notify(f"STATUS={up}/{len(agent.peers)} peers up, "
           f"{'healthy' if agent.healthy else 'not healthy'}")


def run_agent(args):
    """Run the daemon until SIGTERM/SIGINT; return the exit code."""
    cfg = load_config(args.config, args.node or read_node_id(args.identity))
    port = args.port or cfg["port"]
    state_path = args.state or cfg["state_file"]
    os.makedirs(os.path.dirname(state_path) or ".", exist_ok=True)
    key = load_key(args.key or default_key_path())
    sock = open_socket(cfg, port)
    agent = Agent(cfg, read_boot_id(), start=time.monotonic(), key=key)
    if cfg["discovery"] == "mdns" or any(not peer.address for peer in agent.peers.values()):
        threading.Thread(target=resolve_forever, args=(agent, sock.family), daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    log(f"node {cfg['self']['id']} on port {port}, {len(agent.peers)} peers, hellos "
        + (f"authenticated (key {key_fingerprint(key)})" if key else "NOT authenticated (no key)"))
    log.limit(agent.counters)  # from here on, peers' doings could make the agent log
    notify("READY=1")
    next_tick = time.monotonic()
    while True:
        now = time.monotonic()
        due, welcomed = now >= next_tick, bool(agent.welcome)
        if due or welcomed:
            # Newcomers are answered at once: start-up and rejoin take a round trip, not a tick.
            send(sock, agent, port, None if due else agent.welcome)
            agent.welcome.clear()
        if due:
            agent.counters["ticks"] += 1
            # Keep the cadence, but never try to catch up on missed ticks in a burst.
            next_tick = max(next_tick + cfg["hello_interval_s"], now)
        if due or welcomed or now >= agent.next_expiry():
            refresh(agent, state_path)
        wake = min(next_tick, agent.next_expiry())
        readable, _, _ = select.select([sock], [], [], max(0.0, wake - time.monotonic()))
        if readable:
            drain(sock, agent)


def read_state(args):
    """Return the state the agent wrote, marked unhealthy when stale; raise ConfigError."""
    path = args.state
    with open(path, encoding="utf-8") as stream:
        state = json.load(stream)
    if not (isinstance(state, dict) and isinstance(state.get("peers"), list)
            and all(isinstance(peer, dict) for peer in state["peers"])
            and isinstance(state.get("problems"), list)
            and _is(state.get("monotonic"), float) and _is(state.get("down_after_s"), float)):
        raise ConfigError(f"{path}: not an aos-cluster state file")
    # CLOCK_MONOTONIC is system-wide on Linux, so it is comparable across processes and
    # immune to wall-clock steps.
    age = time.monotonic() - state["monotonic"]
    state["age_s"] = round(age, 3)
    if age > state["down_after_s"]:
        state["healthy"] = False
        state["problems"].insert(0, f"state is {age:.0f} s old: the agent is not running")
    return state


def print_table(state):
    """Print the human-readable status of `state`."""
    age = state.get("age_s", 0)
    rows = [("NODE", "ADDRESS", "STATE", "RELEASE", "CLOCK OFFSET", "LAST SEEN"),
            (state.get("node"), state.get("address"), "self", state.get("release"), "-", "-")]
    for peer in state["peers"]:
        offset, seen = peer.get("clock_offset_ms"), peer.get("last_seen_s")
        rows.append((peer.get("id"), peer.get("address"), peer.get("state"), peer.get("release"),
                     "-" if offset is None else f"{round(offset, 1) or 0.0:+.1f} ms",  # no -0.0
                     "never" if seen is None else f"{seen + age:.1f} s ago"))
    rows = [["-" if cell is None else str(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    ignored = {k: v for k, v in state.get("ignored", {}).items() if v}
    if ignored:
        print("ignored: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in ignored.items()))
    auth = state.get("authentication") or {}
    if auth.get("hellos") == "hmac-sha256":
        print(f"hellos: authenticated (HMAC-SHA256, key {auth.get('key')})")
    else:
        print("hellos: NOT authenticated (no device key: anyone on the cluster network can "
              "forge them)")
    print("healthy" if state.get("healthy") else "NOT HEALTHY")
    for problem in state["problems"]:
        print(f"  - {problem}")


def run_status(args):
    """Print the cluster status; return 0 healthy, 1 not healthy (or no agent), 2 error."""
    try:
        state = read_state(args)
    except FileNotFoundError as err:
        log(f"no state file ({err.filename}): the agent is not running")
        return 1
    except (OSError, ValueError, ConfigError) as err:
        log(str(err))
        return 2
    if args.json:
        print(json.dumps(state, indent=1))
    else:
        print_table(state)
    return 0 if state.get("healthy") is True else 1


def run_keygen(args):
    """Write a new random device key (64 hex digits) to --out, readable by its owner only and
    never over an existing file, or print it; return the exit code."""
    key = os.urandom(32).hex() + "\n"
    if not args.out:
        sys.stdout.write(key)
        return 0
    try:
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as stream:
            stream.write(key)
    except OSError as err:
        log(f"cannot write the key: {err}")
        return 2
    return 0


def main(argv=None):
    """Parse the command line and run a sub-command; return its exit code."""
    parser = argparse.ArgumentParser(prog="aos-cluster", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    daemon = commands.add_parser("agent", help="run the cluster agent")
    daemon.add_argument("--config", default=CONFIG_FILE,
                        help=f"the device's cluster configuration (default {CONFIG_FILE})")
    daemon.add_argument("--node", help="this node's ID (default: NODE_ID in --identity)")
    daemon.add_argument("--identity", default=IDENTITY_FILE,
                        help=f"the node's identity file (default {IDENTITY_FILE})")
    daemon.add_argument("--state", help="state file (default: the configuration's state_file)")
    daemon.add_argument("--port", type=int, help="UDP port (default: the configuration's port)")
    daemon.add_argument("--key", help="the device key (default: $CREDENTIALS_DIRECTORY/"
                        + KEY_CREDENTIAL + f" under systemd, else {KEY_FILE}); no file or an "
                        "empty one or 'none': hellos are not authenticated")
    keygen = commands.add_parser("keygen", help="make a new device key (for provisioning)")
    keygen.add_argument("--out", help="write it to this new file (mode 0600), not stdout")
    status = commands.add_parser("status", help="print the cluster status")
    status.add_argument("--json", action="store_true", help="print the state as JSON")
    status.add_argument("--state", default=STATE_FILE, help=f"state file (default {STATE_FILE})")
    args = parser.parse_args(argv)
    if args.command == "status":
        return run_status(args)
    if args.command == "keygen":
        return run_keygen(args)
    try:
        return run_agent(args)
    except ConfigError as err:
        log(str(err))
        return 2
    except OSError as err:  # e.g. the port is taken: fail, systemd restarts us
        log(f"cannot run: {err}")
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
