"""Dynamic tasks: running tasks queue more tasks (CLI and Python API), within guardrails, without duplicates."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Base, ManagerProcess
from taskkit import CLI, PY, mark_task, read_intervals

# Queues children three ways from inside a task: the CLI, the seeds' TaskQueue + Task
# (README "Dynamic Task Generation", unchanged), and client.add_tasks.
SPAWNER = r"""
import json, os, subprocess, sys
from air_executor.core.task import Task, TaskQueue
from air_executor.storage.file_store import FileStore
from air_executor import client

cli, py, child_script = sys.argv[1], sys.argv[2], sys.argv[3]
job = os.environ["AIR_EXECUTOR_JOB"]
subprocess.run([cli, "add-task", "--id", "by-cli", py, "-c", child_script, "by-cli"], check=True)
store = FileStore()
queue = TaskQueue(job, store.jobs_path / job / "tasks.json")
queue.add(Task(id="by-queue", job_name=job, command=py, args=["-c", child_script, "by-queue"]))
client.add_tasks(store, job, [{"id": "by-client", "command": py, "args": ["-c", child_script, "by-client"]}])
"""


def test_tasks_queue_subtasks_with_cli_and_python_api(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """Subtasks queued by CLI, TaskQueue and client get parent and depth, run, and so do their own subtasks."""
    marks = tmp_path / "marks"
    # Each child records its run and then queues one grandchild through the CLI.
    child = (
        "import os, subprocess, sys, time\n"
        f"open({str(marks)!r}, 'a').write(sys.argv[1] + ' ' + os.environ['AIR_EXECUTOR_TASK_ID'] + '\\n')\n"
        f"subprocess.run([{CLI!r}, 'add-task', '--id', 'grand-' + sys.argv[1], 'true'], check=True)\n"
    )
    base.submit("dyn", [{"id": "spawner", "command": PY, "args": ["-c", SPAWNER, CLI, PY, child]}])
    assert base.wait_state("dyn")["state"] == "completed", manager.log()
    tasks = {t["id"]: t for t in base.tasks("dyn")}
    children = ["by-cli", "by-queue", "by-client"]
    assert set(tasks) == {"spawner", *children, *(f"grand-{c}" for c in children)}
    for c in children:
        assert tasks[c]["parent"] == "spawner" and tasks[c]["depth"] == 1
        assert tasks[f"grand-{c}"]["parent"] == c and tasks[f"grand-{c}"]["depth"] == 2
    assert all(t["status"] == "completed" and t["attempts"] == 1 for t in tasks.values())
    assert sorted(marks.read_text().splitlines()) == sorted(f"{c} {c}" for c in children)


def test_subtasks_may_depend_on_each_other(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """A queued task that depends on another queued task waits for it."""
    marks = tmp_path / "marks"
    second, first = mark_task("second", marks), mark_task("first", marks)
    script = (
        "import json, subprocess, sys\n"
        "cli, first, second = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])\n"
        "subprocess.run([cli, 'add-task', '--id', 'first', first['command'], *first['args']], check=True)\n"
        "subprocess.run([cli, 'add-task', '--id', 'second', '--depends-on', 'first', second['command'],"
        " *second['args']], check=True)\n"
    )
    base.submit(
        "chain",
        [{"id": "p", "command": PY, "args": ["-c", script, CLI, json.dumps(first), json.dumps(second)]}],
        max_parallel=2,
    )
    assert base.wait_state("chain")["state"] == "completed", manager.log()
    runs = read_intervals(marks)
    assert runs["first"][1] <= runs["second"][0]


def _error_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if line.startswith("error:")]


def test_job_max_depth_stops_deeper_spawning_with_one_clear_line(base: Base, manager: ManagerProcess) -> None:
    """With max_depth 1 a child may not queue a grandchild: its add-task exits non-zero with one line and it fails."""
    base.submit(
        "shallow",
        [
            {
                "id": "root",
                "command": CLI,
                "args": ["add-task", "--id", "kid", CLI, "add-task", "--id", "grandkid", "true"],
            }
        ],
        max_depth=1,
    )
    state = base.wait_state("shallow")
    assert state["state"] == "failed", manager.log()
    tasks = {t["id"]: t for t in base.tasks("shallow")}
    assert set(tasks) == {"root", "kid"}
    assert tasks["root"]["status"] == "completed"
    assert tasks["kid"]["status"] == "failed" and tasks["kid"]["exit_code"] == 1
    log = base.log("shallow", "kid")
    assert "Traceback" not in log
    [line] = _error_lines(log)
    assert "spawn depth 2" in line and "limit is 1" in line and "'kid'" in line
    assert "spawn depth 2" in tasks["kid"]["error"]  # the task's error carries the reason


def test_config_max_spawn_depth_applies_to_every_job(base: Base, tmp_path: Path) -> None:
    """Config max_spawn_depth 0 forbids any spawning; the Python API raises and the task fails."""
    base.config(max_spawn_depth=0)
    script = "from air_executor.client import Client\nClient().add_task('nodepth', 'true')"
    base.submit("nodepth", [{"id": "root", "command": PY, "args": ["-c", script]}])
    manager = ManagerProcess(base).start()
    try:
        assert base.wait_state("nodepth")["state"] == "failed", manager.log()
    finally:
        manager.stop()
    assert [t["id"] for t in base.tasks("nodepth")] == ["root"]
    log = base.log("nodepth", "root")
    assert "LimitExceeded" in log and "spawn depth 1" in log and "limit is 0" in log


def test_job_max_tasks_is_enforced(base: Base, manager: ManagerProcess) -> None:
    """max_tasks 3: the first subtask fits, the second is refused with one line naming the limit."""
    base.submit(
        "capped",
        [
            {"id": "other", "command": "true"},
            {
                "id": "root",
                "command": "sh",
                "args": ["-c", f'"{CLI}" add-task --id one true && "{CLI}" add-task --id two true'],
            },
        ],
        max_tasks=3,
    )
    assert base.wait_state("capped")["state"] == "failed", manager.log()
    tasks = {t["id"]: t for t in base.tasks("capped")}
    assert set(tasks) == {"other", "root", "one"}
    assert tasks["one"]["status"] == "completed"
    assert tasks["root"]["status"] == "failed"
    [line] = _error_lines(base.log("capped", "root"))
    assert "3 tasks" in line and "max_tasks" in line


def test_config_max_tasks_per_job_is_enforced(base: Base, tmp_path: Path) -> None:
    """Config max_tasks_per_job 2 applies to a job that sets no limit of its own."""
    base.config(max_tasks_per_job=2)
    base.submit(
        "cfgcap", [{"id": "root", "command": "sh", "args": ["-c", f'"{CLI}" add-task true; "{CLI}" add-task true']}]
    )
    manager = ManagerProcess(base).start()
    try:
        # The shell ignores the first add-task's status: the task's own status is the second one's.
        assert base.wait_state("cfgcap")["state"] == "failed", manager.log()
    finally:
        manager.stop()
    assert len(base.tasks("cfgcap")) == 2
    [line] = _error_lines(base.log("cfgcap", "root"))
    assert "2 tasks" in line and "max_tasks_per_job" in line


def test_dedup_key_keeps_a_retried_parent_from_queuing_twice(
    base: Base, manager: ManagerProcess, tmp_path: Path
) -> None:
    """A parent that queues keyed subtasks, fails and is retried leaves exactly one of each subtask."""
    counter, child_runs = tmp_path / "count", tmp_path / "child-runs"
    script = (
        "import os, subprocess, sys\n"
        "from air_executor.core.task import TaskQueue\n"
        "from air_executor.storage.file_store import FileStore\n"
        "cli, counter, runs = sys.argv[1], sys.argv[2], sys.argv[3]\n"
        "attempt = len(open(counter).read()) + 1 if os.path.exists(counter) else 1\n"
        "open(counter, 'a').write('x')\n"
        "out = subprocess.run([cli, 'add-task', '--dedup-key', 'k-cli', 'sh', '-c', f'echo cli >> {runs}'],"
        " check=True, capture_output=True, text=True).stdout.strip()\n"
        "job = os.environ['AIR_EXECUTOR_JOB']\n"
        "q = TaskQueue(job, FileStore().jobs_path / job / 'tasks.json')\n"
        "got = q.add({'command': 'sh', 'args': ['-c', f'echo api >> {runs}'], 'dedup_key': 'k-api'})\n"
        "print(attempt, out, got)\n"
        "sys.exit(1 if attempt == 1 else 0)\n"
    )
    base.submit(
        "dedup",
        [
            {
                "id": "parent",
                "command": PY,
                "args": ["-c", script, CLI, str(counter), str(child_runs)],
                "retries": 1,
                "retry_delay": 0,
            }
        ],
    )
    assert base.wait_state("dedup")["state"] == "completed", manager.log()
    tasks = base.tasks("dedup")
    assert [t.get("dedup_key") for t in tasks].count("k-cli") == 1
    assert [t.get("dedup_key") for t in tasks].count("k-api") == 1
    assert len(tasks) == 3
    parent = next(t for t in tasks if t["id"] == "parent")
    assert parent["attempts"] == 2
    # Both attempts were told the same ids.
    printed = [line.split() for line in base.log("dedup", "parent").splitlines() if line[:1].isdigit()]
    assert [p[0] for p in printed] == ["1", "2"] and printed[0][1:] == printed[1][1:]
    assert sorted(child_runs.read_text().split()) == ["api", "cli"]
