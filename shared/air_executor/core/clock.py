"""Timestamps in the seeds' format: ISO-8601 UTC with microseconds and a trailing Z.

Uses `time` rather than `datetime` on the write path so the runner stays light.
"""

from __future__ import annotations

import time


def now_iso(t: float | None = None) -> str:
    """`2025-10-02T07:30:15.123456Z` for `t` (default: now)."""
    if t is None:
        t = time.time()
    whole = int(t)
    micros = int(round((t - whole) * 1_000_000))
    if micros == 1_000_000:
        whole, micros = whole + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{micros:06d}Z"


def parse_iso(value: str | None) -> float | None:
    """Epoch seconds for an ISO-8601 string (naive means UTC); None if absent or invalid."""
    if not value or not isinstance(value, str):
        return None
    from datetime import UTC, datetime

    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def human(value: str | None) -> str:
    """`2025-10-02 07:30:16.123456` for display; `-` when absent."""
    if not value:
        return "-"
    return value.replace("T", " ").rstrip("Z").split("+")[0]


def span(seconds: float | None) -> str:
    """A duration for a table: `0.4s`, `12s`, `3m04s`, `1h02m`; `-` when unknown."""
    if seconds is None or seconds < 0:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def ago(seconds: float) -> str:
    """How long ago, for a log line: `span`, or days past one."""
    return f"{seconds / 86400:.1f} days" if seconds >= 86400 else span(seconds)


UTC_TIME_RULE = "an ISO-8601 UTC time such as '2026-12-04T18:00:00Z'"


def check_utc_time(value: str | None) -> str | None:
    """`value` if it is an ISO-8601 time in UTC (a Z, +00:00 or no offset); else ValueError saying so."""
    if value is None:
        return None
    if parse_iso(value) is None or not (value.endswith("Z") or value.endswith("+00:00") or value[-6] not in "+-"):
        raise ValueError(f"must be {UTC_TIME_RULE}, got {value!r}")
    return value
