"""A real Airflow 3 stack in processes (api-server, scheduler, dag-processor, triggerer) on SQLite.

For the AirExecutor tests and benchmark: one Airflow home (world-readable, so runners that run
as the job folder's owner can read its config and DAGs), all on 127.0.0.1 with a free port.
The scheduler can be restarted with another executor (LocalExecutor for the comparison run) or
SIGKILLed; the other components keep running. Airflow's own example DAGs are linked into the
DAG folder unchanged. No pytest here: bench/ uses it too.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import requests

BIN = Path(sys.executable).parent
AIR_EXECUTOR = "air_executor.airflow.executors.air_executor.AirExecutor"
LOCAL = "LocalExecutor"
SITE = Path(__import__("airflow").__file__).parent
EXAMPLES = {
    "example_bash_operator": "providers/standard/example_dags",
    "example_python_operator": "providers/standard/example_dags",
    "example_xcom": "example_dags",
    "example_branch_operator": "providers/standard/example_dags",
    "example_task_group": "example_dags",
    "example_dynamic_task_mapping": "example_dags",
    "example_setup_teardown": "example_dags",
    "example_short_circuit_operator": "providers/standard/example_dags",
    "example_sensors": "providers/standard/example_dags",
}
COMPONENTS = ("api-server", "dag-processor", "triggerer")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `predicate` until truthy; raise (naming `what`) after `timeout` seconds."""
    end = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except (requests.RequestException, OSError, ValueError, KeyError):
            value = None
        if value:
            return value
        if time.monotonic() > end:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.2)


class AirflowStack:
    """Airflow's components as processes on one home; `base` is the Air-Executor base folder."""

    def __init__(self, base: Path, dag_files: Iterable[Path] = (), examples: Iterable[str] = EXAMPLES) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="ae-airflow-stack-"))
        self.home.chmod(0o755)
        self.dags = self.home / "dags"
        self.dags.mkdir()
        for name in examples:
            (self.dags / f"{name}.py").symlink_to(SITE / EXAMPLES[name] / f"{name}.py")
        for source in dag_files:
            (self.dags / source.name).symlink_to(source)
        self.base = base
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.session = requests.Session()
        self.env = self._env()

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update(
            AIRFLOW_HOME=str(self.home),
            AIR_EXECUTOR_BASE_PATH=str(self.base),
            AIRFLOW__CORE__DAGS_FOLDER=str(self.dags),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
            AIRFLOW__CORE__EXECUTOR=AIR_EXECUTOR,
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{self.home}/airflow.db",
            AIRFLOW__API__BASE_URL=self.url,
            AIRFLOW__API__PORT=str(self.port),
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__WORKERS="1",
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{self.url}/execution/",
            AIRFLOW__API_AUTH__JWT_SECRET="air-executor-tests-jwt-secret-0123456789",
            AIRFLOW__API__SECRET_KEY="air-executor-tests-secret-key",
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
            AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD="6",
            AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL="5",
            AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT="60",
            AIRFLOW__LOGGING__BASE_LOG_FOLDER=str(self.home / "logs"),
            AIRFLOW__CORE__PARALLELISM="8",
        )
        return env

    # -- processes -------------------------------------------------------------------------

    def migrate(self) -> None:
        done = subprocess.run(
            [str(BIN / "airflow"), "db", "migrate"], env=self.env, capture_output=True, text=True, timeout=300
        )
        if done.returncode:
            raise RuntimeError(done.stdout[-3000:] + done.stderr[-3000:])
        (self.home / "airflow.db").chmod(0o644)

    def start(self, executor: str = AIR_EXECUTOR) -> AirflowStack:
        """Migrate, then start every component (the scheduler with `executor`); wait until healthy."""
        self.migrate()
        for name in COMPONENTS:
            self._spawn(name, {})
        self.start_scheduler(executor)
        until(self._healthy, 180, "Airflow's api-server to answer")
        return self

    def _spawn(self, name: str, extra: dict[str, str]) -> None:
        log = open(self.home / f"{name}.log", "ab")  # noqa: SIM115 (the child keeps it)
        self.procs[name] = subprocess.Popen(
            [str(BIN / "airflow"), name],
            env={**self.env, **extra},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def start_scheduler(self, executor: str = AIR_EXECUTOR) -> None:
        self._spawn("scheduler", {"AIRFLOW__CORE__EXECUTOR": executor})

    def stop_scheduler(self, sig: int = signal.SIGTERM) -> None:
        proc = self.procs.pop("scheduler", None)
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, sig) if sig == signal.SIGKILL else proc.send_signal(sig)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)

    def stop(self) -> None:
        self.stop_scheduler()
        for name, proc in list(self.procs.items()):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
            self.procs.pop(name)
        shutil.rmtree(self.home, ignore_errors=True)

    def log(self, name: str) -> str:
        path = self.home / f"{name}.log"
        return path.read_text(errors="replace")[-6000:] if path.exists() else ""

    def _healthy(self) -> bool:
        answer = self.session.get(f"{self.url}/api/v2/monitor/health", timeout=5)
        return answer.ok

    # -- REST API --------------------------------------------------------------------------

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self.session.request(method, f"{self.url}/api/v2{path}", timeout=30, **kwargs)
        if not answer.ok:
            raise AssertionError(f"{method} {path}: {answer.status_code} {answer.text[:500]}")
        return answer.json()

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        until(lambda: self.api("GET", f"/dags/{dag_id}"), 120, f"Airflow to parse {dag_id}")
        run = self.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}})
        return str(run["dag_run_id"])

    def run_path(self, dag_id: str, run_id: str) -> str:
        return f"/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}"

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.api("GET", self.run_path(dag_id, run_id))["state"])

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 240) -> str:
        return str(
            until(
                lambda: (s := self.run_state(dag_id, run_id)) in ("success", "failed") and s,
                timeout,
                f"DAG run {dag_id} {run_id} to finish",
            )
        )

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        path = f"{self.run_path(dag_id, run_id)}/taskInstances?limit=1000"
        return list(self.api("GET", path)["task_instances"])

    def final_states(self, dag_id: str, run_id: str) -> dict[tuple[str, int], str | None]:
        return {(ti["task_id"], ti["map_index"]): ti["state"] for ti in self.task_instances(dag_id, run_id)}

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        path = f"{self.run_path(dag_id, run_id)}/taskInstances/{task_id}/tries"
        return list(self.api("GET", path)["task_instances"])

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        path = f"{self.run_path(dag_id, run_id)}/taskInstances/{task_id}/logs/{try_number}"
        answer = self.session.get(f"{self.url}/api/v2{path}", headers={"Accept": "application/json"}, timeout=30)
        if not answer.ok:
            raise AssertionError(f"GET {path}: {answer.status_code} {answer.text[:300]}")
        return "\n".join(str(event.get("event", "")) for event in answer.json()["content"])
