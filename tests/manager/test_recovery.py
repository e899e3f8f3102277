"""Crash recovery with SIGKILL: dead runners, a dead manager, orphaned claims, a second manager."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from air_executor import client
from air_executor.core.clock import now_iso
from conftest import Base, ManagerProcess, parse_time, wait_for
from taskkit import PY, alive, naive_job, read_pids, runner_pid

# argv: RUNS LABEL GATE — appends LABEL to RUNS, records nothing else, waits until GATE exists.
GATED = (
    "import os, sys, time\n"
    "open(sys.argv[1], 'a').write(sys.argv[2] + '\\n')\n"
    "while not os.path.exists(sys.argv[3]): time.sleep(0.02)\n"
)
# argv: PIDS RUNS — appends its pid to PIDS and a line to RUNS; the first run sleeps, later ones exit 0.
SLEEP_FIRST_TIME = (
    "import os, sys, time\n"
    "first = not os.path.exists(sys.argv[2])\n"
    "open(sys.argv[2], 'a').write('run\\n')\n"
    "open(sys.argv[1], 'a').write(f'{os.getpid()}\\n')\n"
    "time.sleep(60 if first else 0)\n"
)


def runs_of(path: Path) -> Counter[str]:
    return Counter(path.read_text().split()) if path.exists() else Counter()


def test_killed_runner_fails_its_task_and_its_command_dies(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """SIGKILL on a runner: the task fails saying the runner died, its command is killed, the job finishes."""
    pids, runs = tmp_path / "pids", tmp_path / "runs"
    base.submit(
        "lost",
        [
            {"id": "t", "command": PY, "args": ["-c", SLEEP_FIRST_TIME, str(pids), str(runs)]},
            {"id": "free", "command": "true"},
        ],
    )
    wait_for(lambda: read_pids(pids), what="the command to start")
    command = read_pids(pids)[0]
    runner = runner_pid(base.task("lost", "t"))
    os.kill(runner, signal.SIGKILL)
    state = base.wait_state("lost")
    assert state["state"] == "failed", manager.log()
    task = base.task("lost", "t")
    assert task["status"] == "failed" and task["result"] == "runner_lost"
    assert "runner died" in task["error"]
    assert base.task("lost", "free")["status"] == "completed"
    wait_for(lambda: not alive(command), timeout=10, what="the orphaned command to be killed")
    assert runs_of(runs)["run"] == 1


def test_killed_runner_with_retries_is_retried(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """SIGKILL on a runner of a task with retries 1: the attempt is recorded as runner_lost and a new one completes."""
    pids, runs = tmp_path / "pids", tmp_path / "runs"
    base.submit(
        "relaunch",
        [
            {
                "id": "t",
                "command": PY,
                "args": ["-c", SLEEP_FIRST_TIME, str(pids), str(runs)],
                "retries": 1,
                "retry_delay": 0,
            }
        ],
    )
    wait_for(lambda: read_pids(pids), what="the command to start")
    first_command = read_pids(pids)[0]
    os.kill(runner_pid(base.task("relaunch", "t")), signal.SIGKILL)
    assert base.wait_state("relaunch")["state"] == "completed", manager.log()
    task = base.task("relaunch", "t")
    assert task["attempts"] == 2
    assert [h["result"] for h in task["history"]] == ["runner_lost", "success"]
    assert "runner died" in task["history"][0]["error"]
    assert runs_of(runs)["run"] == 2
    assert not alive(first_command)


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_restarted_manager_adopts_a_live_runner(
    base: Base, manager_factory: Callable[[], ManagerProcess], tmp_path: Path, how: str
) -> None:
    """After the manager is killed or stopped mid-task, a new one adopts the runner: it runs once and the job ends."""
    runs, gate = tmp_path / "runs", tmp_path / "gate"
    base.submit(
        "survive",
        [
            {"id": "a", "command": PY, "args": ["-c", GATED, str(runs), "a", str(gate)]},
            {"id": "b", "command": PY, "args": ["-c", GATED, str(runs), "b", str(gate)], "dependencies": ["a"]},
        ],
    )
    first = manager_factory().start()
    wait_for(lambda: runs_of(runs)["a"], what="task a to start")
    runner = runner_pid(base.task("survive", "a"))
    first.kill() if how == "SIGKILL" else first.stop()
    base.submit("queued-meanwhile", [{"id": "t", "command": "true"}])
    assert alive(runner)  # runners are detached from the manager
    second = manager_factory().start()
    wait_for(lambda: "adopted the live runner" in second.log(), what="the runner to be adopted")
    assert base.task("survive", "a")["status"] == "running"
    gate.touch()
    assert base.wait_state("survive")["state"] == "completed", second.log()
    assert base.wait_state("queued-meanwhile")["state"] == "completed"
    assert runs_of(runs) == Counter({"a": 1, "b": 1})
    task = base.task("survive", "a")
    assert task["attempts"] == 1 and len(task["history"]) == 1


def test_runner_that_died_while_no_manager_ran_is_lost_and_its_command_killed(
    base: Base, manager_factory: Callable[[], ManagerProcess], tmp_path: Path
) -> None:
    """Manager and runner both SIGKILLed: the next manager fails the task as lost and kills the orphaned command."""
    pids, runs = tmp_path / "pids", tmp_path / "runs"
    base.submit(
        "both-dead",
        [
            {"id": "t", "command": PY, "args": ["-c", SLEEP_FIRST_TIME, str(pids), str(runs)]},
            {"id": "next", "command": "true", "dependencies": ["t"]},
        ],
    )
    first = manager_factory().start()
    wait_for(lambda: read_pids(pids), what="the command to start")
    command = read_pids(pids)[0]
    first.kill()
    os.kill(runner_pid(base.task("both-dead", "t")), signal.SIGKILL)
    assert alive(command)  # the command outlives its runner until someone cleans up
    second = manager_factory().start()
    assert base.wait_state("both-dead")["state"] == "failed", second.log()
    task = base.task("both-dead", "t")
    assert task["result"] == "runner_lost" and "runner is gone" in task["error"]
    assert base.task("both-dead", "next")["status"] == "skipped"
    wait_for(lambda: not alive(command), timeout=10, what="the orphaned command to be killed")


def test_job_cancelled_while_no_manager_runs_is_stopped_by_the_next(
    base: Base, manager_factory: Callable[[], ManagerProcess], tmp_path: Path
) -> None:
    """A job cancelled while the manager is down: the next manager adopts and stops its runner."""
    pids, runs = tmp_path / "pids", tmp_path / "runs"
    base.submit("cancel-offline", [{"id": "t", "command": PY, "args": ["-c", SLEEP_FIRST_TIME, str(pids), str(runs)]}])
    first = manager_factory().start()
    wait_for(lambda: read_pids(pids), what="the command to start")
    command, runner = read_pids(pids)[0], runner_pid(base.task("cancel-offline", "t"))
    first.kill()
    client.cancel_job(base.store, "cancel-offline")
    second = manager_factory().start()
    wait_for(lambda: base.task("cancel-offline", "t")["status"] == "cancelled", what="the task to be stopped")
    wait_for(lambda: not alive(runner) and not alive(command), what="runner and command to end", timeout=10)
    assert base.state("cancel-offline")["state"] == "cancelled", second.log()


def test_hung_runner_is_stopped_by_the_manager_backstop(base: Base, tmp_path: Path) -> None:
    """A runner frozen by SIGSTOP (it cannot enforce its own timeout) is killed by the manager, with its command."""
    base.config(runner_start_timeout=1, stop_grace=1)
    pids, runs = tmp_path / "pids", tmp_path / "runs"
    base.submit(
        "frozen", [{"id": "t", "command": PY, "args": ["-c", SLEEP_FIRST_TIME, str(pids), str(runs)], "timeout": 1}]
    )
    manager = ManagerProcess(base).start()
    try:
        wait_for(lambda: read_pids(pids), what="the command to start")
        command, runner = read_pids(pids)[0], runner_pid(base.task("frozen", "t"))
        os.kill(runner, signal.SIGSTOP)
        assert base.wait_state("frozen")["state"] == "failed", manager.log()
    finally:
        manager.stop()
    task = base.task("frozen", "t")
    assert task["result"] == "runner_lost" and "runner died" in task["error"]
    assert "past its timeout" in manager.log()
    assert not alive(runner) and not alive(command)


def test_runner_finishing_while_no_manager_runs_is_picked_up(
    base: Base, manager_factory: Callable[[], ManagerProcess], tmp_path: Path
) -> None:
    """A runner that records its outcome while the manager is down: the next manager carries on from there."""
    runs, gate = tmp_path / "runs", tmp_path / "gate"
    base.submit(
        "carry-on",
        [
            {"id": "a", "command": PY, "args": ["-c", GATED, str(runs), "a", str(gate)]},
            {"id": "b", "command": PY, "args": ["-c", GATED, str(runs), "b", str(gate)], "dependencies": ["a"]},
        ],
    )
    first = manager_factory().start()
    wait_for(lambda: runs_of(runs)["a"], what="task a to start")
    first.kill()
    gate.touch()
    wait_for(lambda: base.task("carry-on", "a")["status"] == "completed", what="the runner to record a")
    assert base.state("carry-on")["state"] == "working"  # nobody settles the job until a manager runs
    second = manager_factory().start()
    assert base.wait_state("carry-on")["state"] == "completed", second.log()
    assert runs_of(runs) == Counter({"a": 1, "b": 1})


def test_repeated_manager_kills_lose_nothing_and_run_nothing_twice(
    base: Base, manager_factory: Callable[[], ManagerProcess], tmp_path: Path
) -> None:
    """SIGKILLing the manager again and again while runners come and go: every task runs exactly once."""
    runs = tmp_path / "runs"
    script = "import sys, time\nopen(sys.argv[1], 'a').write(sys.argv[2] + '\\n')\ntime.sleep(0.15)\n"
    names = ["chaos-a", "chaos-b"]
    for name in names:
        base.submit(
            name,
            [{"id": f"t{i}", "command": PY, "args": ["-c", script, str(runs), f"{name}/t{i}"]} for i in range(8)],
            max_parallel=2,
        )
    for kills in range(1, 9):
        manager = manager_factory().start()
        if kills % 3:  # otherwise kill it at once, in the middle of its first pass
            wait_for(lambda n=2 * kills: sum(runs_of(runs).values()) >= n, what="some tasks to run")
        manager.kill()
    last = manager_factory().start()
    for name in names:
        assert base.wait_state(name)["state"] == "completed", last.log()
    counts = runs_of(runs)
    assert set(counts) == {f"{n}/t{i}" for n in names for i in range(8)}
    assert set(counts.values()) == {1}, counts
    for name in names:
        assert all(t["attempts"] == 1 for t in base.tasks(name)), base.tasks(name)


def test_jobs_written_while_no_manager_runs_wait_then_all_run(base: Base, tmp_path: Path) -> None:
    """Jobs written with no manager stay waiting, untouched; a manager that starts later runs them all."""
    marks = tmp_path / "runs"
    jobs = base.path / "jobs"
    record = "import sys\nopen(sys.argv[1], 'a').write(sys.argv[2] + '\\n')\n"
    for i in range(3):
        naive_job(jobs, f"naive-{i}", [{"id": "t", "command": PY, "args": ["-c", record, str(marks), f"naive-{i}"]}])
    for i in range(2):
        base.submit(f"client-{i}", [{"id": "t", "command": PY, "args": ["-c", record, str(marks), f"client-{i}"]}])
    names = [f"naive-{i}" for i in range(3)] + [f"client-{i}" for i in range(2)]
    before = {n: (jobs / n / "state.json").read_bytes() + (jobs / n / "tasks.json").read_bytes() for n in names}
    time.sleep(1.5)  # not an assertion on speed: a stretch of time in which nothing may happen
    assert all(base.state(n)["state"] == "waiting" for n in names)
    assert before == {n: (jobs / n / "state.json").read_bytes() + (jobs / n / "tasks.json").read_bytes() for n in names}
    manager = ManagerProcess(base).start()
    try:
        for name in names:
            assert base.wait_state(name)["state"] == "completed", manager.log()
    finally:
        manager.stop()
    assert sorted(marks.read_text().split()) == sorted(names)


def test_claimed_task_without_a_runner_is_lost_after_the_start_timeout(base: Base, tmp_path: Path) -> None:
    """A task left running with a launch id but no runner (manager died between claim and launch) is recovered."""
    base.config(runner_start_timeout=2)
    runs = tmp_path / "runs"
    record = "import sys\nopen(sys.argv[1], 'a').write(sys.argv[2] + '\\n')\n"
    claimed = {"status": "running", "attempts": 1, "launcher": "subprocess"}
    naive_job(
        base.path / "jobs",
        "orphan-old",
        [
            {
                "id": "t",
                "command": PY,
                "args": ["-c", record, str(runs), "old"],
                **claimed,
                "launch_id": "0ld0ld0ld",
                "launched_at": "2020-01-01T00:00:00.000000Z",
            },
        ],
        state="working",
    )
    just_now = now_iso()
    naive_job(
        base.path / "jobs",
        "orphan-new",
        [
            {
                "id": "t",
                "command": PY,
                "args": ["-c", record, str(runs), "new"],
                **claimed,
                "launch_id": "n3wn3wn3w",
                "launched_at": just_now,
                "retries": 1,
                "retry_delay": 0,
            },
        ],
        state="working",
    )
    naive_job(
        base.path / "jobs",
        "orphan-dead-runner",
        [
            {
                "id": "t",
                "command": PY,
                "args": ["-c", record, str(runs), "dead"],
                **claimed,
                "launch_id": "d3add3ad",
                "launched_at": just_now,
                "runner_id": "4194000:1",
            },
        ],
        state="working",
    )
    manager = ManagerProcess(base).start()
    try:
        old = base.wait_state("orphan-old")
        new = base.wait_state("orphan-new")
        dead = base.wait_state("orphan-dead-runner")
    finally:
        manager.stop()
    assert old["state"] == "failed", manager.log()
    task = base.task("orphan-old", "t")
    assert task["result"] == "runner_lost" and "runner is gone" in task["error"]
    assert dead["state"] == "failed"
    assert "runner is gone" in base.task("orphan-dead-runner", "t")["error"]
    assert new["state"] == "completed"
    task = base.task("orphan-new", "t")
    assert [h["result"] for h in task["history"]] == ["runner_lost", "success"]
    # It was given runner_start_timeout to appear before being declared lost.
    assert parse_time(task["history"][0]["ended_at"]) - parse_time(just_now) >= 2 - 1e-3
    assert sorted(runs.read_text().split()) == ["new"]


def test_second_manager_on_the_same_base_refuses_to_start(base: Base, manager: ManagerProcess) -> None:
    """A second manager exits non-zero with one clear line; the first keeps working."""
    second = subprocess.run(
        [sys.executable, "-m", "air_executor_manager", "--base-path", str(base.path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 1
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and "another manager is already running" in lines[0]
    assert str(manager.proc.pid) in lines[0]
    assert manager.proc.poll() is None
    base.submit("still-fine", [{"id": "t", "command": "true"}])
    assert base.wait_state("still-fine")["state"] == "completed", manager.log()
