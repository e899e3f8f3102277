"""A job of dependent tasks runs in order under a real manager, one runner at a time."""

from __future__ import annotations

from conftest import Base, ManagerProcess, parse_time


def test_dependent_tasks_run_in_order_and_complete(base: Base, manager: ManagerProcess) -> None:
    base.submit(
        "seq",
        [
            {"id": "a", "command": "echo", "args": ["first"]},
            {"id": "b", "command": "sleep", "args": ["0.2"], "dependencies": ["a"]},
            {"id": "c", "command": "echo", "args": ["last"], "dependencies": ["b"]},
        ],
    )
    state = base.wait_state("seq")
    assert state["state"] == "completed", manager.log()
    tasks = {t["id"]: t for t in base.tasks("seq")}
    assert [tasks[i]["status"] for i in "abc"] == ["completed"] * 3
    assert parse_time(tasks["a"]["completed_at"]) <= parse_time(tasks["b"]["started_at"])
    assert parse_time(tasks["b"]["completed_at"]) <= parse_time(tasks["c"]["started_at"])
    assert base.log("seq", "a") == "first\n"
    assert tasks["b"]["exit_code"] == 0 and tasks["b"]["attempts"] == 1
