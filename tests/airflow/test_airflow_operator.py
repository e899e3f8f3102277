"""AirExecutorOperator in real DAG runs: submit, wait (deferred or in the worker), fail, XCom."""

from __future__ import annotations

import time
from typing import Any

import pytest
from air_executor.core.clock import now_iso
from airflow_kit import airflow_db, dagbag, run_dag
from conftest import Base, ManagerProcess

# The fixtures of tests/airflow/airflow_kit.py, which pytest finds by these names.
FIXTURES = (airflow_db, dagbag, run_dag)
# dag.test() swallows pytest-timeout's signal: a run that hangs ends the session instead (loudly).
pytestmark = pytest.mark.timeout(180, method="thread")

SEQUENCE = [
    {"id": "first", "command": "echo", "args": ["one"]},
    {"id": "second", "command": "sh", "args": ["-c", "sleep 0.5; echo two"], "dependencies": ["first"]},
]
FAILING = [
    {"id": "ok", "command": "true"},
    {"id": "boom", "command": "sh", "args": ["-c", "echo broken >&2; exit 3"], "dependencies": ["ok"]},
    {"id": "never", "command": "true", "dependencies": ["boom"]},
]


def test_deferrable_by_default_waits_in_the_trigger_and_pushes_results(
    run_dag: Any, base: Base, manager: ManagerProcess, capfd: pytest.CaptureFixture[str]
) -> None:
    """The default operator defers to the trigger, resumes, and returns the job's results."""
    result = run_dag("ae_test_operator_deferrable", job_name="op-deferred", tasks=SEQUENCE)
    assert result.state == "success"
    trigger_lines = [line for line in capfd.readouterr().out.splitlines() if "AirExecutorJobTrigger" in line]
    assert any("Job op-deferred state: completed" in line for line in trigger_lines), trigger_lines
    assert any("Tasks: 2/2 completed" in line for line in trigger_lines), trigger_lines
    assert result.xcom("run_job", "job_name") == "op-deferred"
    results = result.xcom("run_job")
    assert results["job_name"] == "op-deferred" and results["state"] == "completed"
    assert results["summary"]["completed"] == 2 and results["summary"]["total_tasks"] == 2
    assert [(t["id"], t["status"], t["exit_code"]) for t in results["tasks"]] == [
        ("first", "completed", 0),
        ("second", "completed", 0),
    ]
    assert base.state("op-deferred")["state"] == "completed"
    assert base.log("op-deferred", "second") == "two\n"


def test_waiting_in_the_worker(
    run_dag: Any, base: Base, manager: ManagerProcess, capfd: pytest.CaptureFixture[str]
) -> None:
    """`deferrable=False` polls in the worker, logging progress, and returns the same results."""
    result = run_dag("ae_test_operator_in_worker", job_name="op-worker", tasks=SEQUENCE)
    assert result.state == "success"
    out = capfd.readouterr().out
    assert "AirExecutorJobTrigger" not in out and "Job op-worker state: completed" in out
    assert result.xcom("run_job")["state"] == "completed"


def test_failed_job_fails_the_task_without_retries(
    run_dag: Any, base: Base, manager: ManagerProcess, capfd: pytest.CaptureFixture[str]
) -> None:
    """A failed job fails the Airflow task at once (retries would only find the same failed job),
    saying which task failed and why."""
    result = run_dag("ae_test_operator_deferrable", job_name="op-fails", tasks=FAILING)
    assert result.state == "failed"
    out = capfd.readouterr().out
    assert "AirflowFailException: Air-Executor job op-fails failed: task 'boom' failed:" in out, out[-3000:]
    assert "exited with code 3: broken" in out
    ti = result.ti("run_job")
    assert ti.state == "failed" and ti.try_number == 1, (ti.state, ti.try_number)
    state = base.state("op-fails")
    assert state["state"] == "failed"
    assert base.task("op-fails", "boom")["exit_code"] == 3
    assert base.task("op-fails", "never")["status"] == "skipped"


def test_submit_only_returns_the_job_name_and_leaves_the_job_waiting(run_dag: Any, base: Base) -> None:
    """Without waiting the operator writes the job (no manager runs) and returns its name, like the seeds."""
    result = run_dag("ae_test_operator_submit_only", job_name="op-queued", tasks=SEQUENCE)
    assert result.state == "success"
    assert result.xcom("run_job") == "op-queued"
    assert base.state("op-queued")["state"] == "waiting"
    assert [t["status"] for t in base.tasks("op-queued")] == ["pending", "pending"]


def test_job_options_carry_priority_and_not_before(run_dag: Any, base: Base) -> None:
    """Scheduling fields reach state.json through job_options (README "Scheduling")."""
    later = now_iso(time.time() + 3600)
    result = run_dag("ae_test_operator_scheduled", job_name="op-later", tasks=SEQUENCE, not_before=later)
    assert result.state == "success"
    state = base.state("op-later")
    assert (state["priority"], state["not_before"], state["state"]) == (7, later, "waiting")


def test_wait_timeout_fails_the_task_after_its_retries(run_dag: Any, base: Base) -> None:
    """With no manager the job never starts: the trigger's deadline passes and the task fails;
    the retry (a timeout may be temporary) waits on the same job again."""
    result = run_dag("ae_test_operator_wait_timeout", job_name="op-late", tasks=SEQUENCE)
    assert result.state == "failed"
    assert result.ti("run_job").try_number == 2
    assert base.state("op-late")["state"] == "waiting"


def test_reuses_the_job_of_an_earlier_try(run_dag: Any, base: Base, manager: ManagerProcess) -> None:
    """A job that already exists (a retried or cleared task) is waited on, not created twice."""
    base.submit("op-again", [{"id": "only", "command": "echo", "args": ["first try"]}])
    result = run_dag("ae_test_operator_deferrable", job_name="op-again", tasks=SEQUENCE)
    assert result.state == "success"
    assert [t["id"] for t in result.xcom("run_job")["tasks"]] == ["only"]


def test_if_exists_fail_and_invalid_input_fail_without_retries(run_dag: Any, base: Base) -> None:
    """`if_exists="fail"` refuses an existing job; a bad name or task list fails at once with its reason."""
    base.submit("op-taken", [{"id": "only", "command": "true"}])
    taken = run_dag("ae_test_operator_if_exists_fail", job_name="op-taken", tasks=SEQUENCE)
    assert taken.state == "failed" and taken.ti("run_job").try_number == 1
    bad_name = run_dag("ae_test_operator_deferrable", job_name="../escape", tasks=SEQUENCE)
    assert bad_name.state == "failed" and bad_name.ti("run_job").try_number == 1
    bad_tasks = run_dag(
        "ae_test_operator_deferrable",
        job_name="op-cycle",
        tasks=[
            {"id": "a", "command": "true", "dependencies": ["b"]},
            {"id": "b", "command": "true", "dependencies": ["a"]},
        ],
    )
    assert bad_tasks.state == "failed" and bad_tasks.ti("run_job").try_number == 1
    assert not (base.path / "jobs" / "op-cycle").exists()
    assert sorted(p.name for p in (base.path / "jobs").iterdir()) == ["op-taken"]
