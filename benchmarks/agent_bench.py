#!/usr/bin/env python3
"""Benchmark of the aos-cluster agent on network namespaces (needs root and iproute2).

Measures, for each cluster size: time from starting every agent to all of them healthy,
time until every survivor reports a killed node down, and each agent's CPU and memory at
steady state. It reuses the namespace lab of tests/test_agent_netns.py, so the same
Unit Config -> generator -> agent path is measured. Results print as a Markdown table.

    sudo .venv/bin/python benchmarks/agent_bench.py [--nodes 3 8] [--timing default fast]

--churn measures instead what instance churn makes one agent do: a sender in a fifth
namespace claims a new instance of node1 in each hello, paced at about 1000 hellos/s, at the
agent of `main` in a 3-node cluster; state-file writes, hellos sent and ticks come from the
agent's own counters (state file), and hellos sent also from UDP OutDatagrams of its
namespace. --unlimited measures a copy of the agent with the out-of-turn answer limit taken
out (the behaviour before it), for comparison.

    sudo .venv/bin/python benchmarks/agent_bench.py --churn [--unlimited] [--window 10]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aos_multinode.generation import cluster

ROOT = Path(__file__).resolve().parents[1]
# (hello_interval_s, down_after_s): what the generator renders, and the tests' short values.
TIMINGS = {"default": (cluster.HELLO_INTERVAL_S, cluster.DOWN_AFTER_S), "fast": (0.2, 1.0)}


def load_lab_module():
    """Return tests/test_agent_netns.py as a module (its Lab and render helpers)."""
    spec = importlib.util.spec_from_file_location(
        "agent_netns", ROOT / "tests/test_agent_netns.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


netns = load_lab_module()


def read_state(lab, slot: int) -> dict:
    """Return the state file of `slot` ({} while it is missing or being replaced)."""
    try:
        return json.loads(lab.state_path(slot).read_text())
    except (OSError, ValueError):
        return {}


def wait(predicate, timeout: float, step: float = 0.01) -> float | None:
    """Poll `predicate` until true; return the seconds it took, or None on timeout."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(step)
    return None


def cpu_seconds(pid: int) -> float:
    """Return the user + system CPU time `pid` has used, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    """Return the resident set size of `pid` in KiB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def with_timing(config: dict, timing: tuple[float, float]) -> dict:
    """Return `config` with hello_interval_s and down_after_s set from `timing`."""
    return {**config, "hello_interval_s": timing[0], "down_after_s": timing[1]}


def start_all(lab, configs: dict, timing) -> list[int]:
    """Start one agent per node (slot = node index); return the slots."""
    slots = []
    for slot, config in enumerate(configs.values()):
        lab.start(slot, with_timing(config, timing))
        slots.append(slot)
    return slots


def healthy(lab, slots) -> bool:
    return all(read_state(lab, slot).get("healthy") is True for slot in slots)


def measure_convergence(lab, configs, timing) -> float:
    """Return seconds from starting every agent to every state file saying healthy."""
    start = time.monotonic()
    slots = start_all(lab, configs, timing)
    took = wait(lambda: healthy(lab, slots), timeout=120)
    if took is None:
        raise RuntimeError("cluster did not converge")
    return time.monotonic() - start


def measure_steady(lab, slots, window: float) -> tuple[list[float], list[int]]:
    """Return per-agent CPU share (percent of one core) over `window` s and VmRSS (KiB)."""
    pids = [lab.agents[slot].pid for slot in slots]
    before = [cpu_seconds(pid) for pid in pids]
    time.sleep(window)
    cpu = [100 * (cpu_seconds(pid) - b) / window for pid, b in zip(pids, before)]
    return cpu, [rss_kib(pid) for pid in pids]


def measure_detection(lab, slots, configs, timing) -> float:
    """Kill the last node; return seconds until every other node reports it down, then
    restart it and wait for health again."""
    victim = slots[-1]
    node_id = list(configs)[victim]
    lab.stop(victim)
    killed = time.monotonic()
    survivors = slots[:-1]

    def reported_down():
        return all(any(p["id"] == node_id and p["state"] == "down"
                       for p in read_state(lab, s).get("peers", [])) for s in survivors)

    if wait(reported_down, timeout=120) is None:
        raise RuntimeError("dead node not detected")
    took = time.monotonic() - killed
    lab.start(victim, with_timing(configs[node_id], timing))
    if wait(lambda: healthy(lab, slots), timeout=120) is None:
        raise RuntimeError("restarted node did not rejoin")
    return took


def run(count: int, timing_name: str, repeat: int, window: float) -> dict:
    """Run every measurement for `count` nodes; return the figures."""
    timing = TIMINGS[timing_name]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        lab = netns.Lab(workdir, slots=count)
        try:
            configs = netns.render(workdir, count)
            converge = []
            for _ in range(repeat):
                converge.append(measure_convergence(lab, configs, timing))
                for slot in list(lab.agents):
                    lab.stop(slot)
            slots = start_all(lab, configs, timing)
            wait(lambda: healthy(lab, slots), timeout=120)
            cpu, rss = measure_steady(lab, slots, window)
            detect = [measure_detection(lab, slots, configs, timing) for _ in range(repeat)]
        finally:
            lab.close()
    return {"nodes": count, "timing": f"{timing[0]:g} s / {timing[1]:g} s",
            "converge": converge, "detect": detect, "cpu": cpu, "rss": rss}


