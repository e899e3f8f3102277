"""What a job author may ask of a runner: the operator's allow-list (config `task_policy`).

Job files are written by anyone who can write the volume (README "Trust model"), so
a task's `image`, `cpus`, `memory` and `container_options` are requests, granted only
within this policy. The default grants nothing that widens a runner's reach: no other
image, no mounts, devices, GPUs, runtimes or host network, no more CPU, memory, shared
memory or processes than the config's own settings. Narrowing is always allowed (less
memory, `network_mode: none`, a read-only root). The config's own `container_options`
are the operator's and are not checked here.
"""

from __future__ import annotations

import posixpath
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from air_executor.errors import AirExecutorError

if TYPE_CHECKING:
    from air_executor.config import Config

DOCKER_DEFAULT_SHM = 64 * 1024**2
_NETWORK_RANK = {"none": 0, "bridge": 1, "host": 2}


class PolicyRefused(AirExecutorError):
    """A task asked for something the operator's task_policy does not allow."""


class TaskPolicy(BaseModel):
    """Config `task_policy`: what tasks may ask for beyond the config's own runner settings."""

    model_config = ConfigDict(extra="forbid")

    images: list[str] = Field(default_factory=list, description="image patterns a task may name, e.g. 'ci/*:*'")
    mount_sources: list[str] = Field(
        default_factory=list, description="host folders (a task may mount them or below) or volume names"
    )
    writable_mounts: bool = Field(False, description="whether those mounts may be read-write")
    devices: list[str] = Field(default_factory=list, description="host device paths a task may map")
    host_network: bool = Field(False, description="whether a task may use network_mode: host")
    runtimes: list[str] = Field(default_factory=list, description="container runtimes a task may name")
    gpus: bool = Field(False, description="whether a task may ask for GPUs")
    max_cpus: float | None = Field(None, gt=0, le=256, description="most CPUs a task may ask for")
    max_memory: str | None = Field(None, pattern=r"^[0-9]+[bkmgBKMG]?$", description="most memory, e.g. 4g")
    max_shm_size: str | None = Field(None, pattern=r"^[0-9]+[bkmgBKMG]?$", description="largest /dev/shm, e.g. 1g")
    max_pids: int | None = Field(None, ge=16, le=1_000_000, description="highest pids_limit a task may ask for")
    placement: list[str] = Field(
        default_factory=list, description="Swarm constraint patterns a task may ask for, e.g. 'node.labels.gpu==*'"
    )


def check_task(task: dict[str, Any], config: Config) -> None:
    """Raise PolicyRefused naming the first option the task may not have, and the setting that allows it."""
    policy = config.task_policy
    for refusal in (
        _image(task, config, policy),
        _resources(task, config, policy),
        *_container_options(task.get("container_options") or {}, config, policy),
    ):
        if refusal:
            raise PolicyRefused(f"task {task.get('id')!r}: {refusal}")


def _allow(what: str, setting: str) -> str:
    return (
        f"{what} is not allowed for tasks; the operator can allow it with task_policy.{setting} in the manager's config"
    )


def _image(task: dict[str, Any], config: Config, policy: TaskPolicy) -> str | None:
    image = task.get("image")
    if not image or image == config.runner_image or any(fnmatchcase(image, p) for p in policy.images):
        return None
    return _allow(f"image {image!r}", "images (a list of image patterns)")


def _resources(task: dict[str, Any], config: Config, policy: TaskPolicy) -> str | None:
    cpus, memory = task.get("cpus"), task.get("memory")
    cpu_ceiling = _highest(policy.max_cpus, config.runner_cpus)
    if cpus is not None and cpu_ceiling is not None and float(cpus) > cpu_ceiling:
        return _allow(f"cpus {cpus:g} (more than {cpu_ceiling:g})", "max_cpus")
    memory_ceiling = _highest(size_bytes(policy.max_memory), size_bytes(config.runner_memory))
    if memory and memory_ceiling is not None and size_bytes(memory) > memory_ceiling:  # type: ignore[operator]
        return _allow(f"memory {memory} (more than {_show_bytes(memory_ceiling)})", "max_memory")
    return None


