"""Every CLI command that takes a job name refuses bad ones in one line, exit 1, creating nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from air_executor.cli.app import main
from conftest import Base, cli, error_line, files_under

BAD_NAMES = ["a/b", "..", "../escape", "x" * 300, "", "with space"]


def _commands(name: str, tmp_path: Path) -> dict[str, list[str]]:
    """Each command with `name` as its job; the job files are written here, before any snapshot."""
    bad_file = _job_file(tmp_path, name, "bad.yaml")
    good_file = _job_file(tmp_path, "good-name", "good.yaml")
    return {
        "submit": ["submit", str(bad_file)],
        "submit --name": ["submit", "--name", name, str(good_file)],
        "status": ["status", "--job", name],
        "logs": ["logs", "--job", name],
        "results": ["results", "--job", name],
        "reset": ["reset", "--job", name],
        "cancel": ["cancel", "--job", name],
        "add-task": ["add-task", "--job", name, "echo", "hi"],
    }


def _job_file(tmp_path: Path, name: str, file_name: str) -> Path:
    path = tmp_path / file_name
    path.write_text(yaml.safe_dump({"name": name, "tasks": [{"id": "a", "command": "echo"}]}))
    return path


@pytest.mark.parametrize("name", [*BAD_NAMES, "@absolute"], ids=[*BAD_NAMES[:3], "300-chars", "empty", "space", "abs"])
def test_every_command_refuses_the_name(
    base: Base, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """The CLI's entry function gives exit 1 and one 'error: invalid job name' line for each command."""
    if name == "@absolute":
        name = str(tmp_path / "outside")
    commands = _commands(name, tmp_path)
    before = files_under(tmp_path)
    for label, argv in commands.items():
        code = main([*argv[:1], "--base-path", str(base.path), *argv[1:]])
        out, err = capsys.readouterr()
        lines = err.splitlines()
        assert code == 1, (label, out, err)
        assert len(lines) == 1 and lines[0].startswith("error: invalid job name"), (label, err)
    assert files_under(tmp_path) == before


def test_the_console_script_refuses_a_name_escaping_the_base(base: Base, tmp_path: Path) -> None:
    """Through the real `air-executor` script each command refuses '../escape' and nothing appears."""
    commands = _commands("../escape", tmp_path)
    before = files_under(tmp_path)
    for label, argv in commands.items():
        line = error_line(cli(*argv, base=base))
        assert line.startswith("error: invalid job name '../escape'"), (label, line)
    assert files_under(tmp_path) == before
    assert not (base.path / "escape").exists() and not (base.path / "jobs").exists()
