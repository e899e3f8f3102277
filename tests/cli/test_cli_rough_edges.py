"""Small things a user notices: a held lock is announced, commands say where they looked, empty ids.

(`logs --follow` printing each header once: tests/cli/test_cli_logs.py.)
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from pathlib import Path

from conftest import CLI, Base, cli, error_line


def test_a_command_waiting_on_a_held_job_lock_says_so(base: Base) -> None:
    """While another process holds a job's lock, add-task says what it waits for, then goes on once it is free."""
    base.submit("locked", [{"id": "first", "command": "echo"}])
    lock_path = base.job_dir("locked") / ".lock"
    env = {**os.environ, "AIR_EXECUTOR_BASE_PATH": str(base.path)}
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = subprocess.Popen(
            [CLI, "add-task", "--job", "locked", "--id", "second", "echo"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stderr is not None
            notice = proc.stderr.readline()  # blocks until the command speaks: it must, while it waits
            assert (
                notice == f"Waiting for job locked's lock ({base.job_dir('locked')}/.lock): another process holds it\n"
            )
            assert proc.poll() is None
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
        out, err = proc.communicate(timeout=60)
    assert (proc.returncode, out, err) == (0, "second\n", "")
    assert [t["id"] for t in base.tasks("locked")] == ["first", "second"]


def test_stop_and_status_say_which_folder_they_looked_at(tmp_path: Path) -> None:
    """Pointed at a folder that does not exist, stop and status say so instead of looking like success."""
    wrong = tmp_path / "typo"
    env = {"AIR_EXECUTOR_BASE_PATH": str(wrong)}
    stop = cli("stop", env=env)
    assert (stop.returncode, stop.stdout) == (
        0,
        f"No job manager is running on {wrong} (no such folder: is --base-path the folder you meant?)\n",
    )
    status = cli("status", env=env)
    assert status.returncode == 0 and status.stdout.splitlines() == [
        f"Manager: not running — base {wrong}",
        f"No jobs: {wrong / 'jobs'} does not exist (is --base-path the folder you meant?)",
    ]
    assert not wrong.exists()  # looking creates nothing


def test_add_task_refuses_an_empty_id(base: Base) -> None:
    """`add-task --id ""` is a bad id, not "pick one for me"."""
    base.submit("ids", [{"id": "first", "command": "echo"}])
    line = error_line(cli("add-task", "--job", "ids", "--id", "", "echo", base=base))
    assert "invalid task id ''" in line, line
    assert [t["id"] for t in base.tasks("ids")] == ["first"]
