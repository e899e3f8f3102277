"""Every rule of how jobs and tasks move, as pure functions over their documents.

What a finished attempt means (complete, retry, fail, cancel), what a record of the
journal (storage/journal.py) changes, which tasks can never run (bad fields, the
operator's policy, unknown or cyclic dependencies), which are blocked by a failed
dependency, and what state a job is in. No I/O: the manager, the client and the store
call these on documents they hold.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from air_executor.core.clock import now_iso, parse_iso
from air_executor.core.lifecycle import (
    CANCELLED,
    COMPLETED,
    DEFAULT_MAX_RETRY_DELAY,
    FAILED,
    FAILED_TO_START,
    JOB_DONE,
    KILLED,
    PENDING,
    RUNNING,
    SKIPPED,
    SUCCESS,
    TASK_DONE,
    WORKING,
)

if TYPE_CHECKING:
    from air_executor.config import Config
    from air_executor.storage.journal import Attempt

Doc = dict[str, Any]

DEFAULT_RETRY_DELAY = 5.0
DEFAULT_RETRY_BACKOFF = 2.0
STATUSES = (PENDING, RUNNING, COMPLETED, FAILED, SKIPPED, CANCELLED)
BLOCKING = frozenset({FAILED, SKIPPED, CANCELLED})
# Fields of an attempt that belong to the attempt before it: cleared when a task is claimed again.
ATTEMPT_FIELDS = ("runner_id", "runner_pid", "runner_host", "not_before")


# -- attempts ---------------------------------------------------------------------------------


def retry_delay(task: Mapping[str, Any], cap: float = DEFAULT_MAX_RETRY_DELAY) -> float:
    """Seconds before the next attempt: `retry_delay * retry_backoff ** (attempts - 1)`, at most `cap`.

    Computed step by step so no attempt count (a job file may say anything) overflows.
    """
    delay = min(max(_number(task.get("retry_delay"), DEFAULT_RETRY_DELAY), 0.0), cap)
    factor = _number(task.get("retry_backoff"), DEFAULT_RETRY_BACKOFF)
    steps = min(_number(task.get("attempts"), 1) - 1, 1000)
    while factor > 1 and steps >= 1 and delay < cap:
        delay, steps = min(delay * factor, cap), steps - 1
    return float(delay)


def can_retry(task: Mapping[str, Any]) -> bool:
    retries = int(_number(task.get("retries"), 0))
    return int(_number(task.get("attempts"), 0)) <= retries


def claim(task: Doc, launch_id: str, launcher: str, stamp: str) -> None:
    """Mark a pending task running under a new launch (a new attempt)."""
    for key in ATTEMPT_FIELDS:
        task.pop(key, None)
    task.update(
        status=RUNNING,
        attempts=int(_number(task.get("attempts"), 0)) + 1,
        launch_id=launch_id,
        launched_at=stamp,
        launcher=launcher,
        started_at=None,
        completed_at=None,
        error=None,
    )


def unclaim(task: Doc) -> None:
    """A running attempt that will never report (a backup's copy of it, a claim never written):
    the task is pending again and the attempt not counted."""
    for key in ATTEMPT_FIELDS:
        task.pop(key, None)
    task.update(status=PENDING, attempts=max(int(_number(task.get("attempts"), 1)) - 1, 0), started_at=None)
    for key in ("launch_id", "launched_at", "launcher"):
        task.pop(key, None)


def finish_attempt(
    task: Doc,
    *,
    result: str,
    error: str | None = None,
    exit_code: int | None = None,
    details: Mapping[str, Any] | None = None,
    job_cancelled: bool = False,
    max_delay: float = DEFAULT_MAX_RETRY_DELAY,
    ended_at: str | None = None,
) -> None:
    """Record how the current attempt ended, then complete, retry, fail or cancel the task."""
    ended = parse_iso(ended_at) if ended_at else None
    now = ended if ended is not None else time.time()
    stamp = ended_at if ended is not None and ended_at else now_iso(now)
    record: Doc = {
        "attempt": task.get("attempts", 1),
        "launch_id": task.get("launch_id"),
        "runner_id": task.get("runner_id"),
        "started_at": task.get("started_at"),
        "ended_at": stamp,
        "result": result,
        "exit_code": exit_code,
        "error": error,
    }
    if details:
        record.update(details)
    history = task.get("history")
    if not isinstance(history, list):  # a job file may hold anything here
        history = task["history"] = []
    history.append(record)
    task["result"] = result
    task["exit_code"] = exit_code
    task["completed_at"] = stamp
    task.pop("not_before", None)
    if result == SUCCESS:
        task["status"], task["error"] = COMPLETED, None
    elif job_cancelled:
        task["status"], task["error"] = CANCELLED, "cancelled with its job"
    elif can_retry(task):
        delay = retry_delay(task, max_delay)
        task["status"] = PENDING
        task["not_before"] = now_iso(now + delay)
        task["error"] = (
            f"{error} (attempt {task.get('attempts', 1)} of "
            f"{int(_number(task.get('retries'), 0)) + 1}; retrying in {delay:g} s)"
        )
    else:
        task["status"], task["error"] = FAILED, error


def merge_attempt_details(task: Doc, launch_id: str, details: Mapping[str, Any]) -> None:
    """Add what the launcher saw (container id, image, OOM) to that attempt's history record."""
    for attempt in reversed(task.get("history") or []):
        if isinstance(attempt, dict) and attempt.get("launch_id") == launch_id:
            for key, value in details.items():
                attempt.setdefault(key, value)
            if details.get("oom_killed") and task.get("launch_id") == launch_id and task.get("error"):
                note = "; the container hit its memory limit (OOM)"
                attempt["error"] = f"{attempt.get('error')}{note}"
                task["error"] = f"{task['error']}{note}"
            return


# -- the journal's records ----------------------------------------------------------------------


def claim_record(task: Mapping[str, Any], job: str, max_retry_delay: float = DEFAULT_MAX_RETRY_DELAY) -> Doc:
    """The claim of a task just claimed: what the runner needs, without reading tasks.json, and the
    operator's retry cap, so whoever folds its end computes the same retry."""
    return {
        "job": job,
        "max_retry_delay": max_retry_delay,
        "task_id": task["id"],
        "launch_id": task["launch_id"],
        "attempt": task["attempts"],
        "launched_at": task["launched_at"],
        "launcher": task.get("launcher"),
        "task": dict(task),
    }


def apply_claim(task: Doc, record: Mapping[str, Any]) -> bool:
    """A claim the file does not show yet: the task goes running under it. True if it applies
    (or already has); False if the task moved on (cancelled, another attempt): the record is stale."""
    launch = record.get("launch_id")
    if task.get("launch_id") == launch:
        return True
    attempt = record.get("attempt")
    if task.get("status") != PENDING or not isinstance(attempt, int) or attempt <= _number(task.get("attempts"), 0):
        return False
    claim(task, str(launch), str(record.get("launcher") or ""), str(record.get("launched_at") or now_iso()))
    task["attempts"] = attempt
    return True


def apply_start(task: Doc, launch: str, record: Mapping[str, Any] | None) -> bool:
    """The runner's start record: started_at and where it runs. True if the task changed."""
    if record is None or record.get("abandoned") or task.get("launch_id") != launch or task.get("status") != RUNNING:
        return False
    if task.get("started_at"):
        return False
    task["started_at"] = record.get("started_at") or now_iso()
    for key in ("runner_pid", "runner_host"):
        if key in record:
            task[key] = record[key]
    return True


def apply_end(task: Doc, launch: str, record: Mapping[str, Any], *, job_cancelled: bool, max_delay: float) -> bool:
    """How the attempt ended. True if the task changed (it was still running under this launch)."""
    if task.get("launch_id") != launch or task.get("status") != RUNNING:
        return False
    details = record.get("details")
    exit_code = record.get("exit_code")
    finish_attempt(
        task,
        result=str(record.get("result") or FAILED),
        error=record.get("error") if isinstance(record.get("error"), str) else None,
        exit_code=exit_code if isinstance(exit_code, int) and not isinstance(exit_code, bool) else None,
        details=details if isinstance(details, dict) else None,
        job_cancelled=job_cancelled,
        max_delay=max_delay,
        ended_at=record.get("ended_at") if isinstance(record.get("ended_at"), str) else None,
    )
    return True


def end_record(
    result: str, error: str | None = None, exit_code: int | None = None, details: Mapping[str, Any] | None = None
) -> Doc:
    return {"ended_at": now_iso(), "result": result, "error": error, "exit_code": exit_code, "details": details or {}}


class Folded:
    """What folding the journal into a job's documents did: which records it used up."""

    def __init__(self) -> None:
        self.changed = False
        self.done_launches: list[str] = []  # ended or stale: their records can go once the file is written
        self.queue_names: list[str] = []


def fold(
    state: Doc,
    tasks: list[Doc],
    attempts: Mapping[str, Attempt],
    queued: Iterable[tuple[str, list[Doc]]],
    *,
    max_delay: float = DEFAULT_MAX_RETRY_DELAY,
) -> Folded:
    """Apply the journal to a job's documents: queued tasks first (in order), then each attempt."""
    folded = Folded()
    ids = {key(t.get("id")) for t in tasks}
    for name, docs in queued:
        for doc in docs:
            if key(doc.get("id")) in ids:
                continue  # folded already (its record stays until the file holding it is synced)
            tasks.append(doc)
            ids.add(key(doc.get("id")))
            folded.changed = True
        folded.queue_names.append(name)
    by_id = {key(t.get("id")): t for t in tasks}
    cancelled = state.get("state") == CANCELLED
    for launch, attempt in attempts.items():
        if attempt.claim is None:  # not written, or lost with its host: the runner's records name the attempt
            attempt.claim = _claim_from(launch, attempt.start, attempt.end)
        task = by_id.get(key(attempt.task_id)) if attempt.claim is not None else _task_of(tasks, launch)
        if task is None:
            if attempt.claim is not None:
                folded.done_launches.append(launch)  # its task is gone from the file
            continue
        if attempt.claim is not None:
            if task.get("launch_id") != launch and not apply_claim(task, attempt.claim):
                folded.done_launches.append(launch)  # stale: the task moved on without it
                continue
            folded.changed |= task.get("launch_id") == launch
        folded.changed |= apply_start(task, launch, attempt.start)
        if attempt.end is not None:
            cap = _number(
                attempt.end.get("max_retry_delay"), _number((attempt.claim or {}).get("max_retry_delay"), max_delay)
            )
            folded.changed |= apply_end(task, launch, attempt.end, job_cancelled=cancelled, max_delay=cap)
            folded.done_launches.append(launch)
    return folded


def _claim_from(launch: str, *records: Mapping[str, Any] | None) -> Doc | None:
    for record in records:
        if record is not None and isinstance(record.get("task_id"), str) and isinstance(record.get("attempt"), int):
            return {
                "launch_id": launch,
                "task_id": record["task_id"],
                "attempt": record["attempt"],
                "launched_at": record.get("launched_at"),
                "launcher": record.get("launcher"),
            }
    return None


def _task_of(tasks: list[Doc], launch: str) -> Doc | None:
    """The task running under `launch` (a launch of an older release, which wrote no claim record)."""
    return next((t for t in tasks if t.get("launch_id") == launch), None)


# -- what can never run -------------------------------------------------------------------------


def job_problem(state: Doc) -> str | None:
    """Why a state.json cannot be run as it is (a bad max_parallel, an unknown state...), or None."""
    from pydantic import ValidationError

    from air_executor.core.job import Job
    from air_executor.core.task import describe_validation_error

    try:
        Job.model_validate(state)
    except ValidationError as exc:
        return f"state.json is invalid: {describe_validation_error(exc)}"
    return None


def task_problem(task: Doc, config: Config | None) -> str | None:
    """Why a pending task can never run: an unknown status, bad fields, an option the operator's
    task_policy does not allow. Dependencies are the job's to check (dependency_problems)."""
    from air_executor.core.policy import PolicyRefused, check_task
    from air_executor.core.task import Task
    from air_executor.errors import InvalidJob

    status = task.get("status")
    if not (isinstance(status, str) and status in STATUSES):
        return f"unknown status {status!r}; expected one of {', '.join(STATUSES)}"
    if status != PENDING:
        return None
    try:
        Task.parse(task, f"task {task.get('id')!r}")
        if config is not None:
            check_task(task, config)
    except (InvalidJob, PolicyRefused) as exc:
        return str(exc)
    return pool_problem(task, config) if config is not None else None


def pool_problem(task: Doc, config: Config) -> str | None:
    """A pool the config does not have, or more of its slots than it holds (README "Scheduling")."""
    pool = task.get("pool")
    if pool is None:
        return None
    size = config.pools.get(pool)
    if size is None:
        known = ", ".join(sorted(config.pools)) or "none is set"
        return f"pool {pool!r} is not one of the pools in config.yaml's `pools` ({known})"
    slots = task.get("pool_slots", 1)
    if slots > size:
        return f"pool_slots {slots} is more than pool {pool!r} holds ({size})"
    return None


def dependency_problems(tasks: list[Doc], candidates: Iterable[Doc] | None = None) -> dict[int, str]:
    """{id(task): why} for pending tasks (of `candidates`, default all) with a duplicate id, an
    unknown dependency, or on a dependency cycle."""
    from air_executor.core.graph import cycle_members

    pool = list(candidates) if candidates is not None else tasks
    problems: dict[int, str] = {}
    first: dict[Any, int] = {}
    for task in tasks:
        first.setdefault(key(task.get("id")), id(task))
    known = set(first)
    for task in pool:
        if task.get("status") != PENDING:
            continue
        if first.get(key(task.get("id"))) != id(task):
            problems[id(task)] = f"duplicate task id {task.get('id')!r}"
            continue
        missing = next((d for d in deps(task) if key(d) not in known), None)
        if missing is not None:
            problems[id(task)] = f"depends on unknown task {missing!r}"
    pending = [t for t in pool if t.get("status") == PENDING and id(t) not in problems]
    members = cycle_members(pending)
    for task in pending:
        cycle = members.get(str(task.get("id")))
        if cycle:
            problems[id(task)] = f"dependency cycle {' -> '.join(cycle)}"
    return problems


def fail_task(task: Doc, error: str) -> None:
    task.update(status=FAILED, error=error, completed_at=now_iso(), result=FAILED_TO_START)


def fail_job(state: Doc, tasks: list[Doc], problem: str) -> None:
    """An invalid job runs nothing more: its pending tasks are skipped and it ends failed with `problem`."""
    for task in tasks:
        if task.get("status") == PENDING:
            task.update(status=SKIPPED, error="not run: the job is invalid", completed_at=now_iso())
    state["error"] = problem
    if not any(t.get("status") == RUNNING for t in tasks):
        state["state"] = FAILED
        state["updated_at"] = now_iso()


def skip(task: Doc, dependency: str, status: str) -> None:
    task.update(status=SKIPPED, error=f"dependency {dependency!r} {status}", completed_at=now_iso())


def skip_blocked(tasks: list[Doc]) -> list[Doc]:
    """Mark pending tasks whose dependency failed, was skipped or cancelled, transitively; returns
    those marked. Linear: each task is reached through each of its dependencies once."""
    by_id = {key(t.get("id")): t for t in tasks}
    dependents: dict[Any, list[Doc]] = {}
    for task in tasks:
        for dep in deps(task):
            dependents.setdefault(key(dep), []).append(task)
    queue = deque(t for t in tasks if t.get("status") in BLOCKING)
    marked = []
    while queue:
        blocker = queue.popleft()
        for task in dependents.get(key(blocker.get("id")), ()):
            if task.get("status") == PENDING and by_id.get(key(task.get("id"))) is task:
                skip(task, str(blocker.get("id")), str(blocker.get("status")))
                marked.append(task)
                queue.append(task)
    return marked


# -- what is ready, and the job's state ------------------------------------------------------------


def ready_tasks(tasks: list[Doc], now: float | None = None) -> Iterator[Doc]:
    """Pending tasks whose dependencies all completed and whose retry delay has passed, in file order."""
    now = time.time() if now is None else now
    status = {key(t.get("id")): t.get("status") for t in tasks}
    for task in tasks:
        if task.get("status") != PENDING:
            continue
        if any(status.get(key(dep)) != COMPLETED for dep in deps(task)):
            continue
        not_before = parse_iso(task.get("not_before"))
        if not_before is not None and not_before > now:
            continue
        yield task


def settle_job(state: Doc, tasks: list[Doc], busy: bool = False) -> bool:
    """Move the job's state from its tasks; True if it changed.

    `busy` means a runner of the job has not exited yet: the job stays working.
    """
    return settle_counts(state, status_counts(tasks), busy, lambda: failure_summary(tasks))


def settle_counts(state: Doc, counts: Mapping[str, int], busy: bool, failure: Callable[[], str | None]) -> bool:
    """`settle_job` from the tasks' status counts; `failure()` words a failed job's error."""
    before = (state.get("state"), state.get("error"))
    total = sum(counts.values())
    done = sum(counts.get(s, 0) for s in TASK_DONE)
    if counts.get(RUNNING) or (busy and state.get("state") != CANCELLED):
        state["state"] = WORKING
    elif total and done == total:
        if counts.get(FAILED):
            state["state"] = FAILED
            state["error"] = failure() or state.get("error")
        elif counts.get(COMPLETED) == total:
            state["state"] = COMPLETED
            state.pop("error", None)
        else:
            state["state"] = FAILED
            state["error"] = state.get("error") or "no task failed, but some never ran"
    if (state.get("state"), state.get("error")) != before:
        state["updated_at"] = now_iso()
        return True
    return False


def failure_summary(tasks: Iterable[Doc]) -> str | None:
    """`task 'x' failed: <error> (and N more)` for a failed job's error."""
    failed = [t for t in tasks if t.get("status") == FAILED]
    if not failed:
        return None
    more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
    return f"task {failed[0].get('id')!r} failed: {failed[0].get('error')}{more}"


def status_counts(tasks: Iterable[Doc]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for task in tasks:
        status = task.get("status")
        key = status if isinstance(status, str) else "?"
        counts[key] = counts.get(key, 0) + 1
    return counts


def job_finished(state: Mapping[str, Any]) -> bool:
    return state.get("state") in JOB_DONE


def cancel_running(task: Doc, *, max_delay: float = DEFAULT_MAX_RETRY_DELAY) -> None:
    """A running task of a cancelled job whose runner is gone: cancelled now."""
    finish_attempt(task, result=KILLED, error="cancelled", job_cancelled=True, max_delay=max_delay)


def deps(task: Mapping[str, Any]) -> list[Any]:
    deps = task.get("dependencies") or []
    return deps if isinstance(deps, list) else []


def key(value: Any) -> Any:
    """A dict key for any id a file may hold (an unhashable one becomes its repr)."""
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


def _number(value: Any, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    if value != value or value in (_INF, -_INF):  # NaN or infinite: a job file may say anything
        return default
    return value


_INF = float("inf")
