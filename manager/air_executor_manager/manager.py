"""The manager loop: take what changed, reap ended runners, look at the jobs that need it, launch
ready tasks fairly, write the files that are due, sleep until something changes.

It keeps nothing that is not also on disk: active jobs are read from their files and
journal (storage/journal.py), runners found again through the launcher by launch id, so
a killed manager loses nothing. A pass costs what changed: inotify names the records that
arrived, and only the jobs they belong to, or whose timers are due, are looked at.
"""

from __future__ import annotations

import itertools
import logging
import signal
import time
import uuid
from dataclasses import replace
from typing import Any

from air_executor.config import Config
from air_executor.core import transitions as rules
from air_executor.core.clock import parse_iso
from air_executor.core.lifecycle import COMPLETED, FAILED, FAILED_TO_START, KILLED, RUNNER_LOST
from air_executor.core.retention import Finished, to_remove
from air_executor.errors import (
    AirExecutorError,
    FileUnreadable,
    JobFileRefused,
    JobNotFound,
    LockTimeout,
    NewerFormat,
)
from air_executor.storage import journal
from air_executor.storage.file_store import STATE_FILE, TASKS_FILE

from air_executor_manager import secrets
from air_executor_manager.disk import CHECK_EVERY, DiskGuard
from air_executor_manager.jobs import ForeignWrite, JobModel, Snapshot, write_snapshot
from air_executor_manager.launch_pool import LaunchPool
from air_executor_manager.launchers import Launcher, LaunchError, LaunchSpec, RunnerState, choose_launcher
from air_executor_manager.launchers.base import WarmContainers
from air_executor_manager.metrics import Metrics, beat
from air_executor_manager.pruner import BATCH, Pruner
from air_executor_manager.ready import PoolUse
from air_executor_manager.recurring import Recurring
from air_executor_manager.runners import Runner, RunnerBook
from air_executor_manager.scheduler import FairShare
from air_executor_manager.troubles import JobEntry, Troubles
from air_executor_manager.watcher import ALL, RESCAN, Changes, Watcher
from air_executor_manager.writer import Writer

log = logging.getLogger("air_executor.manager")

ORPHAN_SWEEP = 30.0  # seconds between looks for runners no task needs
WARM_LOOK = 0.02  # seconds between looks at a job whose next runner is being started ahead


