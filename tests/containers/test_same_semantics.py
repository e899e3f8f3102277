"""One suite, every launcher: what a task sees and how jobs end must not depend on the launcher."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Base, ManagerProcess, parse_time, wait_for


@pytest.fixture(
    params=[
        "subprocess",
        "subprocess-cold",
        pytest.param("docker", marks=pytest.mark.docker),
        pytest.param("swarm", marks=pytest.mark.docker),
    ]
)
def launched(request: pytest.FixtureRequest, base: Base) -> Iterator[tuple[Base, ManagerProcess]]:
    """A running manager using each launcher in turn (subprocess runners warm, the default, and
    cold; Docker containers; Swarm services); no runner container or service may be left afterwards."""
    client = None
    if request.param == "subprocess-cold":
        base.config(warm_start=False)
    if request.param in ("docker", "swarm"):
        client = request.getfixturevalue("docker_client" if request.param == "docker" else "swarm")
        base.config(launcher=request.param, runner_image="air-executor-runner:latest")
    manager = ManagerProcess(base).start()
    yield base, manager
    if client is not None:
        from containers.conftest import our_containers, our_services

        services = our_services if request.param == "swarm" else lambda *_: []
        wait_for(
            lambda: not our_containers(client, str(base.path)) and not services(client, str(base.path)),
            timeout=30,
            what="runner containers and services to be removed",
        )
    manager.stop()


def test_context_environment_and_literal_args(launched: tuple[Base, ManagerProcess]) -> None:
    """The task sees its job, id and base path; arguments reach it literally, without a shell."""
    base, manager = launched
    base.submit(
        "ctx",
        [
            {
                "id": "show",
                "command": "python",
                "args": [
                    "-c",
                    "import os, sys; print(os.environ['AIR_EXECUTOR_JOB'], os.environ['AIR_EXECUTOR_TASK_ID'],"
                    " os.environ['AIR_EXECUTOR_BASE_PATH'], os.environ['GREETING']); print(sys.argv[1:])",
                    "a b",
                    "$HOME",
                    "x;y",
                ],
                "env": {"GREETING": "hi"},
            }
        ],
    )
    assert base.wait_state("ctx")["state"] == "completed", manager.log()
    first, second = base.log("ctx", "show").splitlines()[:2]
    assert first == f"ctx show {base.path} hi"
    assert second == "['a b', '$HOME', 'x;y']"


def test_failure_skips_dependents_but_not_independent_tasks(launched: tuple[Base, ManagerProcess]) -> None:
    """A failed task skips what depends on it, lets independent tasks run, and fails the job."""
    base, manager = launched
    base.submit(
        "mixed",
        [
            {"id": "bad", "command": "sh", "args": ["-c", "echo broken; exit 4"]},
            {"id": "child", "command": "true", "dependencies": ["bad"]},
            {"id": "grandchild", "command": "true", "dependencies": ["child"]},
            {"id": "free", "command": "echo", "args": ["free"]},
        ],
    )
    state = base.wait_state("mixed")
    assert state["state"] == "failed" and "'bad' failed" in state["error"]
    tasks = {t["id"]: t for t in base.tasks("mixed")}
    assert tasks["bad"]["exit_code"] == 4 and "exited with code 4: broken" in tasks["bad"]["error"]
    assert tasks["child"]["status"] == "skipped" and "'bad'" in tasks["child"]["error"]
    assert tasks["grandchild"]["status"] == "skipped" and "'child'" in tasks["grandchild"]["error"]
    assert tasks["free"]["status"] == "completed"


def test_missing_command_and_timeout(launched: tuple[Base, ManagerProcess]) -> None:
    """A missing command fails to start; a task past its timeout is stopped and marked timed out."""
    base, manager = launched
    base.submit(
        "edges",
        [
            {"id": "ghost", "command": "no-such-command-anywhere"},
            {"id": "slow", "command": "sleep", "args": ["100"], "timeout": 1},
        ],
        max_parallel=2,
    )
    assert base.wait_state("edges")["state"] == "failed"
    ghost, slow = base.task("edges", "ghost"), base.task("edges", "slow")
    assert ghost["result"] == "failed_to_start" and ghost["error"] == "command not found: no-such-command-anywhere"
    assert slow["result"] == "timed_out" and slow["error"] == "timed out after 1 s"


def test_retries_then_success(launched: tuple[Base, ManagerProcess]) -> None:
    """A task that fails twice and then succeeds completes on its third attempt, each attempt recorded."""
    base, manager = launched
    counter = base.path / "jobs" / "retry" / "logs" / "count"
    script = (
        f"import pathlib, sys; p = pathlib.Path({str(counter)!r}); n = int(p.read_text()) + 1 "
        "if p.exists() else 1; p.write_text(str(n)); sys.exit(0 if n >= 3 else 1)"
    )
    base.submit(
        "retry",
        [
            {
                "id": "flaky",
                "command": "python",
                "args": ["-c", script],
                "retries": 3,
                "retry_delay": 0.2,
                "retry_backoff": 1.5,
            }
        ],
    )
    assert base.wait_state("retry")["state"] == "completed", manager.log()
    flaky = base.task("retry", "flaky")
    assert flaky["attempts"] == 3 and [h["result"] for h in flaky["history"]] == ["failed", "failed", "success"]
    gaps = [
        parse_time(b["started_at"]) - parse_time(a["ended_at"])
        for a, b in zip(flaky["history"], flaky["history"][1:], strict=False)
    ]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.3


def test_one_runner_per_job_and_dynamic_subtasks(launched: tuple[Base, ManagerProcess]) -> None:
    """Subtasks queued from a running task run after it, one at a time, each recording its parent."""
    base, manager = launched
    spawn = (
        "for i in 1 2 3; do air-executor add-task --id sub-$i --dedup-key k$i "
        "sh -c 'date +%s.%N; sleep 0.2; date +%s.%N' || exit 1; done"
    )
    base.submit("dyn", [{"id": "root", "command": "sh", "args": ["-c", spawn]}])
    assert base.wait_state("dyn")["state"] == "completed", manager.log()
    tasks = {t["id"]: t for t in base.tasks("dyn")}
    assert set(tasks) == {"root", "sub-1", "sub-2", "sub-3"}
    spans = sorted(tuple(map(float, base.log("dyn", f"sub-{i}").split())) for i in (1, 2, 3))
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert end <= start, spans
    assert all(tasks[f"sub-{i}"]["parent"] == "root" and tasks[f"sub-{i}"]["depth"] == 1 for i in (1, 2, 3))


def test_cancel_stops_a_running_task(launched: tuple[Base, ManagerProcess], tmp_path: Any) -> None:
    """Cancelling a job stops its running task and cancels the rest."""
    from air_executor.client import cancel_job

    base, manager = launched
    base.submit(
        "stopme",
        [
            {"id": "long", "command": "sleep", "args": ["120"]},
            {"id": "later", "command": "true", "dependencies": ["long"]},
        ],
    )
    wait_for(lambda: base.task("stopme", "long").get("started_at"), what="the long task to start")
    cancel_job(base.store, "stopme")
    wait_for(lambda: base.task("stopme", "long")["status"] == "cancelled", what="the running task to stop")
    assert base.state("stopme")["state"] == "cancelled"
    assert base.task("stopme", "later")["status"] == "cancelled"
