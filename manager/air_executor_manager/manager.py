"""The manager loop: reap ended runners, recover lost ones, launch ready tasks, sleep.

It keeps no state that is not also on disk: what it holds in memory (runners
it launched or adopted, which jobs are finished) is rebuilt from the job files
and the launcher when it starts, so a killed manager loses nothing.
"""

from __future__ import annotations

import itertools
import logging
import signal
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from air_executor.config import Config
from air_executor.core import lifecycle
from air_executor.core.clock import now_iso
from air_executor.errors import FileUnreadable, JobFileRefused, JobNotFound, LockTimeout
from air_executor.storage.file_store import STATE_FILE, TASKS_FILE, FileStore, JobFiles

from air_executor_manager import planner
from air_executor_manager.launch_pool import LaunchPool
from air_executor_manager.launchers import Launcher, LaunchError, LaunchSpec, choose_launcher
from air_executor_manager.recovery import Runner, RunnerBook
from air_executor_manager.watcher import ALL, Watcher

log = logging.getLogger("air_executor.manager")

LOCK_WAIT = 2.0  # seconds to wait for a job's lock before trying again later
EXIT_CHECK = 0.03  # first look, in seconds, for a runner that recorded its outcome to have exited
FINAL = frozenset({lifecycle.COMPLETED, lifecycle.FAILED})


@dataclass
class JobEntry:
    order: int = 0  # when the manager first saw it: jobs are served in this order
    done: bool = False
    signature: tuple[int, ...] | None = None
    unreadable_since: float | None = None
    reported: bool = False
    problem: str | None = None  # the last unexpected error processing it, logged once
    problem_since: float | None = None
    empty_since: float | None = None  # tasks.json holds no tasks since then
    refused: str | None = None  # why its files are refused (a symlink, a FIFO, too large), logged once
    healed: bool = False  # root-owned entries of its folder were given to the folder's owner


