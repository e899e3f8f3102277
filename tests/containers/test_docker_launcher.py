"""The Docker launcher: every task in its own short-lived, hardened runner container."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest
from conftest import Base, ManagerProcess, parse_time, wait_for
from taskkit import free_port, metric, scrape

pytestmark = pytest.mark.docker


def last_attempt(task: dict[str, Any]) -> dict[str, Any]:
    return task["history"][-1]


def test_each_task_runs_in_its_own_container_and_is_removed(
    docker_base: Base, docker_manager: ManagerProcess, docker_client: Any
) -> None:
    """Tasks get distinct containers, recorded in the task with image and digest; none are left."""
    docker_base.submit(
        "solo",
        [
            {"id": "a", "command": "hostname"},
            {"id": "b", "command": "hostname", "dependencies": ["a"]},
        ],
    )
    assert docker_base.wait_state("solo")["state"] == "completed", docker_manager.log()
    a, b = docker_base.task("solo", "a"), docker_base.task("solo", "b")
    ids = {last_attempt(a)["container_id"], last_attempt(b)["container_id"]}
    assert len(ids) == 2
    for task in (a, b):
        attempt = last_attempt(task)
        assert task["runner_id"].startswith("ae-solo-")
        assert attempt["image"] == "air-executor-runner:latest"
        assert attempt["image_id"].startswith("sha256:")
        assert attempt["exit_code"] == 0 and attempt["oom_killed"] is False
        assert docker_base.log("solo", task["id"]).strip() == attempt["container_id"][:12]
    wait_for(
        lambda: not docker_client.api.containers(all=True, filters={"label": "air-executor.job=solo"}),
        what="runner containers to be removed",
    )


def test_tasks_of_one_job_never_overlap_and_subtasks_work(docker_base: Base, docker_manager: ManagerProcess) -> None:
    """One runner at a time per job across containers; a task queues a dependent subtask from inside."""
    script = "date +%s.%N; sleep 0.3; date +%s.%N"
    docker_base.submit(
        "serial",
        [
            {"id": "t1", "command": "sh", "args": ["-c", script]},
            {"id": "t2", "command": "sh", "args": ["-c", script]},
            {
                "id": "spawn",
                "command": "sh",
                "args": [
                    "-c",
                    "air-executor add-task --id child --depends-on t1 sh -c 'echo child of $AIR_EXECUTOR_JOB'",
                ],
            },
        ],
    )
    assert docker_base.wait_state("serial")["state"] == "completed", docker_manager.log()
    spans = []
    for task_id in ("t1", "t2"):
        start, end = map(float, docker_base.log("serial", task_id).split())
        spans.append((start, end))
    tasks = {t["id"]: t for t in docker_base.tasks("serial")}
    spans += [(parse_time(tasks[i]["started_at"]), parse_time(tasks[i]["completed_at"])) for i in ("spawn", "child")]
    spans.sort()
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert end <= start, spans
    assert tasks["child"]["parent"] == "spawn" and tasks["child"]["depth"] == 1
    assert docker_base.log("serial", "child").strip() == "child of serial"


def test_failing_task_fails_the_job_with_exit_code_and_log(docker_base: Base, docker_manager: ManagerProcess) -> None:
    """A non-zero exit in a container fails the task and the job, with its code and last log line."""
    docker_base.submit(
        "bad",
        [
            {"id": "boom", "command": "sh", "args": ["-c", "echo cannot go on >&2; exit 7"]},
            {"id": "after", "command": "true", "dependencies": ["boom"]},
        ],
    )
    state = docker_base.wait_state("bad")
    assert state["state"] == "failed"
    boom = docker_base.task("bad", "boom")
    assert boom["exit_code"] == 7 and last_attempt(boom)["exit_code"] == 7
    assert "exited with code 7: cannot go on" in boom["error"]
    assert "cannot go on" in docker_base.log("bad", "boom")
    assert docker_base.task("bad", "after")["status"] == "skipped"
    assert "boom" in state["error"]


def test_timeout_stops_the_container(docker_base: Base, docker_manager: ManagerProcess, docker_client: Any) -> None:
    """A task past its timeout is stopped; its container ends and is removed."""
    docker_base.submit("slow", [{"id": "nap", "command": "sleep", "args": ["120"], "timeout": 2}])
    assert docker_base.wait_state("slow", timeout=60)["state"] == "failed"
    nap = docker_base.task("slow", "nap")
    assert nap["result"] == "timed_out" and "timed out after 2 s" in nap["error"]
    wait_for(
        lambda: not docker_client.api.containers(all=True, filters={"label": "air-executor.job=slow"}),
        what="the timed-out container to be removed",
    )


def test_runner_containers_are_hardened(docker_base: Base, docker_manager: ManagerProcess) -> None:
    """Not root, no capabilities, no new privileges, no Docker socket, memory and CPU limits applied."""
    docker_base.config(runner_memory="256m", runner_cpus=0.5)
    docker_manager.stop()
    docker_manager.start()
    docker_base.submit(
        "hard",
        [
            {
                "id": "look",
                "command": "sh",
                "args": [
                    "-c",
                    "id -u; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status;"
                    "test -e /var/run/docker.sock && echo SOCKET;"
                    "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max",
                ],
            }
        ],
    )
    assert docker_base.wait_state("hard")["state"] == "completed", docker_manager.log()
    lines = docker_base.log("hard", "look").split("\n")
    assert lines[0] != "0"
    assert "CapEff:\t0000000000000000" in lines and "NoNewPrivs:\t1" in lines
    assert "SOCKET" not in lines
    assert str(256 * 1024 * 1024) in lines


def test_memory_kill_is_recorded(docker_base: Base, docker_manager: ManagerProcess) -> None:
    """A task that outgrows its container's memory limit fails, and the attempt says it was OOM-killed."""
    hog = "x = bytearray(400 * 1024 * 1024); print(len(x))"
    docker_base.submit("hog", [{"id": "eat", "command": "python", "args": ["-c", hog], "memory": "64m"}])
    assert docker_base.wait_state("hog")["state"] == "failed"
    eat = wait_for(
        lambda: (t := docker_base.task("hog", "eat")) and "oom_killed" in last_attempt(t) and t,
        what="the container's outcome to be recorded",
    )
    assert last_attempt(eat)["oom_killed"] is True, eat
    assert eat["exit_code"] == -9 and "memory limit (OOM)" in eat["error"]


