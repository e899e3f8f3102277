"""Fixtures for the Airflow provider's tests: a real Airflow 3, run in this process by `dag.test()`.

Test modules import the fixtures they use from here. This folder has neither an
`__init__.py` (a package named `airflow` would shadow Apache Airflow itself) nor a
`conftest.py` (it would take the name `conftest` from tests/conftest.py).

Airflow gets a fresh home (SQLite metadata database, migrated once per session)
whose DAG folder holds the demo DAG (deploy/airflow/dags) and the test DAGs
(tests/airflow/dags). Jobs run under real managers (tests/conftest.py); nothing
of Airflow's or ours is mocked. `dag.test()` runs a deferred task's trigger
inline, from the serialised trigger, as the triggerer would.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO_DAGS = REPO / "deploy" / "airflow" / "dags"
TEST_DAGS = REPO / "tests" / "airflow" / "dags"

# Airflow reads its settings when first imported: point it at a private home before any test does.
HOME = Path(tempfile.mkdtemp(prefix="ae-airflow-home-"))
DAGS = HOME / "dags"
DAGS.mkdir()
for source in (*DEMO_DAGS.glob("*.py"), *TEST_DAGS.glob("*.py")):
    (DAGS / source.name).symlink_to(source)
os.environ.update(
    AIRFLOW_HOME=str(HOME),
    AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
    AIRFLOW__CORE__LOAD_EXAMPLES="False",
    AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
)


atexit.register(shutil.rmtree, HOME, ignore_errors=True)
_migrated: list[bool] = []


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Migrate the metadata database once per session (`airflow db migrate`, a few seconds)."""
    if not _migrated:
        airflow = Path(sys.executable).parent / "airflow"
        result = subprocess.run([str(airflow), "db", "migrate"], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        _migrated.append(True)
    return HOME


@pytest.fixture(scope="session")
def dagbag(airflow_db: Path) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert not bag.import_errors, bag.import_errors
    return bag


@dataclass
class DagResult:
    """One finished `dag.test()` run, read back from Airflow's metadata database."""

    run: Any

    @property
    def state(self) -> str:
        return str(self.run.state)

    def ti(self, task_id: str) -> Any:
        return self.run.get_task_instance(task_id)

    def task_state(self, task_id: str) -> str:
        return str(self.ti(task_id).state)

    def xcom(self, task_id: str, key: str = "return_value") -> Any:
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            query = XComModel.get_many(run_id=self.run.run_id, key=key, task_ids=task_id, dag_ids=self.run.dag_id)
            row = session.scalars(query).first()
            return None if row is None else XComModel.deserialize_value(row)

    def reschedules(self, task_id: str) -> int:
        from airflow.models.taskreschedule import TaskReschedule
        from airflow.utils.session import create_session
        from sqlalchemy import func, select

        ti = self.ti(task_id)
        with create_session() as session:
            return int(session.scalar(select(func.count()).where(TaskReschedule.ti_id == ti.id)) or 0)


@pytest.fixture
def run_dag(dagbag: Any, base: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`run_dag(dag_id, **conf)`: one real DAG run against the test's base folder."""
    monkeypatch.setenv("AIR_EXECUTOR_BASE_PATH", str(base.path))

    def run(dag_id: str, logical_date: Any = None, **conf: Any) -> DagResult:
        dag = dagbag.get_dag(dag_id)
        assert dag is not None, f"no DAG {dag_id}"
        kwargs: dict[str, Any] = {"run_conf": conf or None}
        if logical_date is not None:  # and the run id then follows: manual__<logical date>
            kwargs.update(logical_date=logical_date, run_after=logical_date)
        return DagResult(dag.test(**kwargs))

    return run


WAITING_STATES = ("running", "up_for_reschedule", "deferred")


def open_gate_when_waiting(gate: Path, dag_id: str, task_id: str, after: float = 1.0) -> threading.Thread:
    """Create the file `gate` once `task_id` of `dag_id` has been waiting for `after` seconds.

    Jobs whose first task waits for the gate are then sure to be seen unfinished first.
    """
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import or_, select

    def watch() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with create_session() as session:
                waiting = session.scalar(
                    select(TaskInstance.state).where(
                        TaskInstance.dag_id == dag_id,
                        TaskInstance.task_id == task_id,
                        # dag.test() runs a deferred task's trigger while the task is back in "queued"
                        or_(TaskInstance.state.in_(WAITING_STATES), TaskInstance.next_method.is_not(None)),
                    )
                )
            if waiting:
                time.sleep(after)
                break
            time.sleep(0.2)
        gate.touch()  # at the latest after the deadline, so a broken test fails instead of hanging

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


# The provider, imported only now that Airflow's settings point at the private home above.
# Test modules import it from here, so import sorting can never put Airflow first.
from air_executor.airflow.hooks.air_executor import AirExecutorHook  # noqa: E402
from air_executor.airflow.operators.air_executor import AirExecutorOperator  # noqa: E402
from air_executor.airflow.sensors.air_executor import AirExecutorSensor  # noqa: E402
from air_executor.airflow.triggers.air_executor import AirExecutorJobTrigger  # noqa: E402

__all__ = [
    "AirExecutorHook",
    "AirExecutorJobTrigger",
    "AirExecutorOperator",
    "AirExecutorSensor",
    "DAGS",
    "DagResult",
    "airflow_db",
    "dagbag",
    "open_gate_when_waiting",
    "run_dag",
]
