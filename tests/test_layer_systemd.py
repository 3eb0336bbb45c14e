"""systemd files of the layer: every unit and drop-in passes `systemd-analyze verify`, and
the systemd-networkd and systemd-resolved files use only known sections, keys and values.

`systemd-analyze verify` runs on a fake root holding the host's own units (so targets such
as multi-user.target exist), the layer's units and drop-ins where the recipes install them,
and the programs their Exec lines start (the layer's own scripts, stand-ins for chronyd and
ptp4l). Any message about one of the layer's units fails the test: verify exits 0 on
"Unknown key" and many other mistakes, so its exit code alone proves little.

systemd-networkd has no offline check (no `verify` mode in systemd 252), so .network files
are parsed with configparser and checked against the keys the layer may write, with their
values validated.
"""

from __future__ import annotations

import configparser
import ipaddress
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from layer_helpers import (EXAMPLES, VALID_DIR, BitBakeParser, example_id, layer_files, layer_of, load,
                           recipes, require_tool)

SOURCES = EXAMPLES + sorted(VALID_DIR.glob("*.yaml"))
HOST_UNITS = Path("/usr/lib/systemd/system")
# BitBake paths as openembedded-core's defaults set them.
OE_PATHS = {"systemd_system_unitdir": "/usr/lib/systemd/system",
            "systemd_unitdir": "/usr/lib/systemd", "sysconfdir": "/etc", "bindir": "/usr/bin",
            "sbindir": "/usr/sbin", "libexecdir": "/usr/libexec", "localstatedir": "/var",
            "datadir": "/usr/share"}
INSTALL = re.compile(r"^\s*install\s+-m\s+(\d+)\s+\$\{S\}/(\S+)\s+\$\{D\}(\S+)\s*$")
UNIT_SUFFIXES = (".service", ".socket", ".timer", ".path", ".target", ".mount")

# chronyd.service as the meta-networking chrony recipe installs it (chrony's own
# examples/chronyd.service): the unit the layer's drop-in changes.
CHRONYD_SERVICE = """\
[Unit]
Description=NTP client/server
Documentation=man:chronyd(8) man:chrony.conf(5)
After=ntpdate.service sntp.service ntpd.service
Conflicts=ntpd.service systemd-timesyncd.service
ConditionCapability=CAP_SYS_TIME

[Service]
Type=forking
PIDFile=/run/chrony/chronyd.pid
EnvironmentFile=-/etc/default/chronyd
ExecStart=/usr/sbin/chronyd $OPTIONS
PrivateTmp=yes
ProtectHome=yes
ProtectSystem=full

[Install]
WantedBy=multi-user.target
"""


def installed_files(layer: Path) -> dict[Path, tuple[str, int]]:
    """What the layer's recipes install from their files/ folders: layer file -> (path on
    the device, mode), read from the `install -m MODE ${S}/FILE ${D}PATH` lines."""
    out = {}
    parser = BitBakeParser(layer)
    for recipe in recipes(layer):
        d = None
        for line in recipe.read_text().splitlines():
            match = INSTALL.match(line)
            if not match or "${AOS_NODE_CONFIG_ID}" in line:
                continue
            d = d or parser.recipe(recipe, parser.data(**OE_PATHS))
            mode, source, target = match.groups()
            target = d.expand(target)
            assert "${" not in target, line
            out[recipe.parent / "files" / source] = (target, int(mode, 8))
    return out


def unit_files(layer: Path) -> dict[Path, str]:
    """The layer's units and drop-ins: layer file -> path on the device."""
    out = {}
    for source, (target, _) in installed_files(layer).items():
        if target.endswith(UNIT_SUFFIXES) or re.search(r"\.(service|socket|timer)\.d/[^/]+"
                                                       r"\.conf$", target):
            out[source] = target
    return out