def test_missing_image_and_bad_options_fail_to_start(docker_base: Base, docker_client: Any) -> None:
    """An image the policy allows but that does not exist fails its task with that reason; the manager goes on."""
    port = free_port()
    docker_base.config(task_policy={"images": ["air-executor-runner:*"]}, metrics_port=port)
    manager = ManagerProcess(docker_base).start()
    try:
        docker_base.submit("noimg", [{"id": "x", "command": "true", "image": "air-executor-runner:nope"}])
        docker_base.submit("fine", [{"id": "y", "command": "true"}])
        assert docker_base.wait_state("noimg")["state"] == "failed"
        x = docker_base.task("noimg", "x")
        assert x["result"] == "failed_to_start" and "air-executor-runner:nope" in x["error"]
        assert "not found" in x["error"]
        assert docker_base.wait_state("fine")["state"] == "completed"
        samples = scrape(port)  # Prometheus sees it too
        assert metric(samples, "air_executor_launch_errors_total") == 1
        assert metric(samples, "air_executor_tasks_finished_total", result="failed_to_start") == 1
    finally:
        manager.stop()


def test_container_killed_mid_task_is_noticed(
    docker_base: Base, docker_manager: ManagerProcess, docker_client: Any
) -> None:
    """A runner container killed from outside: its task fails saying the runner died, with the exit code."""
    docker_base.submit("victim", [{"id": "sleepy", "command": "sleep", "args": ["60"]}])
    container = wait_for(
        lambda: docker_client.containers.list(filters={"label": "air-executor.job=victim"}), what="the runner container"
    )[0]
    wait_for(lambda: docker_base.task("victim", "sleepy").get("started_at"), what="the task to start")
    container.kill()
    assert docker_base.wait_state("victim")["state"] == "failed"
    sleepy = docker_base.task("victim", "sleepy")
    assert sleepy["result"] == "runner_lost" and "runner died" in sleepy["error"] and "137" in sleepy["error"]


def test_manager_killed_mid_job_adopts_running_container(
    docker_base: Base, manager_factory: Any, docker_client: Any
) -> None:
    """SIGKILL the manager while a task's container runs; a new manager adopts it and finishes the job once."""
    first = manager_factory().start()
    docker_base.submit(
        "survive",
        [
            {"id": "long", "command": "sh", "args": ["-c", "echo run >> /tmp/runs; sleep 3; echo done"]},
            {"id": "next", "command": "echo", "args": ["next"], "dependencies": ["long"]},
        ],
    )
    wait_for(lambda: docker_base.task("survive", "long").get("started_at"), what="the long task to start")
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait()
    time.sleep(0.5)
    second = manager_factory().start()
    assert docker_base.wait_state("survive")["state"] == "completed", second.log()
    long = docker_base.task("survive", "long")
    assert long["attempts"] == 1 and len(long["history"]) == 1
    assert "adopted the live runner" in second.log()
    assert docker_base.log("survive", "long") == "done\n"


