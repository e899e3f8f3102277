"""One active job as the manager holds it: its documents, and what is ready, running and done.

The manager reads a job whole once (tasks.json with its journal folded in), then keeps it
up to date from the journal's records as they arrive: a claim, a start, an end, queued
tasks. Each record changes a few tasks, so what a task costs does not grow with its job:
dependents are released or skipped through a map of who depends on whom, ready tasks
wait in insertion order, delayed retries in a heap, and each task's line of tasks.json is
encoded again only when it changed. tasks.json and state.json are written back (`flush`)
at most every `max_file_lag` seconds for big jobs, at once for small ones.

The rules themselves are core/transitions.py's; this module only keeps the bookkeeping.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from air_executor.config import Config
from air_executor.core import transitions as rules
from air_executor.core.clock import now_iso, parse_iso
from air_executor.core.lifecycle import (
    CANCELLED,
    COMPLETED,
    JOB_DONE,
    PENDING,
    RUNNING,
)
from air_executor.storage import file_format
from air_executor.storage.file_store import (
    STATE_FILE,
    TASKS_FILE,
    FileStore,
    JobFiles,
    dump_json,
    encode_task,
    encode_tasks,
)
from air_executor.storage.lock import JobLock

from air_executor_manager.ready import PoolUse, ReadyQueue

log = logging.getLogger("air_executor.manager")

Doc = dict[str, Any]
LOCK_WAIT = 2.0  # seconds to wait for a job's lock before trying again later


class ForeignWrite(Exception):
    """Someone else rewrote tasks.json or state.json since the manager read them: read again."""


@dataclass
class Snapshot:
    """A job's documents as they were when its write was decided, and the records they hold."""

    name: str
    tasks: bytes | None
    state: bytes | None
    expected: dict[str, tuple[int, ...] | None]  # what the files must still be (else: someone wrote them)
    launches: list[str]
    queued: list[str]


def write_snapshot(store: FileStore, snap: Snapshot) -> dict[str, tuple[int, ...] | None]:
    """Write a job's files (under its lock) unless someone else rewrote them since: ForeignWrite then.
    Not synced: the records they hold are removed only after the next checkpoint (a volume sync)."""
    signatures: dict[str, tuple[int, ...] | None] = {}
    with store.open_job(snap.name) as job_dir, JobLock(job_dir, timeout=LOCK_WAIT):
        for file in (STATE_FILE, TASKS_FILE):
            if job_dir.signature(file) != snap.expected.get(file):
                raise ForeignWrite(file)
        if snap.tasks is not None:
            signatures[TASKS_FILE] = job_dir.write(TASKS_FILE, snap.tasks, durable=False)
        if snap.state is not None:
            signatures[STATE_FILE] = job_dir.write(STATE_FILE, snap.state, durable=False)
    return signatures


