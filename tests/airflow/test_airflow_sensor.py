"""AirExecutorSensor in real DAG runs, in each mode: poke, reschedule, deferrable; timeouts; failures."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from airflow_kit import airflow_db, dagbag, open_gate_when_waiting, run_dag
from conftest import Base, ManagerProcess, gated_task, wait_for

# The fixtures of tests/airflow/airflow_kit.py, which pytest finds by these names.
FIXTURES = (airflow_db, dagbag, run_dag)
# dag.test() swallows pytest-timeout's signal: a run that hangs ends the session instead (loudly).
pytestmark = pytest.mark.timeout(180, method="thread")

SLOW = [
    {"id": "start", "command": "echo", "args": ["start"]},
    {"id": "slow", "command": "sleep", "args": ["2"], "dependencies": ["start"]},
]
FAILING = [{"id": "boom", "command": "sh", "args": ["-c", "echo broken >&2; exit 5"]}]


def progress(out: str, job: str) -> list[str]:
    """The `📊 Job <job> state: <state>` lines of the captured task logs, in order."""
    return re.findall(rf"📊 Job {job} state: \w+", out)


@pytest.mark.parametrize("dag_id", ["ae_test_sensor_poke", "ae_test_sensor_reschedule", "ae_test_sensor_deferrable"])
def test_each_mode_waits_for_the_job_and_pushes_results(
    dag_id: str, run_dag: Any, base: Base, manager: ManagerProcess, capfd: pytest.CaptureFixture[str]
) -> None:
    """The sensor succeeds once the job completed, having logged its progress; XCom holds the results."""
    job = dag_id.replace("_", "-")
    gate = base.path / "gate"
    base.submit(job, [gated_task("start", gate), {"id": "then", "command": "true", "dependencies": ["start"]}])
    wait_for(lambda: base.state(job)["state"] == "working", what="the job to start")  # held there by the gate
    opener = open_gate_when_waiting(gate, dag_id, "wait_for_job")
    result = run_dag(dag_id, job_name=job)
    opener.join()
    assert result.state == "success"
    results = result.xcom("wait_for_job")
    assert results["job_name"] == job and results["state"] == "completed"
    assert results["summary"]["completed"] == 2
    out = capfd.readouterr().out
    lines = progress(out, job)
    assert lines[-1] == f"📊 Job {job} state: completed", lines
    assert lines[0] == f"📊 Job {job} state: working", lines
    assert "Tasks: 2/2 completed" in out
    if dag_id.endswith("reschedule"):
        assert result.reschedules("wait_for_job") >= 1, "the sensor never gave its worker slot back"
    if dag_id.endswith("deferrable"):
        assert any(
            "AirExecutorJobTrigger" in line and f"Job {job} state: completed" in line for line in out.splitlines()
        ), "the trigger did not wait for the job"


def test_deferrable_sensor_checks_once_before_deferring(
    run_dag: Any, base: Base, manager: ManagerProcess, capfd: pytest.CaptureFixture[str]
) -> None:
    """A job that is already done ends the deferrable sensor at its first check: no trigger runs."""
    base.submit("done-early", [{"id": "quick", "command": "true"}])
    base.wait_state("done-early")
    result = run_dag("ae_test_sensor_deferrable", job_name="done-early")
    assert result.state == "success"
    assert result.xcom("wait_for_job")["state"] == "completed"
    assert "AirExecutorJobTrigger" not in capfd.readouterr().out


@pytest.mark.parametrize(
    "dag_id", ["ae_test_sensor_poke_timeout", "ae_test_sensor_reschedule_timeout", "ae_test_sensor_deferrable_timeout"]
)
def test_each_mode_times_out_while_no_manager_runs(
    dag_id: str, run_dag: Any, base: Base, capfd: pytest.CaptureFixture[str]
) -> None:
    """No manager: the job waits on disk, the sensor times out (no retry, as sensors do), the job stays."""
    job = dag_id.replace("_", "-")
    base.submit(job, SLOW)
    result = run_dag(dag_id, job_name=job)
    assert result.state == "failed"
    ti = result.ti("wait_for_job")
    assert ti.state == "failed" and ti.try_number == 1
    out = capfd.readouterr().out
    assert "AirflowSensorTimeout" in out
    assert "⏳ Waiting for job to be picked up..." in out
    assert base.state(job)["state"] == "waiting"


def test_failed_job_fails_the_sensor_unless_told_otherwise(
    run_dag: Any, base: Base, manager: ManagerProcess, capfd: pytest.CaptureFixture[str]
) -> None:
    """By default a failed job fails the sensor at once, saying why; `fail_on_job_failure=False` succeeds
    and leaves the verdict (the results in XCom) to a later task."""
    base.submit("sensor-fails", FAILING)
    strict = run_dag("ae_test_sensor_poke", job_name="sensor-fails")
    assert strict.state == "failed" and strict.ti("wait_for_job").try_number == 1
    out = capfd.readouterr().out
    assert "AirflowFailException: Air-Executor job sensor-fails failed: task 'boom' failed" in out
    assert "exited with code 5: broken" in out
    lenient = run_dag("ae_test_sensor_lenient", job_name="sensor-fails")
    assert lenient.state == "success"
    results = lenient.xcom("wait_for_job")
    assert results["state"] == "failed" and results["tasks"][0]["exit_code"] == 5


def test_waits_for_a_job_that_does_not_exist_yet(run_dag: Any, base: Base, manager: ManagerProcess) -> None:
    """A job written after the sensor started (another DAG, a script) is waited for, not an error."""
    later = threading.Timer(1.5, base.submit, ("written-later", [{"id": "x", "command": "true"}]))
    later.start()
    try:
        result = run_dag("ae_test_sensor_poke", job_name="written-later")
    finally:
        later.join()
    assert result.state == "success"
    assert result.xcom("wait_for_job")["state"] == "completed"
