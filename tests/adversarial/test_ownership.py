"""The job author against a root manager: tasks run as the job folder's owner, never root, and every
file the manager (or any root process) creates in a job folder is that owner's.

A job author is whoever can write the volume (README "Trust model"). These tests are root, like the
manager in the compose deployment, and write jobs as other users (`setpriv`-style via Popen's `user`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Base, ManagerProcess
from taskkit import naive_job

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="plays a root manager against other users: needs root")

AUTHOR = 10001  # Airflow's uid in the compose stack, and the default runner_user
STRANGER = 12345

# The seeds' client (python-usage.md), verbatim in spirit: plain json.dump, no lock, no rename.
SEED_CLIENT = """
import json, sys
from datetime import datetime
from pathlib import Path
job_dir = Path(sys.argv[1]) / "jobs" / sys.argv[2]
job_dir.mkdir(parents=True, exist_ok=True)
(job_dir / "logs").mkdir(exist_ok=True)
now = datetime.utcnow().isoformat() + "Z"
state = {"id": sys.argv[2] + "-1", "name": sys.argv[2], "state": "waiting", "created_at": now, "updated_at": now}
with open(job_dir / "state.json", "w") as f:
    json.dump(state, f, indent=2)
tasks = []
for i, (command, args, deps) in enumerate(json.loads(sys.argv[3]), 1):
    tasks.append({"id": f"task-{i}", "job_name": sys.argv[2], "command": command, "args": args,
                  "dependencies": deps, "status": "pending", "created_at": now, "started_at": None,
                  "completed_at": None, "error": None})
with open(job_dir / "tasks.json", "w") as f:
    json.dump(tasks, f, indent=2)
"""


def _owners(folder: Path) -> dict[str, int]:
    """uid of every entry in a job folder (and its logs), by relative name."""
    found = {".": folder.stat().st_uid}
    for path in folder.rglob("*"):
        found[str(path.relative_to(folder))] = path.lstat().st_uid
    return found


def _as(uid: int, *argv: str) -> None:
    subprocess.run(argv, check=True, user=uid, group=uid, extra_groups=[], capture_output=True, text=True)


def test_a_naive_writer_that_owns_jobs_gets_runners_that_can_lock_and_record(base: Base) -> None:
    """The issue's first bug: uid 10001 writes a job with the seeds' client (no lock); the root manager
    claims it; every file it creates or replaces there (.lock included) is uid 10001's, so each runner
    (run as 10001) takes the lock and records its outcome; the job completes."""
    jobs = base.path / "jobs"
    jobs.mkdir()
    os.chown(jobs, AUTHOR, AUTHOR)
    spec = [["echo", ["one"], []], ["sh", ["-c", "id -u; id -G"], ["task-1"]], ["echo", ["three"], ["task-2"]]]
    _as(AUTHOR, sys.executable, "-c", SEED_CLIENT, str(base.path), "seed-job", json.dumps(spec))
    manager = ManagerProcess(base).start()
    try:
        state = base.wait_state("seed-job")
        assert state["state"] == "completed", (state, manager.log())
    finally:
        manager.stop()
    owners = _owners(jobs / "seed-job")
    assert set(owners.values()) == {AUTHOR}, owners
    assert ".lock" in owners and "state.json" in owners and "logs/task-2.log" in owners
    assert base.log("seed-job", "task-2").split() == [str(AUTHOR), str(AUTHOR)]  # its uid, and no other group


def test_old_root_owned_lock_and_files_are_healed(base: Base) -> None:
    """A volume written by the previous release (root-owned .lock, state.json, tasks.json in a folder of
    uid 10001): the manager gives them back to the folder's owner, and the job runs."""
    job_dir = naive_job(base.path / "jobs", "old", [{"id": "t", "command": "true"}])
    (job_dir / ".lock").touch()
    (job_dir / "logs").mkdir()
    os.chown(job_dir, AUTHOR, AUTHOR)  # the folder is the author's; the files inside stay root's 0644
    manager = ManagerProcess(base).start()
    try:
        assert base.wait_state("old")["state"] == "completed", manager.log()
    finally:
        manager.stop()
    assert set(_owners(job_dir).values()) == {AUTHOR}, _owners(job_dir)


def test_tasks_run_as_their_job_folders_owner_and_root_owned_jobs_as_runner_user(base: Base) -> None:
    """A root manager never runs a task as root: a folder of uid 12345 runs as 12345; a root-owned folder
    (a root client wrote it) is handed to runner_user (10001) first and runs as that."""
    base.submit("root-made", [{"id": "who", "command": "id", "args": ["-u"]}])
    jobs = base.path / "jobs"
    os.chown(jobs, STRANGER, STRANGER)  # only so the stranger can make a folder here
    _as(STRANGER, sys.executable, "-c", SEED_CLIENT, str(base.path), "strangers", json.dumps([["id", ["-u"], []]]))
    os.chown(jobs, 0, 0)
    manager = ManagerProcess(base).start()
    try:
        for name in ("root-made", "strangers"):
            assert base.wait_state(name)["state"] == "completed", manager.log()
    finally:
        manager.stop()
    assert base.log("root-made", "who").strip() == str(AUTHOR)
    assert base.log("strangers", "task-1").strip() == str(STRANGER)
    assert set(_owners(base.job_dir("root-made")).values()) == {AUTHOR}
    assert set(_owners(base.job_dir("strangers")).values()) == {STRANGER}


def test_root_clients_writing_into_an_authors_folders_give_the_files_to_the_author(base: Base) -> None:
    """A job created and extended by root (`docker compose exec manager air-executor ...`) in a jobs folder
    of uid 10001: its folder and files are 10001's at once, so its runners can lock and update it."""
    from conftest import cli

    jobs = base.path / "jobs"
    jobs.mkdir()
    os.chown(jobs, AUTHOR, AUTHOR)
    base.submit("by-root", [{"id": "a", "command": "true"}])
    added = cli("add-task", "--job", "by-root", "--id", "b", "true", base=base)
    assert added.returncode == 0, added.stderr
    assert set(_owners(base.job_dir("by-root")).values()) == {AUTHOR}, _owners(base.job_dir("by-root"))
