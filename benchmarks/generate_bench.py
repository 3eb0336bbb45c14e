#!/usr/bin/env python3
"""Benchmark of `aos-multinode generate`: wall time and peak memory for Unit Configs of
1, 10, 100 and 1000 nodes, the 1000/100 ratio, and the no-op rerun (it must write nothing).

Each Unit Config is made here (N nodes in an IPv4 /16 or an IPv6 /64, three roles, meta-aos
on up to Aos core's limit of 16 nodes, off beyond it), and `python -m aos_multinode generate` runs in a fresh process so that peak memory
(the child's maximum RSS) is its own. Every size runs --repeat times into a new directory
(the median is reported), then once more into the same directory: that rerun must report
"0 create, 0 update, 0 delete" and leave every inode and mtime as it was (checked, not
trusted). Results print as a Markdown table; --json prints them for machines.

    .venv/bin/python benchmarks/generate_bench.py [--nodes 1 10 100 1000] [--ipv6]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml


def unit_config(nodes: int, ipv6: bool = False) -> dict:
    """Return a valid Unit Config with `nodes` nodes (main, gpu and worker roles) whose
    addresses come from an IPv4 /16 (or an IPv6 /64)."""
    subnet = ipaddress.ip_network("fd00:aa::/64" if ipv6 else "10.20.0.0/16")
    hosts = subnet.hosts()
    gateway = next(hosts)
    roles = {
        "main": {"main": True, "capabilities": {"cpu_cores": 4, "memory": "8GiB"},
                 "labels": ["main"], "priority": 100},
        "gpu": {"capabilities": {"cpu_cores": 8, "memory": "16GiB", "gpu": True},
                "labels": ["gpu"], "priority": 80},
        "worker": {"capabilities": {"cpu_cores": 2, "memory": "2GiB"}, "labels": ["worker"],
                   "priority": 50},
    }
    node_list = []
    for index in range(nodes):
        role = "main" if index == 0 else ("gpu" if index % 10 == 1 else "worker")
        node_list.append({"index": index, "id": f"n{index}", "hostname": f"n{index}",
                          "address": str(next(hosts)), "role": role})
    return {
        "device_id": f"bench-{nodes}", "release": "1.0.0",
        "cluster": {"id": "bench", "discovery": "static"},
        "yocto": {"release": "scarthgap", "machine": "genericx86-64"},
        # Aos core manages at most 16 nodes per unit; larger devices are measured without it.
        "aos": {"enabled": nodes <= 16, "unit_model": "bench", "unit_version": "1.0"},
        "network": {"interfaces": [{"name": "internal", "device": "eth0",
                                    "subnet": str(subnet), "gateway": str(gateway)}]},
        "time_sync": {"protocol": "ntp", "server": "n0"},
        "roles": {name: role for name, role in roles.items()
                  if any(node["role"] == name for node in node_list)},
        "nodes": node_list,
        "rebalance": {"enabled": True, "policy": {
            "cpu": {"max_threshold": 80, "min_threshold": 60, "min_timeout": "30s"},
            "ram": {"max_threshold": 85, "min_threshold": 70, "min_timeout": "1m"}}},
    }


def run_generate(config: Path, out: Path) -> dict:
    """Run generate in a fresh process; return its wall time, peak RSS and summary line."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    # Output to files, not pipes: generate prints a line per file, and a full pipe nobody
    # reads would stall it (wait4 has to wait for the child itself to get its rusage).
    with tempfile.TemporaryFile("w+") as out_file, tempfile.TemporaryFile("w+") as err_file:
        start = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "aos_multinode", "generate",
                                    str(config), "-o", str(out)], stdout=out_file,
                                   stderr=err_file, env=env, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        out_file.seek(0)
        err_file.seek(0)
        stdout, stderr = out_file.read(), err_file.read()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"generate failed ({process.returncode}):\n{stderr}")
    return {"seconds": wall, "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "peak_rss_mib": usage.ru_maxrss / 1024,
            "summary": stdout.strip().splitlines()[-1]}


