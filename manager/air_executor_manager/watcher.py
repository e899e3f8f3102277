"""Wake the manager as soon as a job's files change (inotify), or a signal arrives.

The manager still polls every `poll_interval` as a fallback; this only makes
it wake early. If inotify is unavailable (another OS, a filesystem that does
not report events, no watches left), `wait` degrades to a plain timed sleep
and `reliable` turns False so the manager rescans everything on each poll.
"""

from __future__ import annotations

import logging
import os
import select
import signal
from pathlib import Path
from typing import Any

from air_executor.storage.file_store import STATE_FILE, TASKS_FILE
from air_executor.storage.names import is_valid_name

log = logging.getLogger("air_executor.manager")

ALL = "*"  # sentinel: rescan every job (queue overflow, watch failures)
JOB_FILES = frozenset({STATE_FILE, TASKS_FILE})


class Watcher:
    def __init__(self, jobs_path: Path) -> None:
        self.jobs_path = jobs_path
        self.reliable = False
        self._inotify: Any = None
        self._flags: Any = None
        self._wd_to_job: dict[int, str | None] = {}
        self._job_to_wd: dict[str, int] = {}
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        self._start_inotify()

    def _start_inotify(self) -> None:
        try:
            from inotify_simple import INotify, flags
        except ImportError:
            log.warning("inotify is unavailable; polling every poll_interval")
            return
        try:
            self._inotify, self._flags = INotify(), flags
            wd = self._inotify.add_watch(self.jobs_path, flags.CREATE | flags.MOVED_TO | flags.DELETE | flags.ONLYDIR)
        except OSError as exc:
            log.warning("cannot watch %s (%s); polling every poll_interval", self.jobs_path, exc)
            self._inotify = None
            return
        self._wd_to_job[wd] = None
        self.reliable = True

    def watch_job(self, name: str) -> None:
        if self._inotify is None or name in self._job_to_wd:
            return
        f = self._flags
        try:
            wd = self._inotify.add_watch(
                self.jobs_path / name, f.CLOSE_WRITE | f.MOVED_TO | f.CREATE | f.DELETE | f.ONLYDIR
            )
        except FileNotFoundError:
            return
        except OSError as exc:
            if self.reliable:
                log.warning("cannot watch job %s (%s); falling back to polling", name, exc)
            self.reliable = False
            return
        self._wd_to_job[wd] = name
        self._job_to_wd[name] = wd

    def forget_job(self, name: str) -> None:
        wd = self._job_to_wd.pop(name, None)
        if wd is not None:
            self._wd_to_job.pop(wd, None)

    def wait(self, timeout: float) -> set[str]:
        """Block until a job file changes, a signal arrives or `timeout` passes.

        Returns the names of jobs whose files changed; `{ALL}` when unsure.
        """
        fds = [self._wake_r] + ([self._inotify.fileno()] if self._inotify is not None else [])
        try:
            ready, _, _ = select.select(fds, [], [], max(timeout, 0))
        except InterruptedError:
            ready = []
        if self._wake_r in ready:
            self._drain_wakeups()
        if self._inotify is None or self._inotify.fileno() not in ready:
            return set()
        return self._read_events()

    def _read_events(self) -> set[str]:
        changed: set[str] = set()
        f = self._flags
        for event in self._inotify.read(timeout=0):
            if event.mask & f.Q_OVERFLOW:
                return {ALL}
            if event.mask & f.IGNORED:
                job = self._wd_to_job.pop(event.wd, None)
                if job:
                    self._job_to_wd.pop(job, None)
                continue
            job = self._wd_to_job.get(event.wd)
            if job is None:  # an event in jobs/ itself: a job folder came or went
                if is_valid_name(event.name):
                    if event.mask & (f.CREATE | f.MOVED_TO):
                        self.watch_job(event.name)
                    changed.add(event.name)
            elif event.name in JOB_FILES:
                changed.add(job)
        return changed

    def wake(self) -> None:
        """Make `wait` return now (called from worker threads)."""
        try:
            os.write(self._wake_w, b"\0")
        except (BlockingIOError, OSError):
            pass  # the pipe is full (a wake-up is already pending) or closed (shutting down)

    def _drain_wakeups(self) -> None:
        try:
            while os.read(self._wake_r, 512):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        signal.set_wakeup_fd(-1)
        if self._inotify is not None:
            self._inotify.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
