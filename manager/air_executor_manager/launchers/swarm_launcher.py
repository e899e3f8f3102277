"""Runners as Docker Swarm services in `replicated-job` mode: one service per task attempt.

A replicated job of one replica that never restarts is Swarm's own ephemeral
single-task runner. Engines before 24 (API 1.43) keep a job's task and container
forever once its service is removed (moby/moby#44312), so there each runner is a
`replicated` service of one replica that never restarts: the same single run,
cleaned up with its service. Each service carries the labels of today's runner containers
(volume, job, task, launch), so a restarted manager finds its own; its task's
outcome (exit code, node, Swarm task id, error) goes into the attempt's history
before the service is removed.

What Swarm services cannot do that containers can is refused in one line, never
dropped (README "Scaling out"): devices, GPUs and runtimes; `no-new-privileges`
only where the engine takes it for services (API 1.46+).
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from air_executor.config import Config
from air_executor.core.container import ContainerOptions
from air_executor.core.policy import size_bytes
from docker.errors import APIError, DockerException, NotFound
from docker.types import (
    ContainerSpec,
    Mount,
    Placement,
    Resources,
    RestartPolicy,
    ServiceMode,
    TaskTemplate,
)

from air_executor_manager.launchers.base import LaunchError, LaunchSpec, RunnerState
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
from air_executor_manager.launchers.docker_mounts import SharedVolume, api_version, mounts_subpaths, shared_volume

log = logging.getLogger("air_executor.manager")

# A Swarm task's states before its container runs, and after it ended (docker/api/types/swarm/task.go).
NOT_YET = frozenset({"new", "allocated", "pending", "assigned", "accepted", "preparing", "ready", "starting"})
ENDED = frozenset({"complete", "failed", "shutdown", "rejected", "orphaned", "remove"})
JOB_MODE_API = (1, 43)  # Engine 24: removing a replicated-job service removes its task and container
NO_NEW_PRIVILEGES_API = (1, 46)  # ContainerSpec.Privileges.NoNewPrivileges
FRESH = 0.5  # seconds a pass's task listing answers liveness checks


class SwarmLauncher:
    name = "swarm"

    def __init__(self, config: Config, client: Any) -> None:
        self.config = config
        self.client = client
        self.base = str(config.base)
        self.api = api_version(client)
        self.volume = self._shared_volume()
        self.volume_key = self.volume.key
        self.manager_name = socket.gethostname()
        self.node_id = str((client.info().get("Swarm") or {}).get("NodeID") or "")
        self._services: dict[str, float] = {}  # our live services -> when we created (or adopted) them
        self._ids: dict[str, str] = {}  # service name -> id (tasks name their service by id)
        self._tasks: dict[str, dict[str, Any]] = {}  # service name -> its Swarm task, from one listing per pass
        self._listed_at = 0.0
        self._stopping: dict[str, float] = {}  # services removed to stop them -> when (their runner ends within grace)
        self._nodes: dict[str, str] = {}  # node id -> hostname
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self.mode = service_mode(self.api)
        if self.api < JOB_MODE_API:
            log.info(
                "this engine (API %s) leaks the tasks of removed replicated-job services: runners are replicated "
                "services of one replica that never restarts (README 'Scaling out')",
                ".".join(map(str, self.api)),
            )
        if self.api < NO_NEW_PRIVILEGES_API:
            log.info(
                "this engine (API %s) cannot set no-new-privileges on services: runner services go without it "
                "(README 'Scaling out')",
                ".".join(map(str, self.api)),
            )

    def _shared_volume(self) -> SharedVolume:
        """The config's named volume (made on each node by its driver), else what backs the base here."""
        settings = self.config.swarm
        if settings.volume is None:
            return shared_volume(self.client, self.base)
        return SharedVolume(
            key=f"volume:{settings.volume}",
            destination=self.base,
            host_folder=None,
            volume=settings.volume,
            subpaths=mounts_subpaths(self.api, settings.volume, settings.volume_driver),
            driver=settings.volume_driver,
            driver_options=dict(settings.volume_options),
        )

    # -- noticing exits -----------------------------------------------------------------

    def begin_pass(self) -> None:
        """List the tasks of our services once, so liveness checks in this pass cost no call."""
        with self._lock:
            names = {self._ids[name]: name for name in self._services if name in self._ids}
        if not names:
            return
        latest = self._latest_tasks(names)
        if latest is None:
            return  # each service is looked at on its own this pass
        self._tasks = latest
        self._listed_at = time.monotonic()

    def on_exit(self, wake: Callable[[], None]) -> None:
        """Exits of our runner containers on this node are heard from Docker's events (others: each pass)."""
        hear_exits(self.volume_key, self._closed, self._died, wake)

    def _died(self, name: str) -> None:
        self._listed_at = 0.0  # the pass's listing is out of date

    # -- the launcher protocol ----------------------------------------------------------

    def runner_id_for(self, spec: LaunchSpec) -> str | None:
        return service_name(spec.job, spec.launch_id)

    def launch(self, spec: LaunchSpec) -> str:
        if spec.secrets:  # a service's spec (in the swarm's store, shown by inspect) would hold them
            raise LaunchError("the swarm launcher cannot hand a task its secrets; run it with the docker launcher")
        name = service_name(spec.job, spec.launch_id)
        image = spec.task.get("image") or self.config.runner_image
        template = self.task_template(spec, image)
        labels = self.labels(spec)
        try:
            created = self.client.api.create_service(template, name=name, labels=labels, mode=self.mode)
        except (APIError, DockerException, ValueError) as exc:
            raise LaunchError(f"cannot create the runner service: {explain(exc)}") from None
        with self._lock:
            self._services[name] = time.monotonic()
            self._ids[name] = str(created["ID"])
        return name

    def labels(self, spec: LaunchSpec) -> dict[str, str]:
        return runner_labels(spec, self.volume_key, self.manager_name)

    def task_template(self, spec: LaunchSpec, image: str) -> TaskTemplate:
        """The service's task: the runner container of the Docker launcher, as far as Swarm can make it."""
        task = spec.task
        options = task_options(self.config, task)
        _refuse_unsupported(options)
        mounts = [
            self.volume.job_mount(f"{self.base}/jobs/{spec.job}")[0],
            *extra_mounts(options),
        ]
        if options.read_only_root:
            mounts.append(Mount("/tmp", None, type="tmpfs"))
        if options.shm_size:  # services have no --shm-size: a tmpfs of that size at /dev/shm is what it makes
            mounts.append(Mount("/dev/shm", None, type="tmpfs", tmpfs_size=size_bytes(options.shm_size)))
        container = ContainerSpec(
            image,
            args=spec.runner_args,
            env=spec.runner_env,
            user=spec.user_spec,
            labels=self.labels(spec),
            mounts=mounts,
            cap_drop=["ALL"],
            read_only=options.read_only_root or None,
            stop_signal="SIGTERM",
            stop_grace_period=int(self.config.stop_grace * 1e9),
        )
        if self.api >= NO_NEW_PRIVILEGES_API:
            container["Privileges"] = {"NoNewPrivileges": True}
        return TaskTemplate(
            container,
            resources=self._resources(task, options),
            restart_policy=RestartPolicy(condition="none"),
            placement=Placement(
                constraints=[*self.config.swarm.constraints, *options.placement] or None,
                preferences=[("spread", label) for label in self.config.swarm.preferences] or None,
            ),
            networks=[options.network_mode] if options.network_mode in ("host", "none") else None,
        )

    def _resources(self, task: dict[str, Any], options: ContainerOptions) -> Resources:
        cpus = task.get("cpus") or self.config.runner_cpus
        memory = task.get("memory") or self.config.runner_memory
        nano = int(float(cpus) * 1e9) if cpus else None
        size = size_bytes(memory) if memory else None
        # Limits and reservations alike: Swarm places the runner only where what it may use is free.
        resources = Resources(cpu_limit=nano, mem_limit=size, cpu_reservation=nano, mem_reservation=size)
        if options.pids_limit:
            resources.setdefault("Limits", {})["Pids"] = options.pids_limit
        return resources

    def state(self, runner_id: str) -> RunnerState:
        task = self._task(runner_id)
        if task is None:
            return self._without_task(runner_id)
        status = task.get("Status") or {}
        phase = str(status.get("State") or "")
        if phase in NOT_YET:
            if self._start_overdue(runner_id):
                why = self._late(status.get("Err") or f"its task is still {phase}")
                return RunnerState(alive=False, details=self._details(task, never_started=True, start_error=why))
            return RunnerState(alive=True)
        if phase not in ENDED:
            return RunnerState(alive=True)
        if phase == "rejected":
            why = f"Swarm rejected it: {status.get('Err') or 'no reason given'}"
            return RunnerState(alive=False, details=self._details(task, never_started=True, start_error=why))
        details = self._details(task)
        return RunnerState(alive=False, exit_code=details.get("exit_code"), details=details)

    def _without_task(self, name: str) -> RunnerState:
        """A service with no task yet is starting; no service at all has ended (or is stopping)."""
        try:
            self.client.api.inspect_service(name)
        except NotFound:
            stopping = self._stopping.get(name)
            if stopping is not None and time.monotonic() - stopping < self.config.stop_grace + 5:
                return RunnerState(alive=True)  # Swarm is stopping its runner, which records the task killed
            return RunnerState(alive=False, details={"service": name, "service_gone": True})
        except DockerException as exc:
            log.warning("cannot inspect %s: %s", name, exc)
            return RunnerState(alive=True)  # unknown: never declare a runner lost on an API hiccup
        if self._start_overdue(name):
            why = self._late("Swarm made no task for it")
            return RunnerState(alive=False, details={"service": name, "never_started": True, "start_error": why})
        return RunnerState(alive=True)

    def find(self, launch_id: str) -> str | None:
        """The service of this launch on this volume (its labels say so): never a name a job file gives."""
        labels = [f"{LABEL}.launch={launch_id}", f"{LABEL}.volume={self.volume_key}"]
        found = self._list_services(labels)
        if not found:
            return None
        name = str(found[0]["Spec"]["Name"])
        with self._lock:
            self._services[name] = _created(found[0])
            self._ids[name] = str(found[0]["ID"])
        return name

    def stop(self, runner_id: str, force: bool = False) -> None:
        """SIGTERM (the runner ends its task and records it), SIGKILL when forced. A runner on this node is
        signalled; elsewhere its service is removed, and Swarm stops it with the same grace."""
        task = self._task(runner_id, fresh=True)
        container = ((task or {}).get("Status") or {}).get("ContainerStatus", {}).get("ContainerID")
        if task is not None and task.get("NodeID") == self.node_id and container:
            try:
                self.client.api.kill(container, signal="SIGKILL" if force else "SIGTERM")
                return
            except NotFound:
                return
            except APIError as exc:
                log.debug("cannot signal %s: %s", runner_id, exc)
        self._stopping[runner_id] = time.monotonic()
        self._remove(runner_id)

    def cleanup(self, runner_id: str | None, *, launch_id: str = "", lost: bool = False) -> None:
        if runner_id is None:
            return
        with self._lock:
            self._services.pop(runner_id, None)
            self._ids.pop(runner_id, None)
        self._tasks.pop(runner_id, None)
        self._stopping.pop(runner_id, None)
        self._remove(runner_id)

    def logs_tail(self, runner_id: str, lines: int = 20) -> str:
        try:
            raw = b"".join(self.client.api.service_logs(runner_id, stdout=True, stderr=True, tail=lines))
        except DockerException:
            return ""
        return raw.decode("utf-8", "replace").strip()

    def orphans(self, live_launch_ids: set[str]) -> list[str]:
        """Services of this base volume whose runner no longer runs and whose launch is not live."""
        ours = [
            s
            for s in self._list_services([f"{LABEL}.volume={self.volume_key}"])
            if s["Spec"].get("Labels", {}).get(f"{LABEL}.launch") not in live_launch_ids
        ]
        if not ours:
            return []
        latest = self._latest_tasks({s["ID"]: s["Spec"]["Name"] for s in ours})
        if latest is None:
            return []  # look again next time
        stale = time.time() - self.config.runner_start_timeout
        found = []
        for service in ours:
            name = service["Spec"]["Name"]
            phase = ((latest.get(name) or {}).get("Status") or {}).get("State")
            if phase in ENDED or (phase in NOT_YET or phase is None) and _created_at(service) < stale:
                found.append(name)
        return found

    def close(self) -> None:
        """The manager stops; runner services run on, to be adopted by the next one."""
        self._closed.set()
        try:
            self.client.close()
        except DockerException:
            pass

    # -- helpers ------------------------------------------------------------------------

    def _task(self, name: str, fresh: bool = False) -> dict[str, Any] | None:
        if not fresh and time.monotonic() - self._listed_at < FRESH and name in self._tasks:
            return self._tasks[name]
        service_id = self._ids.get(name)
        if service_id is None:
            return None
        try:
            listing = self.client.api.tasks(filters={"service": service_id})
        except NotFound:
            return None  # the service is gone
        except DockerException as exc:
            log.debug("cannot list the tasks of %s: %s", name, exc)
            return self._tasks.get(name)
        return _latest_by_service(listing, {service_id: name}).get(name)

    def _latest_tasks(self, names: dict[str, str]) -> dict[str, dict[str, Any]] | None:
        """The newest task of each service (service id -> name), by name; None when the engine cannot
        say: one of them was removed meanwhile (stopped), or the call failed."""
        try:
            listing = self.client.api.tasks(filters={"service": list(names)})
        except NotFound:
            return None
        except DockerException as exc:
            log.warning("cannot list runner services' tasks: %s", exc)
            return None
        return _latest_by_service(listing, names)

    def _details(self, task: dict[str, Any], **extra: Any) -> dict[str, Any]:
        status = task.get("Status") or {}
        container = status.get("ContainerStatus") or {}
        details: dict[str, Any] = {
            "service": task.get("_service"),
            "swarm_task_id": task.get("ID"),
            "node": self._node_name(str(task.get("NodeID") or "")),
            "image": ((task.get("Spec") or {}).get("ContainerSpec") or {}).get("Image"),
            "container_id": container.get("ContainerID"),
            "exit_code": container.get("ExitCode"),
            "swarm_state": status.get("State"),
            "swarm_error": status.get("Err"),
            **extra,
        }
        if extra.get("never_started"):  # Swarm reports exit code 0 for a container it never ran
            details.pop("exit_code", None)
        return {key: value for key, value in details.items() if value not in (None, "")}

    def _node_name(self, node_id: str) -> str | None:
        if not node_id:
            return None
        if node_id not in self._nodes:
            try:
                self._nodes[node_id] = str(self.client.api.inspect_node(node_id)["Description"]["Hostname"])
            except (DockerException, KeyError):
                return node_id
        return self._nodes[node_id]

    def _late(self, reason: str) -> str:
        return f"Swarm could not start it within {self.config.runner_start_timeout:g} s ({reason})"

    def _start_overdue(self, name: str) -> bool:
        created = self._services.get(name)
        return created is not None and time.monotonic() - created > self.config.runner_start_timeout

    def _list_services(self, labels: list[str]) -> list[dict[str, Any]]:
        try:
            return list(self.client.api.services(filters={"label": labels}))
        except DockerException as exc:
            log.warning("cannot list runner services: %s", exc)
            return []

    def _remove(self, name: str) -> None:
        try:
            self.client.api.remove_service(name)
        except NotFound:
            pass
        except DockerException as exc:
            log.warning("cannot remove runner service %s: %s", name, exc)


