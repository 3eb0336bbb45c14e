"""`aos-multinode init`: a commented starter Unit Config from a few answers."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from aos_multinode.contract import DEFAULT_YOCTO_RELEASE
from aos_multinode.errors import UnitConfigError, UserError
from aos_multinode.generation.render import environment


class InitError(UserError):
    """The answers cannot make a valid Unit Config."""


@dataclass(frozen=True)
class Answers:
    device_id: str = "my-device"
    nodes: int = 2
    roles: tuple[str, ...] = ("main", "worker")
    subnet: str = "10.0.0.0/24"
    yocto_release: str = DEFAULT_YOCTO_RELEASE
    aos: bool = True
    machine: str = "genericx86-64"
    interface: str = "eth0"
    discovery: str = "static"
    time_sync: str = "ntp"


def check_answers(answers: Answers) -> list[str]:
    """Return what is wrong with the answers (empty when they make a valid file). Only what
    stops the starter file from being written at all is checked here (a subnet to number
    the nodes in, at least one node and one role); the file is then checked by the one
    validator, and each problem names the option behind it."""
    problems = []
    if not answers.roles:
        problems.append("--roles: name at least one role")
    if answers.nodes < 1:
        problems.append("--nodes: a device has at least one node")
    try:
        network = ipaddress.ip_network(answers.subnet, strict=True)
        if network.num_addresses - 2 < answers.nodes + 10:
            problems.append(f"--subnet: {network} is too small for {answers.nodes} nodes "
                            "(and 10 addresses before the first)")
    except ValueError as exc:
        problems.append(f"--subnet {answers.subnet!r}: {exc}")
    return problems or _check_rendered(answers)


# The option each field of the starter file comes from, to name it in a problem.
OPTION_OF_FIELD = (("network.interfaces[0].device", "--interface"),
                   ("network.interfaces[0].subnet", "--subnet"), ("yocto.machine", "--machine"),
                   ("yocto.release", "--yocto-release"), ("cluster.id", "--device-id"),
                   ("aos.unit_model", "--device-id"), ("aos", "--no-aos/--yocto-release"),
                   ("nodes", "--nodes/--roles/--subnet"), ("roles", "--roles"),
                   ("device_id", "--device-id"))


def _check_rendered(answers: Answers) -> list[str]:
    """Validate the file the answers make; name the option behind each problem (the file
    is not written yet, so a file location would point nowhere)."""
    from aos_multinode.unitconfig.load import check_source
    from aos_multinode.unitconfig.source import parse_source

    try:
        check_source(parse_source(_render(answers).encode(), "unit-config.yaml"))
    except UnitConfigError as exc:
        problems = []
        for finding in exc.findings:
            option = next((option for field, option in OPTION_OF_FIELD
                           if finding.path == field or finding.path.startswith(field + ".")
                           or finding.path.startswith(field + "[")), None)
            problem = (f"{option}: {finding.message}" if option else
                       f"the answers make an invalid Unit Config: {finding.path}: "
                       f"{finding.message}")
            if problem not in problems:
                problems.append(problem)
        return problems
    return []


def starter_config(answers: Answers, file_name: str = "unit-config.yaml") -> str:
    """Return the text of a starter Unit Config for `answers`."""
    problems = check_answers(answers)
    if problems:
        raise InitError("; ".join(problems))
    return _render(answers, file_name)


def _render(answers: Answers, file_name: str = "unit-config.yaml") -> str:
    roles = list(answers.roles)
    if answers.nodes > 1 and len(roles) == 1:
        roles.append("worker" if roles[0] != "worker" else "node")
    network = ipaddress.ip_network(answers.subnet)
    first = int(network.network_address) + 10
    nodes = []
    for index in range(answers.nodes):
        role = roles[0] if index == 0 else roles[1 + (index - 1) % (len(roles) - 1)]
        nodes.append({"index": index, "id": f"node{index}", "role": role,
                      "address": str(ipaddress.ip_address(first + index))})
    role_entries = [{"name": name, "main": i == 0, "priority": max(100 - 10 * i, 0)}
                    for i, name in enumerate(roles)]
    template = environment().get_template("init/unit-config.yaml.j2")
    return template.render(file_name=file_name, device_id=answers.device_id,
                           discovery=answers.discovery, yocto_release=answers.yocto_release,
                           machine=answers.machine, aos=answers.aos,
                           interface=answers.interface, subnet=str(network),
                           time_sync=answers.time_sync, roles=role_entries, nodes=nodes)
