"""End to end: `docker compose up` (manager + Airflow 3), DAG runs triggered through Airflow's REST API.

One stack for the module, under a project name of its own and a free loopback port, torn down
with its volumes at the end. The test DAGs (tests/airflow/dags) ride along as a second DAG
bundle (tests/airflow/e2e/compose.test.yml); the demo's DAG folder is mounted as shipped.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import docker
import pytest
import requests
from air_executor.storage.names import sanitise
from conftest import REPO, parse_time, wait_for
from taskkit import compose_ports

pytestmark = pytest.mark.docker

IMAGES = ("air-executor-runner:latest", "air-executor-manager:latest", "air-executor-airflow:latest")
FILES = ["-f", "docker-compose.yml", "-f", "tests/airflow/e2e/compose.test.yml"]
DEMO = "air_executor_demo"
JOBS = "/data/.air-executor/jobs"


class Stack:
    """The compose project and Airflow's REST API v2 (JWT from /auth/token with the documented login)."""

    def __init__(self, project: str, port: int) -> None:
        self.project = project
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.session = requests.Session()

    def compose(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        env_file = REPO / "deploy" / ".build.env"
        extra = ["--env-file", str(env_file)] if env_file.exists() else []
        return subprocess.run(
            ["docker", "compose", "-p", self.project, *FILES, *extra, *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **compose_ports(self.project), "AIRFLOW_PORT": str(self.port)},
        )

    def login(self) -> None:
        answer = requests.post(f"{self.url}/auth/token", json={"username": "admin", "password": "admin"}, timeout=10)
        assert answer.status_code in (200, 201), answer.text
        self.session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self.session.request(method, f"{self.url}/api/v2{path}", timeout=30, **kwargs)
        assert answer.ok, f"{method} {path}: {answer.status_code} {answer.text[:500]}"
        return answer.json()

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        wait_for(lambda: self._dag_ready(dag_id), timeout=90, what=f"Airflow to parse {dag_id}")
        run = self.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}})
        return str(run["dag_run_id"])

    def _dag_ready(self, dag_id: str) -> bool:
        answer = self.session.get(f"{self.url}/api/v2/dags/{dag_id}", timeout=10)
        return answer.ok and not answer.json()["is_paused"]

    def run_path(self, dag_id: str, run_id: str) -> str:
        return f"/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}"

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 180) -> str:
        path = self.run_path(dag_id, run_id)
        run = wait_for(
            lambda: (r := self.api("GET", path))["state"] in ("success", "failed") and r,
            timeout=timeout,
            what=f"DAG run {run_id} to finish",
        )
        return str(run["state"])

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        found = self.api("GET", f"{self.run_path(dag_id, run_id)}/taskInstances")["task_instances"]
        return {ti["task_id"]: ti for ti in found}

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        """The task's log as text: one line per structured log event (message, then any details)."""
        path = f"{self.url}/api/v2{self.run_path(dag_id, run_id)}/taskInstances/{task_id}/logs/{try_number}"

        def served() -> Any:
            # Just after a run ends, a loaded Airflow may answer 404 for a try it is still filing.
            answer = self.session.get(path, headers={"Accept": "application/json"}, timeout=30)
            return answer if answer.status_code != 404 else None

        answer = wait_for(served, timeout=30, what=f"Airflow to serve the log of {task_id} try {try_number}")
        assert answer.ok, f"GET {path}: {answer.status_code} {answer.text[:500]}"
        content = answer.json()["content"]
        lines = []
        for event in content:
            lines.append(str(event.get("event", "")))
            if event.get("error_detail"):
                lines.append(json.dumps(event["error_detail"], ensure_ascii=False))
        return "\n".join(lines)

    def read(self, path: str) -> str:
        done = self.compose("exec", "-T", "airflow", "cat", path, timeout=60)
        if "No such file" in done.stderr:
            raise FileNotFoundError(path)  # not yet: wait_for() tries again
        assert done.returncode == 0, done.stderr
        return done.stdout

    def job(self, name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        return json.loads(self.read(f"{JOBS}/{name}/state.json")), json.loads(self.read(f"{JOBS}/{name}/tasks.json"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    client = docker.from_env()
    for image in IMAGES:
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            pytest.fail(f"image {image} is missing; run `make images`")
    stack = Stack(f"aeaf{uuid.uuid4().hex[:8]}", _free_port())
    try:
        up = stack.compose("up", "-d", "--wait", "--wait-timeout", "240", timeout=300)
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:] + stack.compose("logs", "--tail", "60").stdout
        stack.login()
        yield stack
    finally:
        down = stack.compose("down", "-v", "--remove-orphans", "--timeout", "20")
        volume = f"{stack.project}_air-executor-data"
        leftovers = client.containers.list(all=True, filters={"label": f"com.docker.compose.project={stack.project}"})
        runners = [
            c
            for c in client.containers.list(all=True, filters={"label": "air-executor"})
            if volume in c.labels.get("air-executor.volume", "")
        ]
        for container in runners:
            container.remove(force=True)
        volumes = client.volumes.list(filters={"label": f"com.docker.compose.project={stack.project}"})
        client.close()
        assert down.returncode == 0, down.stderr
        assert not leftovers and not runners and not volumes, (leftovers, runners, volumes)


def test_airflow_answers_on_loopback_with_the_documented_login(stack: Stack) -> None:
    health = requests.get(f"{stack.url}/api/v2/monitor/health", timeout=10).json()
    assert {part["status"] for part in health.values()} == {"healthy"}, health
    bad = requests.post(f"{stack.url}/auth/token", json={"username": "admin", "password": "wrong"}, timeout=10)
    assert bad.status_code == 401
    ports = stack.compose("port", "airflow", "8080").stdout.strip()
    assert ports == f"127.0.0.1:{stack.port}"
    wait_for(lambda: stack._dag_ready(DEMO), timeout=90, what=f"Airflow to parse {DEMO}")
    dag = stack.api("GET", f"/dags/{DEMO}")
    assert dag["description"] == "Demo: Airflow orchestrating Air-Executor jobs"
    assert {t["name"] for t in dag["tags"]} == {"air-executor", "demo", "integration"}


def test_demo_dag_runs_its_job_in_runner_containers(stack: Stack) -> None:
    run_id = stack.trigger(DEMO)
    assert stack.wait_run(DEMO, run_id) == "success"
    job = f"airflow-{sanitise(run_id)}"
    state, tasks = stack.job(job)
    assert state["state"] == "completed"
    assert [t["id"] for t in tasks] == ["greet", "process", "complete"]
    for task in tasks:
        assert task["status"] == "completed" and task["launcher"] == "docker", task
        # Its own container: made for it, or started ahead for the job's next task (README "Warm starts").
        assert task["runner_id"].startswith((f"ae-{job[:40]}-{task['id']}-", f"ae-{job[:40]}-next-"))
        assert task["history"][-1]["container_id"]
    for before, after in pairwise(tasks):
        assert parse_time(before["completed_at"]) <= parse_time(after["started_at"])
    assert stack.read(f"{JOBS}/{job}/logs/greet.log") == f"Hello from Airflow DAG run: {run_id}\n"

    sensor_log = stack.task_log(DEMO, run_id, "wait_for_air_executor_completion")
    assert f"📊 Job {job} state: completed" in sensor_log and "   Tasks: 3/3 completed" in sensor_log
    report = stack.task_log(DEMO, run_id, "get_air_executor_results")
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
        assert line in report.splitlines(), (line, report)


def test_job_waits_on_disk_while_the_manager_is_stopped(stack: Stack) -> None:
    """The seeds' recovery story: no manager, the job waits in `waiting`; start it, the run succeeds."""
    stopped = stack.compose("stop", "manager")
    assert stopped.returncode == 0, stopped.stderr
    try:
        run_id = stack.trigger(DEMO)
        job = f"airflow-{sanitise(run_id)}"
        wait_for(lambda: stack.job(job)[0]["state"] == "waiting", timeout=120, what="the job on disk")
        wait_for(
            lambda: stack.task_instances(DEMO, run_id)["wait_for_air_executor_completion"]["state"] == "running",
            timeout=120,
            what="the sensor to start waiting",
        )
        time.sleep(4)  # the sensor pokes every 2 s; nothing runs the job meanwhile
        state, tasks = stack.job(job)
        assert state["state"] == "waiting" and {t["status"] for t in tasks} == {"pending"}
        log = stack.task_log(DEMO, run_id, "wait_for_air_executor_completion")
        assert "⏳ Waiting for job to be picked up..." in log
    finally:
        started = stack.compose("start", "manager")
    assert started.returncode == 0, started.stderr
    assert stack.wait_run(DEMO, run_id) == "success"
    state, tasks = stack.job(job)
    assert state["state"] == "completed" and [t["status"] for t in tasks] == ["completed"] * 3


def test_a_failing_job_fails_the_dag_run(stack: Stack) -> None:
    """A job whose task fails fails the operator's task (deferred in the real triggerer) and the run."""
    job = f"e2e-fails-{uuid.uuid4().hex[:6]}"
    tasks = [
        {"id": "ok", "command": "echo", "args": ["fine"]},
        {
            "id": "boom",
            "command": "sh",
            "args": ["-c", "sleep 2; echo cannot go on >&2; exit 3"],
            "dependencies": ["ok"],
        },
        {"id": "after", "command": "true", "dependencies": ["boom"]},
    ]
    run_id = stack.trigger("ae_test_operator_deferrable", {"job_name": job, "tasks": tasks})
    assert stack.wait_run("ae_test_operator_deferrable", run_id) == "failed"
    ti = stack.task_instances("ae_test_operator_deferrable", run_id)["run_job"]
    # Airflow itself may run a task again (a missed heartbeat on a loaded host, after which an
    # earlier try's log may no longer be served); what must hold is that the try that ended the
    # run failed for the job's failure.
    last = stack.task_log("ae_test_operator_deferrable", run_id, "run_job", ti["try_number"])
    if f"Air-Executor job {job} failed" not in last:
        airflow_log = [
            line for line in stack.compose("logs", "airflow").stdout.splitlines() if job in line or "run_job" in line
        ]
        pytest.fail(f"{ti}\n--- last try:\n{last}\n--- airflow:\n" + "\n".join(airflow_log[-80:]))
    assert ti["state"] == "failed"
    state, written = stack.job(job)
    assert state["state"] == "failed"
    assert [(t["id"], t["status"]) for t in written] == [("ok", "completed"), ("boom", "failed"), ("after", "skipped")]
    log = stack.task_log("ae_test_operator_deferrable", run_id, "run_job")
    assert f"📊 Job {job} state: failed" in log  # logged by the trigger, in the triggerer
    assert f"Air-Executor job {job} failed" in log and "exited with code 3: cannot go on" in log
