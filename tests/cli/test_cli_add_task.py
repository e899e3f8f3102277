"""`add-task` queues a task: from inside a running task (parent and depth recorded) or from outside."""

from __future__ import annotations

from pathlib import Path

from conftest import CLI, Base, ManagerProcess, cli, error_line, gated_task, wait_for


def test_add_task_from_inside_a_running_task(base: Base, manager: ManagerProcess) -> None:
    """A task running `air-executor add-task` queues children in its own job that record it as parent."""
    base.submit(
        "spawner",
        [
            {"id": "parent", "command": CLI, "args": ["add-task", "--id", "child", "echo", "from the child"]},
        ],
    )
    assert base.wait_state("spawner")["state"] == "completed", manager.log()
    child = base.task("spawner", "child")
    assert (child["status"], child["parent"], child["depth"], child["job_name"]) == (
        "completed",
        "parent",
        1,
        "spawner",
    )
    assert base.log("spawner", "parent") == "child\n"  # add-task prints the new task's id
    assert base.log("spawner", "child") == "from the child\n"


def test_add_task_chains_grandchildren_with_growing_depth(base: Base, manager: ManagerProcess) -> None:
    """A child that itself adds a task gives that grandchild depth 2 and the child as its parent."""
    inner = f"{CLI} add-task --id grandchild echo deep"
    base.submit("nested", [{"id": "root", "command": CLI, "args": ["add-task", "--id", "child", "sh", "-c", inner]}])
    assert base.wait_state("nested")["state"] == "completed", manager.log()
    grandchild = base.task("nested", "grandchild")
    assert (grandchild["parent"], grandchild["depth"], grandchild["status"]) == ("child", 2, "completed")


def test_add_task_from_outside_with_job(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """From outside, add-task --job NAME queues a task (no parent) that runs after its dependency."""
    gate = tmp_path / "gate"
    base.submit("open-job", [gated_task("hold", gate)])
    wait_for(lambda: base.log("open-job", "hold") == "before\n", what="the job to be working")
    result = cli(
        "add-task",
        "--job",
        "open-job",
        "--id",
        "extra",
        "--depends-on",
        "hold",
        "--env",
        "WHO=outside",
        "sh",
        "-c",
        "echo added by $WHO",
        base=base,
    )
    assert (result.returncode, result.stdout) == (0, "extra\n"), result.stderr
    extra = base.task("open-job", "extra")
    assert (extra["status"], extra["dependencies"], extra.get("depth", 0)) == ("pending", ["hold"], 0)
    assert "parent" not in extra
    gate.touch()
    assert base.wait_state("open-job")["state"] == "completed", manager.log()
    assert base.log("open-job", "extra") == "added by outside\n"


def test_add_task_refusals(base: Base, manager: ManagerProcess) -> None:
    """add-task to a failed job, an unknown job, a duplicate id, or without --job: one clear line each."""
    base.submit("broken", [{"id": "only", "command": "false"}])
    assert base.wait_state("broken")["state"] == "failed"
    assert "is failed; reset it before adding tasks" in error_line(
        cli("add-task", "--job", "broken", "echo", base=base)
    )
    assert "job 'ghost' not found" in error_line(cli("add-task", "--job", "ghost", "echo", base=base))
    base.submit("dup", [{"id": "same", "command": "sleep", "args": ["30"]}])
    assert "already has a task 'same'" in error_line(cli("add-task", "--job", "dup", "--id", "same", "echo", base=base))
    assert "--job" in error_line(cli("add-task", "echo", base=base), code=2)
    assert [t["id"] for t in base.tasks("dup")] == ["same"]
    assert cli("cancel", "--job", "dup", "--wait", base=base).returncode == 0


def test_add_task_reopens_a_completed_job(base: Base, manager: ManagerProcess) -> None:
    """A task added to a completed job reopens it: the new task runs and the job completes again."""
    base.submit("finished", [{"id": "only", "command": "echo", "args": ["one"]}])
    assert base.wait_state("finished")["state"] == "completed"
    added = cli("add-task", "--job", "finished", "--id", "again", "echo", "two", base=base)
    assert added.returncode == 0 and added.stdout.strip() == "again"
    wait_for(lambda: base.task("finished", "again")["status"] == "completed", what="the added task to run")
    assert base.wait_state("finished")["state"] == "completed"
    assert base.log("finished", "again") == "two\n"
