"""AirExecutorHook: where the base folder comes from, and jobs written and read through the library."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from air_executor.errors import InvalidJob, InvalidName, JobExists
from airflow_kit import AirExecutorHook
from conftest import Base, ManagerProcess

DEMO_TASKS = [
    {"id": "greet", "command": "echo", "args": ["Hello"]},
    {"id": "process", "command": "sleep", "args": ["0.2"], "dependencies": ["greet"]},
    {"id": "complete", "command": "echo", "args": ["done"], "dependencies": ["process"]},
]


def test_base_path_argument_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIR_EXECUTOR_BASE_PATH", "/from/env")
    monkeypatch.setenv("AIRFLOW_CONN_AE_PATH", json.dumps({"conn_type": "air_executor", "host": "/from/conn"}))
    assert AirExecutorHook(air_executor_conn_id="ae_path", base_path="/given").base_path == "/given"


def test_base_path_from_a_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection of type air_executor (here from AIRFLOW_CONN_*): extra base_path, else its host."""
    monkeypatch.setenv("AIR_EXECUTOR_BASE_PATH", "/from/env")
    monkeypatch.setenv(
        "AIRFLOW_CONN_AE_EXTRA",
        json.dumps({"conn_type": "air_executor", "host": "/ignored", "extra": {"base_path": "/data/.air-executor"}}),
    )
    monkeypatch.setenv("AIRFLOW_CONN_AE_HOST", json.dumps({"conn_type": "air_executor", "host": "/mnt/ae"}))
    monkeypatch.setenv("AIRFLOW_CONN_AE_EMPTY", json.dumps({"conn_type": "air_executor"}))
    assert AirExecutorHook(air_executor_conn_id="ae_extra").base_path == "/data/.air-executor"
    assert AirExecutorHook(air_executor_conn_id="ae_host").base_path == "/mnt/ae"
    with pytest.raises(ValueError, match="connection 'ae_empty' has no base path"):
        _ = AirExecutorHook(air_executor_conn_id="ae_empty").base_path


def test_base_path_from_the_environment_then_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIR_EXECUTOR_BASE_PATH", "/from/env")
    assert AirExecutorHook().base_path == "/from/env"
    monkeypatch.delenv("AIR_EXECUTOR_BASE_PATH")
    hook = AirExecutorHook()
    assert hook.base_path == ".air-executor"
    assert hook.store.base_path == Path(".air-executor").absolute()


def test_creates_a_job_the_manager_runs_and_reads_it_back(base: Base, manager: ManagerProcess) -> None:
    """The hook writes through the client API (locked, atomic, validated); the manager runs it."""
    hook = AirExecutorHook(base_path=str(base.path))
    state = hook.create_job("hooked", DEMO_TASKS, max_parallel=1)
    assert state["name"] == "hooked" and state["state"] == "waiting"
    assert set(state) >= {"id", "name", "state", "created_at", "updated_at"}
    assert (base.job_dir("hooked") / ".lock").exists()
    assert [t["status"] for t in base.tasks("hooked")] == ["pending"] * 3
    base.wait_state("hooked")
    assert hook.get_state("hooked")["state"] == "completed"
    assert [t["id"] for t in hook.get_tasks("hooked")] == ["greet", "process", "complete"]
    assert hook.summary("hooked") == {
        "job_name": "hooked",
        "state": "completed",
        "total_tasks": 3,
        "pending": 0,
        "running": 0,
        "completed": 3,
        "failed": 0,
        "skipped": 0,
        "cancelled": 0,
        "error": None,
    }
    results = hook.results("hooked")
    assert results["state"] == "completed" and results["error"] is None
    assert [(t["id"], t["status"], t["result"], t["exit_code"], t["attempts"]) for t in results["tasks"]] == [
        ("greet", "completed", "success", 0, 1),
        ("process", "completed", "success", 0, 1),
        ("complete", "completed", "success", 0, 1),
    ]
    json.dumps(results)  # XCom-ready
    report = hook.format_results("hooked")
    assert "🎉 Air-Executor Job Results" in report and "Final State: completed" in report
    assert "✅ greet: completed\n   Command: echo Hello" in report


def test_refuses_bad_jobs_with_the_library_errors(base: Base) -> None:
    hook = AirExecutorHook(base_path=str(base.path))
    with pytest.raises(InvalidName):
        hook.create_job("../../etc", DEMO_TASKS)
    with pytest.raises(InvalidJob, match="depends on unknown task 'nope'"):
        hook.create_job("dangling", [{"id": "a", "command": "true", "dependencies": ["nope"]}])
    hook.create_job("once", DEMO_TASKS)
    with pytest.raises(JobExists):
        hook.create_job("once", DEMO_TASKS)
    assert os.listdir(base.path / "jobs") == ["once"]


def test_reads_a_job_whose_tasks_are_not_written_yet(base: Base) -> None:
    """state.json without tasks.json (a naive writer mid-way) reads as a job with no tasks yet."""
    job_dir = base.job_dir("half")
    job_dir.mkdir(parents=True)
    (job_dir / "state.json").write_text(json.dumps({"id": "1", "name": "half", "state": "waiting"}))
    hook = AirExecutorHook(base_path=str(base.path))
    assert hook.read("half") == ({"id": "1", "name": "half", "state": "waiting"}, [])
    assert hook.summary("half")["total_tasks"] == 0


def test_cancel_job(base: Base) -> None:
    hook = AirExecutorHook(base_path=str(base.path))
    hook.create_job("to-cancel", DEMO_TASKS)
    hook.cancel_job("to-cancel")
    assert base.state("to-cancel")["state"] == "cancelled"
    assert {t["status"] for t in base.tasks("to-cancel")} == {"cancelled"}


def test_test_connection(base: Base, tmp_path: Path) -> None:
    ok, message = AirExecutorHook(base_path=str(base.path)).test_connection()
    assert not ok and "does not exist" in message
    (base.path / "jobs").mkdir()
    ok, message = AirExecutorHook(base_path=str(base.path)).test_connection()
    assert ok and message.endswith("is writable (0 jobs)")


def test_connection_form() -> None:
    behaviour = AirExecutorHook.get_ui_field_behaviour()
    assert behaviour["relabeling"] == {"host": "Base path"}
    assert "password" in behaviour["hidden_fields"]
    assert AirExecutorHook.conn_type == "air_executor" and AirExecutorHook.default_conn_name == "air_executor_default"
