"""The runner on its own: `python -m air_executor_runner BASE JOB TASK LAUNCH_ID` on files prepared by hand."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import Base, parse_time, wait_for
from taskkit import PY, alive, naive_job, read_pids

LAUNCH = "launch-0001"


def claimed(task_id: str, command: str, *args: str, **fields: Any) -> dict[str, Any]:
    """A task as the manager leaves it after claiming it for LAUNCH."""
    return {
        "id": task_id,
        "command": command,
        "args": list(args),
        "status": "running",
        "attempts": 1,
        "launch_id": LAUNCH,
        "launched_at": "2025-10-02T07:30:15.000000Z",
        **fields,
    }


def prepare(base: Base, *tasks: dict[str, Any], name: str = "job", state: str = "working", **extra: Any) -> Path:
    """The job as a manager leaves it after claiming: tasks.json, and a claim record per running task."""
    from air_executor.core.transitions import claim_record
    from air_executor.storage import journal

    job_dir = naive_job(base.path / "jobs", name, list(tasks), state=state, **extra)
    with base.store.open_job(name) as handle:
        for task in tasks:
            if task.get("status") == "running" and task.get("launch_id"):
                journal.write_claim(handle, task["launch_id"], claim_record({**task, "job_name": name}, name))
    return job_dir


def runner(
    base: Base,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "air_executor_runner", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


def run_task(
    base: Base,
    task_id: str = "t",
    launch: str = LAUNCH,
    job: str = "job",
    **kw: Any,
) -> subprocess.CompletedProcess[str]:
    return runner(base, str(base.path), job, task_id, launch, **kw)


def snapshot(job_dir: Path) -> tuple[Any, Any]:
    return json.loads((job_dir / "state.json").read_text()), json.loads((job_dir / "tasks.json").read_text())


@pytest.mark.parametrize(
    "args",
    [[], ["a", "b", "c"], ["a", "b", "c", "d", "e"], ["a", "", "c", "d"]],
    ids=["none", "three", "five", "empty"],
)
def test_usage_error_exits_2_with_one_line(base: Base, args: list[str]) -> None:
    """Wrong arguments: exit 2 and a single usage line on stderr."""
    result = runner(base, *args)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "usage:" in result.stderr


@pytest.mark.parametrize(
    "task",
    [
        claimed("t", "touch", "MARKER", launch_id="someone-elses"),
        {**claimed("t", "touch", "MARKER"), "status": "pending"},
        {**claimed("t", "touch", "MARKER"), "status": "completed"},
        claimed("other", "touch", "MARKER"),
    ],
    ids=["other-launch", "pending", "already-done", "no-such-task"],
)
def test_stale_launch_exits_3_and_runs_nothing(base: Base, tmp_path: Path, task: dict[str, Any]) -> None:
    """A task that is not running under this launch id: exit 3, the command never runs, no field changes."""
    marker = tmp_path / "ran"
    task["args"] = [str(marker)]
    job_dir = prepare(base, task)
    before = snapshot(job_dir)
    result = run_task(base)
    assert result.returncode == 3, result.stderr
    assert not marker.exists()
    assert snapshot(job_dir) == before


def test_success_records_the_outcome_and_keeps_unknown_fields(base: Base, tmp_path: Path) -> None:
    """Exit 0, with started_at, completed_at, exit_code, result and one history entry; other fields survive."""
    job_dir = prepare(
        base,
        claimed("t", PY, "-c", "print('hello from the task')", custom={"keep": [1, 2]}),
        claimed("other", "true", launch_id="x", owner="someone"),
        note="outside field",
    )
    result = run_task(base)
    assert result.returncode == 0, result.stderr
    tasks = {t["id"]: t for t in base.tasks("job")}
    task = tasks["t"]
    assert task["status"] == "completed" and task["result"] == "success"
    assert task["exit_code"] == 0 and task["error"] is None
    assert parse_time(task["started_at"]) <= parse_time(task["completed_at"])
    assert task["custom"] == {"keep": [1, 2]}
    [attempt] = task["history"]
    assert attempt["launch_id"] == LAUNCH and attempt["result"] == "success" and attempt["attempt"] == 1
    assert attempt["started_at"] == task["started_at"] and attempt["ended_at"] == task["completed_at"]
    assert isinstance(task["runner_pid"], int)
    assert tasks["other"] == {**tasks["other"], "status": "running", "owner": "someone"}  # not ours: untouched
    state = json.loads((job_dir / "state.json").read_text())
    assert state["note"] == "outside field" and state["state"] == "working"  # settling the job is the manager's job
    assert base.log("job", "t") == "hello from the task\n"


def test_failure_exits_1_and_records_exit_code(base: Base) -> None:
    """A command exiting 5: exit 1, the task failed with exit_code 5 and an error naming the code."""
    prepare(base, claimed("t", PY, "-c", "import sys; sys.exit(5)"))
    result = run_task(base)
    assert result.returncode == 1
    task = base.task("job", "t")
    assert task["status"] == "failed" and task["exit_code"] == 5 and "exited with code 5" in task["error"]
    assert "[air-executor]" in base.log("job", "t")  # the reason is in the log too


def test_failure_with_retries_left_goes_back_to_pending(base: Base) -> None:
    """A failed attempt of a task with retries left is recorded and the task waits for its retry."""
    prepare(base, claimed("t", "false", retries=1, retry_delay=7))
    assert run_task(base).returncode == 1
    task = base.task("job", "t")
    assert task["status"] == "pending" and "retrying in 7 s" in task["error"]
    assert parse_time(task["not_before"]) - parse_time(task["completed_at"]) == pytest.approx(7, abs=1e-3)


def test_missing_command_is_recorded_as_not_found(base: Base) -> None:
    """A command that does not exist fails the task with 'command not found' (exit 1, nothing crashes)."""
    prepare(base, claimed("t", "definitely-not-a-command"))
    result = run_task(base)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    task = base.task("job", "t")
    assert task["error"] == "command not found: definitely-not-a-command"
    assert task["result"] == "failed_to_start"


def test_command_gets_no_stdin(base: Base) -> None:
    """stdin is /dev/null: a command that reads it (cat) ends at once instead of waiting forever."""
    prepare(base, claimed("t", "cat"))
    assert run_task(base).returncode == 0


def test_cancelled_job_is_not_run(base: Base, tmp_path: Path) -> None:
    """A runner arriving for a task of a cancelled job exits 3, runs nothing and marks the task cancelled."""
    marker = tmp_path / "ran"
    prepare(base, claimed("t", "touch", str(marker)), state="cancelled")
    assert run_task(base).returncode == 3
    assert not marker.exists()
    assert base.task("job", "t")["status"] == "cancelled"


def test_missing_job_exits_4_with_one_line(base: Base) -> None:
    """A job folder that does not exist: exit 4 and one line saying so."""
    (base.path / "jobs").mkdir(exist_ok=True)
    result = run_task(base, job="ghost")
    assert result.returncode == 4
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "ghost" in lines[0] and "not found" in lines[0]


def test_sigterm_stops_the_whole_process_group_and_is_recorded(base: Base, tmp_path: Path) -> None:
    """SIGTERM to the runner ends its command and the command's children; the task is recorded as killed."""
    pids = tmp_path / "pids"
    script = tmp_path / "tree.sh"
    script.write_text('#!/bin/sh\nsleep 100 &\necho $! >> "$1"\necho $$ >> "$1"\nwait\n')
    script.chmod(0o755)
    prepare(base, claimed("t", str(script), str(pids)))
    proc = subprocess.Popen([sys.executable, "-m", "air_executor_runner", str(base.path), "job", "t", LAUNCH])
    try:
        wait_for(lambda: len(read_pids(pids)) == 2, what="the command tree to start")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
    task = base.task("job", "t")
    assert task["result"] == "killed" and task["error"] == "stopped by SIGTERM"
    assert [p for p in read_pids(pids) if alive(p)] == []


