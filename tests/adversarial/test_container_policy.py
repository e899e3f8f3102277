"""What a task may ask of its runner container: only what the operator's task_policy allows (default:
nothing that widens it), and a runner container sees its own job folder and nothing else of the volume.

The policy's rules are checked directly (fast, every option); the refusals and the isolation then
against the real engine and the real runner image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from air_executor.config import Config
from air_executor.core.policy import PolicyRefused, check_task
from conftest import Base, ManagerProcess

REFUSED = [
    ({"image": "alpine:latest"}, "image 'alpine:latest'", "task_policy.images"),
    ({"container_options": {"mounts": [{"source": "/", "target": "/host"}]}}, "mounts source '/'", "mount_sources"),
    ({"container_options": {"network_mode": "host"}}, "network_mode 'host'", "host_network"),
    ({"container_options": {"devices": ["/dev/kmsg:/dev/kmsg"]}}, "devices '/dev/kmsg'", "task_policy.devices"),
    ({"container_options": {"runtime": "runc-debug"}}, "runtime 'runc-debug'", "task_policy.runtimes"),
    ({"container_options": {"gpus": "all"}}, "container_options.gpus", "task_policy.gpus"),
    ({"container_options": {"shm_size": "2g"}}, "shm_size 2g (more than 64m)", "max_shm_size"),
    ({"cpus": 4}, "cpus 4 (more than 1)", "max_cpus"),
    ({"memory": "1g"}, "memory 1g (more than 256m)", "max_memory"),
    ({"container_options": {"pids_limit": 5000}}, "pids_limit 5000 (more than 100)", "max_pids"),
    ({"container_options": {"placement": ["node.hostname==ci-1"]}}, "placement 'node.hostname==ci-1'", "placement"),
]


def _config(**values: Any) -> Config:
    base = {"runner_cpus": 1, "runner_memory": "256m", "container_options": {"pids_limit": 100}}
    return Config.model_validate({**base, **values})


@pytest.mark.parametrize(("asks", "named", "setting"), REFUSED, ids=[r[2] for r in REFUSED])
def test_by_default_nothing_that_widens_a_runner_is_granted(asks: dict[str, Any], named: str, setting: str) -> None:
    """Each widening option is refused with one line naming the option and the setting that allows it."""
    with pytest.raises(PolicyRefused) as refused:
        check_task({"id": "t", "command": "true", **asks}, _config())
    message = str(refused.value)
    assert message.startswith("task 't': ") and named in message and setting in message, message
    assert "\n" not in message


def test_narrowing_is_always_granted() -> None:
    """Less CPU, memory, processes or network than the config, or a read-only root, needs no policy."""
    narrower = {
        "cpus": 0.5,
        "memory": "128m",
        "image": "air-executor-runner:latest",
        "container_options": {"network_mode": "none", "read_only_root": True, "pids_limit": 50, "shm_size": "32m"},
    }
    check_task({"id": "t", "command": "true", **narrower}, _config())


def test_the_policy_grants_what_it_lists_and_no_more() -> None:
    """Allowed mount folders (and below, read-only unless writable_mounts), image patterns, host network,
    ceilings: granted; a path that escapes the folder with '..' or a sibling prefix is not."""
    config = _config(
        task_policy={
            "images": ["ci/*"],
            "mount_sources": ["/srv/cache", "shared-volume"],
            "host_network": True,
            "max_cpus": 4,
            "max_memory": "2g",
        }
    )
    check_task({"id": "t", "command": "x", "image": "ci/builder:3", "cpus": 4, "memory": "2g"}, config)
    check_task({"id": "t", "command": "x", "container_options": {"network_mode": "host"}}, config)
    for source in ("/srv/cache", "/srv/cache/pip"):
        check_task(
            {"id": "t", "command": "x", "container_options": {"mounts": [{"source": source, "target": "/c"}]}}, config
        )
    volume = {"source": "shared-volume", "target": "/v", "type": "volume"}
    check_task({"id": "t", "command": "x", "container_options": {"mounts": [volume]}}, config)
    for source in ("/srv/cache/../../etc", "/srv/cachet", "/srv"):
        mount = {"source": source, "target": "/c"}
        with pytest.raises(PolicyRefused):
            check_task({"id": "t", "command": "x", "container_options": {"mounts": [mount]}}, config)
    writable = {"source": "/srv/cache", "target": "/c", "read_only": False}
    with pytest.raises(PolicyRefused, match="writable_mounts"):
        check_task({"id": "t", "command": "x", "container_options": {"mounts": [writable]}}, config)
    with pytest.raises(PolicyRefused, match="max_memory"):
        check_task({"id": "t", "command": "x", "memory": "3g"}, config)


def test_placement_is_granted_only_within_the_policys_patterns() -> None:
    """A task's Swarm constraints must each match one of task_policy.placement's patterns (spaces
    around the operator do not matter); a near miss is refused, naming the constraint."""
    config = _config(task_policy={"placement": ["node.labels.gpu==*", "node.platform.arch==x86_64"]})
    granted = ["node.labels.gpu==true", "node.labels.gpu == a100", "node.platform.arch==x86_64"]
    check_task({"id": "t", "command": "x", "container_options": {"placement": granted}}, config)
    for asked in ("node.labels.gpux==1", "node.labels.gpu!=true", "node.platform.arch==arm64", "node.role==manager"):
        with pytest.raises(PolicyRefused, match=f"placement '{asked}'"):
            check_task({"id": "t", "command": "x", "container_options": {"placement": [asked]}}, config)


def test_a_task_may_not_undo_the_configs_own_narrowing() -> None:
    """The config's network_mode none and read-only root are the floor: a task cannot turn them off."""
    config = _config(container_options={"network_mode": "none", "read_only_root": True})
    with pytest.raises(PolicyRefused, match="network_mode 'bridge'"):
        check_task({"id": "t", "command": "x", "container_options": {"network_mode": "bridge"}}, config)
    with pytest.raises(PolicyRefused, match="read_only_root"):
        check_task({"id": "t", "command": "x", "container_options": {"read_only_root": False}}, config)


