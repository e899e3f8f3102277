"""Which volume runner containers must mount so they see the base folder at the same path.

On a host, that is a bind mount of the base folder itself. Inside a container
(the compose deployment) it is whatever is mounted behind the manager's own
base folder, a named volume or a bind mount, found by inspecting the
manager's own container.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from docker.errors import DockerException, NotFound
from docker.types import Mount

from air_executor_manager.launchers.base import LaunchError

_CONTAINER_ID = re.compile(r"/containers/([0-9a-f]{64})/")


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


def base_mount(client: Any, base: str) -> tuple[Mount, str]:
    """The mount to give runners, and a key naming the volume (for labels)."""
    container_id = own_container_id()
    if container_id is not None:
        try:
            mounts = client.containers.get(container_id).attrs.get("Mounts") or []
        except NotFound:
            mounts = None  # a container of another engine: we are "on the host" for this one
        except DockerException as exc:
            raise LaunchError(f"cannot inspect the manager's own container: {exc}") from None
        if mounts is not None:
            return _mount_behind(mounts, base)
    return Mount(target=base, source=base, type="bind"), f"bind:{base}"


def _mount_behind(mounts: list[dict[str, Any]], base: str) -> tuple[Mount, str]:
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
    if mount.get("Type") == "volume":
        return Mount(target=mount["Destination"], source=mount["Name"], type="volume"), f"volume:{mount['Name']}"
    if mount.get("Type") == "bind":
        return Mount(target=mount["Destination"], source=mount["Source"], type="bind"), f"bind:{mount['Source']}"
    raise LaunchError(f"the base folder {base} is on a {mount.get('Type')} mount, which runners cannot share")
