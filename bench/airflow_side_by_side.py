"""`make bench-airflow`: the dispatch group's two chains beside the same chains on Apache Airflow 3.

Five dependent Python one-liners (BashOperator against our subprocess runners) and six in the
runner image (DockerOperator against our runner containers), on Airflow's own local set-up as
`airflow standalone` runs it: SQLite, LocalExecutor, a scheduler, a DAG processor and the API
server (which tasks report to), in a fresh AIRFLOW_HOME, every server on 127.0.0.1. Airflow comes
from its own venv (deploy/dev/ensure-bench-airflow.sh). Each task prints its start time (Airflow
keeps the last line as the task's XCom); the gaps between consecutive starts are compared.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from common import PYTHON
from dispatch import CHAIN, DOCKER_CHAIN, ONE_LINER, _row, chain_gaps

BASH_DAG, DOCKER_DAG = "ae_bench_chain", "ae_bench_docker_chain"
DAG_FILE = """\
from airflow.providers.docker.operators.docker import DockerOperator
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, chain

with DAG({bash_dag!r}, schedule=None, catchup=False, max_active_runs=1):
    chain(*[BashOperator(task_id=f"s{{i}}", bash_command={bash!r}) for i in range({chain})])

with DAG({docker_dag!r}, schedule=None, catchup=False, max_active_runs=1):
    chain(*[
        DockerOperator(
            task_id=f"s{{i}}", image={image!r}, entrypoint=["python"], command={args!r},
            user="10001:10001", auto_remove="success", mount_tmp_dir=False,
        )
        for i in range({docker_chain})
    ])
"""


def airflow_venv() -> Path:
    """Airflow's own venv, installed on first use."""
    script = Path(__file__).resolve().parent.parent / "deploy" / "dev" / "ensure-bench-airflow.sh"
    return Path(subprocess.run([str(script)], check=True, capture_output=True, text=True).stdout.strip())


class LocalAirflow:
    """Airflow's components on one AIRFLOW_HOME; runs are triggered from its CLI, read from its database."""

    def __init__(self, venv: Path, home: Path) -> None:
        self.bin, self.home, self.db = venv / "bin", home, home / "airflow.db"
        port = _free_port()
        self.env = {
            **os.environ,
            "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",  # its scheduler starts `airflow` commands
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
        }
        self.port = port

    def airflow(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.bin / "airflow"), *args], env=self.env, capture_output=True, text=True)

    @contextmanager
    def running(self) -> Iterator[LocalAirflow]:
        migrated = self.airflow("db", "migrate")
        if migrated.returncode:
            raise RuntimeError(f"airflow db migrate failed: {migrated.stderr[-2000:]}")
        log = (self.home / "components.log").open("wb")
        commands = [
            ["api-server", "--host", "127.0.0.1", "--port", str(self.port)],
            ["scheduler", "--skip-serve-logs"],  # its log server would listen on every interface
            ["dag-processor"],
        ]
        procs = [
            subprocess.Popen(
                [str(self.bin / "airflow"), *c], env=self.env, stdout=log, stderr=log, start_new_session=True
            )
            for c in commands
        ]
        try:
            self._wait_ready(procs)
            yield self
        finally:
            for proc in procs:
                _signal_group(proc, signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    _signal_group(proc, signal.SIGKILL)
                    proc.wait()
            log.close()

    def _wait_ready(self, procs: list[subprocess.Popen[bytes]], timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in procs):
                raise RuntimeError(f"an Airflow component exited; see {self.home / 'components.log'}")
            if _port_open(self.port) and self._query(
                "select count(*) from dag where dag_id in (?, ?)", BASH_DAG, DOCKER_DAG
            ) == [(2,)]:
                return
            time.sleep(0.5)
        raise TimeoutError(f"Airflow was not ready within {timeout:.0f} s; see {self.home / 'components.log'}")

    def _query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        if not self.db.exists():
            return []
        try:
            with closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)) as db:
                return db.execute(sql, params).fetchall()
        except sqlite3.OperationalError:  # tables not created yet, or the database is busy
            return []

    def start_gaps(self, dag_id: str, run_id: str, length: int, timeout: float = 300) -> list[float]:
        """Trigger one run, wait for it, and return the gaps between its tasks' printed start times."""
        triggered = self.airflow("dags", "trigger", dag_id, "--run-id", run_id)
        if triggered.returncode:
            raise RuntimeError(f"airflow dags trigger failed: {triggered.stderr[-2000:]}")
        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            rows = self._query("select state from dag_run where dag_id = ? and run_id = ?", dag_id, run_id)
            state = rows[0][0] if rows else None
            if state in ("success", "failed"):
                break
            time.sleep(0.5)
        if state != "success":
            raise RuntimeError(f"Airflow run {dag_id}/{run_id} ended {state}; see {self.home / 'components.log'}")
        values = dict(
            self._query(
                "select task_id, value from xcom where dag_id = ? and run_id = ? and key = 'return_value'",
                dag_id,
                run_id,
            )
        )
        starts = [float(json.loads(values[f"s{i}"])) for i in range(length)]
        return [after - before for before, after in zip(starts, starts[1:], strict=False)]


def _free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    with closing(socket.socket()) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def airflow_gaps(runs: int, docker_runs: int, image: str | None) -> tuple[list[float], list[float]]:
    """Gaps of `runs` BashOperator chains and `docker_runs` DockerOperator chains, one run at a time."""
    with tempfile.TemporaryDirectory(prefix="ae-bench-airflow-") as tmp:
        home = Path(tmp)
        (home / "dags").mkdir()
        (home / "dags" / "ae_bench.py").write_text(
            DAG_FILE.format(
                bash_dag=BASH_DAG,
                docker_dag=DOCKER_DAG,
                bash=f"{PYTHON} -c '{ONE_LINER[2]}'",
                chain=CHAIN,
                image=image or "air-executor-runner:latest",
                args=ONE_LINER[1:],
                docker_chain=DOCKER_CHAIN,
            )
        )
        with LocalAirflow(airflow_venv(), home).running() as airflow:
            bash = [g for i in range(runs) for g in airflow.start_gaps(BASH_DAG, f"bench-{i}", CHAIN)]
            docker = [
                g
                for i in range(docker_runs if image else 0)
                for g in airflow.start_gaps(DOCKER_DAG, f"docker-{i}", DOCKER_CHAIN)
            ]
    return bash, docker


def run(settings: dict[str, int], image: str | None) -> list[dict[str, Any]]:
    airflow_bash, airflow_docker = airflow_gaps(settings["runs"], settings["docker_runs"], image)
    rows = [
        _row(
            f"chain of {CHAIN}: median gap, subprocess (warm) beside Airflow 3 BashOperator",
            chain_gaps(settings["runs"] * CHAIN * 2),
            airflow_bash,
            "p50",
            "s",
            target="<= 0.05 x Airflow 3 (20 x shorter)",
            ok=lambda o, b: o <= 0.05 * b,
        )
    ]
    if image:
        ours = chain_gaps(
            settings["docker_runs"] * DOCKER_CHAIN * 2, DOCKER_CHAIN, "python", launcher="docker", runner_image=image
        )
        rows.append(
            _row(
                f"chain of {DOCKER_CHAIN}: median gap, docker (warm) beside Airflow 3 DockerOperator",
                ours,
                airflow_docker,
                "p50",
                "s",
                target="<= 0.2 x Airflow 3 (5 x shorter)",
                ok=lambda o, b: o <= 0.2 * b,
            )
        )
    return rows
