"""Warm starts: a process with the runner already loaded that forks one fresh runner per task.

Starting a runner cold costs an interpreter and its imports on every task. The subprocess
launcher starts this server once (``python -m air_executor_runner.forkserver``) and asks it
for each runner instead. The protocol is one JSON object per line:

- the server says ``{"ready": true}`` once its imports are done;
- the manager asks ``{"args": [BASE, JOB, TASK, LAUNCH_ID], "env": {...}}``;
- the server answers ``{"pid": N}`` (or ``{"error": "..."}``), and says ``{"exit": N, "code": C}``
  when that child ends.

Each child is exactly the runner a cold start would have been: a new session, the environment
the manager gave it, a process title of ``python -m air_executor_runner BASE JOB TASK LAUNCH_ID``
(so `ps` and a restarted manager find it as they find a cold runner), one task, then exit. The
server itself never runs a task, so nothing of one task is left for the next: every child starts
from the same state, the server's just after its imports. It exits when the manager closes its
input (the manager stopped or died); runners already started run on.
"""

from __future__ import annotations

import _signal as signal
import json
import os
import pwd  # noqa: F401  (imported once here for every runner: drop_privileges needs it)
import select
import sys
import traceback

from air_executor_runner import EXIT_UNRECORDED
from air_executor_runner.execute import run_task

RUNNER_TITLE = ("-m", "air_executor_runner")


def main() -> int:
    import setproctitle  # loaded before any fork, so a child's title costs nothing

    requests = sys.stdin.fileno()
    replies = os.dup(sys.stdout.fileno())
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints must not mix with replies
    wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so exits wake the poll below
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C meant for the manager; it closes our input
    poller = select.poll()
    poller.register(requests, select.POLLIN)
    poller.register(wake_read, select.POLLIN)
    _reply(replies, {"ready": True, "pid": os.getpid()})
    pending = b""
    while True:
        for fd, _ in poller.poll():
            if fd == wake_read:
                _drain(wake_read)
                _reap(replies)
                continue
            data = os.read(requests, 1 << 20)
            if not data:
                _reap(replies)
                return 0
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                _reply(replies, _fork_runner(line, (requests, replies, wake_read, wake_write), setproctitle))


def _fork_runner(line: bytes, server_fds: tuple[int, ...], setproctitle: object) -> dict[str, object]:
    try:
        request = json.loads(line)
        args, env = request["args"], request["env"]
        if not (isinstance(args, list) and len(args) == 4 and all(isinstance(a, str) and a for a in args)):
            raise ValueError("args must be four non-empty strings")
        if not (isinstance(env, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())):
            raise ValueError("env must map strings to strings")
    except (ValueError, KeyError, TypeError) as exc:
        return {"error": f"bad request: {exc}"}
    try:
        pid = os.fork()
    except OSError as exc:
        return {"error": f"cannot fork a runner: {exc.strerror or exc}"}
    if pid == 0:
        _be_runner(args, env, server_fds, setproctitle)  # never returns
    return {"pid": pid}


def _be_runner(args: list[str], env: dict[str, str], server_fds: tuple[int, ...], setproctitle: object) -> None:
    """In the child: become what `python -m air_executor_runner ARGS` would have been, run, exit."""
    code = EXIT_UNRECORDED
    try:
        setproctitle.setproctitle(" ".join([sys.executable, *RUNNER_TITLE, *args]))  # type: ignore[attr-defined]
        os.setsid()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for fd in server_fds:
            os.close(fd)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.environ.clear()
        os.environ.update(env)
        sys.argv = [sys.executable, *args]
        code = run_task(*args)
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
        code = exc.code if isinstance(exc.code, int) else EXIT_UNRECORDED
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _reap(replies: int) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if not pid:
            return
        _reply(replies, {"exit": pid, "code": os.waitstatus_to_exitcode(status)})


def _reply(fd: int, message: dict[str, object]) -> None:
    data = (json.dumps(message) + "\n").encode()
    while data:
        data = data[os.write(fd, data) :]


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # the manager is gone
        sys.exit(0)
