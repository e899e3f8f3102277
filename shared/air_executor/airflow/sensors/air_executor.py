"""AirExecutorSensor: wait until an Air-Executor job is done, in poke, reschedule or deferrable mode."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSensorTimeout

from air_executor.airflow.hooks.air_executor import (
    AirExecutorHook,
    failure_message,
    job_results,
    progress_lines,
)
from air_executor.airflow.triggers.air_executor import AirExecutorJobTrigger, gone_message
from air_executor.core import lifecycle
from air_executor.errors import AirExecutorError, FileUnreadable, JobNotFound

if TYPE_CHECKING:
    from airflow.sdk import Context


class AirExecutorSensor(BaseSensorOperator):
    """Succeed once an Air-Executor job is done; its results (state, counts, tasks) go to XCom.

    `mode="poke"` checks every `poke_interval` in the worker, `mode="reschedule"`
    frees the worker between checks, and `deferrable=True` checks once, then waits
    in the triggerer (`AirExecutorJobTrigger`). `timeout` bounds the wait in every mode.
    A job that does not exist yet, or whose files are caught half written, is
    "not done yet".

    :param job_name: the job to wait for (templated)
    :param base_path: the Air-Executor base folder (templated); see `AirExecutorHook`
    :param air_executor_conn_id: a connection that holds the base path (optional)
    :param fail_on_job_failure: fail (without retries) when the job fails or is cancelled
        (default); False succeeds on any finished job, leaving the verdict to a later task
    :param deferrable: check once, then wait in the triggerer
    """

    template_fields: Sequence[str] = ("job_name", "base_path")
    ui_color = "#c5e3ee"

    def __init__(
        self,
        *,
        job_name: str,
        base_path: str | None = None,
        air_executor_conn_id: str | None = None,
        fail_on_job_failure: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_name = job_name
        self.base_path = base_path
        self.air_executor_conn_id = air_executor_conn_id
        self.fail_on_job_failure = fail_on_job_failure
        self.deferrable = deferrable
        self._known = False  # read once: a missing folder then means the job is gone

    @cached_property
    def hook(self) -> AirExecutorHook:
        return AirExecutorHook(air_executor_conn_id=self.air_executor_conn_id, base_path=self.base_path)

    def poke(self, context: Context) -> bool | PokeReturnValue:
        try:
            state, tasks = self.hook.read(self.job_name)
        except JobNotFound as exc:
            if self._known:
                raise AirflowFailException(gone_message(self.job_name, exc)) from None
            self.log.info("Job %s is not there yet: %s", self.job_name, exc)
            return False
        except FileUnreadable as exc:
            self.log.info("Job %s is not readable yet: %s", self.job_name, exc)
            return False
        except AirExecutorError as exc:
            raise AirflowFailException(str(exc)) from None
        self._known = True
        for line in progress_lines(state, tasks):
            self.log.info("%s", line)
        if state.get("state") not in lifecycle.JOB_DONE:
            return False
        return PokeReturnValue(is_done=True, xcom_value=self._verdict(state, tasks))

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        done = self.poke(context)
        if isinstance(done, PokeReturnValue):
            return done.xcom_value
        self.defer(
            trigger=AirExecutorJobTrigger(
                job_name=self.job_name,
                base_path=str(self.hook.store.base_path),
                poll_interval=self.poke_interval,
                deadline=time.time() + self.timeout,
                known=self._known,
            ),
            method_name="execute_complete",
            # The trigger fires "timeout" at the deadline; this is the scheduler's backstop.
            timeout=timedelta(seconds=self.timeout + 60),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after the trigger fired: results on success, the sensor's usual failures otherwise."""
        if event.get("status") == "timeout":
            raise AirflowSensorTimeout(f"{event.get('message')} (timeout {self.timeout:g} s)")
        try:
            state, tasks = self.hook.read(self.job_name)
        except AirExecutorError as exc:
            raise AirflowException(f"{event.get('message')}; and the job cannot be read: {exc}") from None
        if state.get("state") not in lifecycle.JOB_DONE:
            raise AirflowException(str(event.get("message") or event))
        for line in progress_lines(state, tasks):
            self.log.info("%s", line)
        return self._verdict(state, tasks)

    def _verdict(self, state: dict[str, Any], tasks: list[dict[str, Any]]) -> dict[str, Any]:
        if state.get("state") != lifecycle.COMPLETED:
            message = failure_message(state, tasks)
            if self.fail_on_job_failure:
                raise AirflowFailException(message)
            self.log.warning("%s", message)
        return job_results(state, tasks)
