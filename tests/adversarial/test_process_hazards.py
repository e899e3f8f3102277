"""What a job file may say about processes, and races between writers: a root manager never kills,
adopts or signals a process because a job file names it; creators of one job name never both win;
a deleted job folder leaves no runner behind; bad retry numbers and a task's own env change nothing
of what the operator set.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from air_executor.errors import JobExists
from conftest import Base, ManagerProcess, cli, error_line, wait_for
from taskkit import PY, alive, naive_job, read_pids, runner_pid, writable_dir

LAUNCH = "b" * 32


def _stranger() -> subprocess.Popen[bytes]:
    """A process that has nothing to do with Air-Executor, leading a session of its own."""
    return subprocess.Popen(["sleep", "300"], start_new_session=True)


def _start_ticks(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])


def test_a_runner_id_naming_a_stranger_kills_and_adopts_nothing(base: Base) -> None:
    """A task 'running' under a runner_id that names a live stranger (its pid and start time, so it
    passes a pid-reuse check): the manager neither adopts nor kills it; the task is failed as lost."""
    stranger = _stranger()
    try:
        naive_job(
            base.path / "jobs",
            "forged",
            [
                {
                    "id": "t",
                    "command": "true",
                    "status": "running",
                    "attempts": 1,
                    "launch_id": LAUNCH,
                    "launched_at": "2025-01-01T00:00:00.000000Z",
                    "runner_id": f"{stranger.pid}:{_start_ticks(stranger.pid)}",
                }
            ],
            state="working",
        )
        manager = ManagerProcess(base).start()
        try:
            state = base.wait_state("forged")
            assert state["state"] == "failed", manager.log()
        finally:
            manager.stop()
        task = base.task("forged", "t")
        assert task["result"] == "runner_lost" and "adopted the live runner" not in manager.log()
        assert stranger.poll() is None and alive(stranger.pid)
    finally:
        stranger.kill()
        stranger.wait()


def test_stop_never_signals_when_the_pid_file_holds_no_pid(base: Base) -> None:
    """A lock held on manager.pid with no PID written yet: `stop` says so and signals nothing (never -1)."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(60)\n",
            str(base.path / "manager.pid"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        result = cli("stop", base=base)
        assert "PID cannot be read" in error_line(result)
        assert holder.poll() is None  # nobody was signalled
    finally:
        holder.kill()
        holder.wait()


CREATE = """
import sys
import time
from air_executor.client import Client
from air_executor.errors import JobExists
client = Client(sys.argv[1])
tasks = [{"id": f"{sys.argv[3]}-{i}", "command": "true"} for i in range(20)]
sys.stdin.readline()  # start together
try:
    client.create_job(sys.argv[2], tasks)
    print("won")
except JobExists:
    print("exists")
"""


def test_two_creators_of_one_job_never_both_win(base: Base) -> None:
    """Twenty rounds of two processes creating the same job at the same instant: one wins, the other
    gets "job exists", and the job holds exactly the winner's tasks."""
    base.store.jobs_path.mkdir(parents=True, exist_ok=True)
    for round_ in range(20):
        name = f"race-{round_}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", CREATE, str(base.path), name, who],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for who in ("a", "b")
        ]
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outcomes = {who: proc.communicate(timeout=60)[0].strip() for who, proc in zip("ab", procs, strict=True)}
        assert sorted(outcomes.values()) == ["exists", "won"], outcomes
        winner = next(who for who, out in outcomes.items() if out == "won")
        assert [t["id"] for t in base.tasks(name)] == [f"{winner}-{i}" for i in range(20)]
    with pytest.raises(JobExists):
        from air_executor.client import Client

        Client(base.path).create_job("race-0", [{"command": "true"}])


def test_a_deleted_job_folder_leaves_no_runner_and_frees_its_slot(base: Base, tmp_path: Path) -> None:
    """A job folder removed while its task runs: the manager ends the runner and the task's processes,
    and the runner slot (max_concurrent_runners: 1) goes to the next job."""
    base.config(max_concurrent_runners=1)
    pids = writable_dir(tmp_path / "pids") / "pids"
    script = f"import os, time\nopen({str(pids)!r}, 'a').write(f'{{os.getpid()}}\\n')\ntime.sleep(300)"
    manager = ManagerProcess(base).start()
    try:
        base.submit("doomed", [{"id": "t", "command": PY, "args": ["-c", script]}])
        wait_for(lambda: read_pids(pids), what="the task to start")
        runner = runner_pid(base.task("doomed", "t"))
        import shutil

        base.job_dir("doomed").rename(tmp_path / "trash")  # gone at once (runners may still write into it)
        shutil.rmtree(tmp_path / "trash", ignore_errors=True)
        base.submit("next", [{"id": "t", "command": "true"}])
        assert base.wait_state("next")["state"] == "completed", manager.log()
        wait_for(lambda: not alive(read_pids(pids)[0]), what="the deleted job's task to be ended")
        wait_for(lambda: not alive(runner), what="the deleted job's runner to be ended")
        assert "its job folder is gone" in manager.log()
    finally:
        manager.stop()


