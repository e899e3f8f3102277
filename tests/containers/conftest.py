"""Fixtures for tests against the real Docker engine and the project's images.

These tests never skip: without an engine or the images they fail and say how
to get them (`make images`, which `make test` runs first).
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

# testcontainers' reaper image cannot be pulled here; every test removes what it starts.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

from collections.abc import Iterator
from typing import Any

import docker
import pytest
from docker.errors import DockerException, ImageNotFound

RUNNER_IMAGE = "air-executor-runner:latest"
MANAGER_IMAGE = "air-executor-manager:latest"


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    try:
        client = docker.from_env()
        client.ping()
    except DockerException as exc:
        pytest.fail(f"no Docker engine answers ({exc}); run `make images` (it starts one)")
    for image in (RUNNER_IMAGE, MANAGER_IMAGE):
        try:
            client.images.get(image)
        except ImageNotFound:
            pytest.fail(f"image {image} is missing; run `make images`")
    yield client
    client.close()


def our_containers(client: Any, marker: str) -> list[str]:
    """Names of runner containers whose volume label mentions `marker` (a test's base folder or volume)."""
    return [
        c["Names"][0].lstrip("/")
        for c in client.api.containers(all=True, filters={"label": "air-executor"})
        if marker in (c.get("Labels") or {}).get("air-executor.volume", "")
    ]


@pytest.fixture
def docker_base(base: Any, docker_client: Any) -> Iterator[Any]:
    """A base folder configured for the Docker launcher; asserts no runner container is left."""
    base.config(launcher="docker", runner_image=RUNNER_IMAGE, poll_interval=1)
    yield base
    leftovers = our_containers(docker_client, str(base.path))
    for name in leftovers:
        docker_client.api.remove_container(name, force=True)
    assert not leftovers, f"runner containers left behind: {leftovers}"


@pytest.fixture
def docker_manager(docker_base: Any, docker_client: Any) -> Iterator[Any]:
    """A manager using the Docker launcher; at the end it must have removed every runner container."""
    from conftest import ManagerProcess, wait_for

    manager = ManagerProcess(docker_base).start()
    yield manager
    if manager.proc is not None and manager.proc.poll() is None:
        wait_for(
            lambda: not our_containers(docker_client, str(docker_base.path)),
            timeout=30,
            what="the manager to remove its runner containers",
        )
    manager.stop()


# -- a one-node Swarm for the Swarm launcher ----------------------------------------------

SWARM_BOOK = Path(tempfile.gettempdir()) / "air-executor-test-swarm.json"


@contextmanager
def _swarm_book() -> Iterator[dict[str, Any]]:
    """Which test processes use the Swarm, and whether they made it (one file, under an flock)."""
    with open(SWARM_BOOK.with_suffix(".lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        book = json.loads(SWARM_BOOK.read_text()) if SWARM_BOOK.exists() else {"users": [], "made": False}
        book["users"] = [pid for pid in book["users"] if _alive(pid)]
        yield book
        SWARM_BOOK.write_text(json.dumps(book))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


@pytest.fixture(scope="session")
def swarm(docker_client: Any) -> Iterator[Any]:
    """This engine as a one-node Swarm: `docker swarm init` when it is not one, and `docker swarm
    leave --force` when the last test process that needed it is done (if the tests made it)."""
    with _swarm_book() as book:
        if docker_client.info()["Swarm"]["LocalNodeState"] != "active":
            docker_client.swarm.init(advertise_addr="127.0.0.1", listen_addr="127.0.0.1:2377")
            book["made"] = True
        book["users"].append(os.getpid())
    yield docker_client
    with _swarm_book() as book:
        book["users"] = [pid for pid in book["users"] if pid != os.getpid()]
        if not book["users"] and book["made"]:
            docker_client.swarm.leave(force=True)
            book["made"] = False


def our_services(client: Any, marker: str) -> list[str]:
    """Names of runner services whose volume label mentions `marker` (a test's base folder or volume)."""
    return [
        s["Spec"]["Name"]
        for s in client.api.services(filters={"label": "air-executor"})
        if marker in (s["Spec"].get("Labels") or {}).get("air-executor.volume", "")
    ]


@pytest.fixture
def swarm_base(base: Any, swarm: Any) -> Iterator[Any]:
    """A base folder configured for the Swarm launcher; asserts no runner service is left."""
    base.config(launcher="swarm", runner_image=RUNNER_IMAGE, poll_interval=1)
    yield base
    leftovers = our_services(swarm, str(base.path))
    for name in leftovers:
        swarm.api.remove_service(name)
    assert not leftovers, f"runner services left behind: {leftovers}"
