"""cancel and reset through the client API while a manager runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from air_executor import client
from air_executor.errors import InvalidJob
from conftest import Base, ManagerProcess, wait_for
from taskkit import PY, alive, read_pids, runner_pid

# argv: PIDFILE — records its pid, then sleeps 60 s.
SLEEPER = "import os, sys, time\nopen(sys.argv[1], 'w').write(str(os.getpid()))\ntime.sleep(60)\n"


def test_cancel_stops_a_running_task_and_its_runner(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """Cancelling stops the running command and its runner; the job ends cancelled, pending tasks never run."""
    pidfile, never = tmp_path / "pid", tmp_path / "never"
    base.submit(
        "cancel-me",
        [
            {"id": "long", "command": PY, "args": ["-c", SLEEPER, str(pidfile)]},
            {"id": "next", "command": "touch", "args": [str(never)]},
        ],
    )
    wait_for(lambda: read_pids(pidfile), what="the task to start")
    command_pid = read_pids(pidfile)[0]
    runner = runner_pid(base.task("cancel-me", "long"))
    assert alive(runner) and alive(command_pid)

    pending, running = client.cancel_job(base.store, "cancel-me")
    assert (pending, running) == (1, 1)
    wait_for(lambda: base.task("cancel-me", "long")["status"] == "cancelled", what="the running task to stop")
    wait_for(lambda: not alive(runner), what="the runner to exit")
    assert not alive(command_pid)
    state = base.state("cancel-me")
    assert state["state"] == "cancelled"
    tasks = {t["id"]: t for t in base.tasks("cancel-me")}
    assert tasks["next"]["status"] == "cancelled"
    assert tasks["long"]["result"] == "killed"
    assert not never.exists()
    with pytest.raises(InvalidJob, match="already cancelled"):
        client.cancel_job(base.store, "cancel-me")


def test_cancelled_job_can_be_reset_and_then_completes(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """A cancelled job reset to waiting runs its cancelled tasks again to completion."""
    pidfile, gate = tmp_path / "pid", tmp_path / "gate"
    script = (
        "import os, sys, time\nopen(sys.argv[1], 'a').write(f'{os.getpid()}\\n')\n"
        "while not os.path.exists(sys.argv[2]): time.sleep(0.02)\n"
    )
    base.submit("again", [{"id": "t", "command": PY, "args": ["-c", script, str(pidfile), str(gate)]}])
    wait_for(lambda: read_pids(pidfile), what="the task to start")
    client.cancel_job(base.store, "again")
    wait_for(lambda: base.task("again", "t")["status"] == "cancelled", what="the task to be cancelled")
    gate.touch()
    assert client.reset_job(base.store, "again") == 1
    assert base.wait_state("again")["state"] == "completed", manager.log()
    assert len(read_pids(pidfile)) == 2
    assert base.task("again", "t")["attempts"] == 1  # reset starts the count afresh


def test_reset_reruns_only_failed_and_skipped_tasks(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """After a failure, reset re-runs the failed task and its skipped dependents; completed ones do not run again."""
    flag, runs = tmp_path / "fixed", tmp_path / "runs"
    record = "import os, sys\nopen(sys.argv[1], 'a').write(sys.argv[2] + '\\n')\n"
    needs_fix = record + "sys.exit(0 if os.path.exists(sys.argv[3]) else 1)\n"
    base.submit(
        "fixable",
        [
            {"id": "ok", "command": PY, "args": ["-c", record, str(runs), "ok"]},
            {
                "id": "broken",
                "command": PY,
                "args": ["-c", needs_fix, str(runs), "broken", str(flag)],
                "dependencies": ["ok"],
            },
            {"id": "after", "command": PY, "args": ["-c", record, str(runs), "after"], "dependencies": ["broken"]},
        ],
    )
    assert base.wait_state("fixable")["state"] == "failed", manager.log()
    assert base.task("fixable", "after")["status"] == "skipped"
    flag.touch()
    assert client.reset_job(base.store, "fixable") == 2
    assert base.wait_state("fixable")["state"] == "completed", manager.log()
    assert runs.read_text().split() == ["ok", "broken", "broken", "after"]
    tasks = {t["id"]: t for t in base.tasks("fixable")}
    assert all(t["status"] == "completed" for t in tasks.values())
    assert tasks["ok"]["attempts"] == 1 and tasks["broken"]["attempts"] == 1
    with pytest.raises(InvalidJob, match="completed"):
        client.reset_job(base.store, "fixable")