@dataclass
class Manager(RunnerBook):
    config: Config
    launcher: Launcher | None = None
    store: FileStore = field(init=False)
    runners: dict[str, Runner] = field(default_factory=dict)
    jobs: dict[str, JobEntry] = field(default_factory=dict)
    active: dict[str, None] = field(default_factory=dict)  # jobs not finished: the only ones a poll reads
    timers: dict[str, float] = field(default_factory=dict)
    starved: dict[str, None] = field(default_factory=dict)
    stopping: bool = False
    last_sweep: float = 0.0
    watcher: Watcher | None = None
    cleanups: list[tuple[str | None, str, bool]] = field(default_factory=list)  # (runner, launch, lost): after locks
    pool: LaunchPool | None = None  # for launchers too slow to call from the loop (Docker)
    _order: Iterator[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self.store = self.config.file_store()
        self.store.jobs_path.mkdir(parents=True, exist_ok=True)
        if self.launcher is None:
            self.launcher = choose_launcher(self.config)

    @property
    def _launcher(self) -> Launcher:
        assert self.launcher is not None
        return self.launcher

    # -- the loop -----------------------------------------------------------------------

    def run(self) -> None:
        self.watcher = Watcher(self.store.jobs_path)
        if not self._launcher.launch_under_lock:
            self.pool = LaunchPool(self._launcher, self.config.max_concurrent_runners, self.watcher.wake)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_stop)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake the select
        log.info(
            "manager started: base %s, launcher %s, poll_interval %g s, inotify %s",
            self.store.base_path,
            self._launcher.name,
            self.config.poll_interval,
            "on" if self.watcher.reliable else "off",
        )
        try:
            self.tick({ALL})
            self.remove_orphans()
            while not self.stopping:
                changed = self.watcher.wait(self.seconds_to_next_wake())
                if not self.stopping:
                    self.tick(changed)
            self.finish_ended_runners()
        finally:
            if self.pool is not None:
                self.pool.close()
                self.collect_launches()
            self.watcher.close()
            self._launcher.close()
        alive = sum(1 for r in self.runners.values() if r.ended is None)
        log.info("manager stopped; %d runner(s) keep running and will be adopted on restart", alive)

    def finish_ended_runners(self) -> None:
        """On the way out: settle and remove runners that already ended; live ones are left to run."""
        for name in self.ordered(self.reap_finished()):
            self.process_job(name)

    def _on_stop(self, signum: int, _frame: Any) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        self.stopping = True

    def tick(self, changed: set[str]) -> None:
        """One pass: the verbs of the loop, over the jobs that need a look."""
        self.collect_launches()
        names = set(changed) | self.reap_finished() | self.due_timers()
        if self.free_slots() > 0:
            names |= set(self.starved)
        if ALL in names or time.monotonic() - self.last_sweep >= self.config.poll_interval:
            full = ALL in names or self.watcher is None or not self.watcher.reliable
            names.discard(ALL)
            names |= self.sweep(full)
            self.last_sweep = time.monotonic()
        for name in self.ordered(names):
            self.process_job(name)

    def seconds_to_next_wake(self) -> float:
        next_sweep = self.last_sweep + self.config.poll_interval - time.monotonic()
        wake = [next_sweep]
        if self.timers:
            wake.append(min(self.timers.values()) - time.time())
        return max(min(wake), 0.0)

    # -- which jobs to look at ---------------------------------------------------------------

    def sweep(self, full: bool) -> set[str]:
        """Active jobs; with `full`, also every folder whose files changed since last seen."""
        if not full:
            return set(self.active)
        listed = self.store.list_job_names()
        names = set()
        for name in listed:
            entry = self.jobs.get(name)
            if self.watcher is not None:
                self.watcher.watch_job(name)
            if entry is None or not entry.done or entry.signature != self.signature(name):
                names.add(name)
        for gone in set(self.jobs) - set(listed):
            self.forget(gone)
        return names

    def signature(self, name: str) -> tuple[int, ...]:
        job_dir = self.store.jobs_path / name
        parts: list[int] = []
        for file in (STATE_FILE, TASKS_FILE):
            try:
                st = (job_dir / file).stat()
                parts += [st.st_mtime_ns, st.st_size, st.st_ino]
            except OSError:
                parts += [0, 0, 0]
        return tuple(parts)

    def due_timers(self) -> set[str]:
        now = time.time()
        due = {name for name, at in self.timers.items() if at <= now}
        for name in due:
            del self.timers[name]
        return due

    def ordered(self, names: Iterable[str]) -> list[str]:
        """Starved jobs first (fairness), then in the order they were first seen."""

        def key(name: str) -> tuple[bool, float, str]:
            entry = self.jobs.get(name)
            return name not in self.starved, entry.order if entry is not None else float("inf"), name

        return sorted(names, key=key)

    def forget(self, name: str) -> None:
        """A job folder that is gone: its runners can record nothing more, so they are ended too."""
        self.abandon_runners(name, "its job folder is gone")
        self.jobs.pop(name, None)
        self.active.pop(name, None)
        self.timers.pop(name, None)
        self.starved.pop(name, None)
        if self.watcher is not None:
            self.watcher.forget_job(name)

    # -- one job -----------------------------------------------------------------------------

    def process_job(self, name: str) -> None:
        entry = self.jobs.get(name)
        if entry is None:
            entry = self.jobs[name] = JobEntry(order=next(self._order))
            self.active[name] = None
        deferred: list[LaunchSpec] = []
        try:
            state = self.store.read_state(name)  # lock-free: finished jobs cost one read
            if state.get("state") in FINAL and not self.runners_of(name):
                self.mark_done(name, entry)
                return
            with self.store.transaction(name, timeout=LOCK_WAIT) as files:
                deferred = self.update_job(files, entry)
        except JobFileRefused as exc:
            self.refuse(name, entry, exc)
            return
        except FileUnreadable as exc:
            self.note_unreadable(name, entry, exc)
            return
        except JobNotFound:
            self.forget(name)
            return
        except LockTimeout:
            log.warning("job %s: lock busy for %g s; will try again", name, LOCK_WAIT, extra={"job": name})
            self.timers[name] = time.time() + 1.0
            return
        except Exception as exc:  # one job's odd data (or a bug) must never stop the manager and every other job
            self.note_broken(name, entry, exc)
            return
        finally:
            self.run_cleanups()
        if entry.reported:
            log.info("job %s: files readable again", name, extra={"job": name})
        entry.unreadable_since, entry.reported, entry.problem, entry.problem_since = None, False, None, None
        entry.refused = None
        for spec in deferred:
            self.launch_deferred(spec)

    def run_cleanups(self) -> None:
        """Remove ended runners (containers) once their outcome is on disk, outside the job lock."""
        cleanups, self.cleanups = self.cleanups, []
        for runner_id, launch_id, lost in cleanups:
            if self.pool is not None:
                self.pool.cleanup(runner_id, launch_id, lost)
            else:
                self._launcher.cleanup(runner_id, launch_id=launch_id, lost=lost)

    def remove_orphans(self) -> None:
        """After a restart: remove exited runners of ours whose tasks are already settled."""
        live = {r.launch_id for r in self.runners.values()}
        for runner_id in self._launcher.orphans(live):
            log.info("removing the ended runner %s left by an earlier manager", runner_id)
            self._launcher.cleanup(runner_id)

    def abandon_runners(self, name: str, why: str) -> None:
        """End and forget the runners of a job whose files can no longer be updated."""
        for runner in self.runners_of(name):
            if runner.ended is None and runner.runner_id and not runner.launching:
                log.warning("job %s: stopping runner %s: %s", name, runner.runner_id, why, extra={"job": name})
                self._launcher.stop(runner.runner_id, force=True)
            del self.runners[runner.launch_id]
            self.cleanups.append((runner.runner_id, runner.launch_id, True))
        self.run_cleanups()

    def refuse(self, name: str, entry: JobEntry, exc: JobFileRefused) -> None:
        """A job whose files are not plain files, or too large or deep: it is invalid, failed in its
        own state.json where that can be written, and its runners are ended."""
        reason = f"invalid job: {exc}"
        if entry.refused != reason:
            entry.refused = reason
            log.error("job %s: %s", name, reason, extra={"job": name})
        self.abandon_runners(name, "its files are refused")
        try:
            self.store.fail_invalid_job(name, reason)
        except (JobFileRefused, JobNotFound, FileUnreadable, OSError) as write_error:
            log.debug("job %s: cannot record that it is invalid: %s", name, write_error, extra={"job": name})
        self.mark_done(name, entry)

    def update_job(self, files: JobFiles, entry: JobEntry) -> list[LaunchSpec]:
        """Inside the job's lock: recover, validate, claim ready tasks, settle the job's state."""
        name, state, tasks = files.name, files.state or {}, files.tasks or []
        deferred: list[LaunchSpec] = []
        if state.get("state") == lifecycle.CANCELLED:
            self.stop_cancelled(name, tasks)
        elif state.get("state") not in FINAL:
            for task in tasks:
                if task.get("status") == lifecycle.RUNNING:
                    self.check_running(name, task, state)
            problem = planner.job_problem(state)
            if problem is not None:
                if state.get("error") != problem:
                    log.error("job %s: %s", name, problem, extra={"job": name})
                planner.fail_job(state, tasks, problem)
            elif not tasks:
                self.note_empty(name, entry, state, tasks)
            else:
                entry.empty_since = None
                planner.fail_invalid(tasks, self.config)
                planner.skip_blocked(tasks)
                deferred = self.start(files, entry, self.claim_ready(name, state, tasks))
        self.drop_ended_runners(name, tasks)
        if state.get("state") not in lifecycle.JOB_DONE:
            # A runner that recorded its outcome but has not exited yet still counts, so a
            # finished job's file already holds every attempt's container details.
            before = state.get("state")
            if planner.settle_job(state, tasks, busy=bool(self.runners_of(name))) and state.get("state") != before:
                log.info("job %s: %s -> %s", name, before, state.get("state"), extra={"job": name})
        if state.get("state") in lifecycle.JOB_DONE and not self.runners_of(name):
            self.mark_done(name, entry)
        else:
            entry.done = False
            self.active[name] = None
            self.schedule(name, tasks)
        return deferred

    def note_empty(self, name: str, entry: JobEntry, state: dict[str, Any], tasks: list[dict[str, Any]]) -> None:
        """A job with no tasks (tasks.json = []) may still be being written; past the grace it fails."""
        now = time.time()
        if entry.empty_since is None:
            entry.empty_since = now
        if now - entry.empty_since >= self.config.unreadable_after:
            planner.fail_job(state, tasks, "the job has no tasks (tasks.json is an empty list)")
            log.error("job %s: failed: it has no tasks", name, extra={"job": name})
        else:
            self.timers[name] = entry.empty_since + self.config.unreadable_after

    def mark_done(self, name: str, entry: JobEntry) -> None:
        entry.done = True
        self.active.pop(name, None)
        if self.watcher is None or not self.watcher.reliable:
            entry.signature = self.signature(name)
        self.timers.pop(name, None)
        self.starved.pop(name, None)

    def note_unreadable(self, name: str, entry: JobEntry, exc: FileUnreadable) -> None:
        """Half-written files are 'not ready yet'; files that stay bad are reported once, left intact."""
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
            # So that readers of state.json (the seeds' status, Airflow's sensor) see the verdict
            # instead of waiting on a job that will never run.
            self.fail_if_possible(name, f"invalid job: {exc}")
        entry.done = False
        self.active[name] = None
        self.timers[name] = now + self.config.poll_interval

    def note_broken(self, name: str, entry: JobEntry, exc: Exception) -> None:
        """Log (once per distinct error) a job that cannot be processed; its files are left as they are."""
        problem = f"{type(exc).__name__}: {exc}"
        now = time.time()
        stuck_since = entry.problem_since if entry.problem == problem else None
        if stuck_since is not None and now - stuck_since >= self.config.unreadable_after:
            # The same error pass after pass: fail the job rather than leave it stuck for ever.
            self.abandon_runners(name, "the job cannot be processed")
            self.fail_if_possible(name, f"the job cannot be processed: {problem}")
        if entry.problem != problem:
            entry.problem, entry.problem_since = problem, now
            log.error(
                "job %s: cannot be processed, leaving its files as they are; will try again: %s",
                name,
                problem,
                exc_info=exc,
                extra={"job": name},
            )
        entry.done = False
        self.active[name] = None
        self.timers[name] = time.time() + self.config.poll_interval

    def fail_if_possible(self, name: str, reason: str) -> None:
        try:
            if self.store.fail_invalid_job(name, reason):
                log.error("job %s: failed: %s", name, reason, extra={"job": name})
        except (JobFileRefused, JobNotFound, FileUnreadable, OSError) as exc:
            log.debug("job %s: cannot record its failure: %s", name, exc, extra={"job": name})

    def schedule(self, name: str, tasks: list[dict[str, Any]]) -> None:
        """Wake up for this job when a retry delay or a runner deadline passes, or to see a
        runner that has recorded its outcome exit (a container gives no signal when it does)."""
        times = [
            r.deadline + (self.config.stop_grace if r.stop_sent else 0)
            for r in self.runners_of(name)
            if not r.kill_sent
        ]
        running = {t.get("launch_id") for t in tasks if t.get("status") == lifecycle.RUNNING}
        for runner in self.runners_of(name):
            if runner.ended is None and runner.launch_id not in running:
                times.append(time.time() + min(EXIT_CHECK * 2**runner.exit_checks, 2.0))
                runner.exit_checks += 1
        retry_at = planner.next_retry_at(tasks)
        if retry_at is not None:
            times.append(retry_at)
        if times:
            self.timers[name] = min(times)
        else:
            self.timers.pop(name, None)

    # -- runners: claim and launch (recovery.py notices how they end) ---------------------------

    def claim_ready(self, name: str, state: dict[str, Any], tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Mark ready tasks running, within the job's and the manager's limits."""
        limit = int(state.get("max_parallel") or self.config.max_parallel)
        running = sum(1 for t in tasks if t.get("status") == lifecycle.RUNNING)
        claims: list[dict[str, Any]] = []
        self.starved.pop(name, None)
        for task in planner.ready_tasks(tasks):
            if self.stopping or running >= limit:
                break
            if self.free_slots() <= 0:
                self.starved[name] = None
                break
            launch_id = uuid.uuid4().hex
            for key in ("runner_id", "runner_pid", "runner_host", "not_before"):
                task.pop(key, None)
            task.update(
                status=lifecycle.RUNNING,
                attempts=int(task.get("attempts") or 0) + 1,
                launch_id=launch_id,
                launched_at=now_iso(),
                launcher=self._launcher.name,
                started_at=None,
                completed_at=None,
                error=None,
            )
            now = time.time()
            self.runners[launch_id] = Runner(name, str(task["id"]), launch_id, None, now, self.deadline(task, now))
            running += 1
            claims.append(task)
        return claims

    def start(self, files: JobFiles, entry: JobEntry, claims: list[dict[str, Any]]) -> list[LaunchSpec]:
        """Launch quick launchers now (under the lock); return the rest to launch after it."""
        deferred: list[LaunchSpec] = []
        if not claims:
            return deferred
        name = files.name
        # Runners run as the job folder's owner (a root-owned folder is handed to runner_user
        # first), and check that the folder they find is this one.
        user = files.job_dir.runner_identity(self.config.runner_ids, heal=not entry.healed)
        entry.healed = True
        for task in claims:
            spec = LaunchSpec(
                self.store.base_path,
                name,
                str(task["id"]),
                task["launch_id"],
                dict(task),
                self.config,
                user=user,
                folder_id=files.job_dir.ident,
            )
            runner = self.runners[spec.launch_id]
            if not self._launcher.launch_under_lock:
                runner.runner_id = task["runner_id"] = self._launcher.runner_id_for(spec)
                deferred.append(spec)
                continue
            try:
                runner.runner_id = task["runner_id"] = self._launcher.launch(spec)
            except LaunchError as exc:
                self.fail_to_start(task, str(exc))
                continue
            log.info(
                "job %s: launched task %s (%s)",
                name,
                spec.task_id,
                runner.runner_id,
                extra={"job": name, "task": spec.task_id},
            )
        return deferred

    def launch_deferred(self, spec: LaunchSpec) -> None:
        if self.pool is not None:
            runner = self.runners.get(spec.launch_id)
            if runner is not None:
                runner.launching = True
            self.pool.launch(spec)
            return
        try:
            outcome: str | LaunchError = self._launcher.launch(spec)
        except LaunchError as exc:
            outcome = exc
        self.launched(spec, outcome)

    def collect_launches(self) -> None:
        if self.pool is not None:
            for spec, outcome in self.pool.finished():
                self.launched(spec, outcome)

    def launched(self, spec: LaunchSpec, outcome: str | LaunchError) -> None:
        where = {"job": spec.job, "task": spec.task_id}
        runner = self.runners.get(spec.launch_id)
        if runner is not None:
            runner.launching = False
        if isinstance(outcome, LaunchError):
            log.error("job %s: task %s failed to start: %s", spec.job, spec.task_id, outcome, extra=where)
            self._record_start_failure(spec, str(outcome))
        else:
            log.info("job %s: launched task %s (%s)", spec.job, spec.task_id, outcome, extra=where)

    def _record_start_failure(self, spec: LaunchSpec, error: str) -> None:
        try:
            with self.store.transaction(spec.job, timeout=LOCK_WAIT) as files:
                task = files.task(spec.task_id)
                ours = task is not None and task.get("launch_id") == spec.launch_id
                if task is not None and ours and task.get("status") == lifecycle.RUNNING:
                    self.fail_to_start(task, error)
                    planner.settle_job(files.state or {}, files.tasks or [])
        except (FileUnreadable, JobNotFound, LockTimeout) as exc:
            log.warning("job %s: could not record the start failure yet: %s", spec.job, exc)
            self.timers[spec.job] = time.time()

    def fail_to_start(self, task: dict[str, Any], error: str) -> None:
        runner = self.runners.pop(task.get("launch_id", ""), None)
        if runner is not None and runner.runner_id:
            self._launcher.cleanup(runner.runner_id, launch_id=runner.launch_id, lost=True)
        lifecycle.finish_attempt(
            task, result=lifecycle.FAILED_TO_START, error=error, max_delay=self.config.max_retry_delay
        )
