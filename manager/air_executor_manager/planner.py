"""Pure decisions on one job's documents: what is broken, what is blocked, what is ready.

No I/O here: the manager calls these inside the job's transaction.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from air_executor.core import lifecycle
from air_executor.core.clock import now_iso, parse_iso
from air_executor.core.graph import cycle_members
from air_executor.core.policy import PolicyRefused, check_task
from air_executor.core.task import Task
from air_executor.errors import InvalidJob

if TYPE_CHECKING:
    from air_executor.config import Config

Doc = dict[str, Any]


def job_problem(state: Doc) -> str | None:
    """Why a state.json cannot be run as it is (a bad max_parallel, an unknown state...), or None."""
    from air_executor.core.job import Job
    from air_executor.core.task import describe_validation_error
    from pydantic import ValidationError

    try:
        Job.model_validate(state)
    except ValidationError as exc:
        return f"state.json is invalid: {describe_validation_error(exc)}"
    return None


def fail_job(state: Doc, tasks: list[Doc], problem: str) -> None:
    """An invalid job runs nothing more: its pending tasks are skipped and it ends failed with `problem`."""
    for task in tasks:
        if task.get("status") == lifecycle.PENDING:
            task.update(status=lifecycle.SKIPPED, error="not run: the job is invalid", completed_at=now_iso())
    state["error"] = problem
    if not any(t.get("status") == lifecycle.RUNNING for t in tasks):
        state["state"] = lifecycle.FAILED
        state["updated_at"] = now_iso()


def fail_invalid(tasks: list[Doc], config: Config | None = None) -> bool:
    """Fail pending tasks that can never run: bad fields, options the operator's task_policy
    does not allow (when `config` is given), duplicate ids, unknown deps, cycles.

    A status this version does not know (a naive writer's 'queued') would leave the job
    waiting forever, so that task is failed too, with the status named.
    """
    changed = False
    for task in tasks:
        status = task.get("status")
        if not (isinstance(status, str) and status in _STATUSES):
            changed |= _fail(task, f"unknown status {status!r}; expected one of {', '.join(_STATUSES)}")
    seen: set[Any] = set()
    known = {t.get("id") for t in tasks}
    pending = [t for t in tasks if t.get("status") == lifecycle.PENDING]
    for task in tasks:
        task_id = task.get("id")
        if task_id in seen and task.get("status") == lifecycle.PENDING:
            changed |= _fail(task, f"duplicate task id {task_id!r}")
        seen.add(task_id)
    for task in pending:
        if task.get("status") != lifecycle.PENDING:
            continue
        try:
            Task.parse(task, f"task {task.get('id')!r}")
            if config is not None:
                check_task(task, config)
        except (InvalidJob, PolicyRefused) as exc:
            changed |= _fail(task, str(exc))
            continue
        missing = next((d for d in task.get("dependencies") or [] if d not in known), None)
        if missing is not None:
            changed |= _fail(task, f"depends on unknown task {missing!r}")
    for task_id, cycle in cycle_members(pending).items():
        for task in pending:
            if task.get("id") == task_id and task.get("status") == lifecycle.PENDING:
                changed |= _fail(task, f"dependency cycle {' -> '.join(cycle)}")
    return changed


def skip_blocked(tasks: list[Doc]) -> bool:
    """Mark pending tasks whose dependency failed, was skipped or cancelled (transitively)."""
    by_id = {t.get("id"): t for t in tasks}
    changed = True
    any_change = False
    while changed:
        changed = False
        for task in tasks:
            if task.get("status") != lifecycle.PENDING:
                continue
            for dep in task.get("dependencies") or []:
                dep_task = by_id.get(dep)
                if dep_task is not None and dep_task.get("status") in _BLOCKING:
                    task.update(
                        status=lifecycle.SKIPPED,
                        error=f"dependency {dep!r} {dep_task.get('status')}",
                        completed_at=now_iso(),
                    )
                    changed = any_change = True
                    break
    return any_change


_STATUSES = (
    lifecycle.PENDING,
    lifecycle.RUNNING,
    lifecycle.COMPLETED,
    lifecycle.FAILED,
    lifecycle.SKIPPED,
    lifecycle.CANCELLED,
)
_BLOCKING = frozenset({lifecycle.FAILED, lifecycle.SKIPPED, lifecycle.CANCELLED})


def ready_tasks(tasks: list[Doc], now: float | None = None) -> Iterator[Doc]:
    """Pending tasks whose dependencies all completed and whose retry delay has passed, in file order."""
    now = time.time() if now is None else now
    status = {t.get("id"): t.get("status") for t in tasks}
    for task in tasks:
        if task.get("status") != lifecycle.PENDING:
            continue
        if any(status.get(dep) != lifecycle.COMPLETED for dep in task.get("dependencies") or []):
            continue
        not_before = parse_iso(task.get("not_before"))
        if not_before is not None and not_before > now:
            continue
        yield task


def next_retry_at(tasks: list[Doc]) -> float | None:
    """The earliest time a delayed retry becomes ready."""
    times = [parse_iso(t.get("not_before")) for t in tasks if t.get("status") == lifecycle.PENDING]
    known = [t for t in times if t is not None]
    return min(known) if known else None


def settle_job(state: Doc, tasks: list[Doc], busy: bool = False) -> bool:
    """Move the job's state from its tasks; True if it changed.

    `busy` means a runner of the job has not exited yet: the job stays working.
    """
    before = (state.get("state"), state.get("error"))
    statuses = [t.get("status") for t in tasks]
    if lifecycle.RUNNING in statuses or (busy and state.get("state") != lifecycle.CANCELLED):
        state["state"] = lifecycle.WORKING
    elif tasks and all(s in lifecycle.TASK_DONE for s in statuses):
        failed = [t for t in tasks if t.get("status") == lifecycle.FAILED]
        if failed:
            state["state"] = lifecycle.FAILED
            first = failed[0]
            more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
            state["error"] = f"task {first.get('id')!r} failed: {first.get('error')}{more}"
        elif all(s == lifecycle.COMPLETED for s in statuses):
            state["state"] = lifecycle.COMPLETED
            state.pop("error", None)
        else:
            state["state"] = lifecycle.FAILED
            state["error"] = state.get("error") or "no task failed, but some never ran"
    if (state.get("state"), state.get("error")) != before:
        state["updated_at"] = now_iso()
        return True
    return False


def _fail(task: Doc, error: str) -> bool:
    task.update(status=lifecycle.FAILED, error=error, completed_at=now_iso(), result=lifecycle.FAILED_TO_START)
    return True