def service_mode(api: tuple[int, ...]) -> ServiceMode:
    """One run of one replica: a replicated job where the engine cleans up after removed jobs, else a
    replicated service of one replica (its restart policy `none` makes it run once either way)."""
    if api >= JOB_MODE_API:
        return ServiceMode("replicated-job", concurrency=1, replicas=1)
    return ServiceMode("replicated", replicas=1)


def service_name(job: str, launch_id: str) -> str:
    """A service name is a DNS label (63 characters of letters, digits and '-'): the labels hold the rest."""
    return f"ae-{re.sub(r'[^A-Za-z0-9-]', '-', job)[:30]}-{launch_id[:16]}"


def _refuse_unsupported(options: ContainerOptions) -> None:
    for asked, what in (
        (options.devices, "devices"),
        (options.gpus is not None, "gpus"),
        (options.runtime, "runtime"),
    ):
        if asked:
            raise LaunchError(
                f"container_options.{what} cannot be given to a Swarm service; run such tasks under launcher: docker"
            )


def _latest_by_service(tasks: list[dict[str, Any]], names: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Each service's newest task, keyed by service name (with the name kept in `_service`)."""
    latest: dict[str, dict[str, Any]] = {}
    for task in sorted(tasks, key=lambda t: (t.get("Version") or {}).get("Index", 0)):
        name = names.get(str(task.get("ServiceID")))
        if name is not None:
            latest[name] = {**task, "_service": name}
    return latest


def _created_at(service: dict[str, Any]) -> float:
    return parse_docker_time(service.get("CreatedAt")) or 0.0


def _created(service: dict[str, Any]) -> float:
    """A service's creation time on this process's monotonic clock (for its start deadline)."""
    return time.monotonic() - max(0.0, time.time() - _created_at(service))


def probe(config: Config) -> SwarmLauncher:
    """A Swarm launcher if the engine answers, is a Swarm manager and has the runner image."""
    client = engine_client(config)
    try:
        swarm = client.info().get("Swarm") or {}
    except DockerException as exc:
        raise LaunchError(f"the Docker engine does not say whether it is in a swarm ({explain(exc)})") from None
    if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
        raise LaunchError(
            "launcher 'swarm' needs this engine to be a Swarm manager node (docker swarm init, or join as a manager)"
        )
    try:
        client.images.get(config.runner_image)
    except DockerException:
        raise LaunchError(
            f"runner image {config.runner_image!r} not found on this node (build or load it on every node)"
        ) from None
    return SwarmLauncher(config, client)