CHURNER = r"""
import json, socket, sys, time
target, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
good = {"proto": "aos-cluster/1", "device_id": "test-device", "cluster_id": "test-cluster",
        "node_id": "node1", "role": "worker", "release": "2026.11.0", "boot_id": "b", "seq": 1}
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sent, end = 0, time.monotonic() + seconds
while time.monotonic() < end:
    sock.sendto(json.dumps({**good, "instance": f"churn{sent}", "clock": time.time()}).encode(),
                (target, port))
    sent += 1
    time.sleep(0.001)
print(sent)
"""
LIMIT = 'if peer.welcomed is None or now - peer.welcomed >= self.cfg["hello_interval_s"]:'


def unlimited_agent(workdir: Path) -> Path:
    """Return a copy of the agent without the out-of-turn answer limit."""
    text = netns.AGENT.read_text()
    if LIMIT not in text:
        raise RuntimeError("the agent's answer limit is not where the benchmark expects it")
    copy = workdir / "aos-cluster-unlimited"
    copy.write_text(text.replace(LIMIT, "if True:"))
    return copy


def udp_out(lab, slot: int) -> int:
    """Return UDP OutDatagrams of `slot`'s namespace (only the agent sends there)."""
    lines = netns.sh(netns.IP, "netns", "exec", lab.ns(slot), "cat",
                     "/proc/net/snmp").stdout.splitlines()
    udp = [line.split()[1:] for line in lines if line.startswith("Udp:")]
    return int(dict(zip(udp[0], udp[1]))["OutDatagrams"])


def counters(lab, slot: int) -> dict:
    return {**read_state(lab, slot).get("counters", {}), "udp_out": udp_out(lab, slot)}


def run_churn(window: float, unlimited: bool, timing_name: str) -> list[dict]:
    """Return the agent's work over `window` s idle, then over `window` s of churn."""
    timing = TIMINGS[timing_name]
    agent = netns.AGENT
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if unlimited:
            netns.AGENT = unlimited_agent(workdir)
        lab = netns.Lab(workdir, slots=4)
        try:
            configs = netns.render(workdir, 3)
            slots = start_all(lab, configs, timing)
            if wait(lambda: healthy(lab, slots), timeout=60) is None:
                raise RuntimeError("cluster did not converge")
            rows = []
            for phase in ("idle", "churn"):
                before = counters(lab, 0)
                if phase == "idle":
                    time.sleep(window)
                    churned = 0
                else:
                    churned = int(netns.sh(
                        netns.IP, "netns", "exec", lab.ns(3), sys.executable, "-c", CHURNER,
                        lab.address(0), str(configs["main"]["port"]), str(window)).stdout)
                time.sleep(2 * timing[0])
                after = counters(lab, 0)
                rows.append({"phase": phase, "churned": churned,
                             **{k: after[k] - before[k] for k in after}})
                time.sleep(timing[1] + 1)  # the churn's traces expire before the next phase
        finally:
            lab.close()
            netns.AGENT = agent
    return rows


def print_churn(args) -> None:
    for unlimited in ([False, True] if args.unlimited else [False]):
        for timing in args.timing:
            print(f"| agent | hello / down after | phase | hellos to it | received | ticks "
                  f"| state writes | hellos sent (UDP out) | writes per tick | sent per tick |")
            print("|---|---|---|---|---|---|---|---|---|---|")
            for r in run_churn(args.window, unlimited, timing):
                t = TIMINGS[timing]
                print(f"| {'no answer limit' if unlimited else 'this one'} "
                      f"| {t[0]:g} s / {t[1]:g} s | {r['phase']} | {r['churned']} "
                      f"| {r['received']} | {r['ticks']} | {r['writes']} "
                      f"| {r['sent']} ({r['udp_out']}) | {r['writes'] / r['ticks']:.2f} "
                      f"| {r['sent'] / r['ticks']:.2f} |", flush=True)


def spread(values: list[float]) -> str:
    """Return 'median (min-max)' of `values` in seconds."""
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[3, 8])
    parser.add_argument("--timing", nargs="+", choices=list(TIMINGS), default=list(TIMINGS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--window", type=float, default=30.0, help="steady-state window, s")
    parser.add_argument("--churn", action="store_true",
                        help="measure instance churn instead (3 nodes)")
    parser.add_argument("--unlimited", action="store_true",
                        help="with --churn: also measure the agent without its answer limit")
    args = parser.parse_args()
    reason = netns.netns_unavailable()
    if reason:
        print(f"cannot run: {reason}")
        return 2
    if args.churn:
        print_churn(args)
        return 0
    print("| nodes | hello / down after | start to all healthy, s | dead node reported down, s "
          "| CPU per agent, % of a core (mean, max) | VmRSS per agent, MiB (mean, max) |")
    print("|---|---|---|---|---|---|")
    for timing in args.timing:
        for count in args.nodes:
            r = run(count, timing, args.repeat, args.window)
            print(f"| {r['nodes']} | {r['timing']} | {spread(r['converge'])} "
                  f"| {spread(r['detect'])} "
                  f"| {statistics.mean(r['cpu']):.2f}, {max(r['cpu']):.2f} "
                  f"| {statistics.mean(r['rss']) / 1024:.1f}, {max(r['rss']) / 1024:.1f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
