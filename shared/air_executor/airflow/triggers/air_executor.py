"""AirExecutorJobTrigger: waits in Airflow's triggerer until an Air-Executor job is done.

It polls the job's files (read in a worker thread, so the triggerer's event loop
never blocks on the volume) and fires one event:

- `{"status": "success", ...}` when the job completed;
- `{"status": "error", ...}` when it failed or was cancelled, or its files cannot be used;
- `{"status": "timeout", ...}` when `deadline` passed first.

The first read comes one `poll_interval` after the trigger starts: the operator or
sensor that deferred has just read the job itself.

Every event carries `job_name`, `state` (None if unknown), `message` and, when
the files could be read, `summary` (task counts).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from air_executor.airflow.hooks.air_executor import AirExecutorHook, failure_message, progress_lines
from air_executor.core import lifecycle
from air_executor.errors import AirExecutorError, FileUnreadable, JobNotFound
from air_executor.report import summarise

CLASSPATH = "air_executor.airflow.triggers.air_executor.AirExecutorJobTrigger"


def gone_message(job_name: str, exc: Exception) -> str:
    return (
        f"Air-Executor job {job_name} is gone: its folder was removed (by retention, "
        f"'air-executor prune' or by hand) while it was waited on ({exc})"
    )


class AirExecutorJobTrigger(BaseTrigger):
    """Poll one job's files until it is completed, failed or cancelled, or `deadline` passes.

    :param job_name: the job to wait for
    :param base_path: the Air-Executor base folder, already resolved (no connection lookups here)
    :param poll_interval: seconds between reads
    :param deadline: epoch seconds after which a `timeout` event fires; None waits forever
    :param known: whoever deferred has seen the job: its folder missing now means it is gone
        (removed by retention, `air-executor prune` or by hand), not that it is still to come
    """

    def __init__(
        self,
        job_name: str,
        base_path: str,
        poll_interval: float = 2.0,
        deadline: float | None = None,
        known: bool = False,
    ) -> None:
        super().__init__()
        self.known = known
        self.job_name = job_name
        self.base_path = base_path
        self.poll_interval = poll_interval
        self.deadline = deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            CLASSPATH,
            {
                "job_name": self.job_name,
                "base_path": self.base_path,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "known": self.known,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = AirExecutorHook(base_path=self.base_path)
        last_seen: tuple[Any, ...] | None = None
        while True:
            # Sleep first: whoever deferred has just read the job. This also keeps an event from
            # racing the deferring worker's own exit through the scheduler.
            await asyncio.sleep(self.poll_interval)
            try:
                state, tasks = await asyncio.to_thread(hook.read, self.job_name)
            except JobNotFound as exc:
                if self.known:
                    yield TriggerEvent(self._event("error", None, [], gone_message(self.job_name, exc)))
                    return
                if last_seen != ("unreadable",):
                    self.log.info("Job %s is not there yet: %s", self.job_name, exc)
                    last_seen = ("unreadable",)
                state, tasks = None, []
            except FileUnreadable as exc:
                # Not there yet, or caught half written by a naive writer: read again next time.
                if last_seen != ("unreadable",):
                    self.log.info("Job %s is not readable yet: %s", self.job_name, exc)
                    last_seen = ("unreadable",)
                state, tasks = None, []
            except AirExecutorError as exc:
                yield TriggerEvent(self._event("error", None, [], str(exc)))
                return
            except Exception as exc:  # never let one job's files take the triggerer down
                yield TriggerEvent(self._event("error", None, [], f"cannot read job {self.job_name}: {exc!r}"))
                return
            if state is not None:
                self.known = True
                seen = (state.get("state"), tuple(sorted(summarise(state, tasks).items())))
                if seen != last_seen:
                    for line in progress_lines(state, tasks):
                        self.log.info("%s", line)
                    last_seen = seen
                event = self._final_event(state, tasks)
                if event is not None:
                    yield TriggerEvent(event)
                    return
            if self.deadline is not None and time.time() >= self.deadline:
                current = state.get("state") if state else "not found"
                message = f"Air-Executor job {self.job_name} is still {current} at its deadline"
                yield TriggerEvent(self._event("timeout", state, tasks, message))
                return

    def _final_event(self, state: dict[str, Any], tasks: list[dict[str, Any]]) -> dict[str, Any] | None:
        current = state.get("state")
        if current == lifecycle.COMPLETED:
            return self._event("success", state, tasks, f"Air-Executor job {self.job_name} completed")
        if current in lifecycle.JOB_DONE:
            return self._event("error", state, tasks, failure_message(state, tasks))
        return None

    def _event(
        self, status: str, state: dict[str, Any] | None, tasks: list[dict[str, Any]], message: str
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "status": status,
            "job_name": self.job_name,
            "state": state.get("state") if state else None,
            "message": message,
        }
        if state is not None:
            payload["summary"] = summarise(state, tasks)
        return payload