def tree_state(root: Path) -> dict[str, tuple[int, int]]:
    """Return every path under root with its inode and mtime (ns)."""
    return {str(p.relative_to(root)): (p.lstat().st_ino, p.lstat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


def output_size(root: Path) -> tuple[int, int]:
    """Return (files, bytes) written under root."""
    files = [p for p in root.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def bench(nodes: int, repeat: int, ipv6: bool, workdir: Path) -> dict:
    """Return the figures of one size: median cold run, peak memory, output, no-op rerun."""
    config = workdir / f"unit-config-{nodes}.yaml"
    config.write_text(yaml.safe_dump(unit_config(nodes, ipv6), sort_keys=False))
    runs = []
    for attempt in range(repeat):
        out = workdir / f"out-{nodes}-{attempt}"
        runs.append(run_generate(config, out))
    files, size = output_size(out)
    before = tree_state(out)
    rerun = run_generate(config, out)
    unchanged = tree_state(out) == before
    wrote_nothing = rerun["summary"].startswith("0 create, 0 update, 0 delete")
    if not (unchanged and wrote_nothing):
        raise SystemExit(f"{nodes} nodes: the no-op rerun wrote something: {rerun['summary']}")
    return {"nodes": nodes, "seconds": statistics.median(r["seconds"] for r in runs),
            "seconds_all": [round(r["seconds"], 3) for r in runs],
            "cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
            "peak_rss_mib": max(r["peak_rss_mib"] for r in runs), "files": files,
            "bytes": size, "noop_seconds": rerun["seconds"],
            "noop_peak_rss_mib": rerun["peak_rss_mib"], "noop_summary": rerun["summary"],
            "noop_unchanged": unchanged}


def baseline(workdir: Path) -> float:
    """Return the wall time of starting Python and importing the CLI (no work)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import aos_multinode.cli"], check=True)
    return time.perf_counter() - start


def markdown(results: list[dict], startup: float) -> str:
    """Return the results as a Markdown table plus the ratios."""
    lines = ["| nodes | generate wall (median) | CPU | peak RSS | files | output | no-op rerun "
             "| no-op writes |", "|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        lines.append(f"| {r['nodes']} | {r['seconds']:.2f} s | {r['cpu_seconds']:.2f} s | "
                     f"{r['peak_rss_mib']:.0f} MiB | "
                     f"{r['files']:,} | {r['bytes'] / 2**20:.1f} MiB | "
                     f"{r['noop_seconds']:.2f} s | none (inodes, mtimes unchanged) |")
    by = {r["nodes"]: r for r in results}
    if 100 in by and 1000 in by:
        time_ratio = by[1000]["seconds"] / by[100]["seconds"]
        net = (by[1000]["seconds"] - startup) / max(by[100]["seconds"] - startup, 1e-9)
        lines.append("")
        cpu = by[1000]["cpu_seconds"] / by[100]["cpu_seconds"]
        lines.append(f"1000/100 nodes: wall time x{time_ratio:.1f} (x{net:.1f} without the "
                     f"{startup:.2f} s interpreter start), CPU x{cpu:.1f}, output bytes "
                     f"x{by[1000]['bytes'] / by[100]['bytes']:.1f}, files "
                     f"x{by[1000]['files'] / by[100]['files']:.1f}, peak RSS "
                     f"x{by[1000]['peak_rss_mib'] / by[100]['peak_rss_mib']:.1f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 10, 100, 1000])
    parser.add_argument("--repeat", type=int, default=3, help="cold runs per size")
    parser.add_argument("--ipv6", action="store_true", help="an IPv6 /64 instead of IPv4 /16")
    parser.add_argument("--json", action="store_true", help="print JSON, not Markdown")
    parser.add_argument("--json-out", type=Path, help="also write the JSON to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aos-multinode-bench-") as tmp:
        workdir = Path(tmp)
        startup = baseline(workdir)
        results = [bench(n, args.repeat, args.ipv6, workdir) for n in args.nodes]
    data = json.dumps({"startup_seconds": startup, "results": results}, indent=2)
    if args.json_out:
        args.json_out.write_text(data + "\n")
    print(data if args.json else markdown(results, startup))


if __name__ == "__main__":
    main()
