"""`docker compose up`: the runner image check, the healthy manager, a job through the named volume."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, wait_for
from taskkit import compose_ports, metric, published_port, scrape

from containers.conftest import our_containers

pytestmark = pytest.mark.docker


def compose(project: str, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    env_file = REPO / "deploy" / ".build.env"
    extra = ["--env-file", str(env_file)] if env_file.exists() else []
    return subprocess.run(
        ["docker", "compose", "-p", project, *extra, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        input=input,
        timeout=300,
        env={**os.environ, **compose_ports(project)},
    )


def manager_up(project: str, docker_client: Any) -> None:
    """`compose up` the manager (and the runner image check) and wait until it is healthy."""
    # Only the manager: Airflow's services have their own test (tests/airflow/test_airflow_compose.py)
    # and would claim port 8080 here.
    up = compose(project, "up", "-d", "manager")
    assert up.returncode == 0, up.stderr
    manager = f"{project}-manager-1"
    wait_for(
        lambda: docker_client.containers.get(manager).attrs["State"].get("Health", {}).get("Status") == "healthy",
        timeout=90,
        what="the compose manager to be healthy",
    )


def test_compose_up_runs_the_demo_job(docker_client: Any) -> None:
    """compose brings up a healthy manager that runs the demo job in runner containers on its named volume."""
    project = f"aetest{uuid.uuid4().hex[:8]}"
    try:
        manager_up(project, docker_client)
        job = (Path(REPO) / "deploy" / "demo" / "job.yaml").read_text()
        submit = compose(
            project,
            "exec",
            "-T",
            "manager",
            "air-executor",
            "submit",
            "/dev/stdin",
            "--name",
            "compose-demo",
            "--wait",
            "--timeout",
            "120",
            input=job,
        )
        assert submit.returncode == 0, submit.stdout + submit.stderr
        results = compose(project, "exec", "-T", "manager", "air-executor", "results", "--job", "compose-demo")
        assert results.returncode == 0, results.stderr
        assert "Final State: completed" in results.stdout and "✅ complete: completed" in results.stdout
        status = compose(project, "exec", "-T", "manager", "cat", "/data/.air-executor/jobs/compose-demo/tasks.json")
        assert status.stdout.count('"launcher": "docker"') == 3
        # The manager's metrics, published on the host's loopback.
        samples = scrape(published_port(project, "METRICS_PORT"))
        assert metric(samples, "air_executor_tasks_finished_total", result="success") == 3
        assert metric(samples, "air_executor_jobs", state="completed") == 1
        volume = f"{project}_air-executor-data"
        wait_for(lambda: not our_containers(docker_client, volume), what="runner containers to be removed")
    finally:
        down = compose(project, "down", "-v", "--remove-orphans")
    assert down.returncode == 0, down.stderr
    assert not docker_client.api.containers(all=True, filters={"label": f"com.docker.compose.project={project}"})
    assert not docker_client.volumes.list(filters={"label": f"com.docker.compose.project={project}"})


def test_the_standby_service_takes_over_a_killed_manager(docker_client: Any) -> None:
    """`--profile standby`: the active manager's container is `docker kill`ed mid-job; the standby
    takes over, adopts the runner containers and finishes the job, each task's side effect once."""
    project = f"aetest{uuid.uuid4().hex[:8]}"
    standby = f"{project}-manager-standby-1"
    try:
        manager_up(project, docker_client)
        up = compose(project, "--profile", "standby", "up", "-d", "manager-standby")
        assert up.returncode == 0, up.stderr
        wait_for(lambda: b"standby on" in docker_client.containers.get(standby).logs(), what="the standby to wait")
        status = compose(project, "exec", "-T", "manager-standby", "air-executor", "status")
        assert "Standby managers: 1" in status.stdout, status.stdout + status.stderr
        mark = 'echo "$AIR_EXECUTOR_TASK_ID" >> "$AIR_EXECUTOR_BASE_PATH/jobs/ha/marks"; sleep 1'
        tasks = "\n".join(f"  - {{id: t{i}, command: sh, args: ['-c', '{mark}']}}" for i in range(6))
        submit = compose(
            project, "exec", "-T", "manager-standby", "air-executor", "submit", "-", "--name", "ha",
            input=f"max_parallel: 2\ntasks:\n{tasks}\n",
        )  # fmt: skip
        assert submit.returncode == 0, submit.stderr
        marks = "/data/.air-executor/jobs/ha/marks"
        wait_for(lambda: compose(project, "exec", "-T", "manager-standby", "cat", marks).stdout.strip(), timeout=60)
        docker_client.containers.get(f"{project}-manager-1").kill()
        wait_for(
            lambda: b"taking over on" in docker_client.containers.get(standby).logs(),
            what="the standby to take over",
        )

        def state() -> str:
            shown = compose(project, "exec", "-T", "manager-standby", "air-executor", "status", "--job", "ha", "--json")
            return str(json.loads(shown.stdout)["state"]) if shown.returncode == 0 else "?"

        wait_for(lambda: state() == "completed", timeout=120, what="the job to complete")
        lines = compose(project, "exec", "-T", "manager-standby", "cat", marks).stdout.split()
        assert sorted(lines) == [f"t{i}" for i in range(6)], lines  # each task ran once
    finally:
        down = compose(project, "--profile", "standby", "down", "-v", "--remove-orphans")
    assert down.returncode == 0, down.stderr
    assert not docker_client.api.containers(all=True, filters={"label": f"com.docker.compose.project={project}"})
