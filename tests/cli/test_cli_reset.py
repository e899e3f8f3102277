"""`reset` returns a failed job to waiting, its failed and skipped tasks to pending, so it can run again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from conftest import Base, ManagerProcess, cli, error_line


def test_reset_a_failed_job_then_it_completes_once_fixed(
    base: Base, manager_factory: Callable[[], ManagerProcess], tmp_path: Path
) -> None:
    """A job failed on a missing file is reset (failed+skipped -> pending, job waiting) and completes after the fix."""
    needed = tmp_path / "input.txt"
    base.submit(
        "fragile",
        [
            {"id": "first", "command": "echo", "args": ["ok"]},
            {"id": "read", "command": "cat", "args": [str(needed)], "dependencies": ["first"]},
            {"id": "after", "command": "echo", "args": ["after"], "dependencies": ["read"]},
        ],
    )
    manager = manager_factory().start()
    assert base.wait_state("fragile")["state"] == "failed", manager.log()
    assert [t["status"] for t in base.tasks("fragile")] == ["completed", "failed", "skipped"]
    manager.stop()  # so the files can be seen between reset and the next run

    result = cli("reset", "--job", "fragile", base=base)
    assert (result.returncode, result.stdout) == (0, "Job fragile reset to waiting (2 tasks back to pending)\n")
    state, tasks = base.state("fragile"), base.tasks("fragile")
    assert state["state"] == "waiting" and "error" not in state
    assert [t["status"] for t in tasks] == ["completed", "pending", "pending"]
    for task in tasks[1:]:
        assert task["error"] is None and task["started_at"] is None and task["completed_at"] is None
    assert tasks[0]["completed_at"] is not None  # what had completed is kept

    needed.write_text("now it exists\n")
    manager = manager_factory().start()
    assert base.wait_state("fragile")["state"] == "completed", manager.log()
    assert base.log("fragile", "read").endswith("now it exists\n")
    assert base.task("fragile", "first")["attempts"] == 1  # not run again


def test_reset_refuses_a_completed_or_unknown_job(base: Base, manager: ManagerProcess) -> None:
    """reset on a completed job or a missing one: exit 1, one clear line."""
    base.submit("fine", [{"command": "echo"}])
    assert base.wait_state("fine")["state"] == "completed"
    assert "is completed; there is nothing to reset" in error_line(cli("reset", "--job", "fine", base=base))
    assert "job 'ghost' not found" in error_line(cli("reset", "--job", "ghost", base=base))


def test_reset_refuses_a_waiting_job(base: Base) -> None:
    """reset on a job that has not failed (here: waiting) is refused in one line and changes nothing."""
    base.submit("queued", [{"id": "a", "command": "echo"}])
    before = base.job_dir("queued").joinpath("state.json").read_text()
    line = error_line(cli("reset", "--job", "queued", base=base))
    assert line == "error: job 'queued' is waiting; only a failed or cancelled job can be reset"
    assert base.job_dir("queued").joinpath("state.json").read_text() == before
