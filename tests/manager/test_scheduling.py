"""Scheduling under a real manager and real runners (README "Scheduling"): priorities, pools, not_before.

Orders and overlaps are read from what the tasks recorded (marks) and from their recorded start and
end times, never from how long something took.
"""

from __future__ import annotations

import time
from pathlib import Path

from air_executor.core.clock import now_iso
from conftest import Base, ManagerProcess, naive_write, parse_time
from taskkit import mark_task, max_overlap, read_intervals, writable_dir


def _starts(base: Base, *jobs: str) -> list[str]:
    """`job/task` of every task of these jobs, in the order they started."""
    started = [(parse_time(t["started_at"]), f"{job}/{t['id']}") for job in jobs for t in base.tasks(job)]
    return [name for _, name in sorted(started)]


def run_to_completion(base: Base, *jobs: str) -> None:
    """Start a manager on jobs already written, wait until each has completed, stop it."""
    manager = ManagerProcess(base).start()
    try:
        for job in jobs:
            assert base.wait_state(job)["state"] == "completed", manager.log()
    finally:
        manager.stop()


def test_a_higher_priority_job_written_later_starts_first(base: Base, tmp_path: Path) -> None:
    """One runner slot, jobs written while no manager runs: the later, higher-priority job goes first,
    though fair share alone (same runners, same last launch) would pick the other by name."""
    base.config(max_concurrent_runners=1)
    marks = writable_dir(tmp_path / "m") / "marks"
    base.submit("a-low", [mark_task("l1", marks), mark_task("l2", marks)], max_parallel=2)
    base.submit("b-high", [mark_task("h1", marks), mark_task("h2", marks)], max_parallel=2, priority=5)
    run_to_completion(base, "a-low", "b-high")
    assert _starts(base, "a-low", "b-high") == ["b-high/h1", "b-high/h2", "a-low/l1", "a-low/l2"]
    assert max_overlap(read_intervals(marks).values()) == 1


def test_task_priorities_order_a_job_and_equal_jobs_share_slots(base: Base, tmp_path: Path) -> None:
    """Within a job, ready tasks start by their priority; two jobs of the same priority alternate."""
    base.config(max_concurrent_runners=1)
    marks = writable_dir(tmp_path / "m") / "marks"
    base.submit(
        "ordered",
        [mark_task("a", marks), mark_task("b", marks, priority=10), mark_task("c", marks, priority=5)],
    )
    base.submit("other", [mark_task("x", marks), mark_task("y", marks)])
    run_to_completion(base, "ordered", "other")
    order = _starts(base, "ordered", "other")
    assert [o for o in order if o.startswith("ordered/")] == ["ordered/b", "ordered/c", "ordered/a"]
    # b's priority 10 ranks "ordered" first while it is ready; then the two jobs share the slot.
    assert order[0] == "ordered/b"
    assert order.index("other/x") < order.index("ordered/a"), order


def test_a_pool_of_one_never_runs_two_of_its_tasks_at_once_across_jobs(
    base: Base, manager: ManagerProcess, tmp_path: Path
) -> None:
    """Three jobs' gpu tasks never overlap, while tasks outside the pool use the other slots meanwhile."""
    base.config(max_concurrent_runners=4, pools={"gpu": 1})
    manager.stop()
    manager.start()
    marks = writable_dir(tmp_path / "m") / "marks"
    meet = tmp_path / "meet"
    for n in range(3):
        first = {"barrier": meet, "need": 2} if n == 0 else {}  # train-0's first gpu task waits for the free task
        base.submit(
            f"train-{n}",
            [
                mark_task(f"gpu-{n}a", marks, sleep=0.2, pool="gpu", **first),
                mark_task(f"gpu-{n}b", marks, sleep=0.2, pool="gpu"),
            ],
            max_parallel=2,
        )
    base.submit("free", [mark_task("cpu", marks, barrier=meet, need=2)])
    for job in ("train-0", "train-1", "train-2", "free"):
        assert base.wait_state(job)["state"] == "completed", manager.log()
    intervals = read_intervals(marks)
    gpu = [span for label, span in intervals.items() if label.startswith("gpu-")]
    assert len(gpu) == 6 and max_overlap(gpu) == 1, intervals
    assert base.task("train-0", "gpu-0a")["pool"] == "gpu"


