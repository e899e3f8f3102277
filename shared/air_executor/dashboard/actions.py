"""The dashboard's actions on a job: cancel, and reset (which the page calls Retry).

They are off unless the operator configured `dashboard_token`; then every action must
carry it as `Authorization: Bearer TOKEN`. The token is never a cookie, so another site
cannot make a browser send it (no CSRF). Each action is the CLI's own client call
(`cancel_job`, `reset_job`), under the same job lock, with the same refusals.
"""

from __future__ import annotations

import hmac
from typing import Any

from air_executor import client
from air_executor.core import lifecycle
from air_executor.storage.file_store import FileStore

ACTIONS = ("cancel", "reset", "retry")  # retry is reset: failed, skipped and cancelled tasks run again


class Refused(Exception):
    """An action that is not allowed: the HTTP status and a sentence for the user."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def check_token(configured: str | None, authorization: str | None) -> None:
    """Refuse unless actions are on and the request carries the configured token."""
    if not configured:
        raise Refused(403, "actions are off: the operator has not set dashboard_token")
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise Refused(401, "this action needs the dashboard token (Authorization: Bearer TOKEN)")
    if not hmac.compare_digest(given.strip().encode(), configured.encode()):
        raise Refused(401, "wrong dashboard token")


def run(store: FileStore, action: str, job: str) -> dict[str, Any]:
    """Do `action` on `job` through the client API; a sentence saying what happened."""
    if action == "cancel":
        pending, running = client.cancel_job(store, job)
        message = f"Cancelled job {job}: {pending} pending task(s) cancelled, {running} running task(s) being stopped"
        return {"job": job, "action": action, "state": lifecycle.CANCELLED, "message": message}
    if action in ("reset", "retry"):
        count = client.reset_job(store, job)
        message = f"Job {job} reset to waiting ({count} task{'s' if count != 1 else ''} back to pending)"
        return {"job": job, "action": action, "state": lifecycle.WAITING, "message": message}
    raise Refused(404, f"unknown action {action!r} (known: {', '.join(ACTIONS)})")