@pytest.mark.docker
def test_refused_options_never_reach_the_engine(docker_base: Base, docker_client: Any, tmp_path: Path) -> None:
    """A task asking for a host folder read-write or the host network fails to start with the one-line
    reason; no container is ever made for it; an allowed read-only mount works and stays read-only."""
    allowed = tmp_path / "cache"
    allowed.mkdir()
    (allowed / "data.txt").write_text("cached\n")
    forbidden = tmp_path / "private"
    forbidden.mkdir()
    docker_base.config(task_policy={"mount_sources": [str(allowed)]})
    manager = ManagerProcess(docker_base).start()
    try:
        docker_base.submit(
            "greedy",
            [
                {
                    "id": "hostfs",
                    "command": "true",
                    "container_options": {"mounts": [{"source": str(forbidden), "target": "/x", "read_only": False}]},
                },
                {"id": "hostnet", "command": "true", "container_options": {"network_mode": "host"}},
            ],
            max_parallel=2,
        )
        write_back = "cat /c/data.txt; touch /c/new 2>/dev/null && echo wrote || echo read-only"
        docker_base.submit(
            "modest",
            [
                {
                    "id": "reads",
                    "command": "sh",
                    "args": ["-c", write_back],
                    "container_options": {"mounts": [{"source": str(allowed), "target": "/c"}]},
                }
            ],
        )
        assert docker_base.wait_state("greedy")["state"] == "failed"
        assert docker_base.wait_state("modest")["state"] == "completed", manager.log()
    finally:
        manager.stop()
    tasks = {t["id"]: t for t in docker_base.tasks("greedy")}
    assert tasks["hostfs"]["result"] == "failed_to_start" and "mount_sources" in tasks["hostfs"]["error"]
    assert tasks["hostnet"]["result"] == "failed_to_start" and "host_network" in tasks["hostnet"]["error"]
    assert not docker_client.api.containers(all=True, filters={"label": "air-executor.job=greedy"})
    assert docker_base.log("modest", "reads") == "cached\nread-only\n"
    assert not (allowed / "new").exists()


@pytest.mark.docker
def test_a_runner_container_sees_only_its_own_job(docker_base: Base, docker_client: Any) -> None:
    """Inside its container a task finds its own job folder under the base, and no other job's files."""
    docker_base.submit("neighbour", [{"id": "n", "command": "true"}])
    probe = 'ls "$AIR_EXECUTOR_BASE_PATH/jobs"; cat "$AIR_EXECUTOR_BASE_PATH/jobs/neighbour/state.json" || echo blind'
    docker_base.submit("curious", [{"id": "look", "command": "sh", "args": ["-c", probe]}])
    manager = ManagerProcess(docker_base).start()
    try:
        for name in ("neighbour", "curious"):
            assert docker_base.wait_state(name)["state"] == "completed", manager.log()
    finally:
        manager.stop()
    lines = docker_base.log("curious", "look").splitlines()
    assert lines[0] == "curious" and lines[-1] == "blind", lines
