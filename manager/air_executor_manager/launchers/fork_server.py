"""The manager's side of warm starts: a fork server (runner/forkserver.py) that starts runners
with their modules already loaded, and what to do when it is not there.

The server is started in the background; until it says it is ready, and whenever it has
died, launches go the cold way (a fresh interpreter), and the next launch starts a new
server. Nothing depends on it: a runner forked by it is the same ephemeral, single-task
process a cold start makes, found again after a manager restart by its process title.
"""

from __future__ import annotations

import json
import logging
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable

log = logging.getLogger("air_executor.manager")

SERVER_MODULE = "air_executor_runner.forkserver"
REPLY_TIMEOUT = 5.0  # seconds for the server to answer one request before it counts as broken
RESTART_AFTER = 1.0  # seconds before a dead server is started again, doubled while it keeps dying
RESTART_AFTER_MAX = 60.0


class ForkServerGone(Exception):
    """No warm start this time: the launch goes cold (and the server is started again later).
    `asked`: the request was sent, so a runner may have been forked before the server broke."""

    def __init__(self, why: str, asked: bool = False) -> None:
        super().__init__(why)
        self.asked = asked


class ForkServer:
    """One fork server at a time, asked from the launch pool's worker threads."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env  # the server's own environment (each runner gets its own in its request)
        self.lock = threading.Lock()  # one request, one reply at a time
        self.process: subprocess.Popen[bytes] | None = None
        self.ready = threading.Event()
        self.replies: queue.SimpleQueue[dict[str, object]] = queue.SimpleQueue()
        self.exits: dict[int, int] = {}  # pid -> exit code of children the server saw end
        self.children: set[int] = set()  # runners this server forked that have not been seen to end
        self.started_at = 0.0
        self.restart_after = RESTART_AFTER
        self.closed = False
        self.on_exit: Callable[[], None] = lambda: None  # the manager's wake-up

    # -- the launch path ---------------------------------------------------------------------

    def fork(self, args: list[str], env: dict[str, str]) -> int:
        """A runner forked by the server: its pid. Raises ForkServerGone if there is no usable server."""
        with self.lock:
            process = self._usable()
            if process is None or process.stdin is None:
                raise ForkServerGone("the fork server is starting")
            try:
                process.stdin.write((json.dumps({"args": args, "env": env}) + "\n").encode())
                process.stdin.flush()
                reply = self.replies.get(timeout=REPLY_TIMEOUT)
            except (OSError, ValueError):
                reply = {"gone": "it stopped reading"}
            except queue.Empty:
                reply = {"gone": "it did not answer"}
            if "gone" in reply:
                self._lost(process, str(reply["gone"]))
                raise ForkServerGone(f"the fork server is gone ({reply['gone']})", asked=True)
            if "pid" not in reply:
                raise ForkServerGone(str(reply.get("error") or reply))
            pid = int(str(reply["pid"]))
            self.children.add(pid)
            return pid

    def exit_code(self, pid: int) -> tuple[bool, int | None]:
        """(known, code): whether `pid` is a child of the live server and, if it has ended, its code."""
        with self.lock:
            if pid in self.exits:
                self.children.discard(pid)
                return True, self.exits.pop(pid)
            live = self.process is not None and self.process.poll() is None
            return (pid in self.children and live), None

    def forget(self, pid: int) -> None:
        with self.lock:
            self.children.discard(pid)
            self.exits.pop(pid, None)

    # -- the server's life -------------------------------------------------------------------

    def warm_up(self) -> None:
        """Start the server now, in the background."""
        with self.lock:
            self._usable()

    def _usable(self) -> subprocess.Popen[bytes] | None:
        process = self.process
        if process is not None and process.poll() is not None:
            self._lost(process, f"it exited with code {process.returncode}")
            process = None
        if process is None and not self.closed and time.monotonic() - self.started_at >= self.restart_after:
            self._start()
            return None  # its imports take a moment: this launch goes cold
        return process if process is not None and self.ready.is_set() else None

    def _start(self) -> None:
        self.started_at = time.monotonic()
        self.ready = threading.Event()
        self.replies = queue.SimpleQueue()
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", SERVER_MODULE],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=self.env,
                start_new_session=True,  # a Ctrl-C at the manager's terminal is the manager's
                close_fds=True,
            )
        except OSError as exc:
            log.warning("cannot start the runners' fork server: %s; runners start cold", exc.strerror or exc)
            return
        self.process = process
        threading.Thread(
            target=self._read, args=(process, self.ready, self.replies), name="fork-server", daemon=True
        ).start()

    def _read(
        self, process: subprocess.Popen[bytes], ready: threading.Event, replies: queue.SimpleQueue[dict[str, object]]
    ) -> None:
        """The server's replies, in order, and its children's exits as they come."""
        assert process.stdout is not None
        for line in process.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if message.get("ready"):
                log.info("runners start warm: fork server ready (pid %s)", process.pid)
                ready.set()
                self.restart_after = RESTART_AFTER
            elif "exit" in message:
                # Not under the lock: a request holds it while it waits for the reply only this
                # thread delivers. A dict write is atomic.
                self.exits[int(message["exit"])] = int(message.get("code", -1))
                self.on_exit()
            else:
                replies.put(message)
        replies.put({"gone": f"it exited with code {process.wait()}"})  # a request waiting on it fails now
        self._restart_later(process)

    def _restart_later(self, process: subprocess.Popen[bytes]) -> None:
        """A server that died is replaced without waiting for the next launch to notice."""
        with self.lock:
            if self.closed or self.process not in (process, None):
                return  # closed, or replaced already
            self._lost(process, f"it exited with code {process.returncode}")
            self.restart_after = min(self.restart_after * 2, RESTART_AFTER_MAX)
            delay = self.started_at + self.restart_after - time.monotonic()
        time.sleep(max(delay, 0))
        with self.lock:
            if self.process is None and not self.closed:
                self._usable()

    def _lost(self, process: subprocess.Popen[bytes], why: str) -> None:
        """Called with the lock held."""
        if self.process is process:
            log.warning("the runners' fork server is gone (%s); runners start cold until it is back", why)
            self.process = None
            try:
                process.kill()
            except OSError:
                pass
            # Its children are init's now: their ends are seen in /proc, not announced.
            self.children.clear()

    def close(self) -> None:
        """The manager stops: the server exits when its input closes; its runners run on."""
        with self.lock:
            self.closed = True
            process, self.process = self.process, None
        if process is not None and process.stdin is not None:
            try:
                process.stdin.close()
                process.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                process.kill()