def fake_root(tmp_path: Path, layer: Path) -> Path:
    """A root for `systemd-analyze verify --root`: host units, the layer's installed files,
    stand-ins for the programs the units start."""
    if not HOST_UNITS.is_dir():
        pytest.skip(f"{HOST_UNITS} is missing: systemd is not installed (Debian package "
                    "systemd)")
    root = tmp_path / "root"
    shutil.copytree(HOST_UNITS, root / HOST_UNITS.relative_to("/"), symlinks=True)
    for source, (target, mode) in installed_files(layer).items():
        place(root, target, source.read_bytes(), mode)
    if any("chronyd.service.d" in target for target in unit_files(layer).values()):
        place(root, "/usr/lib/systemd/system/chronyd.service", CHRONYD_SERVICE.encode(), 0o644)
    for program in ("/usr/sbin/chronyd", "/usr/sbin/ptp4l", "/usr/bin/python3"):
        if not (root / program.lstrip("/")).exists():
            place(root, program, b"#!/bin/sh\nexit 0\n", 0o755)
    return root


def place(root: Path, target: str, content: bytes, mode: int) -> None:
    path = root / target.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or path.exists():
        path.unlink()
    path.write_bytes(content)
    path.chmod(mode)


def verify(root: Path, units: list[str]) -> list[str]:
    """Run systemd-analyze verify on `units` in `root`; return the problems it reports
    about them (empty: clean)."""
    tool = require_tool("systemd-analyze")
    result = subprocess.run([tool, "verify", f"--root={root}", "--man=no", *units],
                            capture_output=True, text=True, timeout=120)
    output = (result.stdout + result.stderr).splitlines()
    names = set(units) | {str(root)}
    problems = [line for line in output if any(name in line for name in names)]
    if result.returncode != 0:
        problems.append(f"exit code {result.returncode}: " + "\n".join(output))
    return problems


def unit_name(target: str) -> str:
    """The unit a device path belongs to: the unit itself or the one a drop-in changes."""
    match = re.search(r"/([^/]+)\.d/[^/]+\.conf$", target)
    return match.group(1) if match else target.rsplit("/", 1)[1]


@pytest.mark.parametrize("source", SOURCES, ids=example_id)
def test_units_verify(source, tmp_path):
    config = load(source)
    layer = layer_of(source)
    units = unit_files(layer)
    names = sorted({unit_name(target) for target in units.values()})
    assert "aos-cluster-agent.service" in names
    assert ("chronyd.service" if config.time_protocol == "ntp" else "aos-ptp4l.service") \
        in names
    root = fake_root(tmp_path, layer)
    problems = verify(root, names)
    assert not problems, "\n".join(problems)


def test_verify_can_fail(tmp_path):
    """The check is real: each kind of broken unit is reported."""
    layer = layer_of(next(s for s in EXAMPLES if load(s).time_protocol == "ptp"))
    root = fake_root(tmp_path, layer)
    good = (root / "usr/lib/systemd/system/aos-ptp4l.service").read_text()
    assert not verify(root, ["aos-ptp4l.service"])
    broken = {
        "unknown key": good.replace("Restart=on-failure", "Restart=on-failure\nRestrat=always"),
        "bad value": good.replace("Type=simple", "Type=sometimes"),
        "missing program": good.replace("/usr/libexec/aos-ptp4l-start", "/usr/libexec/absent"),
        "relative program": good.replace("ExecStart=/usr/libexec/", "ExecStart=usr/libexec/"),
        "misspelt section": good.replace("[Service]", "[Servce]"),
    }
    for what, text in broken.items():
        place(root, "/etc/systemd/system/broken.service", text.encode(), 0o644)
        assert verify(root, ["broken.service"]), what
    # A broken drop-in is reported against the unit it changes.
    place(root, "/usr/lib/systemd/system/chronyd.service", CHRONYD_SERVICE.encode(), 0o644)
    place(root, "/etc/systemd/system/chronyd.service.d/aos-multinode.conf",
          b"[Service]\nExecStart=\nExecStart=/usr/sbin/absent-chronyd\n", 0o644)
    assert verify(root, ["chronyd.service"])


