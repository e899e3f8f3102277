"""The Python client (`air_executor.client.Client`): create, add, read, status, as the README shows."""

from __future__ import annotations

import pytest
from air_executor.client import Client
from air_executor.errors import InvalidJob, JobExists, JobNotFound
from conftest import Base, ManagerProcess


def test_client_creates_a_job_that_runs_and_reports_status(base: Base, manager: ManagerProcess) -> None:
    """Client.create_job returns the job's id; the job runs; status() gives the seed helper's counts."""
    client = Client(base.path)
    job_id = client.create_job(
        "etl",
        [
            {"id": "extract", "command": "echo", "args": ["extract"]},
            {"id": "load", "command": "echo", "args": ["load"], "dependencies": ["extract"]},
        ],
    )
    assert job_id == base.state("etl")["id"]
    assert base.wait_state("etl")["state"] == "completed", manager.log()
    status = client.status("etl")
    assert {k: status[k] for k in ("job_name", "state", "total_tasks", "completed", "failed", "pending")} == {
        "job_name": "etl",
        "state": "completed",
        "total_tasks": 2,
        "completed": 2,
        "failed": 0,
        "pending": 0,
    }
    assert [t["id"] for t in client.tasks("etl")] == ["extract", "load"]


def test_client_add_task_to_a_waiting_job(base: Base) -> None:
    """Client.add_task appends a pending task with a generated id and its arguments as strings."""
    client = Client(base.path)
    client.create_job("grow", [{"id": "first", "command": "echo"}])
    new_id = client.add_task("grow", "echo", ["a", "b"], dependencies=["first"])
    assert new_id == "task-2"
    added = base.task("grow", new_id)
    assert (added["status"], added["args"], added["dependencies"], added["job_name"]) == (
        "pending",
        ["a", "b"],
        ["first"],
        "grow",
    )


def test_client_errors_are_single_lines(base: Base) -> None:
    """Creating twice, reading a missing job, or a bad task option: one clear line each."""
    client = Client(base.path)
    client.create_job("once", [{"command": "echo"}])
    errors = []
    for action in (
        lambda: client.create_job("once", [{"command": "echo"}]),
        lambda: client.status("missing"),
        lambda: client.create_job("bad-timeout", [{"command": "echo", "timeout": 0}]),
    ):
        with pytest.raises((JobExists, JobNotFound, InvalidJob)) as caught:
            action()
        errors.append(str(caught.value))
    assert all("\n" not in e for e in errors), errors
    assert "already exists" in errors[0] and "not found" in errors[1] and "timeout" in errors[2]
    assert base.store.list_job_names() == ["once"]
