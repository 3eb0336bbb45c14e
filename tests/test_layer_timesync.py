"""Time synchronisation configs, read by the real daemons without starting them.

chrony: `chronyd -p -f FILE` parses the whole file, prints the configuration and exits;
it fails on an unknown directive or a malformed one. It does not check everything (an
`allow` with a bad prefix passes), so the test also checks who serves whom.

linuxptp: ptp4l has no check mode. `ptp4l -f FILE -i <no such interface>` reads and
validates the configuration (unknown options and out-of-range values are fatal, "failed
to parse configuration file") and then stops, because the interface does not exist, before
it touches any clock or socket.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
from pathlib import Path

import pytest

from layer_helpers import EXAMPLES, VALID_DIR, example_id, layer_of, load, require_tool

SOURCES = EXAMPLES + sorted(VALID_DIR.glob("*.yaml"))
NTP = [s for s in SOURCES if load(s).time_protocol == "ntp"]
PTP = [s for s in SOURCES if load(s).time_protocol == "ptp"]
NO_SUCH_INTERFACE = "aosnoif0"


def node_file(source: Path, node_id: str, name: str) -> Path:
    return layer_of(source) / "recipes-core" / "aos-node-config" / "files" / node_id / name


def chronyd_parse(path: Path) -> subprocess.CompletedProcess:
    tool = require_tool("chronyd")
    return subprocess.run([tool, "-p", "-f", str(path)], capture_output=True, text=True,
                          timeout=30)


def directives(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.strip() and
            not line.lstrip().startswith(("#", "!", ";", "%"))]


@pytest.mark.parametrize("source", NTP, ids=example_id)
def test_chrony(source):
    config = load(source)
    server = config.time_server_node
    for node in config.nodes:
        path = node_file(source, node.id, "chrony.conf")
        result = chronyd_parse(path)
        assert result.returncode == 0, result.stderr
        parsed = directives(result.stdout)
        assert parsed == directives(path.read_text()), "chronyd read something else"
        names = [d[0] for d in parsed]
        if node.id == server.id:
            # The server serves the cluster subnet from its own clock when alone.
            assert "server" not in names and "pool" not in names
            allow = [d for d in parsed if d[0] == "allow"]
            assert [ipaddress.ip_network(d[1]) for d in allow] == \
                [config.cluster_interface.subnet]
            local = [d for d in parsed if d[0] == "local"]
            assert len(local) == 1 and local[0][1] == "stratum"
        else:
            servers = [d for d in parsed if d[0] == "server"]
            assert len(servers) == 1 and "allow" not in names
            host = servers[0][1]
            if server.address is not None:
                assert ipaddress.ip_address(host) == server.address
            elif config.discovery == "mdns":
                assert host == f"{server.hostname}.local"
            else:
                assert host == server.hostname
        assert "makestep" in names and "driftfile" in names


def test_chrony_check_can_fail(tmp_path):
    for text in ("server 10.0.0.1 iburst\nsevrer 10.0.0.2\n", "server\n",
                 "makestep one 3\n", "allow 10.0.0.0/24 extra words\n"):
        path = tmp_path / "bad.conf"
        path.write_text(text)
        assert chronyd_parse(path).returncode != 0, text


def ptp4l_parse(path: Path) -> subprocess.CompletedProcess:
    tool = require_tool("ptp4l")
    if Path(f"/sys/class/net/{NO_SUCH_INTERFACE}").exists():
        pytest.skip(f"an interface named {NO_SUCH_INTERFACE} exists here")
    return subprocess.run([tool, "-f", str(path), "-i", NO_SUCH_INTERFACE, "-m", "-q"],
                          capture_output=True, text=True, timeout=30)


def assert_ptp_config_accepted(path: Path) -> None:
    result = ptp4l_parse(path)
    output = result.stdout + result.stderr
    assert "failed to parse configuration file" not in output, output
    # It got past the configuration to the interface, which is absent: nothing ran.
    assert result.returncode != 0 and re.search(r"No such device|failed to create a clock",
                                                output), output


@pytest.mark.parametrize("source", PTP, ids=example_id)
def test_ptp4l(source):
    config = load(source)
    server = config.time_server_node
    for node in config.nodes:
        path = node_file(source, node.id, "ptp4l.conf")
        assert_ptp_config_accepted(path)
        options = {d[0]: d[1] for d in directives(path.read_text()) if not d[0].startswith("[")}
        transport = "UDPv4" if config.cluster_interface.subnet.version == 4 else "UDPv6"
        assert options["network_transport"] == transport
        if node.id == server.id:
            # The preferred grandmaster: best priorities, never a client only.
            assert int(options["priority1"]) < 128 and options.get("slaveOnly", "0") == "0"
        else:
            assert options.get("slaveOnly") == "1" or options.get("clientOnly") == "1"
            assert int(options["priority1"]) > 128


def test_ptp4l_check_can_fail(tmp_path):
    for text in ("[global]\nbogus_option 1\n", "[global]\npriority1 999\n",
                 "[global]\nnetwork_transport UDPv5\n"):
        path = tmp_path / "bad.cfg"
        path.write_text(text)
        result = ptp4l_parse(path)
        assert "failed to parse configuration file" in result.stdout + result.stderr, text