class Manager:
    def __init__(self, config: Config, launcher: Launcher | None = None) -> None:
        self.config = config
        self.store = config.file_store()
        self.store.jobs_path.mkdir(parents=True, exist_ok=True)
        self.launcher = launcher or choose_launcher(config)
        # Runners started ahead for a job's next task (the Docker launcher), unless turned off.
        on = config.warm_start and config.warm_containers > 0 and isinstance(self.launcher, WarmContainers)
        self.warm: WarmContainers | None = self.launcher if on else None  # type: ignore[assignment]
        self.book = RunnerBook(config, self.launcher)
        self.troubles = Troubles(config, self.store)
        self.jobs: dict[str, JobEntry] = {}
        self.timers: dict[str, float] = {}
        self.fair = FairShare()  # active jobs with a ready task and room for a runner
        self.pools = PoolUse(config.pools)  # named limits over all jobs (ready.py)
        self.recurring = Recurring(self.store)  # schedules/: jobs made on a cron (recurring.py)
        self.unflushed: set[str] = set()  # active jobs whose files are behind their model
        self.writer: Writer | None = None
        self.pruner: Pruner | None = None
        self.stopping = False
        self.last_sweep = 0.0
        self.last_orphans = 0.0
        self.watcher: Watcher | None = None
        self.pool: LaunchPool | None = None
        self._launches = itertools.count(1)
        self.disk = DiskGuard(self.store.base_path, config.min_free_space_mb)
        self.metrics = Metrics()
        self.metrics.watch(self)

    # -- the loop -------------------------------------------------------------------------------

    def run(self) -> None:
        self.watcher = Watcher(self.store.jobs_path)
        self.pool = LaunchPool(self.launcher, self.config.max_concurrent_runners, self.watcher.wake)
        self.launcher.on_exit(self.watcher.wake)
        self.writer = Writer(self.store, self.watcher.wake)
        self.pruner = (
            None
            if self.config.retention.keeps_all
            else Pruner(self.store, self.watcher.wake, self.config.poll_interval)
        )
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_stop)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake the select
        stop_metrics = self.serve_metrics()
        beat(self.store.base_path)  # a stale beat of an earlier manager must not call this one stuck
        log.info(
            "manager started: base %s, launcher %s, poll_interval %g s, inotify %s",
            self.store.base_path,
            self.launcher.name,
            self.config.poll_interval,
            "on" if self.watcher.reliable else "off",
        )
        try:
            self.tick({ALL: {RESCAN}})
            self.remove_orphans()
            while not self.stopping:
                changes = self.watcher.wait(self.seconds_to_next_wake())
                if not self.stopping:
                    self.tick(changes)
            self.pool.close()  # launches in flight finish: their runners then exist and are adopted later
            self.collect_launches()
            self.tick({})  # settle what ended, write every file that is due
            self.flush_all()
        finally:
            if stop_metrics is not None:
                stop_metrics()
            if self.pruner is not None:
                self.pruner.close()
            self.disk.clear()
            self.pools.clear(self.store.base_path)
            self.watcher.close()
            self.launcher.close()
        alive = sum(1 for r in self.book.runners.values() if r.ended is None)
        log.info("manager stopped; %d runner(s) keep running and will be adopted on restart", alive)

    def _on_stop(self, signum: int, _frame: Any) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        self.stopping = True

    def serve_metrics(self) -> Any:
        port = self.config.metrics_port
        if not port:
            return None
        try:
            stop = self.metrics.serve(self.config.metrics_host, port)
        except OSError as exc:  # a port in use must not keep the jobs from running
            log.error("cannot serve metrics on %s:%d: %s", self.config.metrics_host, port, exc)
            return None
        log.info("metrics on http://%s:%d/metrics", self.config.metrics_host, port)
        return stop

    def tick(self, changes: Changes) -> None:
        """One pass: the verbs of the loop, over the jobs that need a look."""
        started = time.monotonic()
        self.collect_launches()
        self.collect_writes()
        touched = set(changes) - {ALL}
        if ALL in changes or time.monotonic() - self.last_sweep >= self.config.poll_interval:
            touched |= self.sweep(full=ALL in changes or self.watcher is None or not self.watcher.reliable)
            self.recurring.refresh()
        if not self.stopping:
            touched |= set(self.recurring.fire_due(time.time()))
        for name, what in changes.items():
            if name != ALL:
                self.take(name, what)
        touched |= self.book.reap()
        touched |= self.due_timers()
        for name in sorted(touched):
            self.visit(name)
        self.unflushed |= touched
        for name in self.pools.woken():  # held back by a pool that has room again
            model = self._model(name)
            if model is not None and not model.finished:
                self.plan(model)
        if not self.stopping and self.disk.check() is None:
            self.launch_ready()
        self.pools.publish(self.store.base_path)
        self.flush_due()
        self.run_cleanups()
        self.remove_orphans_now_and_then()
        self.apply_retention()
        self.metrics.pass_done(started, self.store.base_path)

    def seconds_to_next_wake(self) -> float:
        wake = [self.last_sweep + self.config.poll_interval - time.monotonic()]
        if self.disk.reason is not None and self.fair:
            wake.append(CHECK_EVERY)  # launches wait for space: look again soon
        if self.timers:
            wake.append(min(self.timers.values()) - time.time())
        due = self.recurring.next_due()
        if due is not None:
            wake.append(due - time.time())
        return max(min(wake), 0.0)

    def due_timers(self) -> set[str]:
        now = time.time()
        due = {name for name, at in self.timers.items() if at <= now}
        for name in due:
            del self.timers[name]
        return due

    def wake_at(self, name: str, at: float | None) -> None:
        if at is not None and at < self.timers.get(name, float("inf")):
            self.timers[name] = at

    # -- which jobs to look at ----------------------------------------------------------------

    def sweep(self, full: bool) -> set[str]:
        """Runners are reaped every pass; `full` also lists every job folder for what came, went or
        changed without an event (at start, on an inotify overflow, or when inotify is not reliable)."""
        self.last_sweep = time.monotonic()
        if not full:
            return set()
        listed = set(self.store.list_job_names())
        names = set()
        for name in listed:
            entry = self.jobs.get(name)
            if entry is None or not entry.done or entry.signature != self.signature(name):
                names.add(name)
                if entry is not None and entry.model is not None:
                    entry.reload = True
        for gone in set(self.jobs) - listed:
            self.forget(gone)
        return names

    def signature(self, name: str) -> tuple[object, ...]:
        found = []
        for file in (STATE_FILE, TASKS_FILE):
            try:
                st = (self.store.jobs_path / name / file).lstat()
                found += [st.st_mtime_ns, st.st_size, st.st_ino]
            except OSError:
                found += [0, 0, 0]
        return tuple(found)

    def take(self, name: str, what: set[str]) -> None:
        """Apply the records an event named to an active job; anything else means: look at it whole."""
        entry = self.jobs.setdefault(name, JobEntry())
        model = entry.model
        if model is None:
            return  # visit() reads it
        for change in sorted(what, key=_record_order):
            if change in (STATE_FILE, TASKS_FILE):
                # Our own write's event may come before its result: written() checks then.
                if model.writing is None and self._foreign(name, change, model):
                    entry.reload = True
            elif change == RESCAN:
                entry.reload = True
            elif change.endswith("/"):
                self.catch_up(model, change.rstrip("/"))
            else:
                try:
                    self.apply_record(model, change)
                except (OSError, AirExecutorError) as exc:
                    log.debug("job %s: cannot read %s yet: %s", name, change, exc, extra={"job": name})

    def catch_up(self, model: JobModel, folder: str) -> None:
        """A journal folder made after the job was read: apply the records it already holds."""
        with self.store.open_job(model.name) as job_dir:
            sub = journal.open_folder(job_dir, folder)
            if sub is None:
                return
            with sub:
                names = sub.names()
        for file in sorted((f"{folder}/{name}" for name in names), key=_record_order):
            try:
                self.apply_record(model, file)
            except (OSError, AirExecutorError) as exc:
                log.debug("job %s: cannot read %s yet: %s", model.name, file, exc, extra={"job": model.name})

    def _foreign(self, name: str, file: str, model: JobModel) -> bool:
        try:
            with self.store.open_job(name) as job_dir:
                return job_dir.signature(file) != model.signatures.get(file)
        except (JobNotFound, JobFileRefused, FileUnreadable):
            return True

    def apply_record(self, model: JobModel, change: str) -> None:
        """One journal record named by an event: a runner's start or end, or queued tasks."""
        folder, _, file = change.partition("/")
        launch, _, kind = file.partition(".")
        with self.store.open_job(model.name) as job_dir:
            sub = journal.open_folder(job_dir, folder)
            if sub is None:
                return
            with sub:
                record = sub.read(file)
        if record is None:
            return  # removed meanwhile, or not whole yet (its CLOSE_WRITE comes)
        if folder == journal.QUEUE:
            if file not in model.used_queue:
                tasks = record.get("tasks")
                model.apply_queue(file, [t for t in tasks if isinstance(t, dict)] if isinstance(tasks, list) else [])
        elif "." + kind == journal.START:
            model.apply_start(launch, record)
            self.metrics.started(model.ready_since.pop(launch, None), record)
        elif "." + kind == journal.END:
            self.ended(model, launch, record)

    def ended(self, model: JobModel, launch: str, record: dict[str, Any]) -> None:
        runner = self.book.get(launch)
        if model.apply_end(launch, record):
            model.ready_since.pop(launch, None)
            self.metrics.ended(record)
            if runner is not None:
                runner.recorded = True
        elif runner is None and launch not in model.used_launches:
            model.used_launches.append(launch)  # a launch that is not ours any more: its records go

    # -- one job ----------------------------------------------------------------------------

    def visit(self, name: str) -> None:
        entry = self.jobs.setdefault(name, JobEntry())
        if self.watcher is not None and entry.model is None:
            # Watched before it is read, so files written after this look wake us (a job being made).
            self.watcher.watch_job(name, active=False)
        try:
            model = self.loaded(name, entry)
            if model is None:
                return
            self.look_after(entry, model)
        except NewerFormat as exc:  # a newer release's job: not run, not written (a downgrade)
            self.troubles.newer(name, entry, exc)
            entry.model = None
            self.retire(name, entry)
            return
        except JobFileRefused as exc:
            self.abandon_runners(name, "its files are refused")
            self.troubles.refused(name, entry, exc)
            self.retire(name, entry)
            return
        except FileUnreadable as exc:
            entry.model = None
            self.wake_at(name, self.troubles.unreadable(name, entry, exc))
            return
        except JobNotFound:
            self.forget(name)
            return
        except ForeignWrite:
            entry.reload = True
            self.wake_at(name, time.time())
            return
        except LockTimeout:
            log.warning("job %s: its lock is busy; will try again", name, extra={"job": name})
            self.wake_at(name, time.time() + 1.0)
            return
        except Exception as exc:  # one job's odd data (or a bug) must never stop the manager and every other job
            if self.troubles.broken(name, entry, exc):
                self.abandon_runners(name, "the job cannot be processed")
                entry.model = None
            self.wake_at(name, time.time() + self.config.poll_interval)
            return
        self.troubles.cleared(name, entry)

    def loaded(self, name: str, entry: JobEntry) -> JobModel | None:
        """The job's model, read whole when new or changed by someone else; None for a finished job
        (read no further than its state.json)."""
        if entry.model is not None and (not entry.reload or entry.model.writing is not None):
            if entry.reload:  # read it again once its write in flight is back
                self.wake_at(name, time.time() + 0.05)
            return entry.model
        entry.reload = False
        if entry.model is None:
            # A completed or failed job costs one small read; a cancelled one may still have runners to stop.
            state = self.store.read_state(name)
            if state.get("state") in (COMPLETED, FAILED) and not self.book.of_job(name):
                entry.final = str(state.get("state"))
                entry.finished_at = parse_iso(state.get("updated_at")) or time.time()
                self.retire(name, entry)
                return None
        model = entry.model or JobModel(name, self.config, self.pools)
        model.load(self.store)
        entry.model, entry.done = model, False
        if self.watcher is not None:
            self.watcher.watch_job(name, active=True)
        return model

    def look_after(self, entry: JobEntry, model: JobModel) -> None:
        """Runners that ended or went missing, a cancelled job, an empty one; then settle it."""
        name = model.name
        self.check_runners(model)
        if model.cancelled:
            self.stop_cancelled(model)
        if not model.tasks and not model.finished:
            self.wake_at(name, self.troubles.empty(name, entry, model))
        else:
            entry.empty_since = None
        busy = bool(self.book.of_job(name)) or bool(model.running)
        if model.finished or model.cancelled or model.next_pending() is None:
            self.discard_warm(name)
        if not model.finished:
            model.settle(busy)
        if model.finished and not busy:
            if not model.changed and model.writing is None:
                self.retire(name, entry)
            else:
                self.unflushed.add(name)  # its verdict is written at once; it retires when that is back
            return
        self.plan(model)

    def plan(self, model: JobModel) -> None:
        """Whether the job wants a runner; when to look at it again: a retry coming due, a runner's
        deadline or exit."""
        now = time.time()
        model.promote_due(now)
        if model.wants_runner():
            self.fair.offer(model)
        else:
            self.fair.withdraw(model.name)
        times = [model.next_retry_at(), model.starts_at()]
        times += [self.book.next_look(r, now) for r in self.book.of_job(model.name)]
        for at in times:
            self.wake_at(model.name, at)

    def retire(self, name: str, entry: JobEntry) -> None:
        """A finished job: out of memory; only its folder stays watched (a reset brings it back)."""
        if entry.model is not None:
            entry.final = str(entry.model.state.get("state"))
            entry.finished_at = parse_iso(entry.model.state.get("updated_at")) or time.time()
        entry.model, entry.done = None, True
        self.timers.pop(name, None)
        self.fair.withdraw(name)
        if self.watcher is not None:
            self.watcher.watch_job(name, active=False)
        if self.watcher is None or not self.watcher.reliable:
            entry.signature = self.signature(name)

    def forget(self, name: str) -> None:
        """A job folder that is gone: its runners can record nothing more, so they are ended too."""
        self.abandon_runners(name, "its job folder is gone")
        self.pools.give_back_job(name)
        self.discard_warm(name)
        self.jobs.pop(name, None)
        self.timers.pop(name, None)
        self.fair.withdraw(name)
        if self.watcher is not None:
            self.watcher.forget_job(name)

    # -- runners: how they end -------------------------------------------------------------------

    def check_runners(self, model: JobModel) -> None:
        """Every running task has a live runner, an adopted one, or an outcome; every runner that
        exited with its outcome recorded is removed."""
        now = time.time()
        for launch, pos in list(model.running.items()):
            runner = self.book.get(launch)
            task = model.tasks[pos]
            if runner is None:
                launched = parse_iso(task.get("launched_at")) or 0.0
                if self.book.adopt(model.name, str(task.get("id")), launch, launched, task.get("timeout")):
                    continue
                if not task.get("started_at") and now - launched < self.config.runner_start_timeout:
                    self.wake_at(model.name, launched + self.config.runner_start_timeout)
                    continue  # launched moments ago by a manager that died: give it time to appear
                self.lose(model, launch, None, None)
            elif runner.launching:
                continue
            elif runner.ended is not None:
                self.lose(model, launch, runner, runner.ended)
            else:
                self.book.enforce_deadline(runner, now)
        for runner in self.book.of_job(model.name):
            if runner.launching or runner.launch_id in model.running:
                continue
            if runner.ended is not None or runner.adopted:
                if runner.ended is not None and runner.ended.details:
                    model.merge_details(runner.launch_id, runner.ended.details)
                self.book.drop(runner)
            elif not runner.recorded:
                self.book.stop(runner, "its task no longer runs under it")

    def lose(self, model: JobModel, launch: str, runner: Runner | None, state: RunnerState | None) -> None:
        """A runner gone without an outcome in the documents: its own end record if it wrote one (the
        event may still be on its way), else ours: runner lost (or cancelled, in a cancelled job)."""
        details = dict(state.details) if state is not None else {}
        if model.cancelled:
            record = rules.end_record(KILLED, "cancelled", details=details)
        else:
            error = self.book.lost_reason(runner, state)
            log.error("task %s: %s", model.tasks[model.running[launch]].get("id"), error, extra={"job": model.name})
            record = rules.end_record(RUNNER_LOST, error, details=details)
        self.ended(model, launch, self.record_end(model.name, launch, record))
        if runner is not None:
            self.book.drop(runner, lost=True)
        else:
            self.book.cleanups.append((None, launch, True))

    def record_end(self, name: str, launch: str, record: dict[str, Any]) -> dict[str, Any]:
        """Make sure no late runner starts this launch, then record its end; returns the end that counts
        (the runner's own, if it wrote one first)."""
        record = {**record, "max_retry_delay": self.config.max_retry_delay}  # whoever folds it retries alike
        with self.store.open_job(name) as job_dir:
            journal.mark(job_dir, launch, journal.START, {"abandoned": True})
            if journal.mark(job_dir, launch, journal.END, record):
                return record
            with journal.Folder(job_dir, journal.RUNS) as runs:
                theirs = runs.read(launch + journal.END)
            if theirs is not None:
                return theirs
            journal.replace_end(job_dir, launch, record)  # cut short by its writer's death
            return record

    def stop_cancelled(self, model: JobModel) -> None:
        for runner in self.book.of_job(model.name):
            self.book.stop(runner, "cancelled")

    def abandon_runners(self, name: str, why: str) -> None:
        """End and forget the runners of a job whose files can no longer be updated."""
        for runner in self.book.of_job(name):
            if runner.ended is None and runner.runner_id and not runner.launching:
                log.warning("job %s: stopping runner %s: %s", name, runner.runner_id, why, extra={"job": name})
                self.launcher.stop(runner.runner_id, force=True)
            self.book.drop(runner, lost=True)
        self.run_cleanups()

    # -- runners: launching ------------------------------------------------------------------------

    def launch_ready(self) -> None:
        """Claim ready tasks for the free slots, fairly between jobs (scheduler.py), and launch them."""
        slots = self.book.free_slots()
        if slots <= 0 or not self.fair:
            return
        for chosen in self.fair.take(self._model, slots):
            assert isinstance(chosen, JobModel)
            self.launch_one(chosen)

    def _model(self, name: str) -> JobModel | None:
        entry = self.jobs.get(name)
        return entry.model if entry is not None else None

    def launch_one(self, model: JobModel) -> None:
        # A runner started ahead for this job takes the task if it can (README "Warm starts").
        ahead = self.warm.warm_launch_id(model.name, model.next_pending() or {}) if self.warm else None
        if ahead == "":  # its runner is being started ahead: look again in a moment
            self.wake_at(model.name, time.time() + WARM_LOOK)
            return
        launch_id = ahead or uuid.uuid4().hex
        task = model.claim_next(launch_id, self.launcher.name)
        entry = self.jobs[model.name]
        try:
            with self.store.open_job(model.name) as job_dir:
                # Runners run as the job folder's owner (a root-owned folder is handed to
                # runner_user first), and check that the folder they find is this one.
                user = job_dir.runner_identity(self.config.runner_ids, heal=not entry.healed)
                entry.healed = True
                snapshot = dict(task)  # the launch (on a worker thread) reads its own copy
                spec = LaunchSpec(
                    self.store.base_path,
                    model.name,
                    snapshot["id"],
                    launch_id,
                    snapshot,
                    self.config,
                    user,
                    folder_id=job_dir.ident,
                )
                runner_id = self.launcher.runner_id_for(spec)
                if runner_id:
                    task["runner_id"] = runner_id
                claim = rules.claim_record(task, model.name, self.config.max_retry_delay)
        except (OSError, AirExecutorError) as exc:
            log.warning("job %s: cannot claim task %s yet: %s", model.name, task.get("id"), exc)
            model.unclaim(launch_id)
            self.wake_at(model.name, time.time() + 1.0)
            return
        now = time.time()
        deadline = self.book.deadline(task.get("timeout"), now)
        self.book.add(Runner(model.name, str(task["id"]), launch_id, runner_id, now, deadline, launching=True))
        model.last_launch = next(self._launches)
        self.unflushed.add(model.name)
        model.settle(busy=True)  # waiting -> working in the same write as the claim
        model.inflight[launch_id] = claim
        assert self.pool is not None
        self.pool.launch(spec, before=lambda: self._prepare(spec, claim))  # claim, then launch
        self.start_next_ahead(model, spec)

    def start_next_ahead(self, model: JobModel, spec: LaunchSpec) -> None:
        """While this task runs, start runners for the job's next ones (each waits for its claim)."""
        following = model.next_pending()
        if self.warm is None or following is None:
            return
        assert self.pool is not None
        while True:
            ahead = replace(spec, task_id=str(following.get("id")), launch_id=uuid.uuid4().hex, task=dict(following))
            if not self.warm.reserve_warm(ahead, model.pending_count()):
                return
            self.pool.call(f"start a runner ahead for job {model.name}", self.warm.prepare_warm, ahead)

    def discard_warm(self, name: str) -> None:
        """The job has no task coming: its runners waiting for one go."""
        if self.warm is not None and self.warm.has_warm(name) and self.pool is not None:
            self.pool.call(f"remove job {name}'s waiting runner", self.warm.discard_warm, name)

    def _prepare(self, spec: LaunchSpec, claim: dict[str, Any]) -> None:
        """On the launch's worker: write the claim, then read the secrets the task names (a refused one
        fails the task to start, with its one line)."""
        self._write_claim(spec.job, spec.launch_id, claim)
        try:
            spec.secrets = secrets.resolve(self.config, spec.task.get("secrets") or (), spec.user[0])
        except AirExecutorError as exc:
            raise LaunchError(str(exc)) from None

    def _write_claim(self, job: str, launch_id: str, claim: dict[str, Any]) -> None:
        with self.store.open_job(job) as job_dir:
            journal.write_claim(job_dir, launch_id, claim)

    def collect_launches(self) -> None:
        if self.pool is None:
            return
        for spec, outcome in self.pool.finished():
            self.launched(spec, outcome)

    def launched(self, spec: LaunchSpec, outcome: str | LaunchError) -> None:
        where = {"job": spec.job, "task": spec.task_id}
        runner = self.book.get(spec.launch_id)
        if runner is None:
            return
        runner.launching = False
        entry = self.jobs.get(spec.job)
        model = entry.model if entry is not None else None
        if model is not None:
            model.inflight.pop(spec.launch_id, None)
        if isinstance(outcome, LaunchError):
            log.error("job %s: task %s failed to start: %s", spec.job, spec.task_id, outcome, extra=where)
            self.metrics.launch_errors.inc()
            if model is not None and spec.launch_id in model.running:
                record = rules.end_record(FAILED_TO_START, str(outcome))
                try:
                    self.ended(model, spec.launch_id, self.record_end(spec.job, spec.launch_id, record))
                except (OSError, AirExecutorError) as exc:
                    log.warning("job %s: could not record the start failure yet: %s", spec.job, exc)
            self.book.drop(runner, lost=True)
            self.wake_at(spec.job, time.time())
            return
        runner.runner_id = outcome
        log.info("job %s: launched task %s (%s)", spec.job, spec.task_id, outcome, extra=where)
        if model is not None:
            pos = model.running.get(spec.launch_id)
            if pos is not None and model.tasks[pos].get("runner_id") != outcome:
                model.tasks[pos]["runner_id"] = outcome
                model._touch(pos)  # noqa: SLF001  (a field the document records)
        self.wake_at(spec.job, time.time())  # its runner may already have ended

    def run_cleanups(self) -> None:
        """Remove ended runners (containers) once their outcome is on disk, outside any lock."""
        cleanups, self.book.cleanups = self.book.cleanups, []
        for runner_id, launch_id, lost in cleanups:
            if self.pool is not None:
                self.pool.cleanup(runner_id, launch_id, lost)
            else:
                self.launcher.cleanup(runner_id, launch_id=launch_id, lost=lost)

    def remove_orphans(self) -> None:
        """At start: remove runners of ours no task needs (an earlier manager's, exited with their
        outcome recorded, or started ahead and never given a task)."""
        self._remove_orphans({r.launch_id for r in self.book.runners.values()})
        self.last_orphans = time.monotonic()

    def remove_orphans_now_and_then(self) -> None:
        """Again every ORPHAN_SWEEP seconds, on a worker: a runner of an earlier manager that was still
        running at start but whose task had already settled is never adopted, and is removed here."""
        if time.monotonic() - self.last_orphans < ORPHAN_SWEEP or self.pool is None:
            return
        self.last_orphans = time.monotonic()
        live = {r.launch_id for r in self.book.runners.values()}
        self.pool.call("remove runners no task needs", self._remove_orphans, live)

    def _remove_orphans(self, live: set[str]) -> None:
        for runner_id in self.launcher.orphans(live):
            log.info("removing the runner %s that no task needs (ended, or never given a task)", runner_id)
            self.launcher.cleanup(runner_id)

    # -- retention ------------------------------------------------------------------------------

    def apply_retention(self) -> None:
        """Every few seconds: hand the finished jobs the config's retention removes to the pruner
        (a bounded batch; the jobs are known from memory, no file is read to choose them)."""
        pruner = self.pruner
        if pruner is None:
            return
        for job, why in pruner.results():
            entry = self.jobs.get(job.name)
            if entry is not None:
                entry.pruning = False
            if why is None:
                self.forget(job.name)
        if not pruner.due() or self.stopping:
            return
        finished = [
            Finished(name, entry.final, entry.finished_at)
            for name, entry in self.jobs.items()
            if entry.done and entry.model is None and entry.final and entry.finished_at and not entry.pruning
        ]
        chosen = to_remove(finished, self.config.retention, time.time())[:BATCH]
        for job in chosen:
            self.jobs[job.name].pruning = True
        pruner.submit(chosen)

    # -- writing the files -----------------------------------------------------------------------

    def flush_due(self) -> None:
        """Decide which changed jobs' files to write now (only those: a pass costs what changed); the
        writer thread writes them."""
        now_mono, now = time.monotonic(), time.time()
        changed, self.unflushed = self.unflushed, set()
        for name in changed:
            entry = self.jobs.get(name)
            model = entry.model if entry is not None else None
            if entry is None or model is None:
                continue
            due = model.flush_due(now_mono)
            if due is None:
                if model.writing is not None or model.changed:
                    self.unflushed.add(name)  # its write is in flight: look again when it is back
                continue
            self.unflushed.add(name)
            if due > now_mono:
                self.wake_at(name, now + (due - now_mono))
                continue
            self.write(model)

    def write(self, model: JobModel) -> None:
        snap = model.snapshot()
        if self.writer is not None:
            self.writer.submit(snap)
            return
        try:  # no writer thread (a manager driven pass by pass, as the benchmark does)
            self.written(snap, write_snapshot(self.store, snap), None)
        except Exception as exc:
            self.written(snap, None, exc)

    def collect_writes(self) -> None:
        if self.writer is None:
            return
        for done in self.writer.results():
            self.written(done.snap, done.signatures, done.error)

    def written(self, snap: Snapshot, signatures: dict[str, Any] | None, error: BaseException | None) -> None:
        name = snap.name
        entry = self.jobs.get(name)
        model = entry.model if entry is not None else None
        if entry is None or model is None or model.writing is not snap:
            return
        if signatures is not None:
            model.written(snap, signatures)
            if any(self._foreign(name, file, model) for file in (STATE_FILE, TASKS_FILE)):
                entry.reload = True  # someone wrote after us meanwhile
                self.wake_at(name, time.time())
                return
            if model.finished and not self.book.of_job(name) and not model.running and not model.changed:
                self.retire(name, entry)
            return
        if isinstance(error, ForeignWrite):
            model.writing = None  # its records are still on disk: read again, they fold back in
            entry.reload = True
            self.wake_at(name, time.time())
            return
        model.not_written(snap)
        if isinstance(error, LockTimeout):
            self.wake_at(name, time.time() + 1.0)
        else:  # a full disk, a folder gone: the records stay; again later
            log.warning("job %s: cannot write its files yet: %s", name, error, extra={"job": name})
            self.wake_at(name, time.time() + self.config.poll_interval)
        self.unflushed.add(name)

    def flush_all(self) -> None:
        """On the way out: every job's files written, the volume synced, the folded records removed."""
        writer, self.writer = self.writer, None
        if writer is not None:
            writer.close()
            for done in writer.results():
                self.written(done.snap, done.signatures, done.error)
        for entry in list(self.jobs.values()):
            if entry.model is not None and entry.model.changed and entry.model.writing is None:
                self.write(entry.model)


def _record_order(change: str) -> tuple[str, str, int]:
    """Records in the order they were made: queued tasks by their time-stamped names (a task may depend
    on one queued just before), and a launch's start before its end."""
    folder, _, file = change.partition("/")
    stem, _, kind = file.partition(".")
    return folder, stem, 0 if "." + kind == journal.START else 1