def test_pool_slots_count_against_the_pool(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """A pool of 2: a task taking both slots never runs beside another task of the pool."""
    base.config(max_concurrent_runners=4, pools={"db": 2})
    manager.stop()
    manager.start()
    marks = writable_dir(tmp_path / "m") / "marks"
    base.submit(
        "migrate",
        [
            mark_task("big", marks, sleep=0.3, pool="db", pool_slots=2),
            # The two one-slot tasks meet at a barrier: they can only finish by running together.
            mark_task("s1", marks, sleep=0.3, pool="db", barrier=tmp_path / "meet", need=2),
            mark_task("s2", marks, sleep=0.3, pool="db", barrier=tmp_path / "meet", need=2),
        ],
        max_parallel=3,
    )
    assert base.wait_state("migrate")["state"] == "completed", manager.log()
    spans = read_intervals(marks)
    assert max_overlap([spans["big"], spans["s1"]]) == 1 and max_overlap([spans["big"], spans["s2"]]) == 1
    assert max_overlap([spans["s1"], spans["s2"]]) == 2, "two one-slot tasks fit a pool of 2 together"


def test_unknown_pools_and_oversized_asks_fail_their_task_with_one_line(base: Base, manager: ManagerProcess) -> None:
    base.config(pools={"gpu": 1})
    manager.stop()
    manager.start()
    base.submit(
        "bad-pools",
        [
            {"id": "nowhere", "command": "true", "pool": "tpu"},
            {"id": "greedy", "command": "true", "pool": "gpu", "pool_slots": 2},
            {"id": "fine", "command": "true", "pool": "gpu"},
        ],
        max_parallel=3,
    )
    assert base.wait_state("bad-pools")["state"] == "failed"
    tasks = {t["id"]: t for t in base.tasks("bad-pools")}
    assert tasks["nowhere"]["error"] == "pool 'tpu' is not one of the pools in config.yaml's `pools` (gpu)"
    assert tasks["greedy"]["error"] == "pool_slots 2 is more than pool 'gpu' holds (1)"
    assert tasks["fine"]["status"] == "completed"


def test_not_before_holds_a_job_and_a_task_and_the_manager_wakes_for_it(base: Base, tmp_path: Path) -> None:
    """With a poll interval of a minute, delayed work starts at its time (an event-free wake-up)."""
    base.config(poll_interval=60)
    manager = ManagerProcess(base).start()
    try:
        soon = time.time() + 2
        base.submit("later", [{"id": "t", "command": "true"}], not_before=now_iso(soon))
        base.submit(
            "mixed",
            [{"id": "now", "command": "true"}, {"id": "wait", "command": "true", "not_before": now_iso(soon)}],
            max_parallel=2,
        )
        for job in ("later", "mixed"):
            assert base.wait_state(job, timeout=30)["state"] == "completed", manager.log()
            assert base.state(job).get("error") is None
    finally:
        manager.stop()
    assert parse_time(base.task("later", "t")["started_at"]) >= soon
    assert parse_time(base.task("mixed", "wait")["started_at"]) >= soon
    assert parse_time(base.task("mixed", "now")["started_at"]) < soon


def test_bad_scheduling_fields_in_files_fail_clearly(base: Base, manager: ManagerProcess) -> None:
    """An outside writer's bad values: the task or job fails naming the field, nothing waits forever."""
    jobs = base.path / "jobs"
    stamp = "2025-10-02T07:30:15.123456Z"
    task = {"job_name": "bad-task", "command": "true", "args": [], "dependencies": [], "status": "pending"}
    task |= {"created_at": stamp, "started_at": None, "completed_at": None, "error": None}
    naive_write(
        jobs / "bad-task" / "tasks.json",
        [{**task, "id": "when", "not_before": "tomorrow"}, {**task, "id": "rank", "priority": 10**6}],
    )
    naive_write(
        jobs / "bad-task" / "state.json",
        {"id": "x", "name": "bad-task", "state": "waiting", "created_at": stamp, "updated_at": stamp},
    )
    naive_write(jobs / "bad-job" / "tasks.json", [{**task, "job_name": "bad-job", "id": "t"}])
    naive_write(
        jobs / "bad-job" / "state.json",
        {
            "id": "y",
            "name": "bad-job",
            "state": "waiting",
            "created_at": stamp,
            "updated_at": stamp,
            "priority": "high",
        },
    )
    assert base.wait_state("bad-task")["state"] == "failed"
    errors = {t["id"]: t["error"] for t in base.tasks("bad-task")}
    assert "not_before: must be an ISO-8601 UTC time such as '2026-12-04T18:00:00Z', got 'tomorrow'" in errors["when"]
    assert "priority: must be at most 1000, got 1000000" in errors["rank"]
    state = base.wait_state("bad-job")
    assert state["state"] == "failed" and "priority: must be a whole number, got 'high'" in state["error"]
