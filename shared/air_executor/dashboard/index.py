"""The in-memory index of jobs: one summary per job, kept current from file events.

The jobs page and the analytics read this, never the disk: with 10,000 finished jobs a
page costs a filter and a sort over summaries, not 20,000 file reads. Entries are
replaced when a read of that job finishes; a read that started before the one already
indexed is dropped, so a slow start-up scan never overwrites what an event brought.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from air_executor.core import lifecycle
from air_executor.dashboard.jobdata import STATUSES, UNREADABLE, JobDocs, Record, summary, task_records

STATES = ("waiting", "working", "completed", "failed", "cancelled", UNREADABLE)
FILTERS = {
    "all": None,
    "active": frozenset({"waiting", "working"}),
    "finished": lifecycle.JOB_DONE,
    **{state: frozenset({state}) for state in STATES},
}
MAX_PER_PAGE = 500


@dataclass
class Entry:
    summary: dict[str, Any]
    records: list[Record]
    read_at: float


class JobIndex:
    """Summaries of every job by name, and the attempt records the analytics use."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        self.ready = False  # the start-up scan has finished

    def __len__(self) -> int:
        return len(self.entries)

    def put(self, docs: JobDocs, read_at: float) -> dict[str, Any] | None:
        """Index a job read at `read_at` (monotonic); its new summary if it changed, else None."""
        old = self.entries.get(docs.name)
        if old is not None and old.read_at > read_at:
            return None
        new = summary(docs)
        self.entries[docs.name] = Entry(new, task_records(docs), read_at)
        if old is not None and _same(old.summary, new):
            return None
        return new

    def remove(self, name: str) -> bool:
        return self.entries.pop(name, None) is not None

    def names(self) -> set[str]:
        return set(self.entries)

    def query(self, state: str = "all", name: str = "", page: int = 1, per_page: int = 50) -> dict[str, Any]:
        """One page of jobs, newest first, filtered by state (or `active`, `finished`) and a name fragment."""
        wanted = FILTERS[state]
        needle = name.lower()
        tally = dict.fromkeys(STATES, 0)
        matched = []
        for entry in self.entries.values():
            row = entry.summary
            tally[row["state"]] = tally.get(row["state"], 0) + 1
            if (wanted is None or row["state"] in wanted) and needle in row["name"].lower():
                matched.append(row)
        matched.sort(key=lambda r: (r["created_at"] or "", r["name"]), reverse=True)
        per_page = min(max(per_page, 1), MAX_PER_PAGE)
        pages = max(math.ceil(len(matched) / per_page), 1)
        page = min(max(page, 1), pages)
        now = time.time()
        rows = [_live_duration(r, now) for r in matched[(page - 1) * per_page : page * per_page]]
        return {
            "jobs": rows,
            "total": len(matched),
            "page": page,
            "pages": pages,
            "per_page": per_page,
            "states": tally,
            "all": len(self.entries),
            "indexed": self.ready,
        }

    def analytics(self, minutes: int = 60, now: float | None = None) -> dict[str, Any]:
        """Per task id: attempts, failure rate, duration and queue-wait percentiles; per minute: starts, ends."""
        now = time.time() if now is None else now
        return analytics(
            (record for entry in self.entries.values() for record in entry.records), minutes, now, len(self.entries)
        )


def analytics(records: Iterable[Record], minutes: int, now: float, jobs: int) -> dict[str, Any]:
    per_task: dict[str, dict[str, list[float] | int]] = {}
    first_minute = math.floor(now / 60) - minutes + 1
    started = [0] * minutes
    finished = [0] * minutes
    failed_per_minute = [0] * minutes
    waits: list[float] = []
    for task_id, failed, queued, start, end in records:
        stats = per_task.setdefault(task_id, {"runs": 0, "failures": 0, "durations": [], "waits": []})
        if start is not None and queued is not None and start >= queued:
            stats["waits"].append(start - queued)  # type: ignore[union-attr]
            waits.append(start - queued)
        _bump(started, start, first_minute)
        if failed is None:
            continue
        stats["runs"] += 1  # type: ignore[operator]
        stats["failures"] += int(failed)  # type: ignore[operator]
        if start is not None and end is not None and end >= start:
            stats["durations"].append(end - start)  # type: ignore[union-attr]
        _bump(finished, end, first_minute)
        if failed:
            _bump(failed_per_minute, end, first_minute)
    tasks = [_task_row(task_id, stats) for task_id, stats in per_task.items()]
    tasks.sort(key=lambda r: (-r["runs"], r["task"]))
    return {
        "jobs": jobs,
        "tasks": tasks,
        "queue_wait": {"p50": percentile(waits, 50), "p95": percentile(waits, 95), "n": len(waits)},
        "minutes": [(first_minute + i) * 60 for i in range(minutes)],
        "started_per_minute": started,
        "finished_per_minute": finished,
        "failed_per_minute": failed_per_minute,
    }


def _task_row(task_id: str, stats: dict[str, Any]) -> dict[str, Any]:
    runs, durations, waits = stats["runs"], stats["durations"], stats["waits"]
    return {
        "task": task_id,
        "runs": runs,
        "failures": stats["failures"],
        "failure_rate": stats["failures"] / runs if runs else None,
        "duration_p50": percentile(durations, 50),
        "duration_p95": percentile(durations, 95),
        "queue_wait_p50": percentile(waits, 50),
        "queue_wait_p95": percentile(waits, 95),
    }


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (the value below which p% of the values lie); None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(p / 100 * len(ordered)), 1)
    return ordered[rank - 1]


def _bump(bins: list[int], stamp: float | None, first_minute: int) -> None:
    if stamp is None:
        return
    slot = math.floor(stamp / 60) - first_minute
    if 0 <= slot < len(bins):
        bins[slot] += 1


def _same(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Equal apart from the duration of a job still running (which grows by itself)."""
    return {**old, "duration": None} == {**new, "duration": None}


def _live_duration(row: dict[str, Any], now: float) -> dict[str, Any]:
    if row["started"] is not None and row["ended"] is None:
        return {**row, "duration": max(now - row["started"], 0.0)}
    return row


__all__ = ["JobIndex", "STATUSES", "FILTERS", "percentile"]
