"""How long finished jobs stay: config `retention`, `air-executor prune`, and which jobs they remove.

    retention:
      completed: {max_age: 7d, max_count: 1000}   # whichever removes more
      failed: {max_age: 30d}                      # keep failures longer
      cancelled: {max_age: 7d}

A job's age is the time since it finished (its state.json's `updated_at`). Nothing is removed
by default. Only completed, failed and cancelled jobs are ever removed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator

from air_executor.core.lifecycle import CANCELLED, COMPLETED, FAILED

FINISHED = (COMPLETED, FAILED, CANCELLED)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
DURATION_RULE = "a duration such as '90s', '30m', '12h', '7d' or '2w' (a bare number is seconds)"


def parse_duration(value: str | float | int) -> float:
    """Seconds in '90s', '30m', '12h', '7d', '2w' or a number of seconds; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"must be {DURATION_RULE}, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise ValueError(f"must be {DURATION_RULE}, got {value!r}")
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds < 0:
        raise ValueError(f"must be {DURATION_RULE}, got {value!r}")
    return seconds


class RetentionRule(BaseModel):
    """Keep finished jobs of one state for `max_age` and/or the newest `max_count` of them."""

    model_config = ConfigDict(extra="forbid")

    max_age: float | None = Field(default=None, description="seconds, or '7d'")
    max_count: int | None = Field(default=None, ge=0, le=10_000_000)

    @field_validator("max_age", mode="before")
    @classmethod
    def _age(cls, value: object) -> object:
        return None if value is None else parse_duration(value)  # type: ignore[arg-type]

    @property
    def keeps_all(self) -> bool:
        return self.max_age is None and self.max_count is None


class Retention(BaseModel):
    """Config `retention`: a rule per finished state."""

    model_config = ConfigDict(extra="forbid")

    completed: RetentionRule = Field(default_factory=RetentionRule)
    failed: RetentionRule = Field(default_factory=RetentionRule)
    cancelled: RetentionRule = Field(default_factory=RetentionRule)

    @property
    def keeps_all(self) -> bool:
        return all(self.rule(state).keeps_all for state in FINISHED)

    def rule(self, state: str) -> RetentionRule:
        return getattr(self, state)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Finished:
    """A finished job as retention sees it."""

    name: str
    state: str
    finished_at: float


def to_remove(jobs: Iterable[Finished], retention: Retention, now: float) -> list[Finished]:
    """The jobs the rules remove, oldest first: older than their state's max_age, or beyond the
    newest max_count of their state."""
    chosen: list[Finished] = []
    by_state: dict[str, list[Finished]] = {}
    for job in jobs:
        by_state.setdefault(job.state, []).append(job)
    for state, group in by_state.items():
        if state not in FINISHED:
            continue
        rule = retention.rule(state)
        if rule.keeps_all:
            continue
        group.sort(key=lambda j: j.finished_at, reverse=True)  # newest first
        for rank, job in enumerate(group):
            too_old = rule.max_age is not None and now - job.finished_at > rule.max_age
            too_many = rule.max_count is not None and rank >= rule.max_count
            if too_old or too_many:
                chosen.append(job)
    chosen.sort(key=lambda j: j.finished_at)
    return chosen
