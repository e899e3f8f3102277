"""Choosing a launcher from config: `subprocess`, `docker`, `swarm`, or `auto` (Docker if it answers)."""

from __future__ import annotations

import logging

from air_executor.config import Config

from air_executor_manager.launchers.base import Launcher, LaunchError, LaunchSpec, RunnerState

__all__ = ["Launcher", "LaunchError", "LaunchSpec", "RunnerState", "choose_launcher"]

log = logging.getLogger("air_executor.manager")


def choose_launcher(config: Config) -> Launcher:
    from air_executor_manager.launchers import subprocess_launcher

    if config.launcher == "subprocess":
        return subprocess_launcher.probe(config)
    if config.launcher == "swarm":
        try:
            from air_executor_manager.launchers import swarm_launcher
        except ImportError as exc:
            raise LaunchError(f"launcher 'swarm' needs the Docker SDK: {exc}") from None
        return swarm_launcher.probe(config)
    try:
        from air_executor_manager.launchers import docker_launcher
    except ImportError as exc:
        if config.launcher == "docker":
            raise LaunchError(f"launcher 'docker' needs the Docker SDK: {exc}") from None
        log.info("Docker SDK not installed; using the subprocess launcher")
        return subprocess_launcher.probe(config)
    try:
        return docker_launcher.probe(config)
    except LaunchError as exc:
        if config.launcher == "docker":
            raise
        if _container_with_docker_socket():
            # Falling back here would run every task inside the manager's container, beside the
            # Docker socket (root on the host): only an explicit `launcher: subprocess` may do that.
            raise LaunchError(
                f"launcher 'auto': Docker is not usable ({exc}), and this manager runs in a container that "
                "holds the Docker socket, where it will not run tasks as subprocesses; fix Docker, or set "
                "launcher: subprocess to run them here anyway"
            ) from None
        log.info("Docker is not usable (%s); using the subprocess launcher", exc)
        return subprocess_launcher.probe(config)


def _container_with_docker_socket(mountinfo: str = "/proc/self/mountinfo") -> bool:
    """True when a Docker socket is mounted into this process's container (the compose manager):
    the socket is then a mount point of its own, which an engine started beside us is not."""
    import os

    sockets = {"/var/run/docker.sock", "/run/docker.sock"}
    host = os.environ.get("DOCKER_HOST", "")
    if host.startswith("unix://"):
        sockets.add(host.removeprefix("unix://"))
    try:
        with open(mountinfo, encoding="utf-8", errors="replace") as handle:
            return any(len(fields) > 4 and fields[4] in sockets for fields in (line.split() for line in handle))
    except OSError:
        return False
