"""`status` shows the seed's table (Job Name, State, Pending Tasks, Active Runner, Updated At), tasks, JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import Base, ManagerProcess, cli, gated_task, plain_table, wait_for

SEED_COLUMNS = ["Job Name", "State", "Pending Tasks", "Active Runner", "Updated At"]


def test_status_table_shows_each_job(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """A working job with a running task shows working, its pending count and ✓; a done job shows completed."""
    base.submit("done-job", [{"command": "echo"}])
    gate = tmp_path / "gate"
    base.submit("busy", [gated_task("hold", gate), {"id": "next", "command": "echo", "dependencies": ["hold"]}])
    assert base.wait_state("done-job")["state"] == "completed"
    wait_for(lambda: base.log("busy", "hold") == "before\n", what="the gated task to start")
    result = cli("status", base=base)
    assert result.returncode == 0, result.stderr
    assert f"Manager: running (PID {manager.proc.pid})" in result.stdout  # type: ignore[union-attr]
    rows = {row["Job Name"]: row for row in plain_table(result.stdout, "Job Name")}
    assert [c for c in rows["busy"] if c in SEED_COLUMNS] == SEED_COLUMNS
    busy, done = rows["busy"], rows["done-job"]
    assert (busy["State"], busy["Pending Tasks"], busy["Active Runner"]) == ("working", "1", "✓")
    assert (done["State"], done["Pending Tasks"], done["Active Runner"]) == ("completed", "0", "-")
    for row in (busy, done):
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row["Updated At"]), row
    gate.touch()
    assert base.wait_state("busy")["state"] == "completed"


def test_status_of_one_job_lists_its_tasks(base: Base, manager: ManagerProcess) -> None:
    """status --job NAME shows only that job, then a table of its tasks with status and command."""
    base.submit("other", [{"command": "echo"}])
    base.submit("mine", [{"id": "ok", "command": "echo", "args": ["fine"]}, {"id": "bad", "command": "false"}])
    assert base.wait_state("mine")["state"] == "failed"
    result = cli("status", "--job", "mine", base=base)
    assert result.returncode == 0, result.stderr
    assert [row["Job Name"] for row in plain_table(result.stdout, "Job Name")] == ["mine"]
    assert "Tasks of mine:" in result.stdout.splitlines()
    assert "mine: task 'bad' failed: false exited with code 1" in result.stdout
    ok, bad = plain_table(result.stdout, "Task ")
    assert (ok["Task"], ok["Status"], ok["Exit"], ok["Command"], ok["Error"]) == (
        "ok",
        "completed",
        "0",
        "echo fine",
        "-",
    )
    assert (bad["Task"], bad["Status"], bad["Exit"], bad["Error"]) == ("bad", "failed", "1", "false exited with code 1")


def test_status_json(base: Base, manager: ManagerProcess) -> None:
    """status --json prints every job's counts; with --job, that one job's."""
    base.submit("j1", [{"command": "echo"}, {"command": "echo"}])
    base.submit("j2", [{"command": "false"}])
    base.wait_state("j1")
    base.wait_state("j2")
    every = json.loads(cli("status", "--json", base=base).stdout)
    assert [(j["job_name"], j["state"], j["total_tasks"], j["completed"], j["failed"]) for j in every] == [
        ("j1", "completed", 2, 2, 0),
        ("j2", "failed", 1, 0, 1),
    ]
    one = json.loads(cli("status", "--job", "j2", "--json", base=base).stdout)
    assert (one["job_name"], one["state"], one["pending"], one["failed"]) == ("j2", "failed", 0, 1)
    assert one["error"].startswith("task 'task-1' failed")


def test_status_of_an_unknown_job(base: Base) -> None:
    """status --job for a job that does not exist: exit 1, one line naming it."""
    result = cli("status", "--job", "ghost", base=base)
    assert result.returncode == 1 and result.stderr.startswith("error: job 'ghost' not found")
    assert len(result.stderr.splitlines()) == 1
