"""The job model: one `state.json`."""

from __future__ import annotations

import uuid
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from air_executor.core.clock import check_utc_time, now_iso
from air_executor.core.task_rules import PRIORITY
from air_executor.storage.names import check_job_name

SEED_FIELDS = ("id", "name", "state", "created_at", "updated_at")


class JobState(str, Enum):
    WAITING = "waiting"
    WORKING = "working"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def done(self) -> bool:
        return self in (JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED)


class Job(BaseModel):
    """A job. Fields this version does not know are kept (`extra="allow"`)."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    name: str
    state: JobState = JobState.WAITING
    created_at: str = Field(default_factory=now_iso)
    updated_at: str = Field(default_factory=now_iso)
    error: str | None = None
    # Optional controls; absent means the config's defaults.
    max_parallel: int | None = Field(default=None, ge=1, le=50)
    max_tasks: int | None = Field(default=None, ge=1, le=100_000)
    max_depth: int | None = Field(default=None, ge=0, le=100)
    # When it runs (README "Scheduling"): higher first when runners are scarce; not before a time.
    priority: int | None = Field(default=None, ge=PRIORITY[0], le=PRIORITY[1])
    not_before: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_job_name(value)

    @field_validator("not_before")
    @classmethod
    def _not_before(cls, value: str | None) -> str | None:
        return check_utc_time(value)

    def to_dict(self) -> dict[str, Any]:
        """The document as written: the seed's fields always, optional ones when set.

        Unknown fields are kept as they came, null ones included (PRODUCT.md §3).
        """
        extra = self.model_extra or {}
        doc = {k: v for k, v in self.model_dump(mode="json").items() if v is not None or k in extra}
        return _ordered(doc, SEED_FIELDS)


def _ordered(doc: dict[str, Any], first: tuple[str, ...]) -> dict[str, Any]:
    head = {key: doc.get(key) for key in first}
    head.update((key, value) for key, value in doc.items() if key not in head)
    return head
