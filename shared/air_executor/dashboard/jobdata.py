"""A job's documents turned into what the dashboard shows: summary, task graph, attempts, report.

Pure functions over the dicts the job store returns; nothing here reads a file. A job
file may hold anything (README "Trust model"), so every field is read defensively:
a value of the wrong type is shown as absent, never trusted.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from air_executor.cli.views import JobView, load_view
from air_executor.core import lifecycle
from air_executor.core.clock import parse_iso
from air_executor.core.secrets import masked_env
from air_executor.report import format_results
from air_executor.storage.file_store import FileStore
from air_executor.storage.names import check_job_name

STATUSES = ("pending", "running", "completed", "failed", "skipped", "cancelled")
UNREADABLE = "unreadable"


# A job as read (state, tasks, or why they could not be read): the same reader as `air-executor status`.
JobDocs = JobView


def read_job(store: FileStore, name: str) -> JobDocs:
    """The job's files through the store; JobNotFound if it has no folder, InvalidName for a bad name.

    A folder whose files cannot be read (half written, a symlink, too large) is still a
    job to show, with the reason as its `problem`, as `air-executor status` shows it.
    """
    return load_view(store, check_job_name(name))


def text(value: Any) -> str | None:
    """A string field, or None if the file holds something else there."""
    return value if isinstance(value, str) else None


def number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if value == value else None


def state_name(docs: JobDocs) -> str:
    state = text(docs.state.get("state"))
    if docs.problem and state not in lifecycle.JOB_DONE:
        return UNREADABLE
    return state or UNREADABLE


def counts(tasks: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    out = dict.fromkeys(STATUSES, 0)
    for task in tasks:
        status = task.get("status")
        if isinstance(status, str) and status in out:
            out[status] += 1
    return out


def history(task: Mapping[str, Any]) -> list[dict[str, Any]]:
    records = task.get("history")
    return [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []


def first_start(task: Mapping[str, Any]) -> float | None:
    """When the task's first attempt started (its history's first record, else started_at)."""
    for record in history(task):
        started = parse_iso(text(record.get("started_at")))
        if started is not None:
            return started
    return parse_iso(text(task.get("started_at")))


def summary(docs: JobDocs, now: float | None = None) -> dict[str, Any]:
    """The jobs page's row: state, counts, started, ended, duration."""
    now = time.time() if now is None else now
    tally = counts(docs.tasks)
    starts = [s for s in (first_start(t) for t in docs.tasks) if s is not None]
    started = min(starts) if starts else None
    state = state_name(docs)
    ended = None
    if state in lifecycle.JOB_DONE:
        ends = [e for e in (parse_iso(text(t.get("completed_at"))) for t in docs.tasks) if e is not None]
        ended = max(ends) if ends else parse_iso(text(docs.state.get("updated_at")))
    duration = None
    if started is not None:
        duration = max((ended if ended is not None else now) - started, 0.0)
    return {
        "name": docs.name,
        "state": state,
        "total": len(docs.tasks),
        "done": tally["completed"],
        "counts": tally,
        "created_at": text(docs.state.get("created_at")),
        "updated_at": text(docs.state.get("updated_at")),
        "started": started,
        "ended": ended,
        "duration": duration,
        "error": text(docs.state.get("error")),
        "problem": docs.problem,
    }


