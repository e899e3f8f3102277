"""The compose `dashboard` service alone, on its own project and named volume: healthy, serving the volume's jobs."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest
from conftest import REPO, wait_for
from taskkit import compose_ports

from dashboard.conftest import TOKEN, free_port

pytestmark = pytest.mark.docker
IMAGE = "air-executor-dashboard:latest"


def compose(project: str, port: int, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    env_file = REPO / "deploy" / ".build.env"
    extra = ["--env-file", str(env_file)] if env_file.exists() else []
    env = {**os.environ, **compose_ports(project), "DASHBOARD_PORT": str(port), "AIR_EXECUTOR_DASHBOARD_TOKEN": TOKEN}
    return subprocess.run(
        ["docker", "compose", "-p", project, *extra, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        input=input,
        env=env,
        timeout=300,
    )


def call(url: str, method: str = "GET", token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method, headers=headers), timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_compose_dashboard_serves_the_volume(docker_client: Any) -> None:
    """`compose up dashboard`: healthy, on 127.0.0.1, shows a job written into the volume, cancels it with the token."""
    docker_client.images.get(IMAGE)  # make images builds it
    project, port = f"aedash{uuid.uuid4().hex[:8]}", free_port()
    url = f"http://127.0.0.1:{port}"
    try:
        up = compose(project, port, "up", "-d", "dashboard")
        assert up.returncode == 0, up.stderr
        container = docker_client.containers.get(f"{project}-dashboard-1")
        wait_for(
            lambda: container.reload() or container.attrs["State"].get("Health", {}).get("Status") == "healthy",
            timeout=90,
            what="the compose dashboard to be healthy",
        )
        bindings = container.attrs["HostConfig"]["PortBindings"]["8090/tcp"]
        assert bindings == [{"HostIp": "127.0.0.1", "HostPort": str(port)}]
        job = "name: from-compose\ntasks:\n  - {id: t, command: echo, args: [hi]}\n"
        submit = compose(project, port, "exec", "-T", "dashboard", "air-executor", "submit", "-", input=job)
        assert submit.returncode == 0, submit.stderr
        wait_for(lambda: call(f"{url}/api/jobs")[1]["all"] == 1, what="the job on the dashboard")
        status, body = call(f"{url}/api/jobs/from-compose")
        assert status == 200 and body["state"] == "waiting" and body["tasks"][0]["command"] == "echo"
        assert call(f"{url}/api/jobs/from-compose/cancel", "POST")[0] == 401
        status, body = call(f"{url}/api/jobs/from-compose/cancel", "POST", TOKEN)
        assert status == 200 and body["state"] == "cancelled", body
        wait_for(lambda: call(f"{url}/api/jobs?state=cancelled")[1]["total"] == 1, what="the job shown cancelled")
    finally:
        down = compose(project, port, "down", "-v", "--remove-orphans")
    assert down.returncode == 0, down.stderr
    assert not docker_client.api.containers(all=True, filters={"label": f"com.docker.compose.project={project}"})
    assert not docker_client.volumes.list(filters={"label": f"com.docker.compose.project={project}"})
