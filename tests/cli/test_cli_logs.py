"""`logs` prints each task's output under a '--- <task>.log ---' header, tails it, and follows it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conftest import CLI, Base, ManagerProcess, cli, gated_task, wait_for


def _numbers(first: int, last: int) -> list[str]:
    return [str(n) for n in range(first, last + 1)]


def test_logs_prints_headers_and_the_last_50_lines_by_default(base: Base, manager: ManagerProcess) -> None:
    """Each task's log comes under its header; by default only its last 50 lines."""
    base.submit(
        "counting", [{"id": "count", "command": "seq", "args": ["1", "80"]}, {"id": "hello", "command": "echo"}]
    )
    assert base.wait_state("counting")["state"] == "completed"
    result = cli("logs", "--job", "counting", base=base)
    assert result.returncode == 0, result.stderr
    expected = ["Logs for job counting:", "", "--- count.log ---", *_numbers(31, 80), "", "--- hello.log ---", ""]
    assert result.stdout.splitlines() == expected


def test_logs_tail_limits_the_lines(base: Base, manager: ManagerProcess) -> None:
    """--tail N prints the last N lines of each log; --task picks one task."""
    base.submit(
        "tailing",
        [{"id": "count", "command": "seq", "args": ["1", "10"]}, {"id": "two", "command": "seq", "args": ["2"]}],
    )
    assert base.wait_state("tailing")["state"] == "completed"
    result = cli("logs", "--job", "tailing", "--tail", "3", base=base)
    assert result.stdout.splitlines() == [
        "Logs for job tailing:",
        "",
        "--- count.log ---",
        "8",
        "9",
        "10",
        "",
        "--- two.log ---",
        "1",
        "2",
    ]
    one = cli("logs", "--job", "tailing", "--task", "two", "--tail", "1", base=base)
    assert one.stdout.splitlines() == ["Logs for job tailing:", "", "--- two.log ---", "2"]


def test_logs_follow_shows_later_output_and_returns_when_the_job_is_done(
    base: Base, manager: ManagerProcess, tmp_path: Path
) -> None:
    """--follow prints output written after it started, and exits 0 once the job has finished."""
    gate = tmp_path / "gate"
    base.submit(
        "live",
        [
            gated_task("slow", gate, before="early line", after="late line"),
            {"id": "last", "command": "echo", "args": ["final task"], "dependencies": ["slow"]},
        ],
    )
    wait_for(lambda: base.log("live", "slow") == "early line\n", what="the task's first line")
    env = {**os.environ, "AIR_EXECUTOR_BASE_PATH": str(base.path)}
    follower = subprocess.Popen(
        [CLI, "logs", "--job", "live", "--follow"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert follower.stdout is not None
        assert follower.stdout.readline() == "Logs for job live:\n"
        assert follower.stdout.readline() == "\n"
        assert follower.stdout.readline() == "--- slow.log ---\n"
        assert follower.stdout.readline() == "early line\n"  # printed before the job was done...
        assert follower.poll() is None  # ...and still following
        gate.touch()
        rest, err = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert follower.returncode == 0, err
    assert "late line\n" in rest and "--- last.log ---\nfinal task\n" in rest
    assert "--- slow.log ---" not in rest  # more of the log shown last needs no second header
    assert base.state("live")["state"] == "completed"


def _follow(base: Base, job: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AIR_EXECUTOR_BASE_PATH": str(base.path)}
    return subprocess.run([CLI, "logs", "--job", job, "--follow"], env=env, capture_output=True, text=True, timeout=60)


def test_logs_follow_of_a_cancelled_job_shows_its_runner_stopping(base: Base, manager: ManagerProcess) -> None:
    """A cancelled job is followed until its manager has stopped the runner: the task's last words
    (printed while it takes a second to stop) are shown, then follow returns."""
    script = 'trap "echo stopping; sleep 1; echo stopped; exit 143" TERM; echo up; while :; do sleep 0.05; done'
    base.submit("halt", [{"id": "hold", "command": "sh", "args": ["-c", script]}])
    wait_for(lambda: base.log("halt", "hold") == "up\n", what="the task to run")
    assert cli("cancel", "--job", "halt", base=base).returncode == 0
    result = _follow(base, "halt")
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("stopping\nstopped\n[air-executor] stopped by SIGTERM\n"), result.stdout
    assert base.task("halt", "hold")["status"] == "cancelled"


def test_logs_follow_of_a_cancelled_job_with_no_manager_returns(base: Base) -> None:
    """A cancelled job whose runner is still marked running, with no manager to stop it, does not
    keep a follower waiting."""
    base.submit("orphan", [{"id": "left", "command": "true"}])
    with base.store.transaction("orphan") as files:
        files.tasks[0]["status"] = "running"
        files.state["state"] = "cancelled"
    result = _follow(base, "orphan")
    assert (result.returncode, result.stderr) == (0, ""), result.stderr


def test_logs_of_an_unknown_job(base: Base) -> None:
    """logs for a job that does not exist: exit 1, one line."""
    result = cli("logs", "--job", "ghost", base=base)
    assert result.returncode == 1 and result.stderr.startswith("error: job 'ghost' not found")
    assert len(result.stderr.splitlines()) == 1
