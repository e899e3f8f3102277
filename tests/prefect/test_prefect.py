"""The Prefect tasks against a real Prefect 3 (a temporary local API, prefect_test_harness) and a real
manager: the example flow's success, a failing job, the async variant, and a flow run cancelled
from Prefect's API while its job runs (README "Prefect").

Prefect's pins clash with Airflow's, so Prefect lives in its own venv (.venv-prefect, made by
deploy/dev/ensure-prefect.sh, which `make test` runs): each test runs tests/prefect/driver.py there.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, Base, ManagerProcess

pytestmark = pytest.mark.slow
DRIVER = Path(__file__).with_name("driver.py")


@pytest.fixture(scope="session")
def prefect_python() -> str:
    venv = subprocess.run(
        [str(REPO / "deploy" / "dev" / "ensure-prefect.sh")], capture_output=True, text=True, timeout=600
    )
    assert venv.returncode == 0, venv.stderr
    return str(Path(venv.stdout.strip()) / "bin" / "python")


def drive(prefect_python: str, base: Base, scenario: str, job: str, tmp_path: Path) -> dict[str, Any]:
    env = {
        **os.environ,
        "AIR_EXECUTOR_BASE_PATH": str(base.path),
        "PREFECT_HOME": str(tmp_path / "prefect"),  # its own settings and database, nothing shared
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",  # no traffic but to loopback
        "DO_NOT_TRACK": "1",
    }
    out = subprocess.run(
        [prefect_python, str(DRIVER), scenario, job], capture_output=True, text=True, env=env, timeout=300
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    assert out.returncode == 0 and lines, out.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT ") :])


def test_the_example_flow_runs_the_demo_job_and_reports(
    prefect_python: str, base: Base, manager: ManagerProcess, tmp_path: Path
) -> None:
    run = drive(prefect_python, base, "demo", "pf-demo", tmp_path)
    assert run["state"] == "COMPLETED", run
    assert run["result"]["state"] == "completed" and run["result"]["summary"]["completed"] == 3
    assert [t["id"] for t in run["result"]["tasks"]] == ["greet", "process", "complete"]
    logs = run["logs"]
    assert "Submitted Air-Executor job pf-demo (3 tasks) to " + str(base.path / "jobs") in logs
    assert "Job pf-demo state: completed; Tasks: 3/3 completed" in logs
    assert "  task process completed (exit code 0)" in logs
    assert "Job pf-demo completed: 3 task(s) completed" in logs  # the flow's own print
    artifact = run["artifacts"]["air-executor-pf-demo"]
    assert artifact.startswith("# Air-Executor job `pf-demo`: completed") and "✅ greet: completed" in artifact
    assert base.state("pf-demo")["state"] == "completed"


def test_a_failed_job_fails_the_prefect_task_with_its_reasons(
    prefect_python: str, base: Base, manager: ManagerProcess, tmp_path: Path
) -> None:
    run = drive(prefect_python, base, "failure", "pf-fails", tmp_path)
    assert run["state"] == "FAILED"
    assert (
        "AirExecutorJobFailed: Air-Executor job pf-fails failed: task 'boom' failed: sh exited with code 3"
        in (run["message"])
    )
    assert "  task boom failed (exit code 3): sh exited with code 3: broken" in run["logs"]
    assert "Final State: failed" in run["artifacts"]["air-executor-pf-fails"]


def test_the_async_task_carries_job_options(
    prefect_python: str, base: Base, manager: ManagerProcess, tmp_path: Path
) -> None:
    run = drive(prefect_python, base, "async", "pf-async", tmp_path)
    assert run["state"] == "COMPLETED" and run["result"]["state"] == "completed", run
    assert base.state("pf-async")["priority"] == 3
    assert "air-executor-pf-async" in run["artifacts"]


def test_cancelling_the_prefect_run_cancels_the_job(
    prefect_python: str, base: Base, manager: ManagerProcess, tmp_path: Path
) -> None:
    """Served by a Prefect runner, cancelled through Prefect's API while its job's first task runs."""
    run = drive(prefect_python, base, "cancel", "pf-cancel", tmp_path)
    assert run["state"] == "CANCELLED", run
    assert any(
        line.startswith("Prefect run stopped (TerminationSignal): cancelled Air-Executor job pf-cancel")
        for line in run["logs"]
    )
    state = base.wait_state("pf-cancel")
    assert state["state"] == "cancelled"
    tasks = {t["id"]: t for t in base.tasks("pf-cancel")}
    assert tasks["long"]["status"] == "cancelled" and tasks["after"]["status"] == "cancelled"