class JobModel:
    """The manager's copy of one active job."""

    def __init__(self, name: str, config: Config, pools: PoolUse | None = None) -> None:
        self.name = name
        self.config = config
        self.pools = pools if pools is not None else PoolUse(config.pools)
        self.state: Doc = {}
        self.tasks: list[Doc] = []
        self.lines: list[bytes | None] = []  # each task's encoded line of tasks.json (None: changed)
        self.position: dict[Any, int] = {}  # task id -> index (the first task of that id)
        self.counts: Counter[str] = Counter()
        self.unmet: dict[int, int] = {}  # pending task -> dependencies not completed yet
        self.dependents: dict[Any, list[int]] = {}
        self.ready = ReadyQueue()  # pending tasks that may start, best first (ready.py)
        self.ready_since: dict[str, float] = {}  # launch -> when its task became ready (dispatch latency)
        self.delayed: list[tuple[float, int]] = []  # (not_before, task) of pending retries
        self.running: dict[str, int] = {}  # launch id -> task
        self.signatures: dict[str, tuple[int, ...] | None] = {}
        self.dirty = False
        self.state_dirty = False
        self.used_launches: list[str] = []  # journal records held by the documents once written
        self.used_queue: list[str] = []
        self.details: dict[str, Doc] = {}  # launch -> what the launcher saw, merged into history
        self.inflight: dict[str, Doc] = {}  # launch -> claim record still being written (on a worker)
        self.writing: Snapshot | None = None  # its files being written (on a worker)
        self.last_flush = 0.0
        self.last_launch = 0  # when a runner of it was last launched (fair share's round-robin)

    # -- reading ---------------------------------------------------------------------------

    def load(self, store: FileStore) -> None:
        """Read the job whole: documents, journal; then every rule over every task, once.

        Under the job's lock: a client's transaction writes tasks.json and then removes the records
        it folded in, and between the two those records must not be applied again.
        """
        with store.open_job(self.name) as job_dir, JobLock(job_dir, timeout=LOCK_WAIT):
            files = JobFiles(job_dir).load(max_retry_delay=self.config.max_retry_delay)
        self.signatures = dict(files.signatures)
        folded = files.folded  # what the journal added: its records go once our write holds them
        self.state, self.tasks = files.state or {}, files.tasks or []
        self.used_launches = list(folded.done_launches) if folded is not None else []
        self.used_queue = list(folded.queue_names) if folded is not None else []
        self.dirty = self.state_dirty = folded is not None and folded.changed
        if self.state.get(file_format.FIELD) != file_format.FORMAT_VERSION:
            self.state[file_format.FIELD] = file_format.FORMAT_VERSION  # an older release's job, upgraded
            self.state_dirty = True
        self.lines = [None] * len(self.tasks) if self.dirty else [encode_task(t) for t in self.tasks]
        by_id = {rules.key(t.get("id")): t for t in self.tasks}
        for claim in self.inflight.values():  # claims whose record is not on disk yet
            task = by_id.get(rules.key(claim.get("task_id")))
            if task is not None and rules.apply_claim(task, claim):
                self.dirty = True
        for launch, details in self.details.items():
            self._merge_details(launch, details)
        self._index()
        self._check_all()

    def _index(self) -> None:
        self.position, self.dependents, self.running = {}, {}, {}
        self.pools.give_back_job(self.name)
        self.counts = Counter()
        for pos, task in enumerate(self.tasks):
            self.position.setdefault(rules.key(task.get("id")), pos)
            self.counts[_status(task)] += 1
            for dep in rules.deps(task):
                self.dependents.setdefault(rules.key(dep), []).append(pos)
            if task.get("status") == RUNNING and isinstance(task.get("launch_id"), str):
                self.running[task["launch_id"]] = pos
                self.pools.take(self.name, task["launch_id"], *_pool_of(task))

    def _check_all(self) -> None:
        """Every rule once: an invalid job, tasks that can never run, blocked ones, then what is ready."""
        problem = rules.job_problem(self.state) if not rules.job_finished(self.state) else None
        if problem is not None:
            if self.state.get("error") != problem:
                log.error("job %s: %s", self.name, problem, extra={"job": self.name})
            rules.fail_job(self.state, self.tasks, problem)
            self._all_changed()
            return
        self._fail_invalid(range(len(self.tasks)))
        for task in rules.skip_blocked(self.tasks):
            self._changed(self.position[rules.key(task.get("id"))], PENDING)
        self.unmet, self.ready, self.delayed = {}, ReadyQueue(), []
        for pos, task in enumerate(self.tasks):
            if task.get("status") == PENDING:
                self.unmet[pos] = sum(1 for d in rules.deps(task) if self._status_of(d) != COMPLETED)
                self._maybe_ready(pos)

    def _fail_invalid(self, positions: Any) -> None:
        candidates = [self.tasks[p] for p in positions]
        problems = rules.dependency_problems(self.tasks, candidates)
        for pos in positions:
            task = self.tasks[pos]
            before = _status(task)
            why = rules.task_problem(task, self.config) or problems.get(id(task))
            if why is not None:
                rules.fail_task(task, why)
                self._changed(pos, before)

    # -- the journal's records -------------------------------------------------------------

    def apply_start(self, launch: str, record: Doc | None) -> None:
        pos = self.running.get(launch)
        if pos is not None and rules.apply_start(self.tasks[pos], launch, record):
            self._touch(pos)

    def apply_end(self, launch: str, record: Doc) -> bool:
        """How an attempt ended; True if it was one of ours still running."""
        pos = self.running.get(launch)
        if pos is None:
            return False
        task = self.tasks[pos]
        before = _status(task)
        cancelled = self.state.get("state") == CANCELLED
        if not rules.apply_end(task, launch, record, job_cancelled=cancelled, max_delay=self.config.max_retry_delay):
            return False
        del self.running[launch]
        self.pools.give_back(self.name, launch)
        self.used_launches.append(launch)
        self._changed(pos, before)
        return True

    def apply_queue(self, name: str, docs: list[Doc]) -> None:
        """Tasks add-task queued: appended, checked once, ready when their dependencies are done."""
        first = len(self.tasks)
        for doc in docs:
            if rules.key(doc.get("id")) in self.position:
                continue  # folded already (its record stays until the file holding it is synced)
            self.tasks.append(doc)
            self.lines.append(None)
            pos = len(self.tasks) - 1
            self.position.setdefault(rules.key(doc.get("id")), pos)
            self.counts[_status(doc)] += 1
            for dep in rules.deps(doc):
                self.dependents.setdefault(rules.key(dep), []).append(pos)
        self.used_queue.append(name)
        self.dirty = True
        new = range(first, len(self.tasks))
        self._fail_invalid(new)
        for pos in new:
            task = self.tasks[pos]
            if task.get("status") == PENDING:
                blocker = next((d for d in rules.deps(task) if self._status_of(d) in rules.BLOCKING), None)
                if blocker is not None:
                    rules.skip(task, str(blocker), str(self._status_of(blocker)))
                    self._changed(pos, PENDING)
                    continue
                self.unmet[pos] = sum(1 for d in rules.deps(task) if self._status_of(d) != COMPLETED)
                self._maybe_ready(pos)

    def merge_details(self, launch: str, details: Doc) -> None:
        """What the launcher saw of an attempt that ended (container id, image, OOM)."""
        if details:
            self.details[launch] = details
            self._merge_details(launch, details)

    def _merge_details(self, launch: str, details: Doc) -> None:
        for pos, task in enumerate(self.tasks):
            history = task.get("history")
            if isinstance(history, list) and any(isinstance(h, dict) and h.get("launch_id") == launch for h in history):
                rules.merge_attempt_details(task, launch, details)
                self._touch(pos)
                return

    # -- claiming --------------------------------------------------------------------------

    def promote_due(self, now: float) -> None:
        while self.delayed and self.delayed[0][0] <= now:
            _, pos = heapq.heappop(self.delayed)
            if self.tasks[pos].get("status") == PENDING and self.unmet.get(pos) == 0:
                self._make_ready(pos)

    def next_retry_at(self) -> float | None:
        return self.delayed[0][0] if self.delayed else None

    @property
    def max_parallel(self) -> int:
        return _whole(self.state.get("max_parallel"), self.config.max_parallel)

    @property
    def priority(self) -> int:
        return _whole(self.state.get("priority"), 0)

    def starts_at(self) -> float | None:
        """When the job's `not_before` lets it start, if that is still to come."""
        at = parse_iso(self.state.get("not_before"))
        return at if at is not None and at > time.time() else None

    def wants_runner(self) -> bool:
        if not self.ready or len(self.running) >= self.max_parallel or rules.job_finished(self.state):
            return False
        if self.starts_at() is not None:
            return False
        if self.ready.best(self.pools.room) is None:
            self.pools.wait_for(self.name, self.ready.pools())  # every ready task waits for a full pool
            return False
        return True

    def rank(self) -> tuple[int, ...]:
        """Its place for the next free slot (scheduler.py): its priority, its best ready task's, then fair share."""
        best = self.ready.best(self.pools.room)
        task_priority = self.ready.priority_of(best) if best is not None else 0
        return (-self.priority, -task_priority, len(self.running), self.last_launch)

    def next_pending(self) -> Doc | None:
        """The task likely to run next: the best ready one, else one still waiting on others."""
        best = self.ready.best()
        if best is not None:
            return self.tasks[best]
        for pos in self.unmet:
            return self.tasks[pos]
        return None

    def pending_count(self) -> int:
        return len(self.unmet)  # every pending task, ready or not

    def claim_next(self, launch_id: str, launcher: str) -> Doc:
        """Claim the best ready task whose pool has room under `launch_id`; returns it (running now)."""
        pos = self.ready.best(self.pools.room)
        assert pos is not None, "claim_next without wants_runner"
        self.ready_since[launch_id] = self.ready.discard(pos) or time.time()
        task = self.tasks[pos]
        rules.claim(task, launch_id, launcher, now_iso())
        self.running[launch_id] = pos
        self.pools.take(self.name, launch_id, *_pool_of(task))
        self._changed(pos, PENDING)
        return task

    def unclaim(self, launch_id: str) -> None:
        """Forget a claim whose record could not be written (the task is pending again)."""
        pos = self.running.pop(launch_id, None)
        self.ready_since.pop(launch_id, None)
        self.pools.give_back(self.name, launch_id)
        if pos is None:
            return
        rules.unclaim(self.tasks[pos])
        self._changed(pos, RUNNING)

    # -- the job -------------------------------------------------------------------------

    def settle(self, busy: bool) -> bool:
        before = self.state.get("state")
        if rules.settle_counts(self.state, self.counts, busy, lambda: rules.failure_summary(self.tasks)):
            self.state_dirty = True
            if self.state.get("state") != before:
                log.info("job %s: %s -> %s", self.name, before, self.state.get("state"), extra={"job": self.name})
            return True
        return False

    def fail(self, problem: str) -> None:
        rules.fail_job(self.state, self.tasks, problem)
        self._all_changed()
        self._check_all()

    @property
    def finished(self) -> bool:
        return self.state.get("state") in JOB_DONE

    @property
    def cancelled(self) -> bool:
        return self.state.get("state") == CANCELLED

    @property
    def changed(self) -> bool:
        return self.dirty or self.state_dirty or bool(self.used_launches) or bool(self.used_queue)

    def flush_due(self, now: float) -> float | None:
        """When this job's files should next be written (None: nothing to write).

        A change of the job's state (it started, it ended) is written at once; changes of its tasks
        wait up to `max_file_lag` so that many of them share one write, whatever the job's size.
        """
        if not self.changed or self.writing is not None:
            return None
        if self.state_dirty or self.finished or (not self.running and not self.ready):
            return now
        return self.last_flush + self.config.max_file_lag

    def snapshot(self) -> Snapshot:
        """What to write now (the changed documents, encoded), taken in the loop; the write itself runs
        on a worker (write_snapshot) while the loop goes on."""
        tasks = state = None
        if self.dirty:
            lines = self.lines
            for pos, line in enumerate(lines):
                if line is None:
                    lines[pos] = encode_task(self.tasks[pos])
            tasks = encode_tasks(lines)  # type: ignore[arg-type]
        if self.state_dirty:
            state = dump_json(self.state)
        snap = Snapshot(self.name, tasks, state, dict(self.signatures), self.used_launches, self.used_queue)
        self.dirty = self.state_dirty = False
        self.used_launches, self.used_queue = [], []
        self.writing = snap
        return snap

    def written(self, snap: Snapshot, signatures: dict[str, tuple[int, ...] | None]) -> None:
        self.writing = None
        self.signatures.update(signatures)
        self.last_flush = time.monotonic()
        for launch in snap.launches:
            self.details.pop(launch, None)

    def not_written(self, snap: Snapshot) -> None:
        """The write failed (a full disk, say): what it carried is to write again."""
        self.writing = None
        self.dirty = self.dirty or snap.tasks is not None
        self.state_dirty = self.state_dirty or snap.state is not None
        self.used_launches = snap.launches + self.used_launches
        self.used_queue = snap.queued + self.used_queue

    # -- bookkeeping -----------------------------------------------------------------------

    def _status_of(self, task_id: Any) -> Any:
        pos = self.position.get(rules.key(task_id))
        return None if pos is None else self.tasks[pos].get("status")

    def _touch(self, pos: int) -> None:
        self.lines[pos] = None
        self.dirty = True

    def _all_changed(self) -> None:
        self.lines = [None] * len(self.tasks)
        self.dirty = self.state_dirty = True
        self._index()

    def _maybe_ready(self, pos: int) -> None:
        if self.unmet.get(pos) != 0:
            return
        not_before = parse_iso(self.tasks[pos].get("not_before"))
        if not_before is not None and not_before > time.time():
            heapq.heappush(self.delayed, (not_before, pos))
        else:
            self._make_ready(pos)

    def _make_ready(self, pos: int) -> None:
        task = self.tasks[pos]
        self.ready.add(pos, _whole(task.get("priority"), 0), *_pool_of(task), time.time())

    def _changed(self, pos: int, before: str) -> None:
        """A task's status went from `before` to what it is: counts, dependents, readiness follow."""
        self._touch(pos)
        task = self.tasks[pos]
        after = _status(task)
        if after == before:
            return
        self.counts[before] -= 1
        self.counts[after] += 1
        self.ready.discard(pos)
        if after == PENDING:  # a retry, or a claim taken back
            self.unmet[pos] = sum(1 for d in rules.deps(task) if self._status_of(d) != COMPLETED)
            self._maybe_ready(pos)
            return
        self.unmet.pop(pos, None)
        if after == COMPLETED:
            for dependent in self.dependents.get(rules.key(task.get("id")), ()):
                if dependent in self.unmet:
                    self.unmet[dependent] -= 1
                    self._maybe_ready(dependent)
        elif after in rules.BLOCKING:
            self._skip_dependents(pos)

    def _skip_dependents(self, pos: int) -> None:
        blockers = [pos]
        while blockers:
            blocker = self.tasks[blockers.pop()]
            for dependent in self.dependents.get(rules.key(blocker.get("id")), ()):
                task = self.tasks[dependent]
                if task.get("status") == PENDING:
                    rules.skip(task, str(blocker.get("id")), str(blocker.get("status")))
                    self.counts[PENDING] -= 1
                    self.counts[task["status"]] += 1
                    self.ready.discard(dependent)
                    self.unmet.pop(dependent, None)
                    self._touch(dependent)
                    blockers.append(dependent)


def _pool_of(task: Doc) -> tuple[str | None, int]:
    """The pool a task needs and how many of its slots (checked valid before it is ever ready)."""
    pool, slots = task.get("pool"), _whole(task.get("pool_slots"), 1)
    return (pool if isinstance(pool, str) else None), (slots if slots > 0 else 1)


def _whole(value: Any, default: int) -> int:
    """A whole number from a document, or `default` for anything else (a bool is not one)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _status(task: Doc) -> str:
    status = task.get("status")
    return status if isinstance(status, str) else "?"
