"""Retention in the background: finished jobs past their config `retention` rule are removed on a
thread of their own (a big job's folder may take a while to delete), a bounded batch at a time."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from air_executor.core.clock import ago
from air_executor.core.retention import Finished
from air_executor.storage.file_store import FileStore
from air_executor.storage.prune import empty_trash, remove_job

log = logging.getLogger("air_executor.manager")

BATCH = 100  # jobs removed at most per look


class Pruner:
    def __init__(self, store: FileStore, wake: Callable[[], None], every: float) -> None:
        self.store, self.wake, self.every = store, wake, every  # every: seconds between two looks
        self.todo: queue.Queue[list[Finished] | None] = queue.Queue()
        self.done: queue.Queue[tuple[Finished, str | None]] = queue.Queue()
        self.busy = False
        self.next_look = 0.0
        self.thread = threading.Thread(target=self._work, name="pruner", daemon=True)
        self.thread.start()

    def due(self) -> bool:
        return not self.busy and time.monotonic() >= self.next_look

    def submit(self, jobs: list[Finished]) -> None:
        self.next_look = time.monotonic() + self.every
        if jobs:
            self.busy = True
            self.todo.put(jobs)

    def results(self) -> list[tuple[Finished, str | None]]:
        """(job, None) for each job removed, (job, why) for each kept for now."""
        out = []
        while True:
            try:
                out.append(self.done.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        self.todo.put(None)
        self.thread.join(timeout=30)

    def _work(self) -> None:
        empty_trash(self.store)  # folders a crash left half deleted
        while True:
            batch = self.todo.get()
            if batch is None:
                return
            now = time.time()
            for job in batch:
                why = remove_job(self.store, job)
                if why is None:
                    age = ago(now - job.finished_at)
                    log.info(
                        "job %s: removed by retention (%s %s ago)", job.name, job.state, age, extra={"job": job.name}
                    )
                else:
                    log.debug("job %s: kept for now: %s", job.name, why, extra={"job": job.name})
                self.done.put((job, why))
            self.busy = False
            self.wake()
