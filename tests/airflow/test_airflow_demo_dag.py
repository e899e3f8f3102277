"""The seeds' `air_executor_demo` DAG (deploy/airflow/dags): its shape, and whole runs against a manager."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import pytest
from air_executor.storage.names import sanitise
from airflow_kit import DAGS, AirExecutorOperator, AirExecutorSensor, airflow_db, dagbag, run_dag
from conftest import Base, ManagerProcess, parse_time

# The fixtures of tests/airflow/airflow_kit.py, which pytest finds by these names.
FIXTURES = (airflow_db, dagbag, run_dag)
# dag.test() swallows pytest-timeout's signal: a run that hangs ends the session instead (loudly).
pytestmark = pytest.mark.timeout(180, method="thread")
TASK_IDS = ["create_air_executor_job", "wait_for_air_executor_completion", "get_air_executor_results"]


def test_the_dag_is_the_seeds_one(dagbag: Any) -> None:
    dag = dagbag.get_dag("air_executor_demo")
    assert dag.description == "Demo: Airflow orchestrating Air-Executor jobs"
    assert set(dag.tags) == {"air-executor", "demo", "integration"}
    assert dag.schedule is None and dag.timetable.can_be_scheduled is False  # manual runs only
    assert [t.task_id for t in dag.topological_sort()] == TASK_IDS
    create, wait, results = (dag.get_task(t) for t in TASK_IDS)
    assert create.downstream_task_ids == {wait.task_id} and wait.downstream_task_ids == {results.task_id}
    assert isinstance(create, AirExecutorOperator) and create.wait_for_completion is False
    assert create.job_name == "{{ ('airflow-' ~ run_id) | sanitise }}"
    assert [(t["id"], t["command"], t["args"], t.get("dependencies", [])) for t in create.tasks] == [
        ("greet", "echo", ["Hello from Airflow DAG run: {{ run_id }}"], []),
        ("process", "sleep", ["3"], ["greet"]),
        ("complete", "echo", ["Air-Executor job completed successfully!"], ["process"]),
    ]
    assert isinstance(wait, AirExecutorSensor)
    assert (wait.mode, wait.poke_interval, wait.timeout) == ("poke", 2, 300)


def test_the_sensor_settings_come_from_airflow_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """`air_executor_demo_timeout` / `_poke_interval`, here as AIRFLOW_VAR_* environment variables."""
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("AIRFLOW_VAR_AIR_EXECUTOR_DEMO_TIMEOUT", "42")
    monkeypatch.setenv("AIRFLOW_VAR_AIR_EXECUTOR_DEMO_POKE_INTERVAL", "0.5")
    wait = DagBag(dag_folder=str(DAGS / "air_executor_demo.py")).get_dag("air_executor_demo").get_task(TASK_IDS[1])
    assert (wait.timeout, wait.poke_interval) == (42, 0.5)


def test_a_run_creates_the_job_waits_and_prints_the_report(
    run_dag: Any, base: Base, manager: ManagerProcess, capfd: pytest.CaptureFixture[str]
) -> None:
    result = run_dag("air_executor_demo")
    assert result.state == "success", capfd.readouterr().out[-5000:]
    run_id = result.run.run_id
    job = f"airflow-{sanitise(run_id)}"
    assert result.xcom("create_air_executor_job") == job
    tasks = base.tasks(job)
    assert [t["id"] for t in tasks] == ["greet", "process", "complete"]
    assert all(t["status"] == "completed" for t in tasks)
    for before, after in pairwise(tasks):
        assert parse_time(before["completed_at"]) <= parse_time(after["started_at"])
    assert base.log(job, "greet") == f"Hello from Airflow DAG run: {run_id}\n"
    out = capfd.readouterr().out
    assert f"📊 Job {job} state: completed" in out and "Tasks: 3/3 completed" in out
    for line in (
        "🎉 Air-Executor Job Results",
        f"Job Name: {job}",
        "Final State: completed",
        "✅ greet: completed",
        f"   Command: echo Hello from Airflow DAG run: {run_id}",
        "✅ process: completed",
        "   Command: sleep 3",
        "✅ complete: completed",
        "   Command: echo Air-Executor job completed successfully!",
    ):
        assert line in out, line
    assert result.xcom("get_air_executor_results")["state"] == "completed"


def test_a_failed_job_fails_the_results_task_after_printing_the_report(
    run_dag: Any, base: Base, manager: ManagerProcess, capfd: pytest.CaptureFixture[str]
) -> None:
    """The job of this run (created beforehand, as a retried run would find it) fails: the sensor
    succeeds on the finished job, the results task prints the report and fails, so the run fails."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.types import DagRunType

    when = datetime(2025, 10, 2, 7, 30, tzinfo=UTC)
    run_id = DagRun.generate_run_id(run_type=DagRunType.MANUAL, logical_date=when, run_after=when)
    job = f"airflow-{sanitise(run_id)}"
    base.submit(
        job,
        [
            {"id": "greet", "command": "echo", "args": ["hello"]},
            {"id": "process", "command": "sh", "args": ["-c", "echo no input >&2; exit 2"], "dependencies": ["greet"]},
            {"id": "complete", "command": "echo", "args": ["never"], "dependencies": ["process"]},
        ],
    )
    result = run_dag("air_executor_demo", logical_date=when)
    assert result.run.run_id == run_id
    assert result.state == "failed"
    assert [result.task_state(t) for t in TASK_IDS] == ["success", "success", "failed"]
    out = capfd.readouterr().out
    for line in ("Final State: failed", "❌ process: failed", "⏭️ complete: skipped", "exited with code 2: no input"):
        assert line in out, line
    assert f"AirflowFailException: Air-Executor job {job} failed" in out
