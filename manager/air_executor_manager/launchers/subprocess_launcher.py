"""Runners as detached local processes: `python -m air_executor_runner ...`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import psutil
from air_executor.config import Config

from air_executor_manager.launchers.base import LaunchError, LaunchSpec, RunnerState

RUNNER_MODULE = "air_executor_runner"


class SubprocessLauncher:
    """Each runner is its own session leader, so it outlives a manager restart."""

    name = "subprocess"
    launch_under_lock = True

    def __init__(self, config: Config) -> None:
        self.config = config
        self.children: dict[int, subprocess.Popen[bytes]] = {}

    def begin_pass(self) -> None:
        pass  # liveness is a cheap /proc read per runner

    def runner_id_for(self, spec: LaunchSpec) -> str | None:
        return None

    def launch(self, spec: LaunchSpec) -> str:
        env = {**os.environ, **spec.runner_env}
        try:
            child = subprocess.Popen(
                [sys.executable, "-m", RUNNER_MODULE, *spec.runner_args],
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise LaunchError(f"cannot start a runner process: {exc.strerror or exc}") from None
        self.children[child.pid] = child
        return f"{child.pid}:{_start_time(child.pid)}"

    def state(self, runner_id: str) -> RunnerState:
        pid, started = _parse(runner_id)
        child = self.children.get(pid)
        if child is not None:
            code = child.poll()
            return RunnerState(alive=code is None, exit_code=code)
        return RunnerState(alive=_same_process_alive(pid, started))

    def find(self, launch_id: str) -> str | None:
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = proc.info.get("cmdline") or []
            if launch_id in cmdline and RUNNER_MODULE in cmdline:
                return f"{proc.pid}:{_start_time(proc.pid)}"
        return None

    def stop(self, runner_id: str, force: bool = False) -> None:
        """SIGTERM the runner (it ends its task's process group); SIGKILL all of it when forced."""
        pid, started = _parse(runner_id)
        if pid in self.children or _same_process_alive(pid, started):
            try:
                os.kill(pid, signal.SIGKILL if force else signal.SIGTERM)
            except ProcessLookupError:
                pass
        if force:
            kill_session(pid)

    def cleanup(self, runner_id: str, *, lost: bool = False) -> None:
        pid, _ = _parse(runner_id)
        child = self.children.pop(pid, None)
        if child is not None:
            child.poll()
        if lost:
            kill_session(pid)

    def logs_tail(self, runner_id: str, lines: int = 20) -> str:
        return ""  # a runner process writes its own messages to the manager's log

    def orphans(self, live_launch_ids: set[str]) -> list[str]:
        return []  # an ended process leaves nothing behind to remove

    def close(self) -> None:
        self.children.clear()


def kill_session(sid: int) -> None:
    """SIGKILL every process left in a dead runner's session (its task's command)."""
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getsid(proc.pid) == sid and proc.pid != os.getpid():
                os.killpg(os.getpgid(proc.pid), signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            continue


def _parse(runner_id: str) -> tuple[int, int]:
    pid, _, started = runner_id.partition(":")
    try:
        return int(pid), int(started or 0)
    except ValueError:
        return -1, 0


def _start_time(pid: int) -> int:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22)."""
    stat = _stat_fields(pid)
    return int(stat[19]) if stat else 0


def _same_process_alive(pid: int, started: int) -> bool:
    """Alive and not a zombie, and the same process (start time guards against PID reuse)."""
    stat = _stat_fields(pid)
    if not stat or stat[0] in ("Z", "X"):
        return False
    return not started or int(stat[19]) == started


def _stat_fields(pid: int) -> list[str] | None:
    if pid <= 0:
        return None
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return None
    # Fields after the command name, which may itself hold spaces and parentheses.
    return text.rsplit(")", 1)[1].split()


def probe(config: Config) -> SubprocessLauncher:
    try:
        __import__(RUNNER_MODULE)
    except ImportError:
        raise LaunchError("the runner package (air-executor-runner) is not installed") from None
    return SubprocessLauncher(config)
