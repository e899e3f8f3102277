"""inotify on the jobs folder, every job folder and the folders inside them, for the live dashboard.

Any change inside a job folder (state.json, tasks.json, or whatever else a job keeps there:
`runs/`, `queue/`) means "this job changed: read it again through the store"; a write to
`logs/<task>.log` means "that log grew". Hidden entries (`.lock`, `.NAME.*.tmp`) are not
changes: the rename that ends an atomic write is. Symlinked job folders are not followed.

Without inotify (another OS, no watches left) `reliable` is False and the dashboard falls
back to polling (live.py). The watcher never reads a job file itself.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable
from typing import Any

from air_executor.storage.names import is_valid_name

log = logging.getLogger("air_executor.dashboard")

ALL = "*"  # every job may have changed (the event queue overflowed)
LOGS = "logs"
SUBFOLDERS = (LOGS, "runs", "queue")


class JobWatcher:
    """Calls `on_jobs(names)` when jobs change and `on_logs({(job, task)})` when logs grow."""

    def __init__(
        self,
        jobs_folder: str,
        on_jobs: Callable[[set[str]], None],
        on_logs: Callable[[set[tuple[str, str]]], None],
    ) -> None:
        self.jobs_folder = jobs_folder
        self.on_jobs, self.on_logs = on_jobs, on_logs
        self.reliable = False
        self.inotify: Any = None
        self.flags: Any = None
        self.places: dict[int, tuple[str | None, str | None]] = {}  # wd -> (job, subfolder)
        self.jobs: dict[str, list[int]] = {}

    def start(self) -> bool:
        """Watch the jobs folder (it must exist); False if inotify cannot be had."""
        try:
            from inotify_simple import INotify, flags
        except ImportError:
            log.warning("inotify_simple is not installed; the dashboard polls instead")
            return False
        try:
            self.inotify, self.flags = INotify(nonblocking=True), flags
            mask = flags.CREATE | flags.MOVED_TO | flags.MOVED_FROM | flags.DELETE | flags.ONLYDIR | flags.DONT_FOLLOW
            self.places[self.inotify.add_watch(self.jobs_folder, mask)] = (None, None)
        except OSError as exc:
            log.warning("cannot watch %s (%s); the dashboard polls instead", self.jobs_folder, exc)
            self.close()
            return False
        self.reliable = True
        return True

    def fileno(self) -> int:
        return int(self.inotify.fileno())

    def watch_job(self, name: str) -> None:
        """Watch a job folder and its subfolders (idempotent)."""
        if self.inotify is None or name in self.jobs:
            return
        self.jobs[name] = []
        self._add(name, None)
        for sub in SUBFOLDERS:
            self._add(name, sub)

    def forget_job(self, name: str) -> None:
        for wd in self.jobs.pop(name, []):
            self.places.pop(wd, None)
            try:
                self.inotify.rm_watch(wd)
            except OSError:
                pass  # already gone with its folder

    def _add(self, job: str, sub: str | None) -> None:
        f = self.flags
        path = os.path.join(self.jobs_folder, job, *([sub] if sub else []))
        if sub == LOGS:
            mask = f.MODIFY | f.CLOSE_WRITE | f.CREATE | f.MOVED_TO
        else:
            mask = f.CLOSE_WRITE | f.MOVED_TO | f.MOVED_FROM | f.CREATE | f.DELETE
        try:
            wd = self.inotify.add_watch(path, mask | f.ONLYDIR | f.DONT_FOLLOW)
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:  # ENOSPC: no watches left; ELOOP/ENOTDIR: a symlink (never followed)
            if exc.errno not in (errno.ENOTDIR, errno.ELOOP) and self.reliable:
                log.warning("cannot watch %s (%s); the dashboard polls as well", path, exc)
                self.reliable = False
            return
        self.places[wd] = (job, sub)
        self.jobs.setdefault(job, []).append(wd)

    def read(self) -> None:
        """Read what is pending (the event loop calls this when the descriptor is readable)."""
        changed: set[str] = set()
        grown: set[tuple[str, str]] = set()
        f = self.flags
        try:
            events = self.inotify.read(timeout=0)
        except BlockingIOError:
            return
        for event in events:
            if event.mask & f.Q_OVERFLOW:
                changed.add(ALL)
                continue
            if event.mask & f.IGNORED:
                self.places.pop(event.wd, None)
                continue
            job, sub = self.places.get(event.wd, (None, None))
            if job is None:
                self._in_jobs_folder(event, changed)
            elif sub == LOGS:
                if event.name.endswith(".log") and is_valid_name(event.name[:-4]):
                    grown.add((job, event.name[:-4]))
            elif not event.name.startswith("."):
                if sub is None and event.mask & f.ISDIR and event.name in SUBFOLDERS:
                    self._add(job, event.name)
                changed.add(job)
        if changed:
            self.on_jobs(changed)
        if grown:
            self.on_logs(grown)

    def _in_jobs_folder(self, event: Any, changed: set[str]) -> None:
        if not is_valid_name(event.name):
            return
        if event.mask & (self.flags.CREATE | self.flags.MOVED_TO):
            self.watch_job(event.name)
        else:
            self.forget_job(event.name)
        changed.add(event.name)

    def close(self) -> None:
        if self.inotify is not None:
            self.inotify.close()
            self.inotify = None
        self.reliable = False
