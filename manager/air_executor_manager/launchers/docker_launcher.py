"""Runners as short-lived Docker containers, one per task attempt, through the Docker SDK.

Containers are labelled with the base volume, job, task and launch id, so a
restarted manager finds its own. A container is removed only after its
outcome is on disk and its exit code, OOM flag and image were read.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import docker
from air_executor.config import Config
from air_executor.core.container import ContainerOptions
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.types import DeviceRequest, Mount

from air_executor_manager.launchers.base import LaunchError, LaunchSpec, RunnerState
from air_executor_manager.launchers.docker_mounts import shared_volume

log = logging.getLogger("air_executor.manager")

LABEL = "air-executor"
ALIVE = frozenset({"created", "running", "restarting", "paused"})


class DockerLauncher:
    name = "docker"

    def __init__(self, config: Config, client: Any) -> None:
        self.config = config
        self.client = client
        self.base = str(config.base)
        self.volume = shared_volume(client, self.base)
        self.volume_key = self.volume.key
        self.manager_name = socket.gethostname()
        self._created: dict[str, float] = {}
        self._statuses: dict[str, str] = {}  # name -> status, from one listing per pass
        self._listed_at = 0.0

    def begin_pass(self) -> None:
        """List this volume's runner containers once, so liveness checks in this pass cost no call."""
        listing = self._list({"label": f"{LABEL}.volume={self.volume_key}"})
        self._statuses = {_name(c): str(c.get("State", "")) for c in listing}
        self._listed_at = time.monotonic()

    def on_exit(self, wake: Callable[[], None]) -> None:
        pass  # a container says nothing when it exits: the manager looks (runners.py: next_look)

    # -- the launcher protocol -------------------------------------------------------------

    def runner_id_for(self, spec: LaunchSpec) -> str | None:
        return f"ae-{spec.job[:40]}-{spec.task_id[:40]}-{spec.launch_id[:12]}"

    def launch(self, spec: LaunchSpec) -> str:
        name = self.runner_id_for(spec)
        assert name is not None
        image = spec.task.get("image") or self.config.runner_image
        try:
            kwargs = self.container_kwargs(spec, name, image, spec.user_spec)
            container = self.client.containers.create(image, [*spec.runner_args], **kwargs)
        except ImageNotFound:
            raise LaunchError(f"runner image {image!r} not found (build it: make images)") from None
        except (APIError, DockerException, ValueError) as exc:
            raise LaunchError(f"cannot create the runner container: {_explain(exc)}") from None
        self._created[name] = time.monotonic()
        try:
            container.start()
        except (APIError, DockerException) as exc:
            self._remove(name)
            raise LaunchError(f"the runner container failed to start: {_explain(exc)}") from None
        return name

    def container_kwargs(self, spec: LaunchSpec, name: str, image: str, user: str) -> dict[str, Any]:
        task = spec.task
        options = ContainerOptions.model_validate(
            {**self.config.container_options.model_dump(exclude_defaults=True), **(task.get("container_options") or {})}
        )
        cpus = task.get("cpus") or self.config.runner_cpus
        memory = task.get("memory") or self.config.runner_memory
        kwargs: dict[str, Any] = {
            "name": name,
            "labels": {
                LABEL: "runner",
                f"{LABEL}.volume": self.volume_key,
                f"{LABEL}.manager": self.manager_name,
                f"{LABEL}.job": spec.job,
                f"{LABEL}.task": spec.task_id,
                f"{LABEL}.launch": spec.launch_id,
            },
            "user": user,
            "environment": spec.runner_env,
            "mounts": [
                self.volume.job_mount(f"{self.base}/jobs/{spec.job}")[0],
                *[Mount(m.target, m.source, type=m.type, read_only=m.read_only) for m in options.mounts],
            ],
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "detach": True,
        }
        if cpus:
            kwargs["nano_cpus"] = int(float(cpus) * 1e9)
        if memory:
            kwargs["mem_limit"] = memory
        if options.shm_size:
            kwargs["shm_size"] = options.shm_size
        if options.devices:
            kwargs["devices"] = options.devices
        if options.gpus is not None:
            count = -1 if options.gpus == "all" else int(options.gpus)
            kwargs["device_requests"] = [DeviceRequest(count=count, capabilities=[["gpu"]])]
        if options.runtime:
            kwargs["runtime"] = options.runtime
        if options.network_mode:
            kwargs["network_mode"] = options.network_mode
        if options.pids_limit:
            kwargs["pids_limit"] = options.pids_limit
        if options.read_only_root:
            kwargs["read_only"] = True
            kwargs["tmpfs"] = {"/tmp": ""}
        return kwargs

    def state(self, runner_id: str) -> RunnerState:
        fresh = time.monotonic() - self._listed_at < 0.5
        if fresh and self._statuses.get(runner_id) == "running":
            return RunnerState(alive=True)
        try:
            container = self.client.containers.get(runner_id)
        except NotFound:
            return RunnerState(alive=False, details={"container": runner_id, "container_gone": True})
        except DockerException as exc:
            log.warning("cannot inspect %s: %s", runner_id, exc)
            return RunnerState(alive=True)  # unknown: never declare a runner lost on an API hiccup
        status = container.status
        if status == "created" and self._start_overdue(runner_id, container):
            return RunnerState(alive=False, details={**self._details(container), "never_started": True})
        if status in ALIVE:
            return RunnerState(alive=True)
        details = self._details(container)
        return RunnerState(alive=False, exit_code=details.get("exit_code"), details=details)

    def find(self, launch_id: str) -> str | None:
        """The container of this launch on this volume (its labels say so): never a name a job file gives."""
        found = self._list({"label": [f"{LABEL}.launch={launch_id}", f"{LABEL}.volume={self.volume_key}"]})
        return _name(found[0]) if found else None

    def stop(self, runner_id: str, force: bool = False) -> None:
        """SIGTERM (the runner ends its task and records it), SIGKILL when forced."""
        try:
            self.client.containers.get(runner_id).kill(signal="SIGKILL" if force else "SIGTERM")
        except (NotFound, APIError):
            pass

    def cleanup(self, runner_id: str | None, *, launch_id: str = "", lost: bool = False) -> None:
        if runner_id is None:
            return  # no container was ever made for this launch
        self._created.pop(runner_id, None)
        self._remove(runner_id)

    def logs_tail(self, runner_id: str, lines: int = 20) -> str:
        try:
            raw = self.client.containers.get(runner_id).logs(tail=lines)
        except DockerException:
            return ""
        return raw.decode("utf-8", "replace").strip()

    def orphans(self, live_launch_ids: set[str]) -> list[str]:
        """Containers of this base volume whose task is no longer running: exited ones, and ones
        left created (never started) by a manager that died between create and start."""
        volume = f"{LABEL}.volume={self.volume_key}"
        ours = self._list({"label": volume, "status": "exited"}) + self._list({"label": volume, "status": "dead"})
        stale = time.time() - self.config.runner_start_timeout
        ours += [c for c in self._list({"label": volume, "status": "created"}) if (c.get("Created") or 0) < stale]
        return [_name(c) for c in ours if (c.get("Labels") or {}).get(f"{LABEL}.launch") not in live_launch_ids]

    def _list(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        # The low-level call: the high-level list() inspects each container and fails
        # when one is removed meanwhile.
        try:
            return list(self.client.api.containers(all=True, filters=filters))
        except DockerException as exc:
            log.warning("cannot list runner containers: %s", exc)
            return []

    def close(self) -> None:
        try:
            self.client.close()
        except DockerException:
            pass

    # -- helpers -------------------------------------------------------------------------

    def _start_overdue(self, runner_id: str, container: Any) -> bool:
        created = self._created.get(runner_id)
        if created is not None:
            return time.monotonic() - created > self.config.runner_start_timeout
        stamp = _parse_docker_time(container.attrs.get("Created"))
        return stamp is not None and time.time() - stamp > self.config.runner_start_timeout

    def _details(self, container: Any) -> dict[str, Any]:
        attrs = container.attrs
        state = attrs.get("State") or {}
        started = _parse_docker_time(state.get("StartedAt"))
        finished = _parse_docker_time(state.get("FinishedAt"))
        details = {
            "container_id": container.id,
            "image": (attrs.get("Config") or {}).get("Image"),
            "image_id": attrs.get("Image"),
            "exit_code": state.get("ExitCode"),
            "oom_killed": bool(state.get("OOMKilled")),
        }
        if started and finished and finished >= started:
            details["container_wall_time"] = round(finished - started, 3)
        return details

    def _remove(self, runner_id: str) -> None:
        try:
            self.client.containers.get(runner_id).remove(force=True)
        except NotFound:
            pass
        except DockerException as exc:
            log.warning("cannot remove runner container %s: %s", runner_id, exc)


def _name(summary: dict[str, Any]) -> str:
    names = summary.get("Names") or [summary.get("Id", "")]
    return str(names[0]).lstrip("/")


def _parse_docker_time(value: str | None) -> float | None:
    if not value or value.startswith("0001-"):
        return None
    # Docker gives nanoseconds; datetime takes at most microseconds.
    head, _, rest = value.partition(".")
    fraction = "".join(ch for ch in rest if ch.isdigit())[:6]
    try:
        return datetime.fromisoformat(f"{head}.{fraction or '0'}+00:00").timestamp()
    except ValueError:
        return None


def _explain(exc: Exception) -> str:
    return str(getattr(exc, "explanation", None) or exc).splitlines()[0]


def probe(config: Config) -> DockerLauncher:
    """A Docker launcher if an engine answers and the runner image exists; LaunchError otherwise."""
    try:
        # One kept-alive connection per concurrent launch, so parallel calls do not queue.
        client = docker.from_env(
            timeout=max(int(config.runner_start_timeout), 5), max_pool_size=config.max_concurrent_runners + 4
        )
        client.ping()
    except DockerException as exc:
        raise LaunchError(f"no Docker engine answers ({_explain(exc)})") from None
    try:
        client.images.get(config.runner_image)
    except ImageNotFound:
        raise LaunchError(f"runner image {config.runner_image!r} not found (build it: make images)") from None
    except DockerException as exc:
        raise LaunchError(f"cannot check the runner image: {_explain(exc)}") from None
    return DockerLauncher(config, client)
