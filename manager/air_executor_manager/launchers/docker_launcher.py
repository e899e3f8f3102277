"""Runners as short-lived Docker containers, one per task attempt, through the Docker SDK.

Containers are labelled with the base volume, job, task and launch id, so a
restarted manager finds its own. A container is removed only after its
outcome is on disk and its exit code, OOM flag and image were read.

Warm starts (README "Warm starts"): while a job's task runs and more of its tasks are
coming, its next runner container is started ahead under a launch id no task has yet,
waiting (runner/standby.py) until the manager claims a task under that id. Each still
serves exactly one task. Exits are heard from Docker's event stream, so a finished
runner's slot is free at once.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from air_executor.config import Config
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.types import DeviceRequest

from air_executor_manager.launchers.base import SECRETS_ENV, SECRETS_ON_STDIN, LaunchError, LaunchSpec, RunnerState
from air_executor_manager.launchers.docker_common import (
    LABEL,
    engine_client,
    explain,
    extra_mounts,
    hear_exits,
    parse_docker_time,
    runner_labels,
    task_options,
)
from air_executor_manager.launchers.docker_mounts import shared_volume

log = logging.getLogger("air_executor.manager")

ALIVE = frozenset({"created", "running", "restarting", "paused"})
WARM_LABEL = f"{LABEL}.warm"
WARM_PER_JOB = 3  # runners started ahead for one job: a chain of short tasks needs a few in the pipe
STARTING = ""  # warm_launch_id: a runner for this task is being started ahead; it comes sooner than a new one


@dataclass
class Warm:
    """A runner container started ahead for a job, waiting for a claim under `launch_id`."""

    name: str
    launch_id: str
    profile: str  # what a task must ask for to run in it (image, limits, options)
    user: str
    ready: bool = False  # started, so a task handed to it starts at once


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
        self._warm: dict[str, list[Warm]] = {}  # job -> its runner containers waiting for a task
        self._handed: dict[str, Warm] = {}  # launch id -> the waiting container given that launch
        self._warm_lock = threading.Lock()
        self._closed = threading.Event()

    def begin_pass(self) -> None:
        """List this volume's runner containers once, so liveness checks in this pass cost no call."""
        listing = self._list({"label": f"{LABEL}.volume={self.volume_key}"})
        self._statuses = {_name(c): str(c.get("State", "")) for c in listing}
        self._listed_at = time.monotonic()

    def on_exit(self, wake: Callable[[], None]) -> None:
        hear_exits(self.volume_key, self._closed, self._died, wake)

    def _died(self, name: str) -> None:
        self._statuses.pop(name, None)  # look again: the listing of this pass is out of date
        self._waiting_died(name)

    # -- the launcher protocol -------------------------------------------------------------

    def runner_id_for(self, spec: LaunchSpec) -> str | None:
        handed = self._handed.get(spec.launch_id)
        return handed.name if handed is not None else _cold_name(spec)

    def launch(self, spec: LaunchSpec) -> str:
        handed = self._handed.pop(spec.launch_id, None)
        if handed is not None:
            if handed.user == spec.user_spec:
                return handed.name  # it has been waiting for this claim, written just now
            self._remove(handed.name)  # the folder changed hands since: start one as its owner
        name = _cold_name(spec)
        image = spec.task.get("image") or self.config.runner_image
        try:
            kwargs = self.container_kwargs(spec, name, image, spec.user_spec)
            container = self.client.containers.create(image, [*spec.runner_args], **kwargs)
        except ImageNotFound:
            raise LaunchError(f"runner image {image!r} not found (build it: make images)") from None
        except (APIError, DockerException, ValueError) as exc:
            raise LaunchError(f"cannot create the runner container: {explain(exc)}") from None
        self._created[name] = time.monotonic()
        try:
            if spec.secrets:
                self._start_with_secrets(container, spec.secrets)
            else:
                container.start()
        except (APIError, DockerException, OSError) as exc:
            self._remove(name)
            raise LaunchError(f"the runner container failed to start: {explain(exc)}") from None
        return name

    def _start_with_secrets(self, container: Any, secrets: dict[str, str]) -> None:
        """Start the container and write the task's secrets to its stdin, one JSON line: its config
        (what `docker inspect` shows) never holds them (README "Trust model")."""
        stream = container.attach_socket(params={"stdin": 1, "stream": 1})
        raw = getattr(stream, "_sock", stream)
        try:
            container.start()
            raw.sendall(json.dumps(secrets).encode() + b"\n")
        finally:
            raw.close()

    # -- warm containers (WarmContainers) -------------------------------------------------

    def warm_launch_id(self, job: str, task: dict[str, Any]) -> str | None:
        profile = self._profile(task)
        with self._warm_lock:
            line = self._warm.get(job, [])
            unfit = [warm for warm in line if warm.profile != profile]  # made for another kind of task
            line[:] = [warm for warm in line if warm.profile == profile]
            chosen = next((warm for warm in line if warm.ready), None)
            if chosen is not None:
                line.remove(chosen)
                self._handed[chosen.launch_id] = chosen
            if not line:
                self._warm.pop(job, None)
        for warm in unfit:
            threading.Thread(target=self._remove, args=(warm.name,), daemon=True).start()
        if chosen is not None:
            log.debug("job %s: task %s goes to the waiting runner %s", job, task.get("id"), chosen.name)
            return chosen.launch_id
        return STARTING if line else None

    def has_warm(self, job: str) -> bool:
        return job in self._warm

    def reserve_warm(self, spec: LaunchSpec, pending: int) -> bool:
        if spec.task.get("secrets"):
            return False  # its secrets are read at its own launch, not held by a container waiting for it
        with self._warm_lock:
            line = self._warm.get(spec.job, [])
            total = sum(len(waiting) for waiting in self._warm.values())
            if self._closed.is_set() or len(line) >= min(pending, WARM_PER_JOB) or total >= self.config.warm_containers:
                return False
            name = f"ae-{spec.job[:40]}-next-{spec.launch_id[:12]}"
            self._warm.setdefault(spec.job, []).append(
                Warm(name, spec.launch_id, self._profile(spec.task), spec.user_spec)
            )
            return True

    def prepare_warm(self, spec: LaunchSpec) -> None:
        with self._warm_lock:
            warm = next((w for w in self._warm.get(spec.job, []) if w.launch_id == spec.launch_id), None)
        if warm is None:
            return  # discarded before its turn came
        image = spec.task.get("image") or self.config.runner_image
        try:
            kwargs = self.container_kwargs(spec, warm.name, image, spec.user_spec)
            kwargs["labels"] = {**kwargs["labels"], f"{LABEL}.task": "", WARM_LABEL: "1"}
            command = ["--standby", str(spec.base_path), spec.job, spec.launch_id]
            self.client.containers.create(image, command, **kwargs).start()
        except (APIError, DockerException, ValueError) as exc:
            log.info("job %s: cannot start a runner ahead (%s); tasks start cold", spec.job, explain(exc))
            self._forget_warm(spec.job, warm)
            self._remove(warm.name)
            return
        with self._warm_lock:
            if warm in self._warm.get(spec.job, []):
                warm.ready = True
                self._statuses[warm.name] = "running"
                log.info("job %s: next runner started ahead (%s)", spec.job, warm.name, extra={"job": spec.job})
                return
        self._remove(warm.name)  # discarded while it was starting

    def discard_warm(self, job: str) -> None:
        with self._warm_lock:
            line = self._warm.pop(job, [])
        for warm in line:
            log.debug("job %s: removing its waiting runner %s", job, warm.name)
            self._remove(warm.name)

    def _forget_warm(self, job: str, warm: Warm) -> None:
        with self._warm_lock:
            line = self._warm.get(job, [])
            if warm in line:
                line.remove(warm)
            if not line:
                self._warm.pop(job, None)

    def _waiting_died(self, name: str) -> None:
        """A container waiting for a task exited (its wait ran out, or it was killed): it is no use."""
        with self._warm_lock:
            found = [(job, warm) for job, line in self._warm.items() for warm in line if warm.name == name]
        for job, warm in found:
            self._forget_warm(job, warm)
            self._remove(name)

    def _profile(self, task: dict[str, Any]) -> str:
        """What a container is made of for a task: tasks that agree on it can use each other's."""
        fields = ("image", "cpus", "memory", "container_options", "secrets")  # a task with secrets starts cold
        return json.dumps({key: task.get(key) for key in fields}, sort_keys=True, default=str)

    def container_kwargs(self, spec: LaunchSpec, name: str, image: str, user: str) -> dict[str, Any]:
        task = spec.task
        options = task_options(self.config, task)
        cpus = task.get("cpus") or self.config.runner_cpus
        memory = task.get("memory") or self.config.runner_memory
        kwargs: dict[str, Any] = {
            "name": name,
            "labels": runner_labels(spec, self.volume_key, self.manager_name),
            "user": user,
            # Secrets come on stdin at start (_start_with_secrets), not in the container's config.
            "environment": {**spec.runner_env, **({SECRETS_ENV: SECRETS_ON_STDIN} if spec.secrets else {})},
            "stdin_open": bool(spec.secrets),
            "mounts": [
                self.volume.job_mount(f"{self.base}/jobs/{spec.job}")[0],
                *extra_mounts(options),
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
        if not found:
            return None
        name = _name(found[0])
        if found[0].get("State") == "created":
            # Its manager died between creating and starting it: the claim is on disk, so start it now.
            try:
                self.client.api.start(name)
                log.info("started the runner %s an earlier manager had created but not started", name)
            except DockerException as exc:
                log.warning("cannot start the runner %s left created: %s", name, explain(exc))
        return name

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
        # Runners an earlier manager started ahead (or was starting) that got no task; one that did
        # was adopted. Only the manager that made one can hand it a task.
        with self._warm_lock:
            mine = {warm.name for line in self._warm.values() for warm in line}
        for status in ("created", "running"):
            found = self._list({"label": [volume, f"{WARM_LABEL}=1"], "status": status})
            ours += [c for c in found if _name(c) not in mine and c not in ours]
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
        """The manager stops: runners waiting for a task go; runners of tasks run on."""
        self._closed.set()
        with self._warm_lock:
            waiting, self._warm = [warm for line in self._warm.values() for warm in line], {}
        for warm in waiting:
            self._remove(warm.name)
        try:
            self.client.close()
        except DockerException:
            pass

    # -- helpers -------------------------------------------------------------------------

    def _start_overdue(self, runner_id: str, container: Any) -> bool:
        created = self._created.get(runner_id)
        if created is not None:
            return time.monotonic() - created > self.config.runner_start_timeout
        stamp = parse_docker_time(container.attrs.get("Created"))
        return stamp is not None and time.time() - stamp > self.config.runner_start_timeout

    def _details(self, container: Any) -> dict[str, Any]:
        attrs = container.attrs
        state = attrs.get("State") or {}
        started = parse_docker_time(state.get("StartedAt"))
        finished = parse_docker_time(state.get("FinishedAt"))
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


def _cold_name(spec: LaunchSpec) -> str:
    return f"ae-{spec.job[:40]}-{spec.task_id[:40]}-{spec.launch_id[:12]}"


def _name(summary: dict[str, Any]) -> str:
    names = summary.get("Names") or [summary.get("Id", "")]
    return str(names[0]).lstrip("/")


def probe(config: Config) -> DockerLauncher:
    """A Docker launcher if an engine answers and the runner image exists; LaunchError otherwise."""
    client = engine_client(config)
    try:
        client.images.get(config.runner_image)
    except ImageNotFound:
        raise LaunchError(f"runner image {config.runner_image!r} not found (build it: make images)") from None
    except DockerException as exc:
        raise LaunchError(f"cannot check the runner image: {explain(exc)}") from None
    return DockerLauncher(config, client)
