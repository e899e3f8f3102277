"""Names and fields for the Airflow executor: which job and task a task-instance try becomes.

One Air-Executor job per DAG run, one task per task-instance try (a deferred or rescheduled
try that Airflow queues again gets a second segment, `<try id>-r2`). Names follow the job
store's rules (`[A-Za-z0-9_-]{1,100}`): the readable part is sanitised and cut, and a short
hash of the exact Airflow ids keeps two runs or tasks that sanitise alike apart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from air_executor.core.task_rules import PRIORITY
from air_executor.errors import InvalidJob
from air_executor.storage.names import is_valid_name, sanitise

# What executor_config={"air_executor": {...}} may set: fields the manager checks against the
# operator's config (task_policy, pools), so none of them widens a runner past what it allows.
EXECUTOR_CONFIG_KEY = "air_executor"
ALLOWED_FIELDS = frozenset({"cpus", "memory", "image", "pool", "pool_slots", "timeout", "max_log_mb"})


def _digest(*parts: object) -> str:
    return hashlib.sha1("\0".join(map(str, parts)).encode()).hexdigest()


def job_name(dag_id: str, run_id: str) -> str:
    """The job of one DAG run: `af-<dag>-<run>-<hash>`, at most 95 characters."""
    return f"af-{sanitise(dag_id)[:40]}-{sanitise(run_id)[:40]}-{_digest(dag_id, run_id)[:10]}"


def try_id(task_id: str, map_index: int, try_number: int) -> str:
    """The first task of one try: `<task>[-m<map index>]-t<try>-<hash>`, at most 95 characters."""
    mapped = f"-m{map_index}" if map_index >= 0 else ""
    return f"{sanitise(task_id)[:55]}{mapped}-t{try_number}-{_digest(task_id, map_index)[:8]}"[:95]


def segment_id(base: str, number: int) -> str:
    """The task of the `number`-th time a try was queued (1: `base`; after a deferral: `base-r2`...)."""
    return base if number <= 1 else f"{base}-r{number}"


def is_segment_of(task_id: str, base: str) -> bool:
    rest = task_id[len(base) :]
    return task_id.startswith(base) and (rest == "" or (rest[:2] == "-r" and rest[2:].isdigit()))


def external_id(job: str, task: str) -> str:
    """What Airflow keeps as the try's external_executor_id (read back on adoption)."""
    return f"{job}/{task}"


def parse_external_id(value: object) -> tuple[str, str] | None:
    if not isinstance(value, str) or value.count("/") != 1:
        return None
    job, task = value.split("/")
    return (job, task) if is_valid_name(job) and is_valid_name(task) else None


def priority(priority_weight: int) -> int:
    """Airflow's priority_weight (any int) within Air-Executor's priority range."""
    return max(PRIORITY[0], min(PRIORITY[1], int(priority_weight)))


def config_fields(executor_config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The task fields an operator's `executor_config={"air_executor": {...}}` asks for.

    Other executors' sections (`pod_override`...) are not ours and are ignored; in ours, a
    field that is not in ALLOWED_FIELDS is refused in one line.
    """
    if not executor_config:
        return {}
    ours = executor_config.get(EXECUTOR_CONFIG_KEY)
    if ours is None:
        return {}
    if not isinstance(ours, Mapping):
        raise InvalidJob(f"executor_config[{EXECUTOR_CONFIG_KEY!r}] must be a mapping, got {type(ours).__name__}")
    refused = sorted(set(ours) - ALLOWED_FIELDS)
    if refused:
        raise InvalidJob(
            f"executor_config[{EXECUTOR_CONFIG_KEY!r}] may not set {refused[0]!r}: AirExecutor tasks take only "
            f"{', '.join(sorted(ALLOWED_FIELDS))} (anything that widens a runner is the operator's config)"
        )
    return dict(ours)
