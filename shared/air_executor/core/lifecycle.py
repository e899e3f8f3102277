"""The names of the states of jobs and tasks, and of how an attempt ends.

Kept apart from their rules (core/transitions.py) so the runner, which starts once per
task, imports only these. A task's *status* (where it is in its life) and its *result*
(how the last attempt ended) are separate fields, as in pueue.
"""

from __future__ import annotations

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

MAX_RETRY_DELAY_ENV = "AIR_EXECUTOR_MAX_RETRY_DELAY"
DEFAULT_MAX_RETRY_DELAY = 3600.0
