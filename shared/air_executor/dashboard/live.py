"""Keeping the index current and pushing changes to browsers (server-sent events).

Start-up reads every job once, in a worker thread, while the server already answers.
After that a job is read again only when inotify says something in its folder changed
(watch.py), a few at a time and off the event loop; each change is published to the
browsers that listen. A sweep compares the folder listing and the job files' sizes and
times every `sweep` seconds (every `poll_interval` when inotify is unavailable), which
catches anything an event could have missed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from air_executor.dashboard.index import JobIndex
from air_executor.dashboard.jobdata import JobDocs, read_job
from air_executor.dashboard.watch import ALL, JobWatcher
from air_executor.errors import FileUnreadable, InvalidName, JobFileRefused, JobNotFound
from air_executor.storage.file_store import STATE_FILE, TASKS_FILE, FileStore

log = logging.getLogger("air_executor.dashboard")

DEBOUNCE = 0.05  # seconds: a job's files change in bursts (tasks.json, then state.json)
SCAN_CHUNK = 500
QUEUE_SIZE = 1000
KEEPALIVE = 15.0
Signature = tuple[tuple[int, int, int], ...]


class Broker:
    """Fan-out of events to every open event stream; a stream that falls behind gets `reset`."""

    def __init__(self) -> None:
        self.queues: set[asyncio.Queue[dict[str, Any]]] = set()

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self.queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self.queues.discard(queue)

    def publish(self, event: dict[str, Any]) -> None:
        for queue in self.queues:
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:  # a slow reader: it re-reads everything instead
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait({"type": "reset"})


class Live:
    """The index, the watcher that keeps it current and the broker that tells browsers."""

    def __init__(self, store: FileStore, poll_interval: float = 5.0, sweep: float = 30.0) -> None:
        self.store = store
        self.index = JobIndex()
        self.broker = Broker()
        self.poll_interval, self.sweep_every = poll_interval, sweep
        self.watcher: JobWatcher | None = None
        self.signatures: dict[str, Signature] = {}
        self.pending: set[str] = set()
        self.next_read: dict[str, float] = {}  # a job read moments ago waits until then to be read again
        self.flushing: asyncio.Task[None] | None = None
        self.log_waiters: dict[tuple[str, str], set[asyncio.Event]] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.failure: str | None = None

    @property
    def mode(self) -> str:
        return "inotify" if self.watcher is not None and self.watcher.reliable else "polling"

    async def start(self) -> None:
        self._start_watcher()
        self.tasks = [asyncio.create_task(self._scan()), asyncio.create_task(self._sweeper())]
        for task in self.tasks:
            task.add_done_callback(self._died)

    async def stop(self) -> None:
        for task in [*self.tasks, *([self.flushing] if self.flushing else [])]:
            task.cancel()
        if self.watcher is not None:
            try:
                asyncio.get_running_loop().remove_reader(self.watcher.fileno())
            except (ValueError, OSError):
                pass
            self.watcher.close()
        self.broker.publish({"type": "bye"})

    def _died(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.failure = f"{type(task.exception()).__name__}: {task.exception()}"
            log.error("the dashboard stopped following the jobs folder: %s", self.failure)

    def _start_watcher(self) -> None:
        if self.watcher is not None or not os.path.isdir(self.store.jobs_folder):
            return
        watcher = JobWatcher(self.store.jobs_folder, self._jobs_changed, self._logs_grew)
        if watcher.start():
            asyncio.get_running_loop().add_reader(watcher.fileno(), watcher.read)
            self.watcher = watcher
            for name in self.index.names():  # jobs found while the jobs folder was polled
                watcher.watch_job(name)

    # -- reading jobs ------------------------------------------------------------------------

    def _read(self, name: str) -> tuple[str, Signature | None, JobDocs | None, float]:
        """In a worker thread: the job's files' signature, then its documents (None if it is gone)."""
        read_at = time.monotonic()
        signature = self._signature(name)
        try:
            return name, signature, read_job(self.store, name), read_at
        except (JobNotFound, InvalidName):
            return name, None, None, read_at
        finally:
            # A big job changes many times a second: read it again only after ten times what a read
            # costs, so following it never takes more than a tenth of the time.
            self.next_read[name] = time.monotonic() + 10 * (time.monotonic() - read_at)

    def _signature(self, name: str) -> Signature:
        """Inode, size and time of state.json and tasks.json (lstat: nothing is opened or followed)."""
        folder = os.path.join(self.store.jobs_folder, name)
        out = []
        for file in (STATE_FILE, TASKS_FILE):
            try:
                st = os.lstat(os.path.join(folder, file))
                out.append((st.st_ino, st.st_size, st.st_mtime_ns))
            except OSError:
                out.append((0, -1, 0))
        return tuple(out)

    def _signatures(self, names: set[str]) -> dict[str, Signature]:
        return {name: self._signature(name) for name in names}

    def _apply(
        self, name: str, signature: Signature | None, docs: JobDocs | None, read_at: float, publish: bool = True
    ) -> None:
        if docs is None:
            self.signatures.pop(name, None)
            if self.watcher is not None:
                self.watcher.forget_job(name)
            if self.index.remove(name):
                self.broker.publish({"type": "removed", "name": name})
            return
        if signature is not None:
            self.signatures[name] = signature
        if self.watcher is not None:
            self.watcher.watch_job(name)
        changed = self.index.put(docs, read_at)
        entry = self.index.entries.get(name)
        if entry is not None and publish:
            self.broker.publish({"type": "job", "name": name, "changed": changed is not None, "job": entry.summary})

    async def _read_and_apply(self, names: list[str], publish: bool = True) -> None:
        def read_all() -> list[tuple[str, Signature | None, JobDocs | None, float]]:
            return [self._read(name) for name in names]

        for result in await asyncio.to_thread(read_all):
            self._apply(*result, publish=publish)

    async def _scan(self) -> None:
        names = await asyncio.to_thread(self._list)
        for at in range(0, len(names), SCAN_CHUNK):
            await self._read_and_apply(names[at : at + SCAN_CHUNK], publish=False)  # one `indexed` at the end
        self.index.ready = True
        self.broker.publish({"type": "indexed", "jobs": len(self.index)})

    def _list(self) -> list[str]:
        try:
            return self.store.list_job_names()
        except (FileUnreadable, JobFileRefused) as exc:
            raise RuntimeError(f"cannot list {self.store.jobs_folder}: {exc}") from None

    # -- events ------------------------------------------------------------------------------

    def _jobs_changed(self, names: set[str]) -> None:
        self.pending |= names
        if self.flushing is None or self.flushing.done():
            self.flushing = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        while self.pending:
            await asyncio.sleep(DEBOUNCE)
            names, self.pending = self.pending, set()
            if ALL in names:
                names = (names - {ALL}) | set(await asyncio.to_thread(self._list)) | self.index.names()
            now = time.monotonic()
            later = {name for name in names if self.next_read.get(name, 0.0) > now}
            self.pending |= later
            if names - later:
                await self._read_and_apply(sorted(names - later))
            elif later:
                await asyncio.sleep(min(self.next_read[name] for name in later) - now)

    def _logs_grew(self, logs: set[tuple[str, str]]) -> None:
        for key in logs:
            for waiter in self.log_waiters.get(key, ()):
                waiter.set()

    async def _sweeper(self) -> None:
        """Catch what events missed (or stand in for them without inotify): listing, then signatures."""
        while True:
            await asyncio.sleep(self.sweep_every if self.mode == "inotify" else self.poll_interval)
            if not self.index.ready:
                continue
            self._start_watcher()
            names = set(await asyncio.to_thread(self._list))
            known = self.index.names()
            signatures = await asyncio.to_thread(self._signatures, names)
            stale = {n for n in names if signatures[n] != self.signatures.get(n)} | (known - names)
            if stale:
                self._jobs_changed(stale)
            if self.mode == "polling":
                for waiters in self.log_waiters.values():
                    for waiter in waiters:
                        waiter.set()

    # -- streams -----------------------------------------------------------------------------

    async def events(self, job: str | None) -> AsyncIterator[str]:
        """Server-sent events: `job`, `removed`, `indexed`, `reset` (only `job`'s with a name given)."""
        queue = self.broker.subscribe()
        try:
            yield sse("hello", {"indexed": self.index.ready, "jobs": len(self.index), "live": self.mode})
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), KEEPALIVE)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if event["type"] == "bye":
                    return
                if job is None or event.get("name") in (None, job):
                    yield sse(event["type"], event)
        finally:
            self.broker.unsubscribe(queue)

    def log_waiter(self, job: str, task: str) -> asyncio.Event:
        event = asyncio.Event()
        self.log_waiters.setdefault((job, task), set()).add(event)
        return event

    def drop_log_waiter(self, job: str, task: str, event: asyncio.Event) -> None:
        waiters = self.log_waiters.get((job, task))
        if waiters is not None:
            waiters.discard(event)
            if not waiters:
                del self.log_waiters[(job, task)]


def sse(kind: str, data: Any) -> str:
    """One server-sent event; JSON never holds a raw newline, so one `data:` line is enough."""
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