def graph(tasks: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Nodes (id, status) and edges (dependency -> task) of the task graph; unknown ids are marked."""
    ids = {str(t.get("id")) for t in tasks}
    nodes = [{"id": str(t.get("id")), "status": text(t.get("status")) or "?"} for t in tasks]
    edges = []
    missing = set()
    for task in tasks:
        deps = task.get("dependencies")
        for dep in deps if isinstance(deps, list) else []:
            edges.append({"from": str(dep), "to": str(task.get("id"))})
            if str(dep) not in ids:
                missing.add(str(dep))
    nodes += [{"id": dep, "status": "unknown"} for dep in sorted(missing)]
    return {"nodes": nodes, "edges": edges}


def ready_at(task: Mapping[str, Any], by_id: Mapping[str, Mapping[str, Any]]) -> float | None:
    """When the task became ready: created, or its last dependency completed, whichever is later."""
    ready = parse_iso(text(task.get("created_at")))
    deps = task.get("dependencies")
    for dep in deps if isinstance(deps, list) else []:
        other = by_id.get(str(dep))
        done = parse_iso(text(other.get("completed_at"))) if other else None
        if done is not None and (ready is None or done > ready):
            ready = done
    return ready


def attempts(task: Mapping[str, Any], by_id: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every attempt of a task, for the timeline: queued, started, ended, result, exit code, container.

    An attempt was queued when the task became ready (the first) or when the previous attempt
    ended (a retry, which then also waited out its back-off). A running attempt has no end yet.
    """
    out = []
    queued = ready_at(task, by_id)
    for number_, record in enumerate(history(task), 1):
        out.append(_attempt(task, record, number_, queued))
        queued = parse_iso(text(record.get("ended_at"))) or queued
    if task.get("status") == lifecycle.RUNNING:
        current = {"started_at": task.get("started_at"), "launched_at": task.get("launched_at")}
        current.update(runner_id=task.get("runner_id"), image=task.get("image"))
        out.append(_attempt(task, current, len(out) + 1, queued, running=True))
    return out


def _attempt(
    task: Mapping[str, Any], record: Mapping[str, Any], n: int, queued: float | None, running: bool = False
) -> dict[str, Any]:
    attempt = number(record.get("attempt"))
    return {
        "task": str(task.get("id")),
        "attempt": int(attempt) if attempt is not None else n,
        "queued": queued,
        "started": parse_iso(text(record.get("started_at"))) or parse_iso(text(record.get("launched_at"))),
        "ended": None if running else parse_iso(text(record.get("ended_at"))),
        "result": "running" if running else text(record.get("result")),
        "exit_code": number(record.get("exit_code")),
        "error": text(record.get("error")),
        "oom_killed": record.get("oom_killed") is True,
        "container_id": text(record.get("container_id")),
        "image": text(record.get("image")),
        "runner_id": text(record.get("runner_id")),
        "wall_time": number(record.get("wall_time")),
    }


TASK_FIELDS = ("status", "result", "error", "command", "created_at", "started_at", "completed_at", "image")


def task_view(task: Mapping[str, Any]) -> dict[str, Any]:
    """A task as the API shows it: its documented fields, strings only where strings belong."""
    view: dict[str, Any] = {"id": str(task.get("id"))}
    view.update((key, text(task.get(key))) for key in TASK_FIELDS)
    args, deps = task.get("args"), task.get("dependencies")
    view["args"] = [str(a) for a in args] if isinstance(args, list) else []
    view["dependencies"] = [str(d) for d in deps] if isinstance(deps, list) else []
    view["exit_code"] = number(task.get("exit_code"))
    view["attempts"] = int(number(task.get("attempts")) or 0)
    view["retries"] = int(number(task.get("retries")) or 0)
    view["launcher"] = text(task.get("launcher"))
    view["runner_id"] = text(task.get("runner_id"))
    view["parent"] = text(task.get("parent"))
    # How it runs, as shown: values of env keys that look secret are *** (the file keeps them);
    # secrets by name only (their values are never on the volume).
    view["env"] = masked_env(task.get("env"))
    secrets = task.get("secrets")
    view["secrets"] = [str(s) for s in secrets] if isinstance(secrets, list) else []
    return view


def detail(docs: JobDocs) -> dict[str, Any]:
    """Everything the job page shows: summary, tasks, graph, every attempt and, once done, the report."""
    by_id = {str(t.get("id")): t for t in docs.tasks}
    report = format_results(docs.state, docs.tasks) if summary_done(docs) else None
    return {
        **summary(docs),
        "tasks": [task_view(t) for t in docs.tasks],
        "graph": graph(docs.tasks),
        "attempts": [a for t in docs.tasks for a in attempts(t, by_id)],
        "report": report,
    }


def summary_done(docs: JobDocs) -> bool:
    return docs.problem is None and docs.state.get("state") in lifecycle.JOB_DONE


Record = tuple[str, bool | None, float | None, float | None, float | None]


def task_records(docs: JobDocs) -> list[Record]:
    """For analytics, one record per attempt: (task id, failed or None while running, queued, started, ended)."""
    by_id = {str(t.get("id")): t for t in docs.tasks}
    out: list[Record] = []
    for task in docs.tasks:
        for a in attempts(task, by_id):
            failed = None if a["result"] == "running" else a["result"] != lifecycle.SUCCESS
            out.append((a["task"], failed, a["queued"], a["started"], a["ended"]))
    return out
