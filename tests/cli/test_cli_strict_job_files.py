"""Job files and the Python client are strict: arguments and env values are strings, limits hold, typos are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from air_executor.client import Client
from air_executor.errors import InvalidJob
from conftest import Base, ManagerProcess, cli, error_line

# YAML reads these unquoted values as booleans, octal and hex numbers, and null.
NOT_STRINGS = [
    ("args: [on]", "args.0: must be a string, got True"),
    ("args: [ok, 010]", "args.1: must be a string, got 8"),
    ("args: [0x1F]", "args.0: must be a string, got 31"),
    ("args: [null]", "args.0: must be a string, got None"),
    ("args: [true]", "args.0: must be a string, got True"),
    ("args: [1.5]", "args.0: must be a string, got 1.5"),
    ("env: {DEBUG: yes}", "env.DEBUG: must be a string, got True"),
    ("env: {PORT: 8080}", "env.PORT: must be a string, got 8080"),
]


@pytest.mark.parametrize(("field", "expected"), NOT_STRINGS, ids=[f for f, _ in NOT_STRINGS])
def test_non_string_arguments_and_env_values_are_refused(base: Base, tmp_path: Path, field: str, expected: str) -> None:
    """Each is refused in one line naming the task and the field, with what YAML made of it; no job is made."""
    job = tmp_path / "job.yaml"
    job.write_text(f"name: loose\ntasks:\n  - id: a\n    command: echo\n    {field}\n")
    line = error_line(cli("submit", str(job), base=base))
    assert line == f"error: job 'loose': task #1 (a) is invalid: {expected} (in a YAML file, put it in quotes)"
    assert not base.job_dir("loose").exists()


def test_quoted_values_run_as_written(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """The same values in quotes reach the command unchanged."""
    job = tmp_path / "job.yaml"
    job.write_text('name: quoted\ntasks:\n  - {id: a, command: echo, args: ["on", "010", "0x1F", "null", "true"]}\n')
    assert cli("submit", str(job), base=base).returncode == 0
    assert base.wait_state("quoted")["state"] == "completed"
    assert base.log("quoted", "a") == "on 010 0x1F null true\n"


def test_more_tasks_than_max_tasks_is_refused_at_submit(base: Base, tmp_path: Path) -> None:
    """`max_tasks: 1` with two tasks is refused at once, not accepted and then stuck."""
    job = tmp_path / "job.yaml"
    job.write_text("name: capped\nmax_tasks: 1\ntasks:\n  - {command: echo}\n  - {command: echo}\n")
    line = error_line(cli("submit", str(job), base=base))
    assert line == "error: job 'capped' has 2 tasks, more than its max_tasks (1)"
    assert not base.job_dir("capped").exists()
    job.write_text("name: capped\nmax_tasks: 2\ntasks:\n  - {command: echo}\n  - {command: echo}\n")
    assert cli("submit", str(job), base=base).returncode == 0


def test_the_python_client_refuses_unknown_fields(base: Base) -> None:
    """Client.create_job and Client.add_task refuse `dependancies` and `max_paralel` as submit does."""
    client = Client(base.path)
    with pytest.raises(InvalidJob, match=r"task #2 \(b\): unknown field 'dependancies'"):
        client.create_job(
            "typo", [{"id": "a", "command": "echo"}, {"id": "b", "command": "echo", "dependancies": ["a"]}]
        )
    with pytest.raises(InvalidJob, match=r"job 'typo': unknown field 'max_paralel'"):
        client.create_job("typo", [{"id": "a", "command": "echo"}], max_paralel=2)
    assert not base.job_dir("typo").exists()
    client.create_job("typo", [{"id": "a", "command": "echo"}], max_parallel=2)
    with pytest.raises(InvalidJob, match=r"new task: unknown field 'dependancies'"):
        client.add_task("typo", "echo", ["b"], dependancies=["a"])
    with pytest.raises(InvalidJob, match=r"args.0: must be a string, got 1"):
        client.add_task("typo", "echo", [1])  # type: ignore[list-item]
    assert [t["id"] for t in base.tasks("typo")] == ["a"]
