"""Which job gets the next free runner slot: a fair share.

The rule (README "Concepts"): a free slot goes to the job, among those with a ready task
and fewer runners than their `max_parallel`, that has the fewest runners right now; among
equals, to the one that has waited longest since its last launch (round-robin). So a new
single-task job starts at the next free slot even beside a job of thousands of tasks, and
no slot stays idle while any job has a ready task.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from typing import Protocol


class Candidate(Protocol):
    name: str
    last_launch: int

    @property
    def running(self) -> dict[str, int]: ...

    def wants_runner(self) -> bool: ...


def fair_order(jobs: Iterable[Candidate], slots: int) -> Iterator[Candidate]:
    """Yield a job for each free slot, in fair-share order; the caller launches one runner of the job
    yielded (so its running count and last launch grow) before asking for the next."""
    heap = [(len(job.running), job.last_launch, job.name, job) for job in jobs if job.wants_runner()]
    heapq.heapify(heap)
    while slots > 0 and heap:
        _, _, _, job = heapq.heappop(heap)
        if not job.wants_runner():
            continue
        yield job
        slots -= 1
        if job.wants_runner():
            heapq.heappush(heap, (len(job.running), job.last_launch, job.name, job))