def test_timeout_then_grace_then_sigkill(base: Base, tmp_path: Path) -> None:
    """With timeout 1 and AIR_EXECUTOR_STOP_GRACE 0.5 a command ignoring SIGTERM is SIGKILLed: timed_out, -9."""
    pidfile = tmp_path / "pid"
    script = (
        "import os, signal, sys, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "open(sys.argv[1], 'w').write(str(os.getpid()))\ntime.sleep(100)\n"
    )
    prepare(base, claimed("t", PY, "-c", script, str(pidfile), timeout=1))
    result = run_task(base, env={"AIR_EXECUTOR_STOP_GRACE": "0.5"})
    assert result.returncode == 1
    task = base.task("job", "t")
    assert task["result"] == "timed_out" and task["exit_code"] == -9
    assert task["history"][0]["wall_time"] >= 1.5 - 1e-3  # timeout plus grace: the lower bound the contract sets
    assert not alive(read_pids(pidfile)[0])


def test_the_runner_never_reads_tasks_json(base: Base, tmp_path: Path) -> None:
    """Its claim record is all it needs: a tasks.json caught half written (or huge) changes nothing for it."""
    marker = tmp_path / "ran"
    job_dir = prepare(base, claimed("t", "touch", str(marker)))
    (job_dir / "tasks.json").write_text("[{")
    result = run_task(base)
    assert result.returncode == 0, result.stderr
    assert marker.exists()
    assert (job_dir / "runs" / f"{LAUNCH}.end").exists()


def test_the_runner_takes_no_lock(base: Base, tmp_path: Path) -> None:
    """While an outside client holds the job's lock the runner starts and records all the same: it writes
    only its own records, which a lock-holding writer folds in or leaves for the manager."""
    from air_executor.storage.jobdir import JobDir
    from air_executor.storage.lock import JobLock

    job_dir = prepare(base, claimed("t", "echo", "done"))
    with JobDir(str(job_dir.parent), job_dir.name) as handle, JobLock(handle):
        result = run_task(base)
    assert result.returncode == 0, result.stderr
    assert base.task("job", "t")["status"] == "completed"
