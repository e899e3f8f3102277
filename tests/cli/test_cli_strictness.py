"""Typos and unknown names get one clear line instead of being silently ignored."""

from __future__ import annotations

from pathlib import Path

from conftest import Base, cli, error_line


def test_submit_refuses_unknown_job_and_task_fields(base: Base, tmp_path: Path) -> None:
    """A misspelled job or task field in a job file is an error naming the field; no job is created."""
    job_typo = tmp_path / "job.yaml"
    job_typo.write_text("name: typo\nmax_paralel: 2\ntasks:\n  - command: true\n")
    assert "unknown field 'max_paralel'" in error_line(cli("submit", str(job_typo), base=base))
    task_typo = tmp_path / "task.yaml"
    task_typo.write_text("name: typo\ntasks:\n  - command: echo\n    dependecies: [x]\n")
    line = error_line(cli("submit", str(task_typo), base=base))
    assert "task #1" in line and "unknown field 'dependecies'" in line
    assert not (base.path / "jobs" / "typo").exists()


def test_logs_for_an_unknown_task_is_an_error(base: Base) -> None:
    """`logs --task` naming no task of the job fails with one line."""
    base.submit("known", [{"id": "a", "command": "true"}])
    assert "job 'known' has no task 'zzz'" in error_line(cli("logs", "--job", "known", "--task", "zzz", base=base))


def test_config_type_errors_name_their_source(base: Base) -> None:
    """A fractional runner count is refused as not a whole number; an env value is blamed on the variable."""
    base.config(max_concurrent_runners=2.5)
    line = error_line(cli("submit", "-", base=base, input="name: j\ntasks: [{command: echo}]\n"))
    assert "max_concurrent_runners must be a whole number between 1 and 50, got 2.5" in line
    assert "config.yaml" in line
    base.config(max_concurrent_runners=3)
    line = error_line(cli("start", base=base, env={"AIR_EXECUTOR_POLL_INTERVAL": "0"}))
    expected = "error: $AIR_EXECUTOR_POLL_INTERVAL: poll_interval must be a number of seconds between 1 and 60"
    assert line.startswith(expected), line
