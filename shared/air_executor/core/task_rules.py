"""The rules of a task's fields that the light path checks too, in one place.

The Task model (core/task.py, pydantic) enforces them. `add-task` and `TaskQueue.add`,
which tasks run in loops, check simple specs against the same values without importing
pydantic (client.light_task_doc), and the CLI gives its options these ranges.
"""

from __future__ import annotations

# (lowest, highest) allowed, both included.
TIMEOUT = (1, 86_400)  # seconds
RETRIES = (0, 100)
RETRY_DELAY = (0, 86_400)  # seconds
RETRY_BACKOFF = (1, 10)
PRIORITY = (-1000, 1000)  # higher first (README "Scheduling")
POOL_SLOTS = (1, 10_000)
POOL_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

# The fields every task document has, in the seeds' order.
SEED_FIELDS = (
    "id",
    "job_name",
    "command",
    "args",
    "dependencies",
    "status",
    "created_at",
    "started_at",
    "completed_at",
    "error",
)
