"""Aos core's fixed limits as Unit Config rules (with aos.enabled): a device Aos cannot
manage is a validation error that says which key to change, not a failure on the unit."""

from __future__ import annotations

from aos_multinode import aos_node
from aos_multinode.aos_node import aos_unit_config, unit_config_text
from aos_multinode.unitconfig.model import UnitConfig
from aos_multinode.unitconfig.scalars import Context


def check_aos_limits(config: UnitConfig, ctx: Context) -> None:
    """Report every Aos core limit the modelled device exceeds as an error in `ctx`."""
    count = len(config.nodes)
    if count > aos_node.MAX_NODES:
        ctx.error_at(f"nodes[{aos_node.MAX_NODES}]",
                     f"{count} nodes; Aos core manages at most {aos_node.MAX_NODES} nodes per "
                     f"unit: remove {count - aos_node.MAX_NODES} node(s) or split the device "
                     "into two units (two Unit Configs)")
    for role in config.roles:
        _check_labels(role.name, role.labels, ctx)
        _check_node_type(config, role, ctx)
    if ctx.findings:
        return
    size = len(unit_config_text(aos_unit_config(config)).encode())
    if size > aos_node.MAX_UNIT_CONFIG_BYTES:
        ctx.error_at("nodes", f"the Aos unit config of this device is {size} bytes (export "
                     f"aos-unit-config); Aos core loads at most "
                     f"{aos_node.MAX_UNIT_CONFIG_BYTES}: use fewer or shorter labels and node "
                     "types, or set rebalance.enabled: false to drop the alert rules")


def _check_labels(role: str, labels: tuple[str, ...], ctx: Context) -> None:
    if len(labels) > aos_node.MAX_LABELS:
        ctx.error_at(f"roles.{role}.labels[{aos_node.MAX_LABELS}]",
                     f"role '{role}' has {len(labels)} labels; Aos core allows at most "
                     f"{aos_node.MAX_LABELS} per node: keep {aos_node.MAX_LABELS} of them")
    for i, label in enumerate(labels):
        if len(label) > aos_node.MAX_LABEL_LENGTH:
            ctx.error_at(f"roles.{role}.labels[{i}]",
                         f"label '{label[:20]}...' has {len(label)} characters; Aos core "
                         f"allows at most {aos_node.MAX_LABEL_LENGTH}: shorten it")


def _check_node_type(config: UnitConfig, role, ctx: Context) -> None:
    value = role.node_type or f"{config.aos.unit_model}-{config.aos.unit_version}-{role.name}"
    if len(value) <= aos_node.MAX_NODE_TYPE_LENGTH:
        return
    where = f"roles.{role.name}.node_type" if role.node_type else f"roles.{role.name}"
    hint = "shorten it" if role.node_type else \
        f"set roles.{role.name}.node_type to a shorter name, or shorten aos.unit_model"
    ctx.error_at(where, f"the Aos node type '{value[:24]}...' of role '{role.name}' has "
                 f"{len(value)} characters; Aos core allows at most "
                 f"{aos_node.MAX_NODE_TYPE_LENGTH} (AOS_NODE_TYPE, nodeGroupSubject.codename): "
                 f"{hint}")
