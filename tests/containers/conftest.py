"""Fixtures for tests against the real Docker engine and the project's images.

These tests never skip: without an engine or the images they fail and say how
to get them (`make images`, which `make test` runs first).
"""

from __future__ import annotations

import importlib.util
import os
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


def _bench_common() -> Any:
    """bench/common.py, which holds the one-node Swarm the tests and the benchmark share."""
    path = Path(__file__).resolve().parents[2] / "bench" / "common.py"
    spec = importlib.util.spec_from_file_location("air_executor_bench_common", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def swarm(docker_client: Any) -> Iterator[Any]:
    """This engine as a one-node Swarm on loopback: `docker swarm init` when it is not one, and
    `docker swarm leave --force` when the last process that needed it is done (if one of them made it)."""
    with _bench_common().one_node_swarm(docker_client):
        yield docker_client


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
