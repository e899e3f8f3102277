"""Writing jobs' files off the loop: a thread writes the snapshots the loop decides, a job's new state
first, and another, every CHECKPOINT seconds, syncs the volume and removes the journal records that
written files now hold.

Renaming a file over another makes the file system push the new data out, and syncs are slow on
busy disks: done in the loop, a thousand busy jobs' writes would hold up every dispatch. The loop
only encodes (snapshot) and goes on; what the thread did comes back through `results()`.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from air_executor.errors import AirExecutorError, LockTimeout
from air_executor.storage import journal
from air_executor.storage.file_store import FileStore
from air_executor.storage.lock import JobLock

from air_executor_manager.jobs import Snapshot, write_snapshot

log = logging.getLogger("air_executor.manager")

CHECKPOINT = 1.0  # seconds between syncs of the volume that let folded records go
REMOVE_LOCK_WAIT = 0.5  # a job lock busy longer: its records go at the next checkpoint


@dataclass
class Written:
    snap: Snapshot
    signatures: dict[str, tuple[int, ...] | None] | None  # None: not written
    error: BaseException | None = None


class Writer:
    def __init__(self, store: FileStore, wake: Callable[[], None]) -> None:
        self.store, self.wake = store, wake
        # (priority, order, snapshot): a job's new state (it started, it ended) before its tasks' news.
        self.todo: queue.PriorityQueue[tuple[int, int, Snapshot | None]] = queue.PriorityQueue()
        self.done: queue.SimpleQueue[Written] = queue.SimpleQueue()
        self.order = itertools.count()
        self.held: dict[str, tuple[list[str], list[str]]] = {}  # records that written files hold
        self.held_lock = threading.Lock()
        self.stopping = threading.Event()
        self.writer = threading.Thread(target=self._write_loop, name="writer", daemon=True)
        self.syncer = threading.Thread(target=self._sync_loop, name="syncer", daemon=True)
        self.writer.start()
        self.syncer.start()

    def submit(self, snap: Snapshot) -> None:
        self.todo.put((0 if snap.state is not None else 1, next(self.order), snap))

    def results(self) -> list[Written]:
        found = []
        while True:
            try:
                found.append(self.done.get_nowait())
            except queue.Empty:
                return found

    def close(self) -> None:
        """Write what is queued, sync, remove the records; then stop."""
        self.todo.put((2, next(self.order), None))
        self.writer.join()
        self.stopping.set()
        self.syncer.join()
        self.checkpoint()

    def _write_loop(self) -> None:
        while True:
            _, _, snap = self.todo.get()
            if snap is None:
                return
            try:
                signatures = write_snapshot(self.store, snap)
            except Exception as exc:  # ForeignWrite, a lock held, a full disk: the loop decides
                self.done.put(Written(snap, None, exc))
            else:
                if snap.launches or snap.queued:
                    with self.held_lock:
                        held = self.held.setdefault(snap.name, ([], []))
                        held[0].extend(snap.launches)
                        held[1].extend(snap.queued)
                self.done.put(Written(snap, signatures))
            self.wake()

    def _sync_loop(self) -> None:
        while not self.stopping.wait(CHECKPOINT):
            self.checkpoint()

    def checkpoint(self) -> None:
        """Sync the volume (one syncfs for every file written since), then remove the records those
        files hold. Until then the records are the truth: a host crash before the sync loses none."""
        with self.held_lock:
            held, self.held = self.held, {}
        if not held:
            return
        started = time.monotonic()
        try:
            self.store.sync()
        except OSError as exc:
            log.warning("cannot sync the volume yet: %s", exc)
            with self.held_lock:
                for name, (launches, queued) in held.items():
                    again = self.held.setdefault(name, ([], []))
                    again[0].extend(launches)
                    again[1].extend(queued)
            return
        for name, (launches, queued) in held.items():
            try:
                # Under the job's lock, as the files that hold them were written: a reader under the
                # lock (a backup, a client's transaction) sees records and files agree.
                with self.store.open_job(name) as job_dir, JobLock(job_dir, timeout=REMOVE_LOCK_WAIT):
                    journal.remove_queued(job_dir, queued)
                    journal.remove_attempts(job_dir, launches)
            except LockTimeout:
                with self.held_lock:  # next checkpoint
                    again = self.held.setdefault(name, ([], []))
                    again[0].extend(launches)
                    again[1].extend(queued)
            except (OSError, AirExecutorError) as exc:
                log.debug("job %s: cannot remove its folded records: %s", name, exc, extra={"job": name})
        log.debug("checkpoint: %d job(s) in %.3f s", len(held), time.monotonic() - started)
