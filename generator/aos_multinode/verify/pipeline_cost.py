"""What the generated CI pipeline costs, in BitBake tasks, on a first run (empty caches).

From the task signatures `bitbake -S none` writes for every node (what `verify` leaves in
its build directories), count the tasks each image job of the generated pipeline runs, in
the pipeline's order (generation/plan_ci.py `image_jobs`), and compare with the naive
pipeline of one job per node, each on its own runner and cache.

The model (docs/team-infrastructure.md):
- A task is (stamp, task name, signature), as in verify/sharing.py: two builds run it once
  between them, through sstate, exactly when the three are equal.
- A job builds its nodes in turn in one build directory: a node runs the tasks of its task
  graph that neither the job itself (an earlier node) nor an image job it waits for
  (`needs`, transitively) has already built. What a job built is in the team's shared sstate
  (AOS_YOCTO_CACHE shared by the runners, or the sstate mirror) when a job waiting for it
  starts; jobs that run in parallel see nothing of each other.
- The naive matrix (one job per node, started together, each with an empty cache of its own)
  runs every node's whole task graph.
- verify gives every node a build directory of its own, so the few tasks that name ${TOPDIR}
  (image tasks) differ between nodes here even where one build directory would share them:
  they count as different tasks in every figure (unique, pipeline and naive alike).

`pipeline_cost` is pure (signatures in, figures out); `measure` reads what verify left.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Sequence

from aos_multinode.generation.plan_ci import ImageJob, image_jobs
from aos_multinode.verify.layer import VerifyError, find_layer, read_nodes
from aos_multinode.verify.sharing import TaskKey
from aos_multinode.verify.signatures import collect_signatures, stamps_dir

GOAL_RATIO = 1.05

Task = tuple[TaskKey, str]


@dataclass(frozen=True)
class NodeCost:
    node: str
    graph_tasks: int        # the node's whole task graph (what the naive matrix runs)
    runs: int               # the tasks its build runs in the pipeline
    reused: int             # the tasks it takes from the job or from jobs it waits for


@dataclass(frozen=True)
class JobCost:
    job: ImageJob
    nodes: tuple[NodeCost, ...]

    @property
    def runs(self) -> int:
        return sum(node.runs for node in self.nodes)


@dataclass(frozen=True)
class PipelineCost:
    jobs: tuple[JobCost, ...]
    unique_tasks: int
    naive_tasks: int
    goal_ratio: float = GOAL_RATIO
    node_machines: Mapping[str, str] = field(default_factory=dict)

    @property
    def pipeline_tasks(self) -> int:
        return sum(job.runs for job in self.jobs)

    @property
    def ratio(self) -> float:
        return self.pipeline_tasks / self.unique_tasks if self.unique_tasks else 1.0

    @property
    def naive_ratio(self) -> float:
        return self.naive_tasks / self.unique_tasks if self.unique_tasks else 1.0

    @property
    def goal_met(self) -> bool:
        return self.pipeline_tasks <= self.goal_ratio * self.unique_tasks

    def as_dict(self) -> dict:
        return {
            "jobs": [{"id": job.job.id, "machine": job.job.machine,
                      "nodes": list(job.job.nodes),
                      "needs": [f"images-{number}" for number in job.job.needs],
                      "tasks": job.runs,
                      "per_node": [{"node": n.node, "tasks": n.runs, "reused": n.reused}
                                   for n in job.nodes]} for job in self.jobs],
            "nodes": [{"node": n.node, "machine": self.node_machines.get(n.node, job.job.machine),
                       "tasks": n.graph_tasks} for job in self.jobs for n in job.nodes],
            "unique_tasks": self.unique_tasks, "pipeline_tasks": self.pipeline_tasks,
            "naive_tasks": self.naive_tasks, "ratio": round(self.ratio, 4),
            "naive_ratio": round(self.naive_ratio, 4), "goal_ratio": self.goal_ratio,
            "goal_met": self.goal_met,
        }


def _waits_for(job: ImageJob, by_number: Mapping[int, ImageJob]) -> set[int]:
    """The numbers of every image job `job` waits for, directly or not."""
    seen: set[int] = set()
    todo = list(job.needs)
    while todo:
        number = todo.pop()
        if number not in seen:
            seen.add(number)
            todo.extend(by_number[number].needs)
    return seen


def pipeline_cost(jobs: Sequence[ImageJob],
                  signatures: Mapping[str, Mapping[TaskKey, str]]) -> PipelineCost:
    """Return the tasks each job of `jobs` runs, given every node's signatures (task key ->
    signature); the jobs' `needs` must name earlier jobs (as image_jobs makes them)."""
    by_number = {job.number: job for job in jobs}
    built: dict[int, set[Task]] = {}
    costs = []
    for job in jobs:
        available: set[Task] = set()
        for number in _waits_for(job, by_number):
            if number not in built:
                raise ValueError(f"image job {job.number} waits for a later job {number}")
            available |= built[number]
        own: set[Task] = set()
        nodes = []
        for node in job.nodes:
            tasks = set(signatures[node].items())
            new = tasks - available - own
            nodes.append(NodeCost(node, len(tasks), len(new), len(tasks) - len(new)))
            own |= new
        built[job.number] = own
        costs.append(JobCost(job, tuple(nodes)))
    every = [set(signatures[node].items()) for job in jobs for node in job.nodes]
    unique = len(set().union(*every)) if every else 0
    machines = {node: job.machine for job in jobs for node in job.nodes}
    return PipelineCost(tuple(costs), unique, sum(map(len, every)), node_machines=machines)


def format_cost(cost: PipelineCost) -> str:
    """The text report."""
    lines = ["Pipeline cost: the BitBake tasks each image job runs on a first run (empty "
             "caches), from the task signatures of `verify` (bitbake -S none)."]
    for job in cost.jobs:
        after = (" after " + ", ".join(f"images-{n}" for n in job.job.needs)
                 if job.job.needs else "")
        parts = " + ".join(f"{n.node} {n.runs}" for n in job.nodes)
        lines.append(f"  {job.job.id}  MACHINE {job.job.machine}{after}: {parts} = "
                     f"{job.runs} tasks")
    lines.append(f"  pipeline      {cost.pipeline_tasks} tasks = {cost.ratio:.3f} x the "
                 f"{cost.unique_tasks} unique tasks of all nodes (goal <= {cost.goal_ratio}: "
                 f"{'met' if cost.goal_met else 'NOT met'})")
    lines.append(f"  naive matrix  {cost.naive_tasks} tasks = {cost.naive_ratio:.3f} x "
                 "(one job per node, each with an empty cache of its own)")
    return "\n".join(lines)


def measure(directory: Path, workdir: Optional[Path] = None) -> PipelineCost:
    """Return the cost of the pipeline generated into `directory`, from the signatures
    `aos-multinode verify` wrote for every node into `workdir` (default: its own,
    DIR/.aos-multinode-verify); raise VerifyError when a node's are missing."""
    from aos_multinode.verify.run import WORKDIR

    directory = directory.resolve()
    nodes = read_nodes(find_layer(directory))
    workdir = (workdir or directory / WORKDIR).resolve()
    signatures = {}
    for node in nodes:
        stamps = stamps_dir(workdir / node.node)
        signatures[node.node] = collect_signatures(stamps)
        if not signatures[node.node]:
            raise VerifyError(f"{stamps}: no task signatures of node {node.node}; run "
                              f"`aos-multinode verify {directory}` first (every node, without "
                              "--no-sharing; --workdir if it went elsewhere)")
    return pipeline_cost(image_jobs((node.node, node.machine) for node in nodes), signatures)
