"""`pipeline-cost`: the BitBake tasks the generated CI pipeline runs (see
aos_multinode.verify.pipeline_cost)."""

from __future__ import annotations

import json

import click

from aos_multinode.cli.app import cli


@cli.command("pipeline-cost")
@click.argument("directory", type=click.Path(file_okay=False), default=".")
@click.option("--workdir", type=click.Path(file_okay=False),
              help="Where `verify` put the per-node build directories (default: "
              "DIR/.aos-multinode-verify).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def pipeline_cost(directory: str, workdir: str | None, as_json: bool) -> None:
    """Count the BitBake tasks each image job of the generated CI pipeline runs on a first
    run, against the unique tasks of all nodes and the naive one-job-per-node matrix.

    Reads the task signatures `aos-multinode verify DIR` wrote for every node (`bitbake -S
    none`); runs no BitBake itself. The image jobs are those of the generated pipelines: one
    per MACHINE building its nodes in turn, the first MACHINE's job before the others. A job
    reuses what it built itself and what the jobs it waits for built (shared sstate).

    \b
    Examples:
      aos-multinode verify build-config --build-dir build
      aos-multinode pipeline-cost build-config
      aos-multinode pipeline-cost . --json
    """
    from pathlib import Path

    from aos_multinode.verify.pipeline_cost import format_cost, measure

    cost = measure(Path(directory), Path(workdir) if workdir else None)
    if as_json:
        click.echo(json.dumps(cost.as_dict(), indent=2, sort_keys=True))
    else:
        click.echo(format_cost(cost))
