#!/usr/bin/env python3
"""BitBake parse time of one node's build, by the number of nodes of the device (real BitBake).

Every node's build parses the whole generated layer. This measures what that costs as the
device grows: for each size N, a device of N nodes of one MACHINE (the two-node-gateway
example's stack: wrynose, qemuarm64, aos.enabled false, because Aos allows at most 16 nodes
per device and the 1000-node device has to be aos-disabled) is generated, checked out by kas
from the snapshots of ../shared/yocto (offline, as tests/test_bitbake_real.py does) and its
first node's build runs `bitbake -p` with one parse thread (BB_NUMBER_PARSE_THREADS = "1")
and every cache removed first (TMPDIR's recipe cache and the build's codeparser cache): a
cold parse, the one each node's build pays once. Reported for `bitbake -p` alone
(checkout, generate not included): the CPU seconds of BitBake's server and parser process
(the robust figure on a shared machine), the wall time, and BitBake's own recipe count.

    benchmarks/parse_bench.py [--nodes 1 --nodes 16 --nodes 1000] [--work DIR] [--repeat 1]

Run as root or as an ordinary user (tests/real_bitbake.py's Builder: as root BitBake runs as
the user `aosbuild`). DIR (default /var/tmp/parse-bench) keeps the checkouts between runs.
Prints a Markdown table; the figures as JSON in DIR/parse-bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from real_bitbake import Builder, generate_for, make_builder  # noqa: E402

EXAMPLE = ROOT / "examples" / "two-node-gateway.yaml"
BENCH_KAS = """\
# Written by benchmarks/parse_bench.py: offline, one parse thread.
header:
  version: 14
local_conf_header:
  99-parse-bench: |
    BB_NO_NETWORK = "1"
    INHERIT:remove = "uninative"
    BB_NUMBER_PARSE_THREADS = "1"
"""
PARSED = re.compile(r"Parsing of (\d+) \.bb files complete \((\d+) cached, (\d+) parsed\)")


def unit_config(nodes: int) -> dict:
    """Return the gateway example grown to NODES nodes (node 0 the controller, every
    other a worker), all on its one MACHINE, in a /16 so that 1000 addresses fit."""
    unit = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    unit["device_id"] = "parse-bench"
    unit["network"]["interfaces"][0]["subnet"] = "10.50.0.0/16"
    unit["time_sync"]["server"] = "n0"
    unit["nodes"] = [{"index": i, "id": f"n{i}", "hostname": f"pb-n{i}",
                      "address": f"10.50.{(i + 10) // 250}.{(i + 10) % 250 + 1}",
                      "role": "controller" if i == 0 else "worker"}
                     for i in range(nodes)]
    return unit


def parse_once(builder: Builder, out: Path, kas_work: Path, log: Path) -> dict:
    """Run a cold `bitbake -p` in node n0's build; return wall and CPU seconds and the
    recipe counts. CPU: user + system time of the BitBake server and of the parser process
    it reaped (its /proc stat before it is shut down), which other load on the machine
    does not inflate the way it does wall time."""
    command = ('rm -rf "$BUILDDIR"/tmp-*/cache "$BUILDDIR"/cache; export BB_SERVER_TIMEOUT=120; '
               'start=$(date +%s.%N); bitbake -p; rc=$?; end=$(date +%s.%N); '
               'pid=$(head -n 1 "$BUILDDIR"/bitbake.lock); '
               'echo "PARSE-BENCH rc=$rc start=$start end=$end tick=$(getconf CLK_TCK) '
               'stat=$(cut -d")" -f2- /proc/$pid/stat | tr " " ,)"; bitbake -m >/dev/null')
    result = builder.kas(["shell", "kas/n0.yml:kas/parse-bench.yml", "-c", command], cwd=out,
                         kas_work=kas_work, timeout=7200, log=log)
    text = result.stdout + result.stderr
    found = re.search(r"PARSE-BENCH rc=(\d+) start=([\d.]+) end=([\d.]+) tick=(\d+) "
                      r"stat=(\S+)", text)
    if result.returncode != 0 or found is None or found[1] != "0":
        raise SystemExit(f"bitbake -p failed (rc {result.returncode}); see {log}")
    # /proc/PID/stat after the command name: state is field 3; utime, stime, cutime,
    # cstime are fields 14-17.
    fields = found[5].strip(",").split(",")
    cpu = sum(int(x) for x in fields[11:15]) / int(found[4])
    counts = PARSED.findall(text)
    recipes, cached, parsed = (int(x) for x in counts[-1]) if counts else (0, 0, 0)
    return {"seconds": round(float(found[3]) - float(found[2]), 1), "cpu_seconds": round(cpu, 1),
            "recipes": recipes, "cached": cached, "parsed": parsed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, action="append", help="device sizes (1 16 1000)")
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/parse-bench"))
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    sizes = args.nodes or [1, 16, 1000]
    os.environ.setdefault("AOS_MULTINODE_BITBAKE_WORK", str(args.work))
    builder, _ = make_builder()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    results = []
    for size in sizes:
        config = builder.work / f"parse-bench-{size}.yaml"
        config.write_text(yaml.safe_dump(unit_config(size), sort_keys=False), encoding="utf-8")
        out = generate_for(builder, config, "parse-bench")
        (out / "kas" / "parse-bench.yml").write_text(BENCH_KAS, encoding="utf-8")
        builder.give(out / "kas" / "parse-bench.yml")
        kas_work = out.parent / "kas-work"
        kas_work.mkdir(exist_ok=True)
        builder.give(kas_work)
        layer_recipes = len(list((out / "meta-aos-multinode").rglob("*.bb")))
        for run in range(args.repeat):
            figures = parse_once(builder, out, kas_work,
                                 builder.work / f"parse-bench-{size}-{run}.log")
            figures.update(nodes=size, run=run, layer_recipes=layer_recipes)
            results.append(figures)
            print(json.dumps(figures), file=sys.stderr, flush=True)
    smallest = [r for r in results if r["nodes"] == min(sizes)]
    base_cpu = min((r["cpu_seconds"] for r in smallest), default=0.0)
    base_wall = min((r["seconds"] for r in smallest), default=0.0)
    print(f"Commit {commit}; cold `bitbake -p`, BB_NUMBER_PARSE_THREADS = 1, node n0's build")
    print("| nodes | recipes of the layer | recipes parsed | CPU s | vs. smallest | wall s "
          "| vs. smallest |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        cpu = r["cpu_seconds"] / base_cpu if base_cpu else 0.0
        wall = r["seconds"] / base_wall if base_wall else 0.0
        print(f"| {r['nodes']} | {r['layer_recipes']} | {r['recipes']:,} | "
              f"{r['cpu_seconds']:.1f} | {cpu:.2f} x | {r['seconds']:.1f} | {wall:.2f} x |")
    (builder.work / "parse-bench.json").write_text(
        json.dumps({"commit": commit, "results": results}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
