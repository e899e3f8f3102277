"""Secrets with the Docker launcher (README "Trust model"): the manager hands a runner container its
task's secrets on stdin as it starts, so the container's config (`docker inspect`) never holds them;
the task sees them, its log, status and results show `***`, and no file on the volume holds them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import Base, ManagerProcess, cli, wait_for
from taskkit import files_holding

pytestmark = pytest.mark.docker

VALUE = "dk-s3cr3t-6b1f0e2a-never-on-disk"
RUNNER_UID = 10001 if os.geteuid() == 0 else os.geteuid()

# Shows the secret (masked in the log), waits until the test has inspected its container, then
# fails with the secret on its last line (the task's recorded error quotes its log's last line).
SCRIPT = r"""
echo "pw=$DB_PASSWORD"
echo "handoff=${AIR_EXECUTOR_SECRETS:-none}"
while [ ! -e "$1" ]; do sleep 0.1; done
echo "last: $DB_PASSWORD" >&2
exit 3
"""


def test_a_container_gets_its_secret_on_stdin_never_in_its_config(
    docker_base: Base, docker_client: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "secrets"
    folder.mkdir(mode=0o700)
    (folder / "DB_PASSWORD").write_text(VALUE + "\n")
    (folder / "DB_PASSWORD").chmod(0o600)
    docker_base.config(secrets_dir=str(folder), secret_grants={str(RUNNER_UID): ["DB_PASSWORD"]})
    go = docker_base.job_dir("dsec") / "go"
    task = {"id": "t", "command": "sh", "args": ["-c", SCRIPT, "sh", str(go)], "secrets": ["DB_PASSWORD"]}
    docker_base.submit("dsec", [task])
    manager = ManagerProcess(docker_base).start()
    try:
        wait_for(lambda: "handoff=" in docker_base.log("dsec", "t"), what="the task to start", timeout=60)
        runner = docker_base.task("dsec", "t")["runner_id"]
        shown = json.dumps(docker_client.api.inspect_container(runner))
        assert VALUE not in shown and '"AIR_EXECUTOR_SECRETS=stdin"' in shown
        go.write_text("")
        state = docker_base.wait_state("dsec")
    finally:
        manager.stop()
    assert state["state"] == "failed", manager.log()
    log = docker_base.log("dsec", "t")
    assert "pw=***" in log and "handoff=none" in log and "last: ***" in log, log
    error = docker_base.task("dsec", "t")["error"]
    assert error.endswith("exited with code 3: last: ***"), error
    surfaces = [
        cli(*args, base=docker_base).stdout for args in (["status", "--job", "dsec"], ["results", "--job", "dsec"])
    ]
    assert "last: ***" in surfaces[1] and all(VALUE not in text for text in surfaces)
    assert files_holding(docker_base.path, VALUE) == []


def test_the_swarm_launcher_refuses_a_task_with_secrets_in_one_line(swarm_base: Base, tmp_path: Path) -> None:
    """A service's spec (in the swarm's store, shown by `docker service inspect`) would hold the values."""
    folder = tmp_path / "secrets"
    folder.mkdir(mode=0o700)
    (folder / "DB_PASSWORD").write_text(VALUE)
    (folder / "DB_PASSWORD").chmod(0o600)
    swarm_base.config(secrets_dir=str(folder), secret_grants={"*": ["DB_PASSWORD"]})
    swarm_base.submit("ssec", [{"id": "t", "command": "true", "secrets": ["DB_PASSWORD"]}])
    swarm_base.submit("plain", [{"id": "t", "command": "echo", "args": ["ok"]}])
    manager = ManagerProcess(swarm_base).start()
    try:
        states = {name: swarm_base.wait_state(name, timeout=120) for name in ("ssec", "plain")}
    finally:
        manager.stop()
    assert states["plain"]["state"] == "completed", manager.log()
    task = swarm_base.task("ssec", "t")
    assert states["ssec"]["state"] == "failed" and task["result"] == "failed_to_start", task
    assert task["error"] == "the swarm launcher cannot hand a task its secrets; run it with the docker launcher"
    assert files_holding(swarm_base.path, VALUE) == []
