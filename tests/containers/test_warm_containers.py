"""Docker runners started ahead: while a job's task runs, its next runner container is already up,
waiting for its one task; unused ones are removed, and nothing runs twice across a manager kill."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest
from conftest import Base, ManagerProcess, wait_for

from containers.conftest import our_containers

pytestmark = pytest.mark.docker


def marked(task_id: str, *deps: str, gate: bool = False, fail: bool = False) -> dict[str, Any]:
    """A task that appends its id and its container's hostname to `marks` in its job's folder (the
    one folder a runner container sees; tasks run there), then may wait for a `gate` file there."""
    script = f"echo {task_id} $(hostname) >> marks"
    if gate:
        script += "; while [ ! -e gate ]; do sleep 0.05; done"
    if fail:
        script += "; exit 3"
    return {"id": task_id, "command": "sh", "args": ["-c", script], "dependencies": list(deps)}


def marks(base: Base, job: str) -> list[tuple[str, str]]:
    path = base.job_dir(job) / "marks"
    if not path.exists():
        return []
    return [(line.split()[0], line.split()[1]) for line in path.read_text().splitlines()]


def waiting(client: Any, base: Base) -> list[str]:
    return [name for name in our_containers(client, str(base.path)) if "-next-" in name]


def test_a_chains_next_runners_start_ahead_each_serves_one_task(
    docker_base: Base, docker_manager: ManagerProcess, docker_client: Any
) -> None:
    tasks = [marked("t0")] + [marked(f"t{i}", f"t{i - 1}") for i in range(1, 6)]
    docker_base.submit("chain", tasks)
    assert docker_base.wait_state("chain")["state"] == "completed", docker_manager.log()
    ran = marks(docker_base, "chain")
    assert [task for task, _ in ran] == [f"t{i}" for i in range(6)]
    assert len({host for _, host in ran}) == 6  # one container per task, never reused
    runners = [docker_base.task("chain", f"t{i}")["runner_id"] for i in range(6)]
    ahead = [r for r in runners if "-next-" in r]
    assert len(ahead) >= 3, runners  # the first starts cold; most of the rest were waiting for their task
    log = docker_manager.log()
    assert "next runner started ahead" in log
    for i in range(6):
        task = docker_base.task("chain", f"t{i}")
        assert task["attempts"] == 1 and task["history"][-1]["container_id"].startswith(ran[i][1])
    wait_for(lambda: not our_containers(docker_client, str(docker_base.path)), what="every container removed")


def test_a_runner_started_ahead_for_a_task_that_will_not_run_is_removed(
    docker_base: Base, docker_manager: ManagerProcess, docker_client: Any
) -> None:
    """The first task fails and its dependents are skipped: the runner waiting for them goes."""
    docker_base.submit("doomed", [marked("a", gate=True, fail=True), marked("b", "a"), marked("c", "b")])
    wait_for(lambda: waiting(docker_client, docker_base), what="a runner started ahead")
    (docker_base.job_dir("doomed") / "gate").touch()
    assert docker_base.wait_state("doomed")["state"] == "failed", docker_manager.log()
    assert [t for t, _ in marks(docker_base, "doomed")] == ["a"]
    assert [docker_base.task("doomed", t)["status"] for t in "bc"] == ["skipped", "skipped"]
    wait_for(lambda: not our_containers(docker_client, str(docker_base.path)), what="the waiting runner removed")


def test_cancelling_a_job_removes_its_waiting_runner(
    docker_base: Base, docker_manager: ManagerProcess, docker_client: Any
) -> None:
    docker_base.submit("dropped", [marked("a", gate=True), marked("b", "a")])
    wait_for(lambda: waiting(docker_client, docker_base), what="a runner started ahead")
    wait_for(lambda: marks(docker_base, "dropped"), what="task a to run")
    from conftest import cli

    assert cli("cancel", "--job", "dropped", base=docker_base).returncode == 0
    assert docker_base.wait_state("dropped", "cancelled")["state"] == "cancelled"
    wait_for(lambda: not our_containers(docker_client, str(docker_base.path)), what="every container removed")
    assert [t for t, _ in marks(docker_base, "dropped")] == ["a"]


def test_a_manager_killed_with_a_runner_waiting_loses_nothing_and_runs_nothing_twice(
    docker_base: Base, docker_client: Any
) -> None:
    """SIGKILL between starting a runner ahead and handing it a task: the next manager adopts the
    running task's container, removes the one that got no task, and every task runs once."""
    docker_base.submit("survive", [marked("a", gate=True), marked("b", "a"), marked("c", "b")])
    first = ManagerProcess(docker_base).start()
    wait_for(lambda: waiting(docker_client, docker_base), what="a runner started ahead")
    unused = waiting(docker_client, docker_base)
    first.kill()
    second = ManagerProcess(docker_base).start()
    try:
        wait_for(lambda: "adopted the live runner" in second.log(), what="the running task's runner adopted")
        wait_for(
            lambda: not set(unused) & set(our_containers(docker_client, str(docker_base.path))),
            what="the runner that got no task removed",
        )
        (docker_base.job_dir("survive") / "gate").touch()
        assert docker_base.wait_state("survive")["state"] == "completed", second.log()
        assert Counter(t for t, _ in marks(docker_base, "survive")) == Counter({"a": 1, "b": 1, "c": 1})
        assert all(docker_base.task("survive", t)["attempts"] == 1 for t in "abc")
        wait_for(lambda: not our_containers(docker_client, str(docker_base.path)), what="every container removed")
    finally:
        second.stop()


def test_a_stopped_manager_removes_its_waiting_runners_and_warm_start_off_starts_none(
    docker_base: Base, docker_client: Any
) -> None:
    docker_base.submit("paused", [marked("a", gate=True), marked("b", "a")])
    manager = ManagerProcess(docker_base).start()
    wait_for(lambda: waiting(docker_client, docker_base), what="a runner started ahead")
    manager.stop()
    assert waiting(docker_client, docker_base) == []  # gone with the manager; the running task's stays
    docker_base.config(launcher="docker", runner_image="air-executor-runner:latest", warm_start=False)
    manager = ManagerProcess(docker_base).start()
    try:
        (docker_base.job_dir("paused") / "gate").touch()
        assert docker_base.wait_state("paused")["state"] == "completed", manager.log()
        assert "-next-" not in docker_base.task("paused", "b")["runner_id"]
        assert not re.search(r"started ahead", manager.log().split("manager started")[-1])
        wait_for(lambda: not our_containers(docker_client, str(docker_base.path)), what="every container removed")
    finally:
        manager.stop()
