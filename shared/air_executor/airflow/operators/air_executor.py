"""AirExecutorOperator: submit an Air-Executor job and, by default, wait for it without a worker slot."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from air_executor.airflow.hooks.air_executor import (
    AirExecutorHook,
    failure_message,
    job_results,
    progress_lines,
)
from air_executor.airflow.triggers.air_executor import AirExecutorJobTrigger
from air_executor.core import lifecycle
from air_executor.errors import AirExecutorError, FileUnreadable, InvalidJob, InvalidName, JobExists, LimitExceeded

# Errors a retry cannot fix: the task fails at once with the reason.
FINAL_ERRORS = (InvalidName, InvalidJob, JobExists, LimitExceeded)

if TYPE_CHECKING:
    from airflow.sdk import Context


class AirExecutorOperator(BaseOperator):
    """Create a job on the Air-Executor volume; wait until it is done; push its results to XCom.

    With `wait_for_completion` (the default) the task defers to `AirExecutorJobTrigger`,
    so no worker slot is held while the job runs (`deferrable=False` polls in the
    worker instead). The Airflow task fails when the job fails or is cancelled, and
    its return value (XCom `return_value`) is the job's results: state, task
    counts and each task's outcome. The job's name is also pushed as XCom `job_name`.
    Without waiting, the return value is the job's name, as in the seeds' DAG.

    :param job_name: the job's name (templated), `[A-Za-z0-9_-]{1,100}`
    :param tasks: the job's tasks (templated): `{"id", "command", "args", "dependencies", ...}`
    :param job_options: optional job fields, e.g. `{"max_parallel": 2}` (templated)
    :param base_path: the Air-Executor base folder (templated); see `AirExecutorHook`
    :param air_executor_conn_id: a connection that holds the base path (optional)
    :param wait_for_completion: wait until the job is done (default True)
    :param deferrable: wait in the triggerer (default True) rather than in the worker
    :param poll_interval: seconds between reads of the job's files while waiting
    :param wait_timeout: give up waiting after this long (seconds or timedelta; None: never)
    :param if_exists: `reuse` (default: a retry or a cleared task waits on the job it made before)
        or `fail`
    :param cancel_on_kill: cancel the job when the Airflow task is killed (default True)
    """

    template_fields: Sequence[str] = ("job_name", "tasks", "job_options", "base_path")
    template_fields_renderers = {"tasks": "json", "job_options": "json"}
    ui_color = "#d9ecf2"

    def __init__(
        self,
        *,
        job_name: str,
        tasks: Sequence[Mapping[str, Any]],
        job_options: Mapping[str, Any] | None = None,
        base_path: str | None = None,
        air_executor_conn_id: str | None = None,
        wait_for_completion: bool = True,
        deferrable: bool = True,
        poll_interval: float = 2.0,
        wait_timeout: float | timedelta | None = None,
        if_exists: Literal["reuse", "fail"] = "reuse",
        cancel_on_kill: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if if_exists not in ("reuse", "fail"):
            raise ValueError(f"if_exists must be 'reuse' or 'fail', not {if_exists!r}")
        if poll_interval <= 0:
            raise ValueError("poll_interval must be positive")
        self.job_name = job_name
        self.tasks = tasks
        self.job_options = job_options
        self.base_path = base_path
        self.air_executor_conn_id = air_executor_conn_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout.total_seconds() if isinstance(wait_timeout, timedelta) else wait_timeout
        self.if_exists = if_exists
        self.cancel_on_kill = cancel_on_kill
        self._submitted: str | None = None

    @cached_property
    def hook(self) -> AirExecutorHook:
        return AirExecutorHook(air_executor_conn_id=self.air_executor_conn_id, base_path=self.base_path)

    def execute(self, context: Context) -> Any:
        name = self.submit()
        context["ti"].xcom_push(key="job_name", value=name)
        if not self.wait_for_completion:
            return name
        if not self.deferrable:
            return self._wait_here(name)
        state, tasks = self.hook.read(name)
        self._log_progress(state, tasks)
        if state.get("state") in lifecycle.JOB_DONE:  # e.g. a retry that reuses a finished job
            return self._finish(state, tasks)
        self.defer(
            trigger=AirExecutorJobTrigger(
                job_name=name,
                base_path=str(self.hook.store.base_path),
                poll_interval=self.poll_interval,
                deadline=None if self.wait_timeout is None else time.time() + self.wait_timeout,
                known=True,  # it was just read
            ),
            method_name="execute_complete",
            # The trigger's deadline fires a clear "timeout" event first; this is the backstop.
            timeout=None if self.wait_timeout is None else timedelta(seconds=self.wait_timeout + 60),
        )

    def submit(self) -> str:
        """Create the job, or find the one a previous try of this task created (`if_exists="reuse"`)."""
        name = self.job_name
        try:
            if self.if_exists == "reuse" and self.hook.job_exists(name):
                self.log.info("Air-Executor job %s already exists in %s; waiting on it", name, self.hook.base_path)
            else:
                self.hook.create_job(name, self.tasks, **dict(self.job_options or {}))
                self.log.info(
                    "Created Air-Executor job %s with %d tasks in %s", name, len(self.tasks), self.hook.base_path
                )
        except FINAL_ERRORS as exc:
            raise AirflowFailException(str(exc)) from None
        except AirExecutorError as exc:
            raise AirflowException(str(exc)) from None
        self._submitted = name
        return name

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after the trigger fired: return the results, or fail saying why."""
        name = event.get("job_name") or self.job_name
        self._submitted = name
        if event.get("status") == "timeout":
            raise AirflowException(f"{event.get('message')} (wait_timeout {self.wait_timeout} s)")
        try:
            state, tasks = self.hook.read(name)
        except AirExecutorError as exc:
            raise AirflowException(f"{event.get('message')}; and the job cannot be read: {exc}") from None
        if event.get("status") not in ("success", "error") or state.get("state") not in lifecycle.JOB_DONE:
            raise AirflowException(str(event.get("message") or event))
        self._log_progress(state, tasks)
        return self._finish(state, tasks)

    def on_kill(self) -> None:
        if self.cancel_on_kill and self._submitted:
            try:
                self.hook.cancel_job(self._submitted)
                self.log.info("Cancelled Air-Executor job %s", self._submitted)
            except AirExecutorError as exc:
                self.log.warning("Could not cancel Air-Executor job %s: %s", self._submitted, exc)

    # -- helpers -------------------------------------------------------------------------

    def _wait_here(self, name: str) -> dict[str, Any]:
        """Poll in the worker (`deferrable=False`), logging each change of state or progress."""
        deadline = None if self.wait_timeout is None else time.monotonic() + self.wait_timeout
        last: tuple[Any, ...] | None = None
        while True:
            try:
                state, tasks = self.hook.read(name)
            except FileUnreadable as exc:
                self.log.info("Job %s is not readable yet: %s", name, exc)
            else:
                seen = (state.get("state"), tuple(t.get("status") for t in tasks))
                if seen != last:
                    self._log_progress(state, tasks)
                    last = seen
                if state.get("state") in lifecycle.JOB_DONE:
                    return self._finish(state, tasks)
            if deadline is not None and time.monotonic() >= deadline:
                raise AirflowException(f"Air-Executor job {name} is not done after wait_timeout {self.wait_timeout} s")
            time.sleep(self.poll_interval)

    def _finish(self, state: dict[str, Any], tasks: list[dict[str, Any]]) -> dict[str, Any]:
        if state.get("state") != lifecycle.COMPLETED:
            # A failed job stays failed when retried (if_exists="reuse"): fail without retries.
            raise AirflowFailException(failure_message(state, tasks))
        self.log.info("Air-Executor job %s completed", state.get("name"))
        return job_results(state, tasks)

    def _log_progress(self, state: dict[str, Any], tasks: list[dict[str, Any]]) -> None:
        for line in progress_lines(state, tasks):
            self.log.info("%s", line)
