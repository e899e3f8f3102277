"""Job names outside [A-Za-z0-9_-]{1,100} are refused by every library entry point, touching nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from air_executor import client
from air_executor.core.job import Job
from air_executor.core.task import TaskQueue
from air_executor.errors import InvalidName
from air_executor.storage.file_store import FileStore
from conftest import Base, files_under

BAD_NAMES = ["a/b", "..", "../escape", ".", "x" * 300, "x" * 101, "", "with space", "tab\there", "ünï"]


def _bad_names(tmp_path: Path) -> list[str]:
    return [*BAD_NAMES, str(tmp_path / "outside")]


ENTRY_POINTS: dict[str, Callable[[FileStore, str], Any]] = {
    "FileStore.job_dir": lambda store, name: store.job_dir(name),
    "FileStore.create_job_dir": lambda store, name: store.create_job_dir(name),
    "FileStore.transaction": lambda store, name: store.transaction(name).__enter__(),
    "FileStore.write_job_state": lambda store, name: store.write_job_state({"name": name, "state": "waiting"}),
    "FileStore.read_state": lambda store, name: store.read_state(name),
    "FileStore.log_path": lambda store, name: store.log_path(name, "task-1"),
    "Job(name=...)": lambda store, name: Job(name=name),
    "client.create_job": lambda store, name: client.create_job(store, name, [{"command": "echo"}]),
    "client.submit_spec": lambda store, name: client.submit_spec(store, {"name": name, "tasks": []}),
    "client.add_tasks": lambda store, name: client.add_tasks(store, name, [{"command": "echo"}]),
    "client.reset_job": lambda store, name: client.reset_job(store, name),
    "client.cancel_job": lambda store, name: client.cancel_job(store, name),
    "Client.create_job": lambda store, name: client.Client(store.base_path).create_job(name, []),
    "TaskQueue.add": lambda store, name: TaskQueue(name, store.jobs_path / "x" / "tasks.json").add(
        {"id": "t", "command": "echo"}
    ),
}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_every_entry_point_refuses_bad_names_and_creates_nothing(base: Base, tmp_path: Path, entry: str) -> None:
    """Each library entry point raises a one-line InvalidName for every bad name; no file appears anywhere."""
    before = files_under(tmp_path)
    for name in _bad_names(tmp_path):
        with pytest.raises(InvalidName) as caught:
            ENTRY_POINTS[entry](base.store, name)
        message = str(caught.value)
        assert message.startswith("invalid job name") and "\n" not in message, (entry, name, message)
        assert "A-Z, a-z, 0-9" in message
    assert files_under(tmp_path) == before


def test_bad_task_ids_are_refused_as_file_names(base: Base, tmp_path: Path) -> None:
    """A task id that could escape the logs folder is refused before any path is built."""
    base.submit("fine", [{"command": "echo"}])
    before = files_under(tmp_path)
    for task_id in ("../../x", "a/b", "", "y" * 101, str(tmp_path / "outside")):
        with pytest.raises(InvalidName, match="invalid task id"):
            base.store.log_path("fine", task_id)
        with pytest.raises(Exception, match="invalid task id"):
            client.add_tasks(base.store, "fine", [{"id": task_id, "command": "echo"}])
    assert files_under(tmp_path) == before


@pytest.mark.parametrize("name", ["a", "x" * 100, "Job_2-final", "-", "0"])
def test_names_at_the_edges_of_the_rule_are_accepted(base: Base, name: str) -> None:
    """One character, 100 characters, and every allowed character class make valid jobs under jobs/."""
    client.create_job(base.store, name, [{"command": "echo"}])
    assert base.store.list_job_names() == [name]
    assert (base.path / "jobs" / name / "state.json").is_file()
