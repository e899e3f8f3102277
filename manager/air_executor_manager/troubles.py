"""Jobs the manager cannot run as they are: files not there yet, half written, refused (a symlink,
a FIFO, too large), empty, or an error that comes back pass after pass.

Half-written files are "not ready yet" and read again; what stays bad for `unreadable_after`
seconds fails the job with the reason in its own state.json (when that file can carry it),
so readers such as Airflow's sensor see a verdict instead of waiting for ever. Each trouble
is logged once, not on every pass.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from air_executor.config import Config
from air_executor.errors import FileUnreadable, JobFileRefused, JobNotFound, NewerFormat
from air_executor.storage.file_store import FileStore

if TYPE_CHECKING:
    from air_executor_manager.jobs import JobModel

log = logging.getLogger("air_executor.manager")


@dataclass
class JobEntry:
    """What the manager knows of one job folder: its model while active, and its troubles."""

    model: JobModel | None = None
    done: bool = False
    final: str | None = None  # how a finished job ended (what the metrics count it as)
    finished_at: float | None = None  # when (its state.json's updated_at): what retention goes by
    pruning: bool = False  # handed to the pruner
    reload: bool = False  # someone else rewrote its files: read it whole again
    signature: tuple[object, ...] | None = None  # a finished job's files, when inotify is not reliable
    unreadable_since: float | None = None
    reported: bool = False
    problem: str | None = None  # the last unexpected error processing it, logged once
    problem_since: float | None = None
    empty_since: float | None = None  # tasks.json holds no tasks since then
    refused: str | None = None
    healed: bool = False  # root-owned entries of its folder were given to the folder's owner


@dataclass
class Troubles:
    config: Config
    store: FileStore

    def unreadable(self, name: str, entry: JobEntry, exc: FileUnreadable) -> float:
        """Not ready yet; past `unreadable_after`, reported once and the job failed. Returns when to look again."""
        now = time.time()
        if entry.unreadable_since is None:
            entry.unreadable_since = now
            log.debug("job %s not ready yet: %s", name, exc, extra={"job": name})
        elif not entry.reported and now - entry.unreadable_since >= self.config.unreadable_after:
            entry.reported = True
            log.error(
                "job %s: unreadable for %.0f s, leaving the file as it is: %s",
                name,
                now - entry.unreadable_since,
                exc,
                extra={"job": name},
            )
            self.fail_if_possible(name, f"invalid job: {exc}")
        return now + self.config.poll_interval

    def refused(self, name: str, entry: JobEntry, exc: JobFileRefused) -> None:
        """Files that are not plain files, or too large or deep: the job is invalid, failed in its own
        state.json where that can be written."""
        reason = f"invalid job: {exc}"
        if entry.refused != reason:
            entry.refused = reason
            log.error("job %s: %s", name, reason, extra={"job": name})
        try:
            self.store.fail_invalid_job(name, reason)
        except (JobFileRefused, JobNotFound, FileUnreadable, OSError) as write_error:
            log.debug("job %s: cannot record that it is invalid: %s", name, write_error, extra={"job": name})

    def newer(self, name: str, entry: JobEntry, exc: NewerFormat) -> None:
        """A job a newer release wrote: said once, left as it is."""
        if entry.refused != str(exc):
            entry.refused = str(exc)
            log.error("job %s: not run: %s", name, exc, extra={"job": name})

    def broken(self, name: str, entry: JobEntry, exc: Exception) -> bool:
        """An unexpected error: logged once per distinct error; True when it has come back for
        `unreadable_after` seconds and the job was failed for it (rather than left stuck for ever)."""
        problem = f"{type(exc).__name__}: {exc}"
        now = time.time()
        stuck_since = entry.problem_since if entry.problem == problem else None
        if entry.problem != problem:
            entry.problem, entry.problem_since = problem, now
            log.error(
                "job %s: cannot be processed, leaving its files as they are; will try again: %s",
                name,
                problem,
                exc_info=exc,
                extra={"job": name},
            )
        if stuck_since is not None and now - stuck_since >= self.config.unreadable_after:
            self.fail_if_possible(name, f"the job cannot be processed: {problem}")
            return True
        return False

    def empty(self, name: str, entry: JobEntry, model: JobModel) -> float | None:
        """A job with no tasks (tasks.json = []) may still be being written; past the grace it fails."""
        now = time.time()
        if entry.empty_since is None:
            entry.empty_since = now
        if now - entry.empty_since >= self.config.unreadable_after:
            model.fail("the job has no tasks (tasks.json is an empty list)")
            log.error("job %s: failed: it has no tasks", name, extra={"job": name})
            return None
        return entry.empty_since + self.config.unreadable_after

    def cleared(self, name: str, entry: JobEntry) -> None:
        if entry.reported:
            log.info("job %s: files readable again", name, extra={"job": name})
        entry.unreadable_since, entry.reported, entry.problem, entry.problem_since = None, False, None, None
        entry.refused = None

    def fail_if_possible(self, name: str, reason: str) -> None:
        try:
            if self.store.fail_invalid_job(name, reason):
                log.error("job %s: failed: %s", name, reason, extra={"job": name})
        except (JobFileRefused, JobNotFound, FileUnreadable, OSError) as exc:
            log.debug("job %s: cannot record its failure: %s", name, exc, extra={"job": name})
