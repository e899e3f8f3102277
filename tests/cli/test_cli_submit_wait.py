"""`submit --wait` shows the job's state, tells done from failed and skipped, and ends with one line."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml
from conftest import CLI, Base, ManagerProcess, cli, wait_for


def _job_file(tmp_path: Path, name: str, tasks: list[dict[str, object]]) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "tasks": tasks}))
    return path


def _progress_line(stdout: str, job: str) -> str:
    """The progress bar's final line (rich prints it once when the output is not a terminal)."""
    lines = [line for line in stdout.splitlines() if line.startswith(f"{job} [")]
    assert len(lines) == 1, stdout
    return lines[0]


def test_a_failed_job_counts_failed_and_skipped_apart_and_names_the_task(
    base: Base, manager: ManagerProcess, tmp_path: Path
) -> None:
    """One task fails, its dependant is skipped, one completes: the bar says so, exit 1, one error line."""
    job_file = _job_file(
        tmp_path,
        "mixed",
        [
            {"id": "fine", "command": "echo", "args": ["ok"]},
            {"id": "boom", "command": "sh", "args": ["-c", "echo broke it >&2; exit 3"], "dependencies": ["fine"]},
            {"id": "after", "command": "echo", "dependencies": ["boom"]},
        ],
    )
    result = cli("submit", str(job_file), "--wait", base=base)
    assert result.returncode == 1, result.stderr
    line = _progress_line(result.stdout, "mixed")
    assert line.startswith("mixed [failed]") and "1/3 completed, 1 failed, 1 skipped" in line, line
    assert result.stderr.splitlines() == [
        "error: job mixed failed: task 'boom' failed: sh exited with code 3: broke it"
    ], result.stderr


def test_a_completed_job_shows_its_state_and_ends_with_a_summary(
    base: Base, manager: ManagerProcess, tmp_path: Path
) -> None:
    """A job that completes: progress line `NAME [completed] ... 2/2 completed`, last line says so, exit 0."""
    job_file = _job_file(tmp_path, "smooth", [{"id": "a", "command": "echo"}, {"id": "b", "command": "true"}])
    result = cli("submit", str(job_file), "--wait", base=base)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    assert "2/2 completed" in _progress_line(result.stdout, "smooth")
    assert _progress_line(result.stdout, "smooth").startswith("smooth [completed]")
    assert result.stdout.splitlines()[-1] == "Job smooth completed: 2/2 completed"


def test_a_cancelled_job_says_it_was_cancelled(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """Cancelling a job someone waits on ends the wait with exit 1 and `was cancelled`, once its runner
    has stopped: the task takes a second to stop, and the wait reports it cancelled, not still running."""
    gate = tmp_path / "gate"
    script = f'trap "echo stopping; sleep 1; echo stopped; exit 143" TERM; while [ ! -e "{gate}" ]; do sleep 0.05; done'
    job_file = _job_file(tmp_path, "stopped", [{"id": "hold", "command": "sh", "args": ["-c", script]}])
    waiter = subprocess.Popen(
        [CLI, "submit", str(job_file), "--wait"],
        env={**os.environ, "AIR_EXECUTOR_BASE_PATH": str(base.path), "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: base.task("stopped", "hold")["status"] == "running", what="the task to run")
        assert cli("cancel", "--job", "stopped", base=base).returncode == 0
        out, err = waiter.communicate(timeout=60)
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
    assert waiter.returncode == 1
    assert "stopped\n" in base.log("stopped", "hold")  # its stop had ended before the wait did
    assert err.splitlines() == ["error: job stopped was cancelled (0/1 completed, 1 cancelled)"], err


def test_a_cancelled_job_counts_the_runners_still_stopping() -> None:
    """Until its runners have stopped, a cancelled job's counts say how many tasks still run."""
    from air_executor.cli.follow import progress_counts
    from air_executor.cli.views import JobView

    view = JobView("j", state={"state": "cancelled"}, tasks=[{"status": "running"}, {"status": "cancelled"}])
    assert progress_counts(view) == "0/2 completed, 1 cancelled, 1 still running"
    assert progress_counts(JobView("j", state={"state": "running"}, tasks=[{"status": "running"}])) == "0/1 completed"
