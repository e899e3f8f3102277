"""Which of a job's ready tasks starts next, and the pools all jobs share (README "Scheduling").

A job's ready tasks wait by priority (higher first), then in the order they became ready. They
are kept in one heap per pool, so a full pool holds back only the tasks that need it: the next
task is the best top among the pools with room. Pools are named limits from config.yaml that
count the slots of running tasks across all jobs; a task counts from its claim until its attempt
ends, so two tasks of a pool of one never run at once.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from air_executor.storage.manager_lock import POOLS_FILE, write_small

log = logging.getLogger("air_executor.manager")

Room = Callable[[str | None, int], bool]  # (pool, slots) -> may a task of it start now


class ReadyQueue:
    """One job's ready tasks (by position in tasks.json), best first."""

    def __init__(self) -> None:
        self._since: dict[int, float] = {}  # task -> when it became ready
        self._entry: dict[int, tuple[int, int]] = {}  # task -> its (priority key, order) in its heap
        self._heaps: dict[str | None, list[tuple[int, int, int, int]]] = {}  # pool -> (-priority, order, slots, task)
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._since)

    def __bool__(self) -> bool:
        return bool(self._since)

    def __contains__(self, pos: int) -> bool:
        return pos in self._since

    def add(self, pos: int, priority: int, pool: str | None, slots: int, since: float) -> None:
        self.discard(pos)
        key = (-priority, next(self._order))
        self._since[pos], self._entry[pos] = since, key
        heapq.heappush(self._heaps.setdefault(pool, []), (*key, slots, pos))

    def discard(self, pos: int) -> float | None:
        """Take a task out (claimed, skipped, failed); when it became ready, or None if it was not."""
        self._entry.pop(pos, None)  # its heap entry is dropped when it reaches the top
        return self._since.pop(pos, None)

    def _top(self, pool: str | None) -> tuple[int, int, int, int] | None:
        heap = self._heaps.get(pool)
        while heap:
            priority, order, slots, pos = heap[0]
            if self._entry.get(pos) == (priority, order):
                return heap[0]
            heapq.heappop(heap)
        self._heaps.pop(pool, None)
        return None

    def best(self, room: Room | None = None) -> int | None:
        """The task to start next among those whose pool has room (every one if `room` is None)."""
        chosen: tuple[int, int, int, int] | None = None
        for pool in list(self._heaps):
            top = self._top(pool)
            if top is not None and (chosen is None or top < chosen) and (room is None or room(pool, top[2])):
                chosen = top
        return None if chosen is None else chosen[3]

    def priority_of(self, pos: int) -> int:
        return -self._entry[pos][0]

    def pools(self) -> set[str]:
        """The pools some ready task waits for."""
        return {pool for pool in self._heaps if pool is not None}


class PoolUse:
    """How many slots of each configured pool running tasks hold, over all jobs."""

    def __init__(self, sizes: dict[str, int]) -> None:
        self.sizes = dict(sizes)
        self.used: Counter[str] = Counter()
        self._held: dict[tuple[str, str], tuple[str, int]] = {}  # (job, launch) -> (pool, slots)
        self._waiting: dict[str, set[str]] = {}  # pool -> jobs with a ready task held back by it
        self._woken: set[str] = set()
        self._published: dict[str, dict[str, int]] | None = None

    def room(self, pool: str | None, slots: int) -> bool:
        return pool is None or self.used[pool] + slots <= self.sizes.get(pool, 0)

    def take(self, job: str, launch: str, pool: str | None, slots: int) -> None:
        if pool is None or (job, launch) in self._held:
            return
        self._held[(job, launch)] = (pool, slots)
        self.used[pool] += slots

    def give_back(self, job: str, launch: str) -> None:
        held = self._held.pop((job, launch), None)
        if held is not None:
            pool, slots = held
            self.used[pool] -= slots
            self._woken |= self._waiting.pop(pool, set())

    def give_back_job(self, job: str) -> None:
        for held_job, launch in [key for key in self._held if key[0] == job]:
            self.give_back(held_job, launch)

    def wait_for(self, job: str, pools: set[str]) -> None:
        """`job` has ready tasks only in these full pools: wake it when one of them has room."""
        for pool in pools:
            self._waiting.setdefault(pool, set()).add(job)

    def woken(self) -> set[str]:
        """Jobs held back by a pool that has given back slots since the last call."""
        woken, self._woken = self._woken, set()
        return woken

    def view(self) -> dict[str, dict[str, int]]:
        """{pool: {size, used}} for status and metrics."""
        return {pool: {"size": size, "used": self.used[pool]} for pool, size in sorted(self.sizes.items())}

    def publish(self, base: Path) -> None:
        """Write `<base>/manager.pools` for `status` when the use changed (atomically; nothing without pools)."""
        view = self.view()
        if not self.sizes or view == self._published:
            return
        path = base / POOLS_FILE
        try:
            write_small(path, json.dumps(view).encode())
            self._published = view
        except OSError as exc:  # a full volume: status shows less, nothing else suffers
            log.debug("cannot write %s: %s", path, exc)

    def clear(self, base: Path) -> None:
        """On the way out: a stopped manager holds no slots."""
        try:
            (base / POOLS_FILE).unlink()
        except FileNotFoundError:
            pass
