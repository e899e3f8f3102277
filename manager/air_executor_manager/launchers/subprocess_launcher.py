"""Runners as detached local processes: `python -m air_executor_runner ...`.

Warm by default (config `warm_start`): a fork server with the runner already loaded forks
each runner (fork_server.py), which saves an interpreter start and its imports per task;
when it is not there, a runner starts cold. Either way it is one fresh process per task.

A task never runs as root, whoever wrote the job: a root manager's runner becomes the job
folder's owner (uid, gid, no supplementary groups) before it reads a job file or starts
the task (runner/execute.py: drop_privileges). The runner changes user itself, rather than
Popen's `user=`, because Popen can only vfork without a user change, and forking a manager
that holds thousands of jobs costs every launch tens of milliseconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import psutil
from air_executor.config import Config

from air_executor_manager.launchers.base import LaunchError, LaunchSpec, RunnerState
from air_executor_manager.launchers.fork_server import ForkServer, ForkServerGone

RUNNER_MODULE = "air_executor_runner"
LAUNCH_ENV = "AIR_EXECUTOR_LAUNCH_ID"  # the runner gives its task this, so leftovers can be found


class SubprocessLauncher:
    """Each runner is its own session leader, so it outlives a manager restart."""

    name = "subprocess"

    def __init__(self, config: Config) -> None:
        self.config = config
        self.base = str(config.base)
        self.children: dict[int, subprocess.Popen[bytes]] = {}
        self.fork_server = ForkServer(dict(os.environ)) if config.warm_start else None

    def begin_pass(self) -> None:
        pass  # liveness is a cheap /proc read per runner

    def on_exit(self, wake: Callable[[], None]) -> None:
        """The fork server says when its runners exit: the manager frees their slots at once (a cold
        runner's exit is seen at the manager's next look)."""
        if self.fork_server is not None:
            self.fork_server.on_exit = wake

    def runner_id_for(self, spec: LaunchSpec) -> str | None:
        return None

    def launch(self, spec: LaunchSpec) -> str:
        env = {**os.environ, **spec.runner_env, "AIR_EXECUTOR_RUNNER_AS": f"{spec.user[0]}:{spec.user[1]}"}
        if spec.user[0] == 0:
            raise LaunchError("refusing to run a task as root")
        if self.fork_server is not None:
            try:
                pid = self.fork_server.fork(spec.runner_args, env)
                return f"{pid}:{_start_time(pid)}:warm"
            except ForkServerGone as gone:
                # The request may have forked a runner before the server broke: the launch's
                # start record lets only one runner run the task, but it is that one we want.
                if gone.asked:
                    time.sleep(0.05)  # a child names itself first thing; let it
                    found = self.find(spec.launch_id)
                    if found is not None:
                        return found
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
        return f"{child.pid}:{_start_time(child.pid)}:cold"

    def state(self, runner_id: str) -> RunnerState:
        pid, started = _parse(runner_id)
        child = self.children.get(pid)
        if child is not None:
            code = child.poll()
            return RunnerState(alive=code is None, exit_code=code)
        if self.fork_server is not None:
            known, code = self.fork_server.exit_code(pid)
            if known:  # the live server will say when it ends (a zombie of it is not alive, nor gone)
                return RunnerState(alive=code is None, exit_code=code)
        return RunnerState(alive=_same_process_alive(pid, started))

    def find(self, launch_id: str) -> str | None:
        """The runner of this launch on this base folder (its command line says so), if alive.

        Only a process that is really our runner is ever adopted or signalled: never a pid a job file names.
        """
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = proc.info.get("cmdline") or []
            if _is_runner_of(cmdline, self.base, launch_id):
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

    def cleanup(self, runner_id: str | None, *, launch_id: str = "", lost: bool = False) -> None:
        if runner_id is not None:
            pid = _parse(runner_id)[0]
            child = self.children.pop(pid, None)
            if child is not None:
                child.poll()
            if self.fork_server is not None:
                self.fork_server.forget(pid)
        if lost and launch_id:
            kill_launch(self.base, launch_id)

    def logs_tail(self, runner_id: str, lines: int = 20) -> str:
        return ""  # a runner process writes its own messages to the manager's log

    def orphans(self, live_launch_ids: set[str]) -> list[str]:
        return []  # an ended process leaves nothing behind to remove

    def close(self) -> None:
        self.children.clear()
        if self.fork_server is not None:
            self.fork_server.close()


def _is_runner_of(cmdline: list[str], base: str, launch_id: str) -> bool:
    """`python -m air_executor_runner BASE JOB TASK LAUNCH_ID` with our base and this launch. A warm
    runner's title says the same as one string (psutil splits it at spaces, and BASE may hold some);
    job names, task ids and launch ids hold none."""
    interpreter, marker, rest = " ".join(cmdline).rpartition(f" -m {RUNNER_MODULE} ")
    args = rest.rsplit(" ", 3)
    return bool(interpreter and marker) and len(args) == 4 and args[0] == base and args[3] == launch_id


def kill_launch(base: str, launch_id: str) -> None:
    """SIGKILL what a lost runner left running: the processes of its task.

    They are known by the environment the runner gave the task (this base folder and this
    launch id), never by a pid or session id, which a dead runner's pid may now belong to a
    stranger's. Root processes are never touched: tasks never run as root.
    """
    for proc in psutil.process_iter(["pid", "uids", "environ"]):
        try:
            environ = proc.info.get("environ") or {}
            uids = proc.info.get("uids")
            if proc.pid == os.getpid() or uids is None or uids.real == 0:
                continue
            if environ.get(LAUNCH_ENV) == launch_id and environ.get("AIR_EXECUTOR_BASE_PATH") == base:
                os.kill(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue


def _parse(runner_id: str) -> tuple[int, int]:
    """`pid:start-time[:how]` (the start time tells a reused pid from the runner's)."""
    pid, _, rest = str(runner_id).partition(":")
    started = rest.partition(":")[0]
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
    if os.geteuid() == 0:
        _check_runner_user_can_start(config)
    launcher = SubprocessLauncher(config)
    if launcher.fork_server is not None:
        launcher.fork_server.warm_up()  # ready by the time the first task is
    return launcher


def _check_runner_user_can_start(config: Config) -> None:
    """A root manager runs tasks as other users: they must be able to run this interpreter and the runner."""
    uid, gid = config.runner_ids
    try:
        subprocess.run(
            [sys.executable, "-c", f"import {RUNNER_MODULE}"],
            user=uid,
            group=gid,
            extra_groups=[],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=True,
            timeout=60,
            cwd="/",
        )
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        reason = detail.decode(errors="replace").strip().splitlines()[-1:] or [str(exc)]
        raise LaunchError(
            f"the manager runs as root, so tasks run as their job folder's owner, but uid {uid} cannot start "
            f"{sys.executable} with the runner ({reason[0]}); install Air-Executor where other users can "
            "read it (not under /root), or run the manager as the user your tasks should run as"
        ) from None
