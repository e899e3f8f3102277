"""Symlinks, FIFOs, devices, hard links, huge and deep files in job folders: refused without following,
blocking or reading them; the job is failed saying why (or reported when it cannot be written to);
the manager, `status` and every other job go on.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from conftest import Base, ManagerProcess, cli, wait_for
from taskkit import naive_job

SECRET = '{"secret": "root only"}'


def _victim(tmp_path: Path, name: str = "victim.json", text: str = SECRET, mode: int = 0o600) -> Path:
    """A file outside the base folder that a job author must not be able to read or change."""
    path = tmp_path / "outside" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def _untouched(path: Path, text: str = SECRET, mode: int = 0o600) -> None:
    assert path.read_text() == text
    assert path.stat().st_mode & 0o777 == mode


def _healthy_jobs_run(base: Base, manager: ManagerProcess) -> None:
    base.submit("healthy", [{"id": "a", "command": "true"}, {"id": "b", "command": "true", "dependencies": ["a"]}])
    assert base.wait_state("healthy")["state"] == "completed", manager.log()
    assert manager.proc is not None and manager.proc.poll() is None


def _failed_for(base: Base, name: str, words: str) -> dict:
    # Read state.json only once it is a plain file: this test must not block on a FIFO either.
    path = base.job_dir(name) / "state.json"
    wait_for(lambda: stat.S_ISREG(os.lstat(path).st_mode), what=f"{name}'s state.json to be a plain file")
    state = base.wait_state(name)
    assert state["state"] == "failed" and words in state["error"], state
    return state


def test_a_symlinked_log_is_not_written_through(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """logs/<task>.log pointing outside the base: the task fails to start saying why; the target is unchanged."""
    victim = _victim(tmp_path, "victim.log", "original\n", 0o644)
    job_dir = naive_job(base.path / "jobs", "logjack", [{"id": "t", "command": "echo", "args": ["pwned"]}])
    (job_dir / "logs").mkdir()
    (job_dir / "logs" / "t.log").symlink_to(victim)
    state = _failed_for(base, "logjack", "symbolic link")
    task = base.task("logjack", "t")
    assert task["result"] == "failed_to_start" and "t.log is a symbolic link" in task["error"], task
    _untouched(victim, "original\n", 0o644)
    assert state["state"] == "failed"
    _healthy_jobs_run(base, manager)


def test_a_symlinked_state_file_is_neither_read_nor_written_through(
    base: Base, manager: ManagerProcess, tmp_path: Path
) -> None:
    """state.json pointing at a root-only file: the job is failed in a new state.json of its own; the
    target keeps its content and mode, and its content appears nowhere in the job."""
    victim = _victim(tmp_path)
    job_dir = naive_job(base.path / "jobs", "statejack", [{"id": "t", "command": "true"}])
    (job_dir / "state.json").unlink()
    (job_dir / "state.json").symlink_to(victim)
    _failed_for(base, "statejack", "state.json is a symbolic link")
    assert not (job_dir / "state.json").is_symlink()
    assert "root only" not in (job_dir / "state.json").read_text()
    _untouched(victim)
    _healthy_jobs_run(base, manager)


def test_a_symlinked_lock_creates_nothing_outside(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """.lock pointing at a path outside: nothing is created there, the job fails saying why."""
    target = tmp_path / "outside" / "created-by-root"
    target.parent.mkdir()
    job_dir = naive_job(base.path / "jobs", "lockjack", [{"id": "t", "command": "true"}])
    (job_dir / ".lock").symlink_to(target)
    _failed_for(base, "lockjack", ".lock is a symbolic link")
    assert not target.exists()
    _healthy_jobs_run(base, manager)


def test_a_fifo_or_device_as_a_job_file_blocks_nothing(base: Base, manager: ManagerProcess) -> None:
    """A FIFO named state.json, and /dev/zero behind tasks.json: neither blocks the manager or `status`;
    both jobs fail saying what the file is; other jobs run."""
    fifo_job = naive_job(base.path / "jobs", "fifo", [{"id": "t", "command": "true"}])
    (fifo_job / "state.json").unlink()
    os.mkfifo(fifo_job / "state.json")
    zero_job = naive_job(base.path / "jobs", "zero", [{"id": "t", "command": "true"}])
    (zero_job / "tasks.json").unlink()
    (zero_job / "tasks.json").symlink_to("/dev/zero")
    _failed_for(base, "fifo", "state.json is a FIFO")
    _failed_for(base, "zero", "tasks.json is a symbolic link")
    status = cli("status", base=base, timeout=30)
    assert status.returncode == 0 and "fifo" in status.stdout and "zero" in status.stdout, status.stderr
    _healthy_jobs_run(base, manager)


def test_a_symlinked_job_folder_is_reported_and_never_entered(
    base: Base, manager: ManagerProcess, tmp_path: Path
) -> None:
    """jobs/<name> that is a symlink to a folder with a valid job elsewhere: nothing there runs or changes;
    status names the job as invalid."""
    elsewhere = naive_job(tmp_path / "elsewhere", "real", [{"id": "t", "command": "touch", "args": ["/tmp/x"]}])
    before = {p.name: p.read_bytes() for p in elsewhere.iterdir()}
    (base.path / "jobs").mkdir(exist_ok=True)
    (base.path / "jobs" / "linked").symlink_to(elsewhere)
    _healthy_jobs_run(base, manager)
    wait_for(lambda: "job linked: invalid job" in manager.log(), what="the manager to report the job")
    assert {p.name: p.read_bytes() for p in elsewhere.iterdir()} == before
    status = cli("status", base=base)
    assert status.returncode == 0, status.stderr
    assert "linked" in status.stdout and "is a symbolic link" in status.stdout


def test_a_hard_linked_tasks_file_is_refused(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """tasks.json hard-linked to a file outside: refused (two links), the outside file never rewritten."""
    outside = _victim(tmp_path, "tasks.json", json.dumps([{"id": "t", "command": "true", "status": "pending"}]), 0o644)
    job_dir = naive_job(base.path / "jobs", "hardlink", [{"id": "t", "command": "true"}])
    (job_dir / "tasks.json").unlink()
    os.link(outside, job_dir / "tasks.json")
    _failed_for(base, "hardlink", "hard links")
    assert json.loads(outside.read_text())[0]["status"] == "pending"


def test_oversized_and_deep_files_fail_their_job_and_status_shows_every_job(base: Base) -> None:
    """A tasks.json over max_job_file_mb, and one nested 200,000 levels deep: each job fails naming the
    limit; `status` lists every job, these two included, without a traceback."""
    base.config(max_job_file_mb=1)
    big = naive_job(base.path / "jobs", "huge", [{"id": "t", "command": "true"}])
    tasks = json.loads((big / "tasks.json").read_text())
    tasks[0]["padding"] = "x" * (2 * 1024 * 1024)
    (big / "tasks.json").write_text(json.dumps(tasks))
    deep = naive_job(base.path / "jobs", "deep", [{"id": "t", "command": "true"}])
    (deep / "tasks.json").write_text("[" * 200_000 + "]" * 200_000)
    manager = ManagerProcess(base).start()
    try:
        _failed_for(base, "huge", "over the 1.0 MiB limit")
        _failed_for(base, "deep", "nested too deeply")
        _healthy_jobs_run(base, manager)
    finally:
        manager.stop()
    status = cli("status", base=base)
    assert status.returncode == 0 and "Traceback" not in status.stderr, status.stderr
    for name in ("huge", "deep", "healthy"):
        assert name in status.stdout
    one = cli("status", "--job", "deep", base=base)
    assert one.returncode == 0 and "nested too deeply" in one.stdout, one.stdout + one.stderr


def test_a_runner_whose_job_folder_was_swapped_runs_nothing(base: Base, tmp_path: Path) -> None:
    """A job folder replaced after the claim (the launch recorded another folder): the runner exits 3
    (stale) and the command never runs."""
    marker = tmp_path / "ran"
    job_dir = naive_job(
        base.path / "jobs",
        "swapped",
        [{"id": "t", "command": "touch", "args": [str(marker)], "status": "running", "launch_id": "a" * 32}],
    )
    result = subprocess.run(
        [sys.executable, "-m", "air_executor_runner", str(base.path), "swapped", "t", "a" * 32],
        env={**os.environ, "AIR_EXECUTOR_JOB_FOLDER_ID": f"0:{job_dir.stat().st_ino + 1}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3, result.stderr
    assert "replaced" in result.stderr
    assert not marker.exists()


def test_the_cli_reads_no_file_through_a_job_author_symlink(base: Base, tmp_path: Path) -> None:
    """`logs` (run by root, say) on a job whose log is a symlink to a root-only file prints not a byte of
    it; `add-task` on a job whose .lock is a FIFO fails at once instead of blocking."""
    victim = _victim(tmp_path, "shadow", "root:secret-hash\n")
    job_dir = naive_job(base.path / "jobs", "peek", [{"id": "t", "command": "true"}])
    (job_dir / "logs").mkdir()
    (job_dir / "logs" / "t.log").symlink_to(victim)
    shown = cli("logs", "--job", "peek", base=base, timeout=30)
    assert "secret-hash" not in shown.stdout + shown.stderr
    assert "symbolic link" in shown.stdout
    os.mkfifo(job_dir / ".lock")
    added = cli("add-task", "--job", "peek", "true", base=base, timeout=30)
    assert added.returncode == 1 and "FIFO" in added.stderr, added.stderr
