"""Wake the manager as soon as a job changes (inotify), or a signal arrives, and say what changed.

Watched: the jobs folder (jobs come and go), every job folder (state.json, tasks.json),
and, for active jobs only, their journal folders runs/ and queue/ (records arriving: a
runner started or ended, add-task queued tasks). Each event names the file, so the
manager reads just that record: a pass costs what changed, not what exists.

The manager still polls every `poll_interval` as a fallback. If inotify is unavailable
(another OS, a filesystem that does not report events, no watches left), `wait` degrades
to a plain timed sleep and `reliable` turns False so the manager rescans on each poll.
"""

from __future__ import annotations

import logging
import os
import select
import signal
from pathlib import Path
from typing import Any

from air_executor.storage.file_store import STATE_FILE, TASKS_FILE
from air_executor.storage.journal import QUEUE, RUNS
from air_executor.storage.names import is_valid_name

log = logging.getLogger("air_executor.manager")

ALL = "*"  # sentinel job name: rescan every job (queue overflow, watch failures)
RESCAN = ""  # sentinel change: read the whole job again
JOB_FILES = frozenset({STATE_FILE, TASKS_FILE})
SUBFOLDERS = (RUNS, QUEUE)

Changes = dict[str, set[str]]  # job -> what changed: "state.json", "tasks.json", "runs/<f>", "queue/<f>", RESCAN


class Watcher:
    def __init__(self, jobs_path: Path) -> None:
        self.jobs_path = jobs_path
        self.reliable = False
        self._inotify: Any = None
        self._flags: Any = None
        self._wd_to_place: dict[int, tuple[str | None, str | None]] = {}  # wd -> (job, subfolder)
        self._place_to_wd: dict[tuple[str, str | None], int] = {}
        self._active: set[str] = set()
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
            f = flags
            wd = self._inotify.add_watch(self.jobs_path, f.CREATE | f.MOVED_TO | f.DELETE | f.MOVED_FROM | f.ONLYDIR)
        except OSError as exc:
            log.warning("cannot watch %s (%s); polling every poll_interval", self.jobs_path, exc)
            self._inotify = None
            return
        self._wd_to_place[wd] = (None, None)
        self.reliable = True

    # -- what is watched -----------------------------------------------------------------------

    def watch_job(self, name: str, *, active: bool) -> None:
        """Watch a job folder; an active job's journal folders too, a finished job's no more."""
        if self._inotify is None:
            return
        f = self._flags
        self._add(name, None, f.CLOSE_WRITE | f.MOVED_TO | f.CREATE | f.DELETE | f.ONLYDIR | f.DONT_FOLLOW)
        if active:
            self._active.add(name)
            for sub in SUBFOLDERS:
                self._add(name, sub, f.CLOSE_WRITE | f.MOVED_TO | f.ONLYDIR | f.DONT_FOLLOW)
        else:
            self._active.discard(name)
            for sub in SUBFOLDERS:
                self._remove(name, sub)

    def forget_job(self, name: str) -> None:
        self._active.discard(name)
        for sub in (None, *SUBFOLDERS):
            self._remove(name, sub)

    def _add(self, job: str, sub: str | None, mask: int) -> None:
        if (job, sub) in self._place_to_wd:
            return
        path = self.jobs_path / job / sub if sub else self.jobs_path / job
        try:
            wd = self._inotify.add_watch(path, mask)
        except (FileNotFoundError, NotADirectoryError):
            return  # not there (yet): the job folder's watch sees it come
        except OSError as exc:
            if self.reliable:
                log.warning("cannot watch %s (%s); falling back to polling", path, exc)
            self.reliable = False
            return
        self._wd_to_place[wd] = (job, sub)
        self._place_to_wd[(job, sub)] = wd

    def _remove(self, job: str, sub: str | None) -> None:
        wd = self._place_to_wd.pop((job, sub), None)
        if wd is None:
            return
        self._wd_to_place.pop(wd, None)
        try:
            self._inotify.rm_watch(wd)
        except OSError:
            pass  # already gone with its folder

    # -- waiting -------------------------------------------------------------------------------

    def wait(self, timeout: float) -> Changes:
        """Block until a job changes, a signal arrives or `timeout` passes; returns what changed
        (`{ALL: {RESCAN}}` when unsure)."""
        fds = [self._wake_r] + ([self._inotify.fileno()] if self._inotify is not None else [])
        try:
            ready, _, _ = select.select(fds, [], [], max(timeout, 0))
        except InterruptedError:
            ready = []
        if self._wake_r in ready:
            self._drain_wakeups()
        if self._inotify is None or self._inotify.fileno() not in ready:
            return {}
        return self._read_events()

    def _read_events(self) -> Changes:
        changes: Changes = {}
        f = self._flags
        for event in self._inotify.read(timeout=0):
            if event.mask & f.Q_OVERFLOW:
                return {ALL: {RESCAN}}
            if event.mask & f.IGNORED:
                job, sub = self._wd_to_place.pop(event.wd, (None, None))
                if job is not None:
                    self._place_to_wd.pop((job, sub), None)
                continue
            job, sub = self._wd_to_place.get(event.wd, (None, None))
            if job is None:  # in jobs/ itself: a job folder came or went
                if is_valid_name(event.name):
                    changes.setdefault(event.name, set()).add(RESCAN)
            elif sub is None:
                self._in_job_folder(job, event, changes)
            elif event.name and not event.name.startswith("."):
                changes.setdefault(job, set()).add(f"{sub}/{event.name}")
        return changes

    def _in_job_folder(self, job: str, event: Any, changes: Changes) -> None:
        if event.name in JOB_FILES:
            changes.setdefault(job, set()).add(event.name)
        elif event.name in SUBFOLDERS and job in self._active and event.mask & self._flags.CREATE:
            # A journal folder made after we looked: watch it, and read what it already holds.
            self.watch_job(job, active=True)
            changes.setdefault(job, set()).add(f"{event.name}/")

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