def _container_options(options: dict[str, Any], config: Config, policy: TaskPolicy) -> list[str | None]:
    own = config.container_options
    refusals: list[str | None] = []
    for mount in options.get("mounts") or []:
        refusals.append(_mount(mount, policy))
    for device in options.get("devices") or []:
        host = str(device).split(":", 1)[0]
        if host not in policy.devices:
            refusals.append(_allow(f"container_options.devices {host!r}", "devices"))
    if options.get("gpus") is not None and not policy.gpus:
        refusals.append(_allow("container_options.gpus", "gpus: true"))
    runtime = options.get("runtime")
    if runtime and runtime != own.runtime and runtime not in policy.runtimes:
        refusals.append(_allow(f"container_options.runtime {runtime!r}", "runtimes"))
    refusals.append(_network(options.get("network_mode"), own.network_mode, policy))
    refusals.append(_shm(options.get("shm_size"), own.shm_size, policy))
    pids = options.get("pids_limit")
    pids_ceiling = _highest(policy.max_pids, own.pids_limit)
    if pids is not None and pids_ceiling is not None and pids > pids_ceiling:
        refusals.append(_allow(f"container_options.pids_limit {pids} (more than {pids_ceiling})", "max_pids"))
    for constraint in options.get("placement") or []:
        if not any(fnmatchcase(_tight(constraint), _tight(p)) for p in policy.placement):
            refusals.append(_allow(f"container_options.placement {constraint!r}", "placement (constraint patterns)"))
    if own.read_only_root and options.get("read_only_root") is False:
        refusals.append("container_options.read_only_root: false is not allowed: the config makes the root read-only")
    return refusals


def _mount(mount: dict[str, Any], policy: TaskPolicy) -> str | None:
    source = str(mount.get("source") or "")
    kind = mount.get("type") or "bind"
    if kind == "bind":
        clean = posixpath.normpath(source)
        allowed = any(_under(clean, posixpath.normpath(p)) for p in policy.mount_sources if p.startswith("/"))
    else:
        allowed = source in policy.mount_sources
    if not allowed:
        return _allow(f"container_options.mounts source {source!r}", "mount_sources")
    if mount.get("read_only") is False and not policy.writable_mounts:
        return _allow(f"a read-write mount of {source!r}", "writable_mounts: true")
    return None


def _network(asked: str | None, own: str | None, policy: TaskPolicy) -> str | None:
    if asked is None:
        return None
    if asked == "host" and policy.host_network:
        return None
    if _NETWORK_RANK[asked] <= _NETWORK_RANK[own or "bridge"]:
        return None
    if asked == "host":
        return _allow("container_options.network_mode 'host'", "host_network: true")
    return f"container_options.network_mode {asked!r} is not allowed: the config sets network_mode {own!r}"


def _shm(asked: str | None, own: str | None, policy: TaskPolicy) -> str | None:
    if asked is None:
        return None
    ceiling = max(size_bytes(own) or DOCKER_DEFAULT_SHM, size_bytes(policy.max_shm_size) or 0)
    if (size_bytes(asked) or 0) <= ceiling:
        return None
    return _allow(f"container_options.shm_size {asked} (more than {_show_bytes(ceiling)})", "max_shm_size")


def _tight(constraint: str) -> str:
    """A constraint without the spaces Swarm allows around its operator."""
    return "".join(str(constraint).split())


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _highest(*values: float | None) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def size_bytes(size: str | None) -> int | None:
    """`512m` -> bytes (Docker's units: b, k, m, g, powers of 1024); None for None."""
    if not size:
        return None
    size = str(size).lower()
    units = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
    if size[-1] in units:
        return int(size[:-1]) * units[size[-1]]
    return int(size)


def _show_bytes(size: float) -> str:
    for unit, factor in (("g", 1024**3), ("m", 1024**2), ("k", 1024)):
        if size >= factor and size % factor == 0:
            return f"{int(size // factor)}{unit}"
    return f"{int(size)}b"
