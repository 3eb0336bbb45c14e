"""The pipeline cost report (verify/pipeline_cost.py, `aos-multinode pipeline-cost`): the
image jobs of the generated pipelines and the tasks each runs, on signature data of the shape
`bitbake -S none` writes (stamp paths with the hash in the name). The figures on real BitBake
signatures of both examples: tests/test_bitbake_real.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aos_multinode.generation.plan_ci import ImageJob, image_jobs
from aos_multinode.verify.pipeline_cost import pipeline_cost
from aos_multinode.verify.sharing import TaskKey
from kas_helpers import THREE_NODE, generate, run_aos, text_of


def sigs(*tasks: str) -> dict[TaskKey, str]:
    """'stamp:task=hash' strings -> task key -> signature."""
    out = {}
    for text in tasks:
        name, signature = text.split("=")
        stamp, task = name.split(":")
        out[TaskKey(stamp, task)] = signature * 32
    return out


NATIVE = ["x86_64-linux/quilt-native/0.67:do_compile=a", "x86_64-linux/gcc-cross/13:do_compile=b"]
ALLARCH = ["all-poky-linux/tzdata/2024a:do_install=c"]


def test_image_jobs_group_nodes_by_machine_in_node_order():
    jobs = image_jobs([("main", "x86"), ("gpu0", "arm"), ("rt0", "x86"), ("io", "riscv")])
    assert jobs == [ImageJob(1, "x86", ("main", "rt0"), ()), ImageJob(2, "arm", ("gpu0",), (1,)),
                    ImageJob(3, "riscv", ("io",), (1,))]
    assert [job.id for job in jobs] == ["images-1", "images-2", "images-3"]
    assert image_jobs([("a", "m"), ("b", "m")]) == [ImageJob(1, "m", ("a", "b"), ())]


def test_a_job_reuses_its_own_earlier_nodes_and_the_jobs_it_waits_for():
    signatures = {
        "main": sigs(*NATIVE, *ALLARCH, "core2-64/busybox/1:do_compile=d", "x86/img/1:do_rootfs=e"),
        "rt0": sigs(*NATIVE, *ALLARCH, "core2-64/busybox/1:do_compile=d", "x86/img/1:do_rootfs=f",
                    "x86/linux-rt/6:do_compile=g"),
        "gpu0": sigs(*NATIVE, *ALLARCH, "armv8a/busybox/1:do_compile=h", "arm/img/1:do_rootfs=i"),
    }
    jobs = image_jobs([("main", "x86"), ("gpu0", "arm"), ("rt0", "x86")])
    cost = pipeline_cost(jobs, signatures)
    runs = {n.node: (n.runs, n.reused) for job in cost.jobs for n in job.nodes}
    assert runs == {"main": (5, 0), "rt0": (2, 4), "gpu0": (2, 3)}
    assert cost.unique_tasks == 9 and cost.pipeline_tasks == 9
    assert cost.naive_tasks == 5 + 6 + 5
    assert cost.goal_met and cost.ratio == 1.0
    data = cost.as_dict()
    assert [job["tasks"] for job in data["jobs"]] == [7, 2]
    assert data["jobs"][1]["needs"] == ["images-1"]
    assert data["nodes"] == [{"node": "main", "machine": "x86", "tasks": 5},
                             {"node": "rt0", "machine": "x86", "tasks": 6},
                             {"node": "gpu0", "machine": "arm", "tasks": 5}]


def test_jobs_running_in_parallel_share_nothing_with_each_other():
    """Two MACHINEs after the first, of one tune: what they share runs in both (honest)."""
    shared_tune = "armv8a/busybox/1:do_compile=h"
    signatures = {"a": sigs(*NATIVE), "b": sigs(*NATIVE, shared_tune, "m2/img:do_rootfs=1"),
                  "c": sigs(*NATIVE, shared_tune, "m3/img:do_rootfs=2")}
    cost = pipeline_cost(image_jobs([("a", "m1"), ("b", "m2"), ("c", "m3")]), signatures)
    assert [job.runs for job in cost.jobs] == [2, 2, 2]
    assert cost.unique_tasks == 5 and cost.pipeline_tasks == 6
    assert not cost.goal_met and cost.ratio == pytest.approx(1.2)
    # Waiting for the second job instead would share it.
    chained = [ImageJob(1, "m1", ("a",), ()), ImageJob(2, "m2", ("b",), (1,)),
               ImageJob(3, "m3", ("c",), (2,))]
    assert pipeline_cost(chained, signatures).pipeline_tasks == 5


def test_the_same_task_with_another_signature_runs_again():
    signatures = {"a": sigs("x/p/1:do_compile=1"), "b": sigs("x/p/1:do_compile=2")}
    cost = pipeline_cost(image_jobs([("a", "m"), ("b", "m")]), signatures)
    assert cost.pipeline_tasks == cost.unique_tasks == cost.naive_tasks == 2


def test_a_job_waiting_for_a_later_one_is_refused():
    with pytest.raises(ValueError):
        pipeline_cost([ImageJob(1, "m", ("a",), (2,)), ImageJob(2, "n", ("b",), ())],
                      {"a": sigs(*NATIVE), "b": sigs(*NATIVE)})


def write_stamps(build_dir: Path, signatures: dict[TaskKey, str]) -> None:
    """Empty sigdata files named as BitBake names them (only the names are read)."""
    for key, signature in signatures.items():
        path = build_dir / "tmp" / "stamps" / f"{key.stamp}.{key.task}.sigdata.{signature}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


def test_pipeline_cost_command_reads_what_verify_left(tmp_path):
    out = tmp_path / "out"
    generate(THREE_NODE, out)
    x86 = ["core2-64/busybox/1:do_compile=d"]
    write_stamps(out / ".aos-multinode-verify" / "main", sigs(*NATIVE, *x86, "x/img:do_rootfs=1"))
    write_stamps(out / ".aos-multinode-verify" / "rt0", sigs(*NATIVE, *x86, "x/img:do_rootfs=2"))
    write_stamps(tmp_path / "elsewhere" / "gpu0", sigs(*NATIVE, "arm/img:do_rootfs=3"))
    # gpu0's signatures are not in the default work folder: a user error, no traceback.
    result = run_aos("pipeline-cost", out)
    assert result.exit_code == 2, text_of(result)
    assert "gpu0" in result.stderr and "aos-multinode verify" in result.stderr
    assert "Traceback" not in text_of(result)
    (tmp_path / "elsewhere" / "gpu0").rename(out / ".aos-multinode-verify" / "gpu0")
    result = run_aos("pipeline-cost", out, "--json")
    assert result.exit_code == 0, text_of(result)
    data = json.loads(result.stdout)
    assert [(job["machine"], job["nodes"], job["tasks"]) for job in data["jobs"]] == [
        ("genericx86-64", ["main", "rt0"], 5), ("genericarm64", ["gpu0"], 1)]
    assert (data["unique_tasks"], data["pipeline_tasks"], data["naive_tasks"]) == (6, 6, 4 + 4 + 3)
    assert data["goal_met"] is True
    text = run_aos("pipeline-cost", out)
    assert text.exit_code == 0
    assert "images-2  MACHINE genericarm64 after images-1: gpu0 1 = 1 tasks" in text.stdout
    assert "naive matrix  11 tasks" in text.stdout
