"""Recurring jobs: the manager makes each schedule's runs on time (README "Scheduling").

Schedules are read at start and again at every sweep (`poll_interval`), so a file written while
no manager ran takes effect when one starts, and an edited one within a poll. The loop sleeps
until the earliest due time. When a time comes, the schedule's run `<name>-<time>` is created
through the client API, like any job a client writes, and `<name>.state.json` records that time.

Times that passed while no manager ran are missed: `catch_up: one` runs the latest of them once
when the manager starts, `none` skips them. A run is skipped while the schedule's previous run
is still waiting or working, unless the schedule sets `allow_overlap`. A run's name is its due
time, so a manager that dies between creating it and recording it finds it exists and goes on.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from air_executor.client import create_job
from air_executor.core.clock import now_iso
from air_executor.core.lifecycle import WAITING, WORKING
from air_executor.core.schedule import Schedule, run_name
from air_executor.errors import AirExecutorError, JobExists
from air_executor.storage import schedules as files
from air_executor.storage.file_store import FileStore

log = logging.getLogger("air_executor.manager")


@dataclass
class Entry:
    signature: tuple[int, ...] | None
    schedule: Schedule | None = None
    last_due: float = 0.0
    last_job: str | None = None
    due: float | None = None  # its next run; None while paused or broken


class Recurring:
    def __init__(self, store: FileStore) -> None:
        self.store = store
        self.base: Path = store.base_path
        self.started = time.time()  # due times before this were missed (the manager was down)
        self.entries: dict[str, Entry] = {}

    def refresh(self) -> None:
        """Read new and changed schedule files; forget removed ones."""
        listed = set(files.names(self.base))
        for gone in set(self.entries) - listed:
            del self.entries[gone]
            log.info("schedule %s: removed", gone)
        for name in sorted(listed):
            sig = files.signature(self.base, name)
            entry = self.entries.get(name)
            if entry is not None and entry.signature == sig:
                continue
            self.entries[name] = self._load(name, sig, entry)

    def _load(self, name: str, sig: tuple[int, ...] | None, before: Entry | None) -> Entry:
        try:
            schedule, mtime = files.read(self.base, name)
        except (AirExecutorError, OSError) as exc:
            log.error("schedule %s: %s; it makes no runs until the file is fixed", name, exc)
            return Entry(sig)
        state = files.read_state(self.base, name)
        entry = Entry(sig, schedule, last_due=state.get("last_due", mtime), last_job=state.get("last_job"))
        if before is not None and before.schedule is not None and before.schedule.paused and not schedule.paused:
            entry.last_due = time.time()  # resumed: what came due while paused is not caught up
        entry.due = None if schedule.paused else schedule.next_after(entry.last_due)
        if before is None or before.schedule != schedule:
            what = "paused" if schedule.paused else f"next run {now_iso(entry.due)}"  # type: ignore[arg-type]
            log.info("schedule %s: %s %s (%s)", name, schedule.cron, schedule.timezone, what)
        return entry

    def next_due(self) -> float | None:
        dues = [e.due for e in self.entries.values() if e.due is not None]
        return min(dues) if dues else None

    def fire_due(self, now: float) -> list[str]:
        """Make the runs that are due; returns the jobs created."""
        made = []
        for name, entry in self.entries.items():
            if entry.due is None or entry.due > now or entry.schedule is None:
                continue
            try:
                job = self._fire(name, entry, entry.schedule, now)
            except Exception as exc:  # one schedule's odd data must never stop the manager or the others
                log.exception("schedule %s: %s; it makes no more runs until its file changes", name, exc)
                entry.due = None
                continue
            if job is not None:
                made.append(job)
        return made

    def _fire(self, name: str, entry: Entry, schedule: Schedule, now: float) -> str | None:
        due = schedule.latest_at_or_before(now)
        job: str | None = None
        if due < self.started and schedule.catch_up == "none":
            log.info("schedule %s: run at %s missed while no manager ran; catch_up none skips it", name, now_iso(due))
        elif not schedule.allow_overlap and self._active(entry.last_job):
            log.warning(
                "schedule %s: run at %s skipped: its previous run %s is still going (allow_overlap: false)",
                name,
                now_iso(due),
                entry.last_job,
            )
        else:
            job = self._create(name, schedule, due)
        try:
            files.write_state(self.base, name, due, job or entry.last_job)
        except OSError as exc:
            log.error("schedule %s: cannot record its run at %s: %s", name, now_iso(due), exc)
        entry.last_due, entry.last_job = due, job or entry.last_job
        entry.due = schedule.next_after(due)
        return job

    def _create(self, name: str, schedule: Schedule, due: float) -> str | None:
        job = run_name(name, due)
        options = {k: v for k, v in schedule.job.items() if k != "tasks"}
        try:
            create_job(self.store, job, schedule.job["tasks"], **options)
        except JobExists:
            log.info("schedule %s: run %s exists already", name, job)
            return job
        except (AirExecutorError, OSError) as exc:
            log.error("schedule %s: cannot create its run %s: %s", name, job, exc)
            return None
        late = time.time() - due
        log.info("schedule %s: created job %s%s", name, job, f" ({late:.0f} s after its time)" if late >= 1 else "")
        return job

    def _active(self, job: str | None) -> bool:
        if job is None:
            return False
        try:
            return self.store.read_state(job).get("state") in (WAITING, WORKING)
        except (AirExecutorError, OSError):
            return False  # gone (pruned, removed) or unreadable: nothing of it runs
