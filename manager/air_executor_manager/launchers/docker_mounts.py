"""Which folder runner containers mount, so each sees its own job folder at the same path.

A task may read and write its own job folder and nothing else of the volume
(README "Trust model"). So a runner container gets a bind mount of just
`<base>/jobs/<job>`, found through whatever backs the manager's base folder:

- the manager on a host: the job folder itself;
- the manager in a container, base on a bind mount: the host folder behind it;
- the manager in a container, base on a named volume of the `local` driver: the
  volume's host folder (its `Mountpoint`);
- another volume driver: a volume subpath mount where the engine has them (API
  1.45+); else the whole volume, and the manager says so once in its log.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from docker.errors import DockerException, NotFound
from docker.types import DriverConfig, Mount

from air_executor_manager.launchers.base import LaunchError

log = logging.getLogger("air_executor.manager")

_CONTAINER_ID = re.compile(r"/containers/([0-9a-f]{64})/")
SUBPATH_API = (1, 45)


def own_container_id(mountinfo: str = "/proc/self/mountinfo") -> str | None:
    """The id of the Docker container this process runs in, if any (from its mounts)."""
    try:
        with open(mountinfo, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                match = _CONTAINER_ID.search(line)
                if match:
                    return match.group(1)
    except OSError:
        pass
    return None


@dataclass
class SharedVolume:
    """What backs the manager's base folder, and how to give a runner one job folder of it."""

    key: str  # names the volume in container labels: bind:<host path> or volume:<name>
    destination: str  # where it is mounted in the manager (the base itself on a host)
    host_folder: str | None  # the host folder behind `destination`, when there is one
    volume: str | None = None  # a named volume with no host folder we can bind
    subpaths: bool = False  # the engine mounts volume subpaths
    driver: str | None = None  # how a node that lacks the volume makes it (the Swarm launcher's config)
    driver_options: dict[str, str] = field(default_factory=dict)

    def job_mount(self, job_folder: str) -> tuple[Mount, bool]:
        """The mount giving a runner `job_folder` at the same path; and whether it is only that folder."""
        relative = str(PurePosixPath(job_folder).relative_to(self.destination))
        if self.host_folder is not None:
            return Mount(target=job_folder, source=str(PurePosixPath(self.host_folder) / relative), type="bind"), True
        assert self.volume is not None
        driver = DriverConfig(self.driver, self.driver_options) if self.driver else None
        if self.subpaths:
            mount = Mount(job_folder, self.volume, type="volume", subpath=relative, driver_config=driver)
            return mount, True
        return Mount(self.destination, self.volume, type="volume", driver_config=driver), False


def shared_volume(client: Any, base: str) -> SharedVolume:
    """Find what backs `base` (on a host: itself; in a container: the mount behind it)."""
    container_id = own_container_id()
    if container_id is not None:
        try:
            mounts = client.containers.get(container_id).attrs.get("Mounts") or []
        except NotFound:
            mounts = None  # a container of another engine: we are "on the host" for this one
        except DockerException as exc:
            raise LaunchError(f"cannot inspect the manager's own container: {exc}") from None
        if mounts is not None:
            return _behind(client, mounts, base)
    return SharedVolume(key=f"bind:{base}", destination=base, host_folder=base)


def _behind(client: Any, mounts: list[dict[str, Any]], base: str) -> SharedVolume:
    path = PurePosixPath(base)
    candidates = [
        m for m in mounts if path == PurePosixPath(m["Destination"]) or PurePosixPath(m["Destination"]) in path.parents
    ]
    if not candidates:
        raise LaunchError(
            f"the base folder {base} is not on a volume of the manager's container; "
            "mount a named volume or a host folder there so runner containers can share it"
        )
    mount = max(candidates, key=lambda m: len(m["Destination"]))
    destination = mount["Destination"]
    if mount.get("Type") == "bind":
        return SharedVolume(key=f"bind:{mount['Source']}", destination=destination, host_folder=mount["Source"])
    if mount.get("Type") != "volume":
        raise LaunchError(f"the base folder {base} is on a {mount.get('Type')} mount, which runners cannot share")
    name = mount["Name"]
    volume = SharedVolume(key=f"volume:{name}", destination=destination, host_folder=None, volume=name)
    if mount.get("Driver") == "local" and _plain_local(client, name):
        volume.host_folder = mount.get("Source") or None
    if volume.host_folder is None:
        volume.subpaths = mounts_subpaths(api_version(client), name, mount.get("Driver"))
    return volume


def mounts_subpaths(api: tuple[int, ...], volume: str, driver: str | None) -> bool:
    """Whether runners can be given just their job's folder of `volume` (the engine mounts volume
    subpaths); if not, the manager says once that they get the whole volume."""
    if api >= SUBPATH_API:
        return True
    log.warning(
        "volume %s (driver %s) has no host folder to bind and this engine cannot mount volume "
        "subpaths: runners get the whole volume, so a task can read other jobs' files",
        volume,
        driver,
    )
    return False


def _plain_local(client: Any, name: str) -> bool:
    """A local-driver volume without driver options is a plain host folder (NFS options make it a mount)."""
    try:
        options = client.volumes.get(name).attrs.get("Options") or {}
    except DockerException:
        return False
    return not options


def api_version(client: Any) -> tuple[int, ...]:
    try:
        version = str(client.version().get("ApiVersion", "0"))
        return tuple(int(part) for part in version.split("."))
    except (DockerException, ValueError):
        return (0,)
