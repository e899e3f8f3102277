"""The manager image: supervisor, health endpoint, the shared volume found behind its own mount."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import Base, wait_for
from testcontainers.core.container import DockerContainer

from containers.conftest import MANAGER_IMAGE, our_containers

pytestmark = pytest.mark.docker


def manager_container(data: str, name: str) -> DockerContainer:
    return (
        DockerContainer(MANAGER_IMAGE)
        .with_name(name)
        .with_volume_mapping("/var/run/docker.sock", "/var/run/docker.sock", "rw")
        .with_volume_mapping(data, "/data", "rw")
        .with_env("AIR_EXECUTOR_LAUNCHER", "docker")
        .with_env("AIR_EXECUTOR_POLL_INTERVAL", "1")
    )


def health(container: DockerContainer) -> str:
    wrapped = container.get_wrapped_container()
    wrapped.reload()
    return str(wrapped.attrs["State"].get("Health", {}).get("Status"))


def run_in(container: DockerContainer, *command: str) -> str:
    result = container.exec(list(command))
    assert result.exit_code == 0, result.output.decode()
    return result.output.decode()


def job_state(container: DockerContainer, job: str) -> dict[str, Any]:
    return json.loads(run_in(container, "air-executor", "status", "--job", job, "--json"))


def test_manager_image_runs_jobs_from_a_bind_mounted_folder(tmp_path: Path, docker_client: Any) -> None:
    """Jobs written on the host into a bind-mounted folder run in runner containers; health turns healthy."""
    data = tmp_path / "data"
    data.mkdir()
    container = manager_container(str(data), f"aetest-bind-{uuid.uuid4().hex[:8]}")
    container.start()
    try:
        wait_for(lambda: health(container) == "healthy", timeout=60, what="the manager container to be healthy")
        base = Base(data / ".air-executor")
        base.submit(
            "host-job",
            [
                {"id": "one", "command": "echo", "args": ["from a runner container"]},
                {"id": "two", "command": "id", "args": ["-u"], "dependencies": ["one"]},
            ],
        )
        assert base.wait_state("host-job")["state"] == "completed", container.get_logs()
        for task in base.tasks("host-job"):
            assert task["launcher"] == "docker" and task["history"][-1]["container_id"]
        assert base.log("host-job", "two").strip() != "0"
        wait_for(lambda: not our_containers(docker_client, str(data)), what="runner containers to be removed")
    finally:
        container.stop()


def test_named_volume_restart_and_supervisor(docker_client: Any) -> None:
    """On a named volume: a killed manager process is restarted by supervisor, and a killed manager
    container started again adopts the running runner container and finishes the job, running nothing twice."""
    volume = docker_client.volumes.create(f"aetest-{uuid.uuid4().hex[:8]}")
    container = manager_container(volume.name, f"aetest-vol-{uuid.uuid4().hex[:8]}")
    container.start()
    try:
        wait_for(lambda: health(container) == "healthy", timeout=60, what="the manager container to be healthy")
        first_pid = run_in(container, "cat", "/data/.air-executor/manager.pid").strip()
        run_in(container, "python", "-c", f"import os; os.kill({first_pid}, 9)")
        wait_for(
            lambda: (
                (p := container.exec(["cat", "/data/.air-executor/manager.pid"]).output.decode().strip())
                and p != first_pid
            ),
            what="supervisor to restart the manager",
        )

        create = (
            "from air_executor.client import Client; Client().create_job('vjob', ["
            "{'id': 'long', 'command': 'sh', 'args': ['-c', 'echo run; sleep 4']},"
            "{'id': 'after', 'command': 'echo', 'args': ['done'], 'dependencies': ['long']}])"
        )
        run_in(container, "python", "-c", create)
        wait_for(lambda: job_state(container, "vjob")["running"] == 1, what="the long task to run")
        time.sleep(0.5)
        wrapped = container.get_wrapped_container()
        wrapped.kill()
        wrapped.wait(timeout=30)
        assert our_containers(docker_client, volume.name), "the runner container should outlive the manager"
        wrapped.start()
        wait_for(
            lambda: job_state(container, "vjob")["state"] == "completed",
            timeout=90,
            what="the job to finish after the restart",
        )
        tasks = json.loads(run_in(container, "cat", "/data/.air-executor/jobs/vjob/tasks.json"))
        long = next(t for t in tasks if t["id"] == "long")
        assert long["attempts"] == 1 and long["status"] == "completed"
        assert run_in(container, "cat", "/data/.air-executor/jobs/vjob/logs/long.log") == "run\n"
        wait_for(lambda: not our_containers(docker_client, volume.name), what="runner containers to be removed")
    finally:
        container.stop()
        volume.remove(force=True)
