"""Job and task names: the only strings that ever become path components."""

from __future__ import annotations

from air_executor.errors import InvalidName

_ALLOWED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
MAX_LENGTH = 100
RULE = "1-100 characters from A-Z, a-z, 0-9, '-' and '_'"


def is_valid_name(name: object) -> bool:
    """True for `[A-Za-z0-9_-]{1,100}` (checked without `re` to keep the runner light)."""
    return isinstance(name, str) and 0 < len(name) <= MAX_LENGTH and _ALLOWED.issuperset(name)


def check_job_name(name: object) -> str:
    if not is_valid_name(name):
        raise InvalidName(f"invalid job name {_show(name)}: use {RULE}")
    return name  # type: ignore[return-value]


def check_task_id(task_id: object) -> str:
    if not is_valid_name(task_id):
        raise InvalidName(f"invalid task id {_show(task_id)}: use {RULE}")
    return task_id  # type: ignore[return-value]


def sanitise(text: str, fallback: str = "job") -> str:
    """Turn any text (an Airflow run id, say) into a valid name by replacing other characters."""
    cleaned = "".join(c if c in _ALLOWED else "_" for c in text)[:MAX_LENGTH]
    return cleaned or fallback


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"
