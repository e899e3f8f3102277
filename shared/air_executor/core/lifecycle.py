"""How a task's attempt ends, as plain-dict operations shared by runner and manager.

Kept free of pydantic so the runner can record an outcome with the standard
library alone. A task's *status* (where it is in its life) and its *result*
(how the last attempt ended) are separate fields, as in pueue.
"""

from __future__ import annotations

import time

from air_executor.core.clock import now_iso

TYPE_CHECKING = False  # not `typing.TYPE_CHECKING`: importing typing costs the runner ~2 ms
if TYPE_CHECKING:
    from typing import Any

# Task statuses (TaskStatus in core/task.py mirrors these).
PENDING, RUNNING, COMPLETED, FAILED = "pending", "running", "completed", "failed"
SKIPPED, CANCELLED = "skipped", "cancelled"
TASK_DONE = frozenset({COMPLETED, FAILED, SKIPPED, CANCELLED})

# Job states (JobState in core/job.py mirrors these).
WAITING, WORKING = "waiting", "working"
JOB_DONE = frozenset({COMPLETED, FAILED, CANCELLED})

# Results of one attempt.
SUCCESS = "success"
RESULT_FAILED = "failed"
KILLED = "killed"
TIMED_OUT = "timed_out"
RUNNER_LOST = "runner_lost"
FAILED_TO_START = "failed_to_start"

DEFAULT_RETRY_DELAY = 5.0
DEFAULT_RETRY_BACKOFF = 2.0
DEFAULT_MAX_RETRY_DELAY = 3600.0
MAX_RETRY_DELAY_ENV = "AIR_EXECUTOR_MAX_RETRY_DELAY"


def retry_delay(task: dict[str, Any], cap: float = DEFAULT_MAX_RETRY_DELAY) -> float:
    """Seconds before the next attempt: `retry_delay * retry_backoff ** (attempts - 1)`, at most `cap`.

    Computed step by step so no attempt count (a job file may say anything) overflows.
    """
    delay = min(max(_number(task.get("retry_delay"), DEFAULT_RETRY_DELAY), 0.0), cap)
    factor = _number(task.get("retry_backoff"), DEFAULT_RETRY_BACKOFF)
    steps = min(_number(task.get("attempts"), 1) - 1, 1000)
    while factor > 1 and steps >= 1 and delay < cap:
        delay, steps = min(delay * factor, cap), steps - 1
    return float(delay)


def can_retry(task: dict[str, Any]) -> bool:
    retries = int(_number(task.get("retries"), 0))
    return int(_number(task.get("attempts"), 0)) <= retries


def finish_attempt(
    task: dict[str, Any],
    *,
    result: str,
    error: str | None = None,
    exit_code: int | None = None,
    details: dict[str, Any] | None = None,
    job_cancelled: bool = False,
    max_delay: float = DEFAULT_MAX_RETRY_DELAY,
) -> None:
    """Record how the current attempt ended, then complete, retry, fail or cancel the task."""
    now = time.time()
    stamp = now_iso(now)
    record: dict[str, Any] = {
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


def _number(value: Any, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    if value != value or value in (_INF, -_INF):  # NaN or infinite: a job file may say anything
        return default
    return value


_INF = float("inf")
