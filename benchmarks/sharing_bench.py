#!/usr/bin/env python3
"""Build sharing with real BitBake: the generated layer against the naive setup, side by side.

For each bundled example, generates the layer and runs `aos-multinode verify`'s machinery
(per node: `bitbake -g`, `bitbake -S none`, signatures compared) once per setup:

  generated          the layer as generated: per-node values only in conf/nodes/<id>.conf,
                     read by the node's config recipe and the image.
  naive-distro       the same, plus what a per-node kas file without this layer typically
                     does: the node's identity as a distro feature,
                     DISTRO_FEATURES:append = " node-<id>" (to switch per-node content).
  naive-export       the same, plus the node's identity as an exported global, as a global
                     identity class (INHERIT) or `export NODE_ID = ...` in local.conf does:
                     every shell task's environment, so its signature, carries it.

Both naive variants keep everything of the generated layer, so the difference in the
figures is the cost of putting a node value into a global. Reported per setup: the tasks
of one node, the tasks each extra node of a MACHINE adds (and % of its image's tasks), the
recipes and variables behind them, and total unique tasks / tasks of one node.

Run as an ordinary user (BitBake refuses root), with the checkouts in the layout the kas
files name (as kas checks them out):

    benchmarks/sharing_bench.py --example two-node-gateway=/work/yocto/wrynose \\
        --example three-node-ecu=/work/yocto/scarthgap --workdir /tmp/sharing-bench \\
        [--extra-conf three-node-ecu=workaround.conf] [--node main --node rt0 ...]

Results: a Markdown table on stdout, everything as JSON in WORKDIR/sharing-bench.json.
Each (example, setup, node) parses all recipes once: about a minute for openembedded-core,
three for the meta-aos stack, on 2 CPUs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from aos_multinode import sharing, verify
from aos_multinode.generate import generate_files
from aos_multinode.load import load_unit_config
from aos_multinode.write import write_tree

ROOT = Path(__file__).resolve().parents[1]
SETUPS = {
    "generated": "",
    "naive-distro": 'DISTRO_FEATURES:append = " node-${AOS_MULTINODE_NODE_ID}"\n',
    "naive-export": 'export NAIVE_NODE_ID = "${AOS_MULTINODE_NODE_ID}"\n',
}


def generate(example: str, workdir: Path) -> Path:
    """Generate examples/EXAMPLE.yaml into WORKDIR/EXAMPLE, unless it is there already (so
    a generated tree can be prepared, or patched, beforehand); return that directory."""
    out = workdir / example
    if (out / "meta-aos-multinode").is_dir():
        return out
    config = load_unit_config(ROOT / "examples" / f"{example}.yaml").config
    _, files = generate_files(config, out)
    write_tree(out, files, force=False)
    return out


def run_setup(out: Path, checkouts: Path, setup: str, workdir: Path, extra: str,
              nodes: list[str]) -> tuple[verify.VerifyResult, float]:
    """Run verify for one setup; return its result and wall time."""
    conf = workdir / f"{out.name}-{setup}.conf"
    conf.write_text(extra + SETUPS[setup])
    options = verify.VerifyOptions(directory=out, checkouts=checkouts, machine_conf=conf,
                                   workdir=workdir / f"{out.name}-{setup}", nodes=nodes)
    start = time.monotonic()
    result = verify.verify(options, verify.Progress(sys.stderr))
    return result, time.monotonic() - start


def figures(result: verify.VerifyResult) -> dict:
    """Return the comparable figures of one run."""
    report = result.report
    extras = []
    for group in report.groups if report else []:
        for extra in group.extras:
            pairs = extra.recipes
            extras.append({
                "node": extra.node.node, "reference": extra.reference.node,
                "machine": group.machine, "tasks": extra.tasks, "added": len(extra.added),
                "percent": round(extra.percent, 2), "goal_met": extra.goal_met,
                "differences": extra.differences,
                "recipes": [[r.recipe, r.tasks, r.category, r.causes] for r in pairs]})
    return {"ok": not result.problems, "counts": result.counts(),
            "one_node_tasks": report.one_node_tasks if report else None,
            "unique_tasks": report.unique_tasks if report else None,
            "ratio": round(report.ratio, 3) if report else None, "extra_nodes": extras,
            "findings": [f.format(full=False) for f in result.findings]}


def top_recipes(recipes: list, count: int = 4) -> str:
    shown = ", ".join(f"{name} {tasks}" for name, tasks, _, _ in recipes[:count])
    rest = len(recipes) - count
    return shown + (f", +{rest} more recipes" if rest > 0 else "")


def markdown(results: dict) -> str:
    """Return the side-by-side table: one row per (example, setup, extra node)."""
    lines = ["| example | setup | tasks of one node | extra node | tasks it adds | % of its "
             "image | added by recipe | unique tasks / one node |",
             "|---|---|---:|---|---:|---:|---|---:|"]
    for example, setups in results.items():
        for setup, data in setups.items():
            for extra in data["extra_nodes"] or [None]:
                if extra is None:
                    continue
                lines.append(
                    f"| {example} | {setup} | {data['one_node_tasks']:,} | {extra['node']} "
                    f"(vs {extra['reference']}, {extra['machine']}) | {extra['added']:,} | "
                    f"{extra['percent']:.2f} % | {top_recipes(extra['recipes'])} | "
                    f"{data['unique_tasks']:,} / {data['one_node_tasks']:,} = "
                    f"{data['ratio']:.3f} |")
    return "\n".join(lines)


def parse_example(value: str) -> tuple[str, Path]:
    """NAME=PATH -> (NAME, PATH)."""
    name, sep, path = value.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError("use NAME=PATH, e.g. "
                                         "two-node-gateway=/work/yocto/wrynose")
    return name, Path(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example", action="append", type=parse_example, required=True,
                        metavar="NAME=CHECKOUTS")
    parser.add_argument("--setup", action="append", choices=sorted(SETUPS),
                        help="setups to run (default: all)")
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--extra-conf", action="append", type=parse_example, default=[],
                        metavar="NAME=FILE", help="environment workarounds appended to every "
                        "local.conf of example NAME")
    parser.add_argument("--node", action="append", default=[],
                        help="only these nodes, in the examples that have them (default: all)")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    extras = {name: path.read_text() for name, path in args.extra_conf}
    results: dict = {}
    for example, checkouts in args.example:
        out = generate(example, args.workdir)
        ids = [n.node for n in verify.read_nodes(out / "meta-aos-multinode")]
        nodes = [n for n in args.node if n in ids]
        for setup in args.setup or list(SETUPS):
            result, seconds = run_setup(out, checkouts.resolve(), setup, args.workdir,
                                        extras.get(example, ""), nodes)
            data = figures(result)
            data["seconds"] = round(seconds)
            results.setdefault(example, {})[setup] = data
            print(f"{example} {setup}: {seconds:.0f} s", file=sys.stderr)
            if result.report:
                print(sharing.format_report(result.report), file=sys.stderr)
            (args.workdir / "sharing-bench.json").write_text(json.dumps(results, indent=2))
    print(markdown(results))


if __name__ == "__main__":
    main()
