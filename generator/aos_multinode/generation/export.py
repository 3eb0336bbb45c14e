"""Stable JSON exports for the provisioning side (seed step 4 "Target Systems" and the Aos
unit config). Their JSON Schemas ship in data/ and are part of the contract."""

from __future__ import annotations

import json
from importlib import resources

from aos_multinode.aos_node import aos_unit_config, node_type, unit_config_text
from aos_multinode.unitconfig.model import UnitConfig

TARGET_SYSTEM_FORMAT = "aos-multinode/target-system/1"
SCHEMAS = {"target-system": "data/target-system.schema.json",
           "aos-unit-config": "data/aos-unit-config.schema.json"}


def target_system(config: UnitConfig) -> dict:
    """Return the Target System description: number of nodes, each node's capabilities and
    its service placement characteristics (labels, priority, node type, main node)."""
    nodes = []
    for node in config.nodes:
        caps = node.role.capabilities
        nodes.append({
            "id": node.id,
            "index": node.index,
            "hostname": node.hostname,
            "role": node.role.name,
            "main": node.is_main,
            "node_type": node_type(config, node),
            "machine": node.machine,
            "storage": node.storage,
            "address": str(node.address) if node.address is not None else None,
            "capabilities": {"cpu_cores": caps.cpu_cores, "memory_mib": caps.memory_mib,
                             "gpu": caps.gpu, "accelerators": list(caps.accelerators),
                             "realtime": caps.realtime},
            "placement": {"labels": list(node.role.labels), "priority": node.role.priority},
        })
    return {
        "format": TARGET_SYSTEM_FORMAT,
        "device_id": config.device_id,
        "cluster_id": config.cluster_id,
        "unit_model": config.aos.unit_model,
        "unit_version": config.aos.unit_version,
        "node_count": len(config.nodes),
        "main_node": config.main_node.id,
        "nodes": nodes,
        "rebalance": {
            "enabled": config.rebalance.enabled,
            "cpu": {"max_threshold": config.rebalance.cpu.max_threshold,
                    "min_threshold": config.rebalance.cpu.min_threshold,
                    "min_timeout_s": config.rebalance.cpu.min_timeout},
            "ram": {"max_threshold": config.rebalance.ram.max_threshold,
                    "min_threshold": config.rebalance.ram.min_threshold,
                    "min_timeout_s": config.rebalance.ram.min_timeout},
        },
    }


def export_document(kind: str, config: UnitConfig, version: str | None = None) -> dict:
    """Return the export KIND; `version` overrides aos.unit_config_version."""
    if kind == "target-system":
        return target_system(config)
    return aos_unit_config(config, version)


def export_text(kind: str, config: UnitConfig, version: str | None = None) -> str:
    """The export as printed: the unit config compact, as the cloud sends it to Aos core
    (at most 4096 bytes), the Target System indented."""
    document = export_document(kind, config, version)
    if kind == "aos-unit-config":
        return unit_config_text(document)
    return json.dumps(document, indent=2, sort_keys=True)


def export_schema(kind: str) -> dict:
    text = resources.files("aos_multinode").joinpath(SCHEMAS[kind]).read_text("utf-8")
    return json.loads(text)
