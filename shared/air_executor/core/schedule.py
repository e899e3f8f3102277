"""Recurring jobs: `<base>/schedules/<name>.yaml`, a job template run on a cron expression.

    cron: "0 2 * * *"          # five fields, or six with seconds last (croniter)
    timezone: Europe/Berlin    # IANA name; default UTC
    catch_up: one              # after downtime: run the latest missed time once (one), or not (none)
    allow_overlap: false       # a run may start while the previous one is still waiting or working
    paused: false
    job:                       # what `submit` takes, without the name
      max_parallel: 2
      tasks: [...]

Each run is the job `<name>-<YYYYmmddTHHMMSSZ>` (its due time in UTC). What the manager last did
with a schedule lives beside it in `<name>.state.json`, so a restart neither runs a time twice nor
forgets a missed one.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from air_executor.core.task import describe_validation_error
from air_executor.errors import InvalidJob

SCHEDULES_DIR = "schedules"
STATE_SUFFIX = ".state.json"
NAME = re.compile(r"^[A-Za-z0-9_-]{1,83}$")  # a run's name adds "-YYYYmmddTHHMMSSZ" (17) within 100
MAX_FILE_BYTES = 1 << 20


class Schedule(BaseModel):
    """One schedule file."""

    model_config = ConfigDict(extra="forbid")

    cron: str
    timezone: str = "UTC"
    catch_up: Literal["one", "none"] = "one"
    allow_overlap: bool = False
    paused: bool = False
    job: dict[str, Any] = Field(min_length=1)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from croniter import croniter

        if not croniter.is_valid(value):
            raise ValueError(
                f"must be a cron expression such as '0 2 * * *' (five fields, or six with seconds), got {value!r}"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        _zone(value)
        return value

    @field_validator("job")
    @classmethod
    def _job(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "name" in value:
            raise ValueError("must not hold a name: each run is named <schedule>-<time>")
        if not isinstance(value.get("tasks"), list) or not value["tasks"]:
            raise ValueError("must hold a non-empty 'tasks' list")
        return value

    @classmethod
    def parse(cls, doc: Any, name: str) -> Schedule:
        """Validate a schedule (its job template too), raising InvalidJob with one line naming the field."""
        check_schedule_name(name)
        if not isinstance(doc, dict):
            raise InvalidJob(f"schedule {name!r} must be a mapping with 'cron' and 'job', got {type(doc).__name__}")
        try:
            schedule = cls.model_validate(doc)
        except ValidationError as exc:
            raise InvalidJob(f"schedule {name!r} is invalid: {describe_validation_error(exc)}") from None
        schedule.check_job(name)
        return schedule

    def check_job(self, name: str) -> None:
        """The template as `submit` would check it, without writing anything."""
        from air_executor.client import build_tasks, job_options, refuse_unknown, task_fields
        from air_executor.core.job import Job

        options = {k: v for k, v in self.job.items() if k != "tasks"}
        where = f"schedule {name!r}: job"
        refuse_unknown(where, options, job_options() - {"not_before"})
        for number, task in enumerate(self.job["tasks"], 1):
            if isinstance(task, dict):
                refuse_unknown(f"{where}: task #{number}", task, task_fields() - {"not_before"})
        build_tasks(run_name(name, time.time()), self.job["tasks"])
        try:
            Job(name=run_name(name, time.time()), **options)
        except ValidationError as exc:
            raise InvalidJob(f"{where} is invalid: {describe_validation_error(exc)}") from None

    def next_after(self, after: float) -> float:
        """The first due time strictly after `after` (epoch seconds), in the schedule's time zone."""
        from croniter import croniter

        start = datetime.fromtimestamp(after, _zone(self.timezone))
        return float(croniter(self.cron, start).get_next(float))

    def latest_at_or_before(self, now: float) -> float:
        """The last due time at or before `now`."""
        from croniter import croniter

        start = datetime.fromtimestamp(now, _zone(self.timezone))
        previous = float(croniter(self.cron, start).get_prev(float))
        following = self.next_after(previous)
        return following if following <= now else previous


def run_name(schedule: str, due: float) -> str:
    """`nightly-20261204T020000Z`: the job of one run."""
    return f"{schedule}-{datetime.fromtimestamp(due, UTC).strftime('%Y%m%dT%H%M%SZ')}"


def check_schedule_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise InvalidJob(
            f"invalid schedule name {name!r}: use 1-83 letters, digits, '_' or '-' (its runs add the time)"
        )
    return name


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"must be an IANA time zone such as 'UTC' or 'Europe/Berlin', got {name!r}") from None
