"""Which job gets the next free runner slot: a fair share.

The rule (README "Scheduling"): a free slot goes to the job, among those with a ready task that
may start (fewer runners than their `max_parallel`, room in the task's pool), of the highest
priority, then whose best ready task has the highest priority; among equals, to the one that has
the fewest runners right now, then to the one that has waited longest since its last launch
(round-robin). So a new single-task job starts at the next free slot even beside a job of
thousands of tasks of the same priority, and no slot stays idle while any job has a ready task.

The candidates wait in a heap kept across passes: a job is offered again only when its place
changes (a runner of it started or ended), so choosing costs O(log jobs), not O(jobs).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from typing import Protocol


class Candidate(Protocol):
    name: str

    def rank(self) -> tuple[int, ...]: ...  # lower first

    def wants_runner(self) -> bool: ...


class FairShare:
    def __init__(self) -> None:
        self._heap: list[tuple[tuple[int, ...], str]] = []
        self._keys: dict[str, tuple[int, ...]] = {}  # each candidate's current place

    def __bool__(self) -> bool:
        return bool(self._keys)

    def __contains__(self, name: str) -> bool:
        return name in self._keys

    def offer(self, job: Candidate) -> None:
        """`job` wants a runner: put it (back) in its place; entries of its old place are skipped later."""
        key = job.rank()
        if self._keys.get(job.name) != key:
            self._keys[job.name] = key
            heapq.heappush(self._heap, (key, job.name))

    def withdraw(self, name: str) -> None:
        self._keys.pop(name, None)

    def take(self, lookup: Callable[[str], Candidate | None], slots: int) -> Iterator[Candidate]:
        """A job for each free slot, fairest first; the caller launches one runner of each job yielded
        before asking for the next, which moves that job back in line."""
        while slots > 0 and self._heap:
            key, name = heapq.heappop(self._heap)
            if self._keys.get(name) != key:
                continue  # an old place of a job that has moved
            del self._keys[name]
            job = lookup(name)
            if job is None or not job.wants_runner():
                continue
            if job.rank() != key:
                self.offer(job)  # it moved without saying: back in its real place
                continue
            yield job
            slots -= 1
            if job.wants_runner():
                self.offer(job)
        if len(self._heap) > 4 * len(self._keys) + 64:  # drop the old places
            self._heap = [(key, name) for name, key in self._keys.items()]
            heapq.heapify(self._heap)
