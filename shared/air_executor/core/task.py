"""The task model (one entry of `tasks.json`) and the seeds' `TaskQueue`."""

from __future__ import annotations

import os
import re
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from air_executor.core import lifecycle
from air_executor.core.clock import check_utc_time, now_iso
from air_executor.core.container import ContainerOptions
from air_executor.core.secrets import check_secret_name
from air_executor.core.task_rules import (
    POOL_NAME,
    POOL_SLOTS,
    PRIORITY,
    RETRIES,
    RETRY_BACKOFF,
    RETRY_DELAY,
    SEED_FIELDS,
    TIMEOUT,
)
from air_executor.errors import InvalidJob, InvalidName
from air_executor.storage.names import check_task_id


class TaskStatus(str, Enum):
    """Where a task is in its life."""

    PENDING = lifecycle.PENDING
    RUNNING = lifecycle.RUNNING
    COMPLETED = lifecycle.COMPLETED
    FAILED = lifecycle.FAILED
    SKIPPED = lifecycle.SKIPPED  # never ran: a dependency failed
    CANCELLED = lifecycle.CANCELLED

    @property
    def done(self) -> bool:
        return self.value in lifecycle.TASK_DONE


class TaskResult(str, Enum):
    """How the last attempt ended."""

    SUCCESS = lifecycle.SUCCESS
    FAILED = lifecycle.RESULT_FAILED
    KILLED = lifecycle.KILLED
    TIMED_OUT = lifecycle.TIMED_OUT
    RUNNER_LOST = lifecycle.RUNNER_LOST
    FAILED_TO_START = lifecycle.FAILED_TO_START


class Task(BaseModel):
    """One task. Fields this version does not know are kept (`extra="allow"`)."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    id: str
    job_name: str = ""
    command: str = Field(min_length=1)
    args: list[str] = Field(default_factory=list)
    dependencies: list[str] = Field(default_factory=list)
    status: TaskStatus = TaskStatus.PENDING
    created_at: str = Field(default_factory=now_iso)
    started_at: str | None = None
    completed_at: str | None = None
    error: str | None = None
    # Optional: how to run it.
    timeout: int | None = Field(default=None, ge=TIMEOUT[0], le=TIMEOUT[1])
    retries: int = Field(default=0, ge=RETRIES[0], le=RETRIES[1])
    retry_delay: float | None = Field(default=None, ge=RETRY_DELAY[0], le=RETRY_DELAY[1])
    retry_backoff: float | None = Field(default=None, ge=RETRY_BACKOFF[0], le=RETRY_BACKOFF[1])
    env: dict[str, str] = Field(default_factory=dict)
    secrets: list[str] = Field(default_factory=list)  # names the manager resolves at launch (core/secrets.py)
    cwd: str | None = None
    submit_dir: str | None = None  # where it was submitted from: it runs there unless `cwd` says otherwise
    image: str | None = None
    cpus: float | None = Field(default=None, gt=0, le=256)
    memory: str | None = Field(default=None, pattern=r"^[0-9]+[bkmgBKMG]?$")
    container_options: ContainerOptions | None = None
    max_log_mb: float | None = Field(default=None, gt=0, le=100_000)  # lower than the config's only
    # Optional: when it runs (README "Scheduling").
    priority: int = Field(default=0, ge=PRIORITY[0], le=PRIORITY[1])
    pool: str | None = None
    pool_slots: int = Field(default=1, ge=POOL_SLOTS[0], le=POOL_SLOTS[1])
    not_before: str | None = None  # also written by Air-Executor: when a retry may start
    # Optional: dynamic tasks.
    parent: str | None = None
    depth: int = Field(default=0, ge=0)
    dedup_key: str | None = None
    # Written by Air-Executor.
    attempts: int = 0
    result: TaskResult | None = None
    exit_code: int | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        # InvalidName is not a ValueError: re-raise as one so pydantic reports it as this
        # field's validation error instead of letting it escape Task.parse.
        try:
            return check_task_id(value)
        except InvalidName as exc:
            raise ValueError(str(exc)) from None

    @field_validator("command")
    @classmethod
    def _command(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    @field_validator("not_before")
    @classmethod
    def _not_before(cls, value: str | None) -> str | None:
        return check_utc_time(value)

    @field_validator("pool")
    @classmethod
    def _pool(cls, value: str | None) -> str | None:
        if value is not None and not re.match(POOL_NAME, value):
            raise ValueError(f"must be a pool name (letters, digits, '.', '_', '-', at most 64), got {value!r}")
        return value

    @field_validator("submit_dir")
    @classmethod
    def _submit_dir(cls, value: str | None) -> str | None:
        if value is not None and not os.path.isabs(value):
            raise ValueError(f"must be an absolute path, got {value!r}")
        return value

    @field_validator("secrets")
    @classmethod
    def _secrets(cls, value: list[str]) -> list[str]:
        for name in value:
            check_secret_name(name)
        if len(set(value)) != len(value):
            raise ValueError(f"names a secret twice: {value!r}")
        return value

    @field_validator("args", mode="before")
    @classmethod
    def _args(cls, value: Any) -> Any:
        # Arguments are strings. A JSON or YAML value that is not one (YAML reads `on`,
        # `010`, `0x1F` and `null` as True, 8, 31 and None) is refused rather than passed
        # on as "True" or "8": the field check below names it. Python objects a file cannot
        # hold (a Path, say) become their text, as a shell would pass them.
        if isinstance(value, (list, tuple)):
            return [_as_text(v) for v in value]
        return value

    @field_validator("env", mode="before")
    @classmethod
    def _env(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: _as_text(v) for k, v in value.items()}
        return value

    def to_dict(self) -> dict[str, Any]:
        """The document as written: the seed's fields always, optional ones when set."""
        full = self.model_dump(mode="json")
        lean = self.model_dump(mode="json", exclude_defaults=True)
        doc = {key: full[key] for key in SEED_FIELDS}
        doc.update((key, value) for key, value in lean.items() if key not in doc)
        return doc

    @classmethod
    def parse(cls, doc: Any, where: str = "task") -> Task:
        """Validate a document, raising InvalidJob with one line naming the field."""
        if not isinstance(doc, dict):
            raise InvalidJob(f"{where} must be an object, got {type(doc).__name__}")
        try:
            return cls.model_validate(doc)
        except ValidationError as exc:
            raise InvalidJob(f"{where} is invalid: {describe_validation_error(exc)}") from None


