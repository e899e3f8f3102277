"""What the Docker and Swarm launchers share: the engine client, runner labels, a task's container
options, and hearing runner containers' exits from the engine's events."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import docker
from air_executor.config import Config
from air_executor.core.container import ContainerOptions
from docker.errors import DockerException
from docker.types import Mount

from air_executor_manager.launchers.base import LaunchError, LaunchSpec

log = logging.getLogger("air_executor.manager")

LABEL = "air-executor"


def engine_client(config: Config) -> Any:
    """A client of the local engine with one kept-alive connection per concurrent launch, so
    parallel calls do not queue; LaunchError when no engine answers."""
    try:
        client = docker.from_env(
            timeout=max(int(config.runner_start_timeout), 5), max_pool_size=config.max_concurrent_runners + 4
        )
        client.ping()
    except DockerException as exc:
        raise LaunchError(f"no Docker engine answers ({explain(exc)})") from None
    return client


def runner_labels(spec: LaunchSpec, volume_key: str, manager: str) -> dict[str, str]:
    """How a restarted manager finds its runners: by volume and launch id, never by a name a job file gives."""
    return {
        LABEL: "runner",
        f"{LABEL}.volume": volume_key,
        f"{LABEL}.manager": manager,
        f"{LABEL}.job": spec.job,
        f"{LABEL}.task": spec.task_id,
        f"{LABEL}.launch": spec.launch_id,
    }


def task_options(config: Config, task: dict[str, Any]) -> ContainerOptions:
    """The config's container options with the task's own over them (task_policy already checked)."""
    return ContainerOptions.model_validate(
        {**config.container_options.model_dump(exclude_defaults=True), **(task.get("container_options") or {})}
    )


def extra_mounts(options: ContainerOptions) -> list[Mount]:
    return [Mount(m.target, m.source, type=m.type, read_only=m.read_only) for m in options.mounts]


def hear_exits(
    volume_key: str, closed: threading.Event, heard: Callable[[str], None], wake: Callable[[], None]
) -> None:
    """On a thread of its own until `closed`: call `heard(container name)` and `wake()` as each runner
    container of the volume dies, so a slot is free when its runner is."""
    threading.Thread(target=_listen, args=(volume_key, closed, heard, wake), name="docker-events", daemon=True).start()


def _listen(volume_key: str, closed: threading.Event, heard: Callable[[str], None], wake: Callable[[], None]) -> None:
    """Reconnects when the stream breaks (the engine restarted, say); exits are still polled meanwhile."""
    filters = {"type": "container", "event": "die", "label": f"{LABEL}.volume={volume_key}"}
    while not closed.is_set():
        try:
            for event in docker.from_env(timeout=None).events(decode=True, filters=filters):
                heard(str(((event.get("Actor") or {}).get("Attributes") or {}).get("name", "")))
                wake()
                if closed.is_set():
                    return
        except Exception as exc:  # the engine restarted, say: listen again
            log.debug("docker events: %s", exc)
        closed.wait(1.0)


def parse_docker_time(value: str | None) -> float | None:
    if not value or value.startswith("0001-"):
        return None
    # Docker gives nanoseconds; datetime takes at most microseconds.
    head, _, rest = value.partition(".")
    fraction = "".join(ch for ch in rest if ch.isdigit())[:6]
    try:
        return datetime.fromisoformat(f"{head}.{fraction or '0'}+00:00").timestamp()
    except ValueError:
        return None


def explain(exc: Exception) -> str:
    return str(getattr(exc, "explanation", None) or exc).splitlines()[0]
