"""Human and machine summaries of a valid Unit Config (used by `validate`)."""

from __future__ import annotations

from aos_multinode.unitconfig.model import UnitConfig


def format_size(size_bytes: int | None) -> str:
    if size_bytes is None:
        return "-"
    for unit, factor in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if size_bytes >= factor and size_bytes % factor == 0:
            return f"{size_bytes // factor} {unit}"
    return f"{size_bytes / 2**20:.1f} MiB"


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Return a plain text table with columns padded to their widest cell."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)).rstrip()
             for line in [headers, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def capability_text(config: UnitConfig, role_name: str) -> str:
    caps = config.role(role_name).capabilities
    parts = []
    if caps.cpu_cores is not None:
        parts.append(f"{caps.cpu_cores} cores")
    if caps.memory_bytes is not None:
        parts.append(format_size(caps.memory_bytes))
    if caps.gpu:
        parts.append("gpu")
    if caps.realtime:
        parts.append("realtime")
    parts.extend(caps.accelerators)
    return ", ".join(parts) or "-"


def summary_text(config: UnitConfig) -> str:
    """Return the readable summary `validate` prints for a valid Unit Config."""
    cluster = config.cluster_interface
    head = [
        f"device {config.device_id}, cluster {config.cluster_id}, "
        f"{len(config.nodes)} node{'s' if len(config.nodes) != 1 else ''}, "
        f"release {config.release or '(from git)'}",
        f"yocto {config.yocto_release}, distro {config.distro}, "
        f"aos {'on (' + config.aos.version + ')' if config.aos.enabled else 'off'}, "
        f"discovery {config.discovery}, time {config.time_protocol} from {config.time_server}, "
        f"rebalance {'on' if config.rebalance.enabled else 'off'}",
        f"cluster network {cluster.name} ({cluster.device}, {cluster.subnet}, "
        f"{cluster.addressing})",
    ]
    nodes = table(["index", "id", "hostname", "address", "role", "machine", "storage"],
                  [[str(n.index), n.id, n.hostname, str(n.address or "dhcp"),
                    n.role.name + (" (main)" if n.is_main else ""), n.machine, n.storage]
                   for n in config.nodes])
    roles = table(["role", "main", "capabilities", "labels", "priority", "kernel", "packages"],
                  [[r.name, "yes" if r.main else "no", capability_text(config, r.name),
                    ", ".join(r.labels) or "-", str(r.priority), r.kernel or "-",
                    ", ".join(r.packages) or "-"] for r in config.roles])
    return "\n".join(head) + "\n\n" + nodes + "\n\n" + roles + "\n"


def summary_dict(config: UnitConfig) -> dict:
    """Return the summary as plain JSON-ready data."""
    return {
        "device_id": config.device_id,
        "cluster_id": config.cluster_id,
        "release": config.release,
        "yocto_release": config.yocto_release,
        "distro": config.distro,
        "aos": {"enabled": config.aos.enabled, "version": config.aos.version},
        "main_node": config.main_node.id,
        "time_sync": {"protocol": config.time_protocol, "server": config.time_server},
        "nodes": [{"index": n.index, "id": n.id, "hostname": n.hostname,
                   "address": str(n.address) if n.address else None, "role": n.role.name,
                   "machine": n.machine, "storage": n.storage, "main": n.is_main}
                  for n in config.nodes],
        "roles": [{"name": r.name, "main": r.main, "cpu_cores": r.capabilities.cpu_cores,
                   "memory_mib": r.capabilities.memory_mib, "gpu": r.capabilities.gpu,
                   "accelerators": list(r.capabilities.accelerators),
                   "realtime": r.capabilities.realtime, "labels": list(r.labels),
                   "priority": r.priority} for r in config.roles],
    }
