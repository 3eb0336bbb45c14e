"""The cluster configuration every node's agent reads (/etc/aos-multinode/cluster.json).

One file for the whole device, the same on every node (so its size grows with the nodes once,
not once per node); the agent finds itself in `nodes` by its node ID, which it reads from the
node's own /etc/aos-multinode/node.conf (NODE_ID). The format is a contract between the
generator and the on-device agent `aos-cluster`:
  format            2
  device_id, cluster_id, release      identity every hello must match (release: flagged)
  discovery         "static" (peers' addresses given) | "mdns" (resolve <hostname>.local)
  interface         {name, device, subnet}: the cluster interface
  port              UDP port of the hello exchange
  hello_interval_s  seconds between hellos (any number > 0; fractions such as 0.2 are fine)
  down_after_s      a peer silent this long is reported down (a number > hello_interval_s)
  max_clock_offset_ms  a peer whose clock differs more is flagged
  state_file        where the agent writes its state (JSON) for `aos-cluster status`
  nodes             every node: {id, index, hostname, role, main, address}, ordered by index
  time_sync         {protocol, server}: server is a node id
"""

from __future__ import annotations

from aos_multinode.unitconfig.model import Node, UnitConfig

CLUSTER_PORT = 47301
HELLO_INTERVAL_S = 2
DOWN_AFTER_S = 6
MAX_CLOCK_OFFSET_MS = 250
STATE_FILE = "/run/aos-cluster/state.json"
CONFIG_FILE = "/etc/aos-multinode/cluster.json"
CONFIG_FORMAT = 2


def node_entry(node: Node) -> dict:
    return {"id": node.id, "index": node.index, "hostname": node.hostname,
            "role": node.role.name, "main": node.is_main,
            "address": str(node.address) if node.address is not None else None}


def cluster_config(config: UnitConfig, release: str) -> dict:
    """Return the device's cluster configuration as JSON-ready data."""
    interface = config.cluster_interface
    return {
        "format": CONFIG_FORMAT,
        "device_id": config.device_id,
        "cluster_id": config.cluster_id,
        "release": release,
        "discovery": config.discovery,
        "interface": {"name": interface.name, "device": interface.device,
                      "subnet": str(interface.subnet)},
        "port": CLUSTER_PORT,
        "hello_interval_s": HELLO_INTERVAL_S,
        "down_after_s": DOWN_AFTER_S,
        "max_clock_offset_ms": MAX_CLOCK_OFFSET_MS,
        "state_file": STATE_FILE,
        "nodes": [node_entry(node) for node in config.nodes],
        "time_sync": {"protocol": config.time_protocol, "server": config.time_server},
    }
