"""`cancel` cancels pending tasks, stops the running one's processes, and leaves the job cancelled."""

from __future__ import annotations

import psutil
from conftest import Base, ManagerProcess, cli, error_line, wait_for


def _task_processes(base: Base) -> list[psutil.Process]:
    """Live processes started for tasks of this base (the runner puts the base in their environment)."""
    found = []
    for proc in psutil.process_iter(["environ", "status"]):
        try:
            environ = proc.info.get("environ") or {}
        except psutil.Error:
            continue
        if environ.get("AIR_EXECUTOR_BASE_PATH") == str(base.path) and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


def test_cancel_stops_a_running_sleep_and_cancels_pending_tasks(base: Base, manager: ManagerProcess) -> None:
    """cancel --wait: the running `sleep 60` is stopped, pending tasks cancelled, the job ends cancelled."""
    base.submit(
        "long",
        [
            {"id": "sleeper", "command": "sleep", "args": ["60"]},
            {"id": "later", "command": "echo", "dependencies": ["sleeper"]},
            {"id": "also-later", "command": "echo", "dependencies": ["sleeper"]},
        ],
    )
    wait_for(lambda: base.task("long", "sleeper").get("started_at"), what="the sleep to start")
    wait_for(lambda: any(p.name() == "sleep" for p in _task_processes(base)), what="the sleep process")
    result = cli("cancel", "--job", "long", "--wait", base=base)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Cancelled job long: 2 pending task(s) cancelled, 1 running task(s) being stopped\n"
    tasks = {t["id"]: t for t in base.tasks("long")}
    assert {t["status"] for t in tasks.values()} == {"cancelled"}
    assert tasks["sleeper"]["result"] == "killed" and tasks["later"]["started_at"] is None
    assert base.state("long")["state"] == "cancelled"
    wait_for(lambda: not _task_processes(base), what="the task's processes to end")


def test_cancel_refuses_a_finished_or_unknown_job(base: Base, manager: ManagerProcess) -> None:
    """cancel on a job already done, or one that does not exist: exit 1, one clear line."""
    base.submit("quick", [{"command": "echo"}])
    assert base.wait_state("quick")["state"] == "completed"
    assert "job 'quick' is already completed" in error_line(cli("cancel", "--job", "quick", base=base))
    assert "job 'ghost' not found" in error_line(cli("cancel", "--job", "ghost", base=base))