# --- systemd-networkd and systemd-resolved -----------------------------------------------

def _ip(value):
    ipaddress.ip_address(value)


def _interface(value):
    ipaddress.ip_interface(value)
    assert "/" in value


def _mtu(value):
    assert 576 <= int(value) <= 9216


def _choice(*words):
    def check(value):
        assert value in words, f"{value!r} is not one of {words}"
    return check


def _name(value):
    assert re.match(r"^[A-Za-z0-9_.:*?-]{1,15}$", value), value


NETWORK_KEYS = {
    "Match": {"Name": _name},
    "Link": {"MTUBytes": _mtu},
    "Network": {"Address": _interface, "Gateway": _ip, "DHCP": _choice("yes", "no", "ipv4",
                                                                       "ipv6"),
                "MulticastDNS": _choice("yes", "no", "resolve"),
                "IPv6AcceptRA": _choice("yes", "no")},
}
RESOLVED_KEYS = {"Resolve": {"MulticastDNS": _choice("yes", "no", "resolve")}}


def read_ini(path: Path, allowed: dict) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=True, interpolation=None, delimiters=("=",),
                                       comment_prefixes=("#", ";"), empty_lines_in_values=False)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string(path.read_text(), source=str(path))
    for section in parser.sections():
        assert section in allowed, f"{path}: unknown section [{section}]"
        for key, value in parser.items(section):
            assert key in allowed[section], f"{path}: unknown key {key} in [{section}]"
            allowed[section][key](value)
    return parser


@pytest.mark.parametrize("source", SOURCES, ids=example_id)
def test_network_files(source):
    config = load(source)
    layer = layer_of(source)
    for node in config.nodes:
        folder = layer / "recipes-core" / "aos-node-config" / "files" / node.id
        networks = sorted(folder.glob("*.network"))
        assert len(networks) == len(config.interfaces)
        for position, (path, interface) in enumerate(zip(networks, config.interfaces)):
            ini = read_ini(path, NETWORK_KEYS)
            assert ini["Match"]["Name"] == interface.device
            network = ini["Network"]
            if interface.addressing == "dhcp":
                assert network["DHCP"] == f"ipv{interface.subnet.version}"
                assert "Address" not in network
            else:
                address = ipaddress.ip_interface(network["Address"])
                expected = node.address if position == 0 else node.address_on(interface.name)
                assert address.ip == expected and address.network == interface.subnet
                if interface.gateway is not None:
                    assert ipaddress.ip_address(network["Gateway"]) in interface.subnet
            if interface.mtu:
                assert int(ini["Link"]["MTUBytes"]) == interface.mtu
            mdns = position == 0 and config.discovery == "mdns"
            assert (network.get("MulticastDNS") == "yes") == mdns
        resolved = folder / "resolved-aos-multinode.conf"
        assert resolved.exists() == (config.discovery == "mdns")
        if resolved.exists():
            assert read_ini(resolved, RESOLVED_KEYS)["Resolve"]["MulticastDNS"] == "yes"


def test_network_check_can_fail(tmp_path):
    bad = {"[Match]\nName=eth0\n[Network]\nAdress=10.0.0.1/24\n": "unknown key",
           "[Match]\nName=eth0\n[Network]\nAddress=10.0.0.300/24\n": "address",
           "[Match]\nName=eth0\n[Netwerk]\nDHCP=yes\n": "unknown section",
           "[Match]\nName=eth0\n[Network]\nDHCP=maybe\n": "one of",
           "[Match]\nName=eth0\nName=eth1\n": "already exists"}
    for text, what in bad.items():
        path = tmp_path / "x.network"
        path.write_text(text)
        with pytest.raises((AssertionError, ValueError, configparser.Error)):
            read_ini(path, NETWORK_KEYS)
