"""Choosing a launcher from config: `subprocess`, `docker`, or `auto` (Docker if it answers)."""

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
        log.info("Docker is not usable (%s); using the subprocess launcher", exc)
        return subprocess_launcher.probe(config)
