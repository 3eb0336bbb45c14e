#!/usr/bin/env python3
"""Build sharing with real BitBake: the generated layer against naive setups, side by side.

For each bundled example, generates the layer and, per setup, runs `aos-multinode verify`'s
machinery on every node (`bitbake -S none aos-multinode-image`, signatures compared):

  generated          the layer as generated: per-node values only in conf/nodes/<id>.conf,
                     read by the node's config recipe and the image.
  naive-distro       + what a per-node kas file / local.conf without this layer might do
                     with the node's identity: DISTRO_FEATURES:append = " node-<id>".
  naive-overrides    + the node as an override, so that recipes and local.conf can say
                     FOO:node-<id>: DISTROOVERRIDES:append = ":node-<id>".
  naive-export       + the node's identity as an exported global, as a global identity
                     class (INHERIT) or `export NODE_ID = "<id>"` in local.conf does: every
                     shell task's environment, so its signature, carries it.

Each naive value is written literally into that node's local.conf (as a per-node kas file
would); the naive setups keep everything of the generated layer, so the difference in the
figures is the cost of the global alone. Reported per setup: the tasks of one node, the
tasks each extra node of a MACHINE adds (and % of its image's tasks) split into identity /
role / other, the recipes and variables behind them, and total unique tasks / tasks of one
node.

Run as an ordinary user (BitBake refuses root), with the checkouts in the layout the kas
files name (as kas checks them out):

    benchmarks/sharing_bench.py --example two-node-gateway=/work/yocto/wrynose \\
        --example three-node-ecu=/work/yocto/scarthgap --workdir /tmp/sharing-bench \\
        [--extra-conf three-node-ecu=workaround.conf] [--node main --node rt0 ...]

Results: a Markdown table on stdout, everything as JSON in WORKDIR/sharing-bench.json
(--report-only: WORKDIR/sharing-bench-report.json).
Each (example, setup, node) parses all recipes once: a few minutes each on 2 CPUs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from aos_multinode.verify import sharing
from aos_multinode import verify
from aos_multinode.cli.progress import Progress
from aos_multinode.generation.generate import generate_files
from aos_multinode.unitconfig.load import load_unit_config
from aos_multinode.generation.write import write_tree

ROOT = Path(__file__).resolve().parents[1]
SETUPS = {
    "generated": "",
    "naive-distro": 'DISTRO_FEATURES:append = " node-{node}"\n',
    "naive-overrides": 'DISTROOVERRIDES:append = ":node-{node}"\n',
    "naive-export": 'export NAIVE_NODE_ID = "{node}"\n',
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
              nodes: list[str]) -> tuple[list[verify.NodeRun], list, float]:
    """Run verify for one setup, one node at a time, each with its own local.conf
    addition; return the node runs, the findings and the wall time."""
    ids = nodes or [n.node for n in verify.read_nodes(out / "meta-aos-multinode")]
    runs, findings = [], []
    start = time.monotonic()
    for node in ids:
        conf = workdir / f"{out.name}-{setup}-{node}.conf"
        conf.write_text(extra + SETUPS[setup].format(node=node))
        options = verify.VerifyOptions(directory=out, checkouts=checkouts, machine_conf=conf,
                                       workdir=workdir / f"{out.name}-{setup}", nodes=[node])
        result = verify.verify(options, Progress(sys.stderr))
        runs += result.runs
        findings += result.findings
    return runs, findings, time.monotonic() - start


def recorded_runs(out: Path, setup: str, workdir: Path,
                  nodes: list[str]) -> list[verify.NodeRun]:
    """Return the node runs an earlier run of this setup left (its signatures), for
    --report-only."""
    runs = []
    for node in verify.read_nodes(out / "meta-aos-multinode"):
        if nodes and node.node not in nodes:
            continue
        run = verify.NodeRun(node, workdir / f"{out.name}-{setup}" / node.node)
        run.signatures = verify.collect_signatures(verify.stamps_dir(run.build_dir))
        runs.append(run)
    return runs


def figures(runs: list[verify.NodeRun], findings: list) -> dict:
    """Return the comparable figures of one setup."""
    report, note = verify.sharing_of(runs)
    extras = []
    for group in report.groups if report else []:
        for extra in group.extras:
            extras.append({
                "node": extra.node.node, "reference": extra.reference.node,
                "machine": group.machine, "tasks": extra.tasks, "added": len(extra.added),
                "percent": round(extra.percent, 2),
                "identity": extra.tasks_in(*sharing.IDENTITY_CATEGORIES),
                "identity_percent": round(extra.identity_percent, 2),
                "role": extra.tasks_in("role"), "other": extra.tasks_in("other"),
                "goal_met": extra.goal_met, "differences": extra.differences,
                "heavy": [k.label for k in extra.heavy],
                "heavy_rerun": [k.label for k in extra.rerun], "light": extra.light,
                "variables": extra.variables,
                "recipes": [[r.recipe, r.tasks, r.category, r.causes] for r in extra.recipes]})
    return {"bitbake_failed": [r.node.node for r in runs if r.failed], "note": note,
            "one_node_tasks": report.one_node_tasks if report else None,
            "unique_tasks": report.unique_tasks if report else None,
            "ratio": round(report.ratio, 3) if report else None, "extra_nodes": extras,
            "findings": [f.format(full=False) for f in findings],
            "report": sharing.format_report(report) if report else ""}


def top_recipes(recipes: list, count: int = 4) -> str:
    shown = ", ".join(f"{name} {tasks}" for name, tasks, _, _ in recipes[:count])
    rest = len(recipes) - count
    return shown + (f", +{rest} more recipes" if rest > 0 else "")


def markdown(results: dict) -> str:
    """Return the side-by-side table: one row per (example, setup, extra node)."""
    lines = ["| example | setup | tasks of one node | extra node | tasks it adds | of its "
             "image | identity / role / other | heavy differ / run again / light | "
             "top recipes | unique / one node |",
             "|---|---|---:|---|---:|---:|---|---|---|---:|"]
    for example, setups in results.items():
        for setup, data in setups.items():
            for extra in data["extra_nodes"]:
                lines.append(
                    f"| {example} | {setup} | {data['one_node_tasks']:,} | {extra['node']} "
                    f"(vs {extra['reference']}) | {extra['added']:,} | "
                    f"{extra['percent']:.2f} % | {extra['identity']:,} / {extra['role']:,} / "
                    f"{extra['other']:,} | {len(extra['heavy'])} / "
                    f"{len(extra['heavy_rerun'])} ({heavy_recipes(extra['heavy_rerun'])}) / "
                    f"{extra['light']:,} | {top_recipes(extra['recipes'])} | "
                    f"{data['unique_tasks']:,} / {data['one_node_tasks']:,} = "
                    f"{data['ratio']:.3f} |")
    return "\n".join(lines)


def heavy_recipes(labels: list[str]) -> str:
    """Return the recipes of heavy task labels (`recipe:task`) with their counts."""
    counts: dict[str, int] = {}
    for label in labels:
        recipe = label.split(":")[0]
        counts[recipe] = counts.get(recipe, 0) + 1
    return ", ".join(f"{recipe} {count}" for recipe, count in sorted(counts.items())) or "-"


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
    parser.add_argument("--report-only", action="store_true",
                        help="run no BitBake: report from the signatures an earlier run left")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    extras = {name: path.read_text() for name, path in args.extra_conf}
    results: dict = {}
    for example, checkouts in args.example:
        out = generate(example, args.workdir)
        ids = [n.node for n in verify.read_nodes(out / "meta-aos-multinode")]
        nodes = [n for n in args.node if n in ids]
        for setup in args.setup or list(SETUPS):
            if args.report_only:
                runs, findings, seconds = recorded_runs(out, setup, args.workdir, nodes), [], 0
            else:
                runs, findings, seconds = run_setup(out, checkouts.resolve(), setup,
                                                    args.workdir, extras.get(example, ""),
                                                    nodes)
            data = figures(runs, findings)
            data["seconds"] = round(seconds)
            results.setdefault(example, {})[setup] = data
            print(f"{example} {setup}: {seconds:.0f} s\n{data['report']}", file=sys.stderr)
            name = "sharing-bench-report.json" if args.report_only else "sharing-bench.json"
            (args.workdir / name).write_text(json.dumps(results, indent=2))
    print(markdown(results))


if __name__ == "__main__":
    main()