def describe_validation_error(exc: ValidationError) -> str:
    """The first problem of a pydantic error as `field: message`, in our words rather than pydantic's."""
    first = exc.errors()[0]
    # Leave out pydantic's tags for union members and dict keys (`literal['all']`, `[key]`).
    field = ".".join(str(part) for part in first["loc"] if "[" not in str(part)) or "value"
    return f"{field}: {_explain(first)}"


# Pydantic's error types, said the way the rest of Air-Executor says things.
_EXPLAIN = {
    "missing": "is required",
    "string_type": "must be a string, got {input!r} (in a YAML file, put it in quotes)",
    "int_type": "must be a whole number, got {input!r}",
    "int_parsing": "must be a whole number, got {input!r}",
    "int_from_float": "must be a whole number, got {input!r}",
    "float_type": "must be a number, got {input!r}",
    "float_parsing": "must be a number, got {input!r}",
    "bool_type": "must be true or false, got {input!r}",
    "bool_parsing": "must be true or false, got {input!r}",
    "list_type": "must be a list, got {input!r}",
    "dict_type": "must be a mapping, got {input!r}",
    "model_type": "must be a mapping, got {input!r}",
    "greater_than_equal": "must be at least {ge}, got {input!r}",
    "greater_than": "must be above {gt}, got {input!r}",
    "less_than_equal": "must be at most {le}, got {input!r}",
    "less_than": "must be below {lt}, got {input!r}",
    "too_short": "must not be empty",
    "string_too_short": "must not be empty",
    "literal_error": "must be {expected}, got {input!r}",
    "enum": "must be {expected}, got {input!r}",
    "string_pattern_mismatch": "has the wrong form, got {input!r}",
    "extra_forbidden": "is not a known option",
}


def _explain(error: Any) -> str:
    if "Value error, " in error["msg"]:
        return str(error["msg"]).split("Value error, ", 1)[1]
    template = _EXPLAIN.get(error["type"])
    if template is None:
        return str(error["msg"])
    return template.format(input=error.get("input"), **error.get("ctx", {}))


def _as_text(value: Any) -> Any:
    """A value a JSON or YAML file could hold stays as it is (so only strings pass); any other object is its text."""
    if value is None or isinstance(value, (str, int, float, list, dict)):
        return value
    return str(value)


class TaskQueue:
    """The seeds' handle on one job's `tasks.json` (README "Usage Examples").

    `add` goes through the same locked path as `air-executor add-task`, so tasks
    queued from inside a running task get its parent, depth and guardrails.
    """

    def __init__(self, job_name: str, tasks_path: str | os.PathLike[str]) -> None:
        self.job_name = job_name
        self.tasks_path = Path(tasks_path)
        self.base_path = self.tasks_path.absolute().parent.parent.parent

    def _store(self) -> Any:
        from air_executor.storage.file_store import FileStore

        return FileStore(self.base_path)

    def add(self, task: Task | dict[str, Any]) -> str:
        """Queue a task; returns its id (the existing one when `dedup_key` matched)."""
        from air_executor.client import add_tasks, with_submit_dir

        doc = task.to_dict() if isinstance(task, Task) else dict(task)
        return add_tasks(self._store(), self.job_name, [with_submit_dir(doc)])[0]

    def list(self) -> list[Task]:
        return [Task.model_validate(doc) for doc in self._store().read_tasks(self.job_name)]

    def get(self, task_id: str) -> Task | None:
        return next((task for task in self.list() if task.id == task_id), None)
