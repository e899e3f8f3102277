"""Task output, commands, arguments and errors are data: printed as written, never parsed as rich markup."""

from __future__ import annotations

from pathlib import Path

from conftest import Base, ManagerProcess, cli

BRACKETS = [
    {"id": "opens", "command": "sh", "args": ["-c", "echo 'cannot open [/etc/app.conf]'; exit 2"]},
    {"id": "closing", "command": "echo", "args": ["[/x]"]},
    {"id": "tags", "command": "echo", "args": ["[bold]", "[x]", "[/]"]},
    {"id": "emoji", "command": "echo", "args": [":warning:", "[red]"]},
]


def _bracket_job(base: Base) -> None:
    base.submit("brackets", BRACKETS)
    assert base.wait_state("brackets")["state"] == "failed"


def test_status_prints_bracketed_output_and_arguments_as_written(base: Base, manager: ManagerProcess) -> None:
    """A failed task whose last line is `cannot open [/etc/app.conf]`, and `[...]` arguments: shown literally."""
    _bracket_job(base)
    result = cli("status", "--job", "brackets", base=base)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    assert "brackets: task 'opens' failed: sh exited with code 2: cannot open [/etc/app.conf]" in result.stdout
    for shown in ("echo [/x]", "echo [bold] [x] [/]", "echo :warning: [red]"):
        assert shown in result.stdout, (shown, result.stdout)


def test_logs_results_and_json_keep_brackets(base: Base, manager: ManagerProcess) -> None:
    """logs and results print the same text the task wrote and the command it ran."""
    _bracket_job(base)
    logs = cli("logs", "--job", "brackets", "--task", "opens", base=base)
    assert logs.stdout.splitlines()[-2:] == [
        "cannot open [/etc/app.conf]",
        "[air-executor] sh exited with code 2: cannot open [/etc/app.conf]",
    ], logs.stdout
    results = cli("results", "--job", "brackets", base=base)
    assert results.returncode == 1 and results.stderr == ""
    assert "   Command: echo [bold] [x] [/]" in results.stdout.splitlines()
    assert "   Error: sh exited with code 2: cannot open [/etc/app.conf]" in results.stdout.splitlines()


def test_submit_wait_shows_brackets_and_the_state(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """submit --wait on that job: no traceback, the job's state in its progress line, one error line."""
    job_file = tmp_path / "brackets.yaml"
    job_file.write_text("name: brackets\ntasks:\n" + "".join(f"  - {task}\n" for task in BRACKETS))
    result = cli("submit", str(job_file), "--wait", base=base)
    assert result.returncode == 1, result.stderr
    assert "brackets [failed]" in result.stdout
    assert result.stderr.splitlines() == [
        "error: job brackets failed: task 'opens' failed: sh exited with code 2: cannot open [/etc/app.conf]"
    ]
