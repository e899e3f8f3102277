"""The job files the seeds' client writes, and those 0.1 wrote, load into the models and survive rewrites."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from air_executor.core.job import Job, JobState
from air_executor.core.task import Task, TaskStatus
from conftest import DATA, Base, ManagerProcess, read_json

SEED_STATE = DATA / "seed_state.json"
SEED_TASKS = DATA / "seed_tasks.json"
STATE_EXTRA = DATA / "seed_state_unknown_fields.json"
TASKS_EXTRA = DATA / "seed_tasks_unknown_fields.json"
OLD_JOBS = DATA / "written_by_0_1"

# seeds/python-usage.md, "Basic Usage", verbatim: the class and its usage lines.
SEED_CLIENT = (DATA / "seed_examples" / "usage_basic_client.py.txt").read_text()

STAMP = re.compile(r'"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z"')
JOB_ID = re.compile(r'"my-job-\d+"')


def _normalised(text: str) -> str:
    return JOB_ID.sub('"ID"', STAMP.sub('"T"', text))


def _install(base: Base, state_file: Path, tasks_file: Path) -> str:
    name = read_json(state_file)["name"]
    job_dir = base.job_dir(name)
    (job_dir / "logs").mkdir(parents=True)
    shutil.copy(state_file, job_dir / "state.json")
    shutil.copy(tasks_file, job_dir / "tasks.json")
    return name


def _contains(new: Any, old: Any) -> bool:
    """Every key of `old` (recursively for objects) is in `new` with the same value."""
    if isinstance(old, dict):
        return isinstance(new, dict) and all(k in new and _contains(new[k], v) for k, v in old.items())
    return bool(new == old)


def test_golden_files_are_what_the_seed_client_writes(tmp_path: Path) -> None:
    """The golden files match, byte for byte up to timestamps and id, the files the seeds' client writes."""
    subprocess.run([sys.executable, "-c", SEED_CLIENT], cwd=tmp_path, check=True, timeout=60)
    job_dir = tmp_path / ".air-executor" / "jobs" / "my-job"
    assert _normalised((job_dir / "state.json").read_text()) == _normalised(SEED_STATE.read_text())
    assert _normalised((job_dir / "tasks.json").read_text()) == _normalised(SEED_TASKS.read_text())


def test_seed_documents_load_into_the_models() -> None:
    """The seeds' state.json and tasks.json validate as Job and Task with the seed's values."""
    job = Job.model_validate(read_json(SEED_STATE))
    assert (job.id, job.name, job.state) == ("my-job-1759401015", "my-job", JobState.WAITING)
    assert job.created_at == "2025-10-02T10:30:15.123456Z"
    tasks = [Task.model_validate(doc) for doc in read_json(SEED_TASKS)]
    assert [(t.id, t.command, t.args, t.status) for t in tasks] == [
        ("task-1", "echo", ["Hello"], TaskStatus.PENDING),
        ("task-2", "sleep", ["2"], TaskStatus.PENDING),
    ]
    assert tasks[1].created_at == "2025-10-02T10:30:16Z"  # isoformat() drops zero microseconds
    assert all(t.started_at is None and t.completed_at is None and t.error is None for t in tasks)


@pytest.mark.parametrize("path", [SEED_STATE, STATE_EXTRA], ids=["seed", "unknown-fields"])
def test_job_to_dict_gives_back_the_same_document(path: Path) -> None:
    """Job.to_dict() returns every seed field and every unknown field (null ones too) unchanged."""
    doc = read_json(path)
    assert Job.model_validate(doc).to_dict() == doc


@pytest.mark.parametrize("path", [SEED_TASKS, TASKS_EXTRA], ids=["seed", "unknown-fields"])
def test_task_to_dict_gives_back_the_same_document(path: Path) -> None:
    """Task.to_dict() returns every seed field (nulls included) and every unknown field unchanged."""
    for doc in read_json(path):
        assert Task.model_validate(doc).to_dict() == doc


def test_model_change_keeps_unknown_fields() -> None:
    """Changing a task through the model and writing it with to_dict keeps the unknown fields."""
    doc = read_json(TASKS_EXTRA)[0]
    task = Task.model_validate(doc)
    task.status = TaskStatus.RUNNING
    task.started_at = "2025-10-02T10:31:00.000001Z"
    out = task.to_dict()
    assert out["status"] == "running" and out["started_at"] == "2025-10-02T10:31:00.000001Z"
    assert {k: out[k] for k in ("priority", "owner", "tags", "x_trace_id", "sla_seconds", "notify")} == {
        k: doc[k] for k in ("priority", "owner", "tags", "x_trace_id", "sla_seconds", "notify")
    }


def test_transaction_read_modify_write_keeps_every_field(base: Base) -> None:
    """A locked read-modify-write through FileStore.transaction keeps all seed and unknown fields."""
    name = _install(base, STATE_EXTRA, TASKS_EXTRA)
    before_state, before_tasks = read_json(STATE_EXTRA), read_json(TASKS_EXTRA)
    with base.store.transaction(name) as files:
        assert files.state is not None and files.tasks is not None
        files.state["state"] = "working"
        files.tasks[0]["status"] = "running"
    state, tasks = base.state(name), base.tasks(name)
    assert state == {**before_state, "state": "working"}
    assert tasks == [{**before_tasks[0], "status": "running"}, before_tasks[1]]


def test_write_job_state_keeps_unknown_fields_on_disk(base: Base) -> None:
    """FileStore.write_job_state of a model read from disk keeps the fields the model did not know."""
    name = _install(base, STATE_EXTRA, TASKS_EXTRA)
    job = base.store.read_job_state(name)
    job.state = JobState.WORKING
    base.store.write_job_state(job)
    assert base.state(name) == {**read_json(STATE_EXTRA), "state": "working"}


@pytest.mark.parametrize("job", ["data-processing", "nightly-report"])
def test_files_written_by_0_1_still_load(job: str) -> None:
    """Job files written by version 0.1 (history, results, retries, skipped) load and round-trip."""
    state = read_json(OLD_JOBS / job / "state.json")
    tasks = read_json(OLD_JOBS / job / "tasks.json")
    assert Job.model_validate(state).to_dict() == state
    for doc in tasks:
        assert Task.model_validate(doc).to_dict() == doc


def test_manager_runs_a_seed_job_and_keeps_unknown_fields(base: Base, manager: ManagerProcess) -> None:
    """A job written with unknown fields completes under a real manager, every unknown field intact."""
    name = _install(base, STATE_EXTRA, TASKS_EXTRA)
    assert base.wait_state(name)["state"] == "completed", manager.log()
    kept = {k: v for k, v in read_json(STATE_EXTRA).items() if k not in ("state", "updated_at")}
    assert _contains(base.state(name), kept)
    for old, new in zip(read_json(TASKS_EXTRA), base.tasks(name), strict=True):
        unknown = {k: v for k, v in old.items() if k not in Task.model_fields}
        assert unknown and _contains(new, unknown), new
        assert new["status"] == "completed" and new["started_at"] and new["completed_at"]
    assert json.loads(json.dumps(base.tasks(name)))  # still plain JSON