def test_auto_launcher_falls_back_to_subprocess_without_the_image(base: Base, docker_client: Any) -> None:
    """`launcher: auto` uses subprocesses when the runner image is missing, and logs why."""
    base.config(launcher="auto", runner_image="air-executor-runner:absent")
    manager = ManagerProcess(base).start()
    try:
        base.submit("fallback", [{"id": "here", "command": "sh", "args": ["-c", "echo $PPID"]}])
        assert base.wait_state("fallback")["state"] == "completed"
        assert "using the subprocess launcher" in manager.log() and "launcher subprocess" in manager.log()
        assert base.task("fallback", "here")["launcher"] == "subprocess"
    finally:
        manager.stop()


def test_auto_launcher_uses_docker_when_it_answers(base: Base, docker_client: Any) -> None:
    """`launcher: auto` picks Docker when the engine and the runner image are there."""
    base.config(launcher="auto", runner_image="air-executor-runner:latest")
    manager = ManagerProcess(base).start()
    try:
        base.submit("auto", [{"id": "where", "command": "true"}])
        assert base.wait_state("auto")["state"] == "completed"
        assert "launcher docker" in manager.log()
        assert base.task("auto", "where")["launcher"] == "docker"
    finally:
        manager.stop()
    assert os.path.exists(base.path / "jobs" / "auto" / "logs")


def test_container_that_cannot_start_fails_its_task(docker_base: Base, docker_client: Any) -> None:
    """A container the engine creates but cannot start (the operator's config maps a missing device) fails
    its task with the engine's reason."""
    docker_base.config(container_options={"devices": ["/dev/air-executor-missing:/dev/x"]})
    manager = ManagerProcess(docker_base).start()
    try:
        docker_base.submit("nodev", [{"id": "x", "command": "true"}])
        assert docker_base.wait_state("nodev")["state"] == "failed"
        x = docker_base.task("nodev", "x")
        assert x["result"] == "failed_to_start", x
        assert "the runner container failed to start" in x["error"] or "cannot create" in x["error"]
        assert "air-executor-missing" in x["error"]
        assert not docker_client.api.containers(all=True, filters={"label": "air-executor.job=nodev"})
    finally:
        manager.stop()


def test_a_container_left_created_is_started_by_the_next_manager(docker_base: Base, docker_client: Any) -> None:
    """A runner container created but never started (its manager died in between; its claim is on
    disk): the next manager starts it, its task runs once, and it goes."""
    from air_executor.client import create_job
    from air_executor.core.clock import now_iso
    from air_executor.core.transitions import claim_record
    from air_executor.storage import journal
    from docker.types import Mount

    create_job(docker_base.store, "limbo", [{"id": "t", "command": "sh", "args": ["-c", "echo ran >> ran"]}])
    launch_id = "0123456789abcdef0123456789abcdef"
    name = f"ae-limbo-t-{launch_id[:12]}"
    with docker_base.store.transaction("limbo") as files:
        task = files.task("t")
        assert task is not None
        task.update(
            status="running", attempts=1, launch_id=launch_id, launched_at=now_iso(), runner_id=name, launcher="docker"
        )
        files.state["state"] = "working"
        claim = claim_record({**task, "job_name": "limbo"}, "limbo")
    job = docker_base.job_dir("limbo")
    with docker_base.store.open_job("limbo") as handle:
        journal.write_claim(handle, launch_id, claim)
    for folder in (job, job / "logs", job / "runs"):
        folder.mkdir(exist_ok=True)
        folder.chmod(0o777)
    base = str(docker_base.path)
    docker_client.containers.create(
        "air-executor-runner:latest",
        [base, "limbo", "t", launch_id],
        name=name,
        user="10001:10001",
        mounts=[Mount(base, base, type="bind")],
        labels={
            "air-executor": "runner",
            "air-executor.launch": launch_id,
            "air-executor.job": "limbo",
            "air-executor.task": "t",
            "air-executor.volume": f"bind:{docker_base.path}",
        },
    )
    manager = ManagerProcess(docker_base).start()
    try:
        assert docker_base.wait_state("limbo")["state"] == "completed", manager.log()
        assert "had created but not started" in manager.log()
        assert (job / "ran").read_text() == "ran\n"
        assert docker_base.task("limbo", "t")["attempts"] == 1
        wait_for(
            lambda: not docker_client.api.containers(all=True, filters={"name": name}),
            what="the container to be removed",
        )
    finally:
        manager.stop()
