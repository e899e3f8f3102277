"""Global options work before and after the command; a base path that is no folder is one error line."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Base, ManagerProcess, cli, error_line


def test_base_path_before_or_after_the_command(base: Base, tmp_path: Path) -> None:
    """`air-executor --base-path B status` and `air-executor status --base-path B` look at B; after wins."""
    base.submit("here", [{"command": "echo"}])
    other = tmp_path / "other"
    for args in (["--base-path", str(base.path), "status"], ["status", "--base-path", str(base.path)]):
        result = cli(*args, env={"AIR_EXECUTOR_BASE_PATH": str(other)})
        assert result.returncode == 0, result.stderr
        assert f"base {base.path}" in result.stdout and "here" in result.stdout, (args, result.stdout)
    both = cli("--base-path", str(other), "status", "--base-path", str(base.path))
    assert f"base {base.path}" in both.stdout


def test_config_before_or_after_the_command(base: Base, tmp_path: Path) -> None:
    """--config works in both places (a bad file there is refused either way, naming it)."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("poll_interval: 0\n")
    for args in (["--config", str(bad), "submit", "-"], ["submit", "--config", str(bad), "-"]):
        line = error_line(cli(*args, base=base, input="name: j\ntasks: [{command: echo}]\n"))
        assert f"config {bad}: poll_interval" in line, (args, line)


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_before_or_after_the_command_shows_the_traceback(base: Base, where: str) -> None:
    """--debug in either place adds the traceback above the error line; without it, one line only."""
    args = ["--debug", "results", "--job", "ghost"] if where == "before" else ["results", "--job", "ghost", "--debug"]
    result = cli(*args, base=base)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("error: job 'ghost' not found")
    error_line(cli("results", "--job", "ghost", base=base))


COMMANDS = [
    ["status"],
    ["stop"],
    ["start"],
    ["logs", "--job", "j"],
    ["submit", "-"],
    ["add-task", "--job", "j", "echo"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=[a[0] for a in COMMANDS])
def test_a_base_path_under_a_file_is_one_error_line(tmp_path: Path, args: list[str]) -> None:
    """A base folder below a regular file: every command says so in one line, no traceback."""
    (tmp_path / "a-file").write_text("not a folder\n")
    base = tmp_path / "a-file" / "ae"
    result = cli(*args, env={"AIR_EXECUTOR_BASE_PATH": str(base)}, input="name: j\ntasks: [{command: echo}]\n")
    assert error_line(result) == f"error: base path {base} is not usable: {tmp_path / 'a-file'} is a file, not a folder"


@pytest.mark.parametrize("args", COMMANDS, ids=[a[0] for a in COMMANDS])
def test_a_jobs_entry_that_is_a_file_is_one_error_line(base: Base, args: list[str]) -> None:
    """<base>/jobs being a file: every command says so in one line, no traceback."""
    (base.path / "jobs").write_text("oops\n")
    result = cli(*args, base=base, input="name: j\ntasks: [{command: echo}]\n")
    assert error_line(result) == f"error: base path {base.path} is not usable: {base.path / 'jobs'} is not a folder"


def test_run_beside_a_running_manager_is_an_error_line(base: Base, manager: ManagerProcess) -> None:
    """`run` where a manager already runs: the same one `error:` line as `start`, exit 1."""
    assert manager.proc is not None
    expected = f"error: a job manager is already running on {base.path} (PID {manager.proc.pid})"
    assert error_line(cli("run", base=base)) == expected
    assert error_line(cli("start", base=base)) == expected


def test_bare_air_executor_prints_its_help(base: Base) -> None:
    """No command at all: the help on stdout, exit 0, nothing on stderr."""
    result = cli(base=base)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("Usage: air-executor [OPTIONS] COMMAND [ARGS]...")
    assert "add-task" in result.stdout and "submit" in result.stdout