def test_huge_attempt_numbers_and_back_off_are_capped_not_a_crash(base: Base) -> None:
    """Running tasks whose job file claims attempt 60 (a back-off of 5 * 10**59 s) and attempt 10**30:
    their lost runners are recorded, the first retries within max_retry_delay, the second (past its
    retries) fails; the manager goes on."""
    base.config(max_retry_delay=5)
    lost = {"status": "running", "retries": 100, "retry_delay": 5, "retry_backoff": 10}
    lost.update(launched_at="2025-01-01T00:00:00.000000Z")
    naive_job(
        base.path / "jobs",
        "centuries",
        [
            {"id": "t", "command": "true", "attempts": 60, "launch_id": "c" * 32, **lost},
            {"id": "u", "command": "true", "attempts": 10**30, "launch_id": "d" * 32, **lost},
        ],
        state="working",
    )
    manager = ManagerProcess(base).start()
    try:
        task = wait_for(lambda: (t := base.task("centuries", "t"))["history"] and t, what="the lost attempt")
        assert task["status"] == "pending" and "retrying in 5 s" in task["error"], task
        other = wait_for(lambda: (t := base.task("centuries", "u"))["history"] and t, what="the other lost attempt")
        assert other["status"] == "failed" and other["result"] == "runner_lost", other
        base.submit("healthy", [{"command": "true"}])
        assert base.wait_state("healthy")["state"] == "completed", manager.log()
        assert base.wait_state("centuries")["state"] == "failed", manager.log()  # u failed; t ran again
        assert base.task("centuries", "t")["status"] == "completed"
        assert manager.proc is not None and manager.proc.poll() is None
    finally:
        manager.stop()


def test_a_tasks_env_cannot_change_its_timeout_or_grace(base: Base) -> None:
    """env AIR_EXECUTOR_TASK_TIMEOUT / AIR_EXECUTOR_STOP_GRACE in a task change nothing: a task of timeout
    1 that ignores SIGTERM is killed after the config's stop_grace (1 s), not after the 600 s it asked for."""
    base.config(stop_grace=1)
    ignore = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(120)"
    manager = ManagerProcess(base).start()
    try:
        base.submit(
            "greedy",
            [
                {
                    "id": "t",
                    "command": PY,
                    "args": ["-c", ignore],
                    "timeout": 1,
                    "env": {"AIR_EXECUTOR_STOP_GRACE": "600", "AIR_EXECUTOR_TASK_TIMEOUT": "600"},
                }
            ],
        )
        assert base.wait_state("greedy", timeout=100)["state"] == "failed", manager.log()
    finally:
        manager.stop()
    task = base.task("greedy", "t")
    assert task["result"] == "timed_out" and task["exit_code"] == -9
    assert task["history"][0]["wall_time"] < 100  # the command sleeps 120: it was killed, not waited for


def test_runner_lost_leftovers_are_found_by_launch_not_by_pid(base: Base, tmp_path: Path) -> None:
    """A runner SIGKILLed mid-task: its task's process is ended by the manager (found by the launch id the
    runner gave it); a stranger that happens to share nothing with it lives on."""
    pids = writable_dir(tmp_path / "pids") / "pids"
    script = f"import os, time\nopen({str(pids)!r}, 'a').write(f'{{os.getpid()}}\\n')\ntime.sleep(300)"
    stranger = _stranger()
    manager = ManagerProcess(base).start()
    try:
        base.submit("lost", [{"id": "t", "command": PY, "args": ["-c", script]}])
        wait_for(lambda: read_pids(pids), what="the task to start")
        os.kill(runner_pid(base.task("lost", "t")), signal.SIGKILL)
        assert base.wait_state("lost")["state"] == "failed", manager.log()
        wait_for(lambda: not alive(read_pids(pids)[0]), what="the lost runner's task to be ended")
        assert stranger.poll() is None
    finally:
        manager.stop()
        stranger.kill()
        stranger.wait()


@pytest.mark.docker
def test_a_container_left_created_by_a_dead_manager_is_removed(docker_base: Base, docker_client: Any) -> None:
    """A runner container created but never started (its manager died in between), of a launch no task
    knows: the next manager removes it once runner_start_timeout has passed."""
    docker_base.config(runner_start_timeout=1)
    base = str(docker_base.path)
    container = docker_client.containers.create(
        "air-executor-runner:latest",
        ["--version"],
        labels={
            "air-executor": "runner",
            "air-executor.volume": f"bind:{base}",
            "air-executor.job": "gone",
            "air-executor.task": "t",
            "air-executor.launch": "e" * 32,
        },
    )
    time.sleep(1.5)
    manager = ManagerProcess(docker_base).start()
    try:
        wait_for(
            lambda: not docker_client.api.containers(all=True, filters={"id": container.id}),
            what="the created container to be removed",
        )
        assert "that no task needs" in manager.log()
    finally:
        manager.stop()
