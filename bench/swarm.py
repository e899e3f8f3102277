"""Swarm dispatch latency: a job written -> its task's command starts in a runner service, beside a raw
`docker service create` of the same runner image on a claimed task, measured in the same run."""

from __future__ import annotations

import time
import uuid
from typing import Any

from common import (
    TASK_CLOCK,
    base_folder,
    one_node_swarm,
    open_to_runner_containers,
    task_clock,
    wait_task_done,
    write_claimed,
)
from dispatch import _row, through_manager


def raw_service_baseline(count: int, image: str, client: Any) -> list[float]:
    """The runner image as one Swarm service per claimed task, made directly through the Docker SDK
    with the launcher's mode and hardening, removed once its task has recorded its end."""
    from air_executor_manager.launchers.docker_mounts import api_version
    from air_executor_manager.launchers.swarm_launcher import service_mode
    from docker.types import ContainerSpec, Mount, RestartPolicy, TaskTemplate

    mode = service_mode(api_version(client))
    with base_folder() as store:
        base, latencies = str(store.base_path), []
        for i in range(count):
            name = f"raw-{i}"
            launch_id = write_claimed(store, name, TASK_CLOCK)
            open_to_runner_containers(store, name)
            spec = ContainerSpec(
                image, args=[base, name, "t", launch_id], user="10001:10001", mounts=[Mount(base, base, type="bind")]
            )
            spec["CapabilityDrop"] = ["ALL"]
            template = TaskTemplate(spec, restart_policy=RestartPolicy(condition="none"))
            t0 = time.time()
            service = client.api.create_service(template, name=f"ae-bench-{uuid.uuid4().hex[:12]}", mode=mode)
            wait_task_done(store, name)
            latencies.append(task_clock(store, name) - t0)
            client.api.remove_service(service["ID"])
        return latencies


def run(count: int, image: str | None) -> list[dict[str, Any]]:
    if not image:
        return []
    import docker

    client = docker.from_env()
    with one_node_swarm(client):
        ours = through_manager("swarm", count, runner_image=image)
        raw = raw_service_baseline(count, image, client)
    return [
        _row(
            "dispatch latency p50, swarm",
            ours,
            raw,
            "p50",
            "s",
            target="<= 1.25 x raw docker service create",
            ok=lambda o, b: o <= 1.25 * b,
        ),
        _row("dispatch latency p95, swarm", ours, raw, "p95", "s"),
    ]
