#!/usr/bin/env python3
"""The cost of the generated CI pipeline in BitBake tasks, with real BitBake signatures.

For each bundled example: generate it (unless WORKDIR/EXAMPLE holds an output already),
run `aos-multinode verify` on every node (`bitbake -S none aos-multinode-image`, nothing
built), then `aos-multinode pipeline-cost`: the tasks each image job of the generated
pipeline runs on a first run, the unique tasks of all nodes, the naive one-job-per-node
matrix. Run as an ordinary user (BitBake refuses root), with the checkouts in the layout the
kas files name (as kas checks them out):

    benchmarks/pipeline_cost_bench.py --example two-node-gateway=/work/yocto/wrynose \\
        --example three-node-ecu=/work/yocto/scarthgap --workdir /tmp/pipeline-cost-bench
    benchmarks/pipeline_cost_bench.py ... --report-only      # the figures again, no BitBake
    benchmarks/pipeline_cost_bench.py --output three-node-ecu=DIR --report-only
                                       # an output verify already ran on (its own workdir)

Results: a Markdown table on stdout, everything as JSON in WORKDIR/pipeline-cost-bench.json.
Each node parses all recipes once: a few minutes each on 2 CPUs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from aos_multinode import verify
from aos_multinode.cli.progress import Progress
from aos_multinode.verify.pipeline_cost import measure

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from sharing_bench import generate  # noqa: E402  (the same generated tree)


def markdown(results: dict) -> str:
    lines = ["| example | image jobs (tasks each runs) | pipeline total | unique tasks of all "
             "nodes | pipeline / unique | naive matrix (tasks per node) | naive total | "
             "naive / unique |", "|---|---|---:|---:|---:|---|---:|---:|"]
    for example, cost in results.items():
        jobs = "; ".join(
            f"{job['id']} {job['machine']}"
            f"{' after ' + ', '.join(job['needs']) if job['needs'] else ''}: "
            + " + ".join(f"{n['node']} {n['tasks']:,}" for n in job["per_node"])
            for job in cost["jobs"])
        naive = " + ".join(f"{n['node']} {n['tasks']:,}" for n in cost["nodes"])
        lines.append(f"| {example} | {jobs} | {cost['pipeline_tasks']:,} | "
                     f"{cost['unique_tasks']:,} | {cost['ratio']:.3f} | {naive} | "
                     f"{cost['naive_tasks']:,} | {cost['naive_ratio']:.3f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--example", action="append", default=[], metavar="NAME=CHECKOUTS")
    parser.add_argument("--output", action="append", default=[], metavar="NAME=DIR",
                        help="an existing output verify ran on (its default workdir)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/pipeline-cost-bench"))
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    outputs = {name: Path(path) for name, path in (o.split("=", 1) for o in args.output)}
    results, times = {}, {}
    for spec in args.example:
        name, checkouts = spec.split("=", 1)
        out = generate(name, args.workdir)
        outputs[name] = out
        if not args.report_only:
            start = time.monotonic()
            options = verify.VerifyOptions(directory=out, checkouts=Path(checkouts))
            result = verify.verify(options, Progress(sys.stderr))
            times[name] = round(time.monotonic() - start)
            if any(run.failed for run in result.runs):
                print(f"{name}: BitBake failed, see {out}/.aos-multinode-verify", file=sys.stderr)
                return 1
    for name, out in outputs.items():
        results[name] = measure(out).as_dict()
    (args.workdir / "pipeline-cost-bench.json").write_text(
        json.dumps({"results": results, "verify_seconds": times}, indent=2, sort_keys=True))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
