"""The Prefect tasks: submit or attach, follow, report, and cancel the job if the Prefect run goes away."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal

from prefect import artifacts, get_run_logger, task

from air_executor.client import Client, cancel_job
from air_executor.core import lifecycle
from air_executor.errors import AirExecutorError, JobExists, JobNotFound
from air_executor.report import failure_message, format_results, job_results, progress_line

IfExists = Literal["reuse", "fail"]


class AirExecutorJobFailed(Exception):
    """The job ended failed or cancelled (the message says why, task by task)."""


class _Follow:
    """One job seen from a Prefect task: what to log as it moves, and what to do when it ends or is abandoned."""

    def __init__(self, job_name: str, base_path: str | None, timeout: float | None) -> None:
        self.job = job_name
        self.client = Client(base_path)
        self.log = get_run_logger()
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.last: tuple[Any, str] | None = None
        self.ended: set[Any] = set()
        self.state: dict[str, Any] = {}
        self.tasks: list[dict[str, Any]] = []

    def begin(
        self, tasks: Sequence[Mapping[str, Any]] | None, job_options: Mapping[str, Any], if_exists: IfExists
    ) -> None:
        if tasks is None:
            self.log.info("Attaching to Air-Executor job %s in %s", self.job, self.client.store.jobs_path)
            return
        try:
            self.client.create_job(self.job, list(tasks), **dict(job_options))
            self.log.info(
                "Submitted Air-Executor job %s (%d tasks) to %s", self.job, len(tasks), self.client.store.jobs_path
            )
        except JobExists:
            if if_exists == "fail":
                raise
            self.log.info("Air-Executor job %s exists already (an earlier try made it): waiting on it", self.job)

    def look(self) -> bool:
        """Log what changed since the last look; True once the job has finished."""
        try:
            state, tasks = self.client.state(self.job), self.client.tasks(self.job)
        except JobNotFound:
            if self.deadline is not None and time.monotonic() > self.deadline:
                raise TimeoutError(f"Air-Executor job {self.job} did not appear before the timeout") from None
            return False  # attaching to a job its writer has not made yet
        now = (state.get("state"), progress_line(state, tasks))
        if now != self.last:
            self.last = now
            self.log.info("Job %s state: %s; %s", self.job, *now)
        for item in tasks:
            if item.get("status") in lifecycle.TASK_DONE and item.get("id") not in self.ended:
                self.ended.add(item.get("id"))
                self._task_ended(item)
        if state.get("state") in lifecycle.JOB_DONE:
            return True
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TimeoutError(f"Air-Executor job {self.job} is still {state.get('state')} at the timeout; it runs on")
        return False

    def _task_ended(self, item: Mapping[str, Any]) -> None:
        status, exit_code = item.get("status"), item.get("exit_code")
        detail = f" (exit code {exit_code})" if exit_code is not None else ""
        if status == lifecycle.COMPLETED:
            self.log.info("  task %s completed%s", item.get("id"), detail)
        else:
            why = f": {item['error']}" if item.get("error") else ""
            self.log.warning("  task %s %s%s%s", item.get("id"), status, detail, why)

    @contextmanager
    def watching(self) -> Iterator[None]:
        """Around the wait: a stop from outside (Prefect's cancellation, SIGTERM, Ctrl-C: not an error of
        the wait itself) cancels the job on the way out."""
        try:
            yield
        except BaseException as exc:
            if not isinstance(exc, Exception):
                self.abandon(exc)
            raise

    def abandon(self, why: BaseException) -> None:
        """The Prefect run is going away (cancelled, killed, interrupted): the job must not run on unseen."""
        try:
            pending, running = cancel_job(self.client.store, self.job)
        except AirExecutorError as exc:
            self.log.warning("Could not cancel Air-Executor job %s: %s", self.job, exc)
            return
        self.log.warning(
            "Prefect run stopped (%s): cancelled Air-Executor job %s (%d pending, %d running task(s) stopped)",
            type(why).__name__,
            self.job,
            pending,
            running,
        )

    def report(self) -> dict[str, str]:
        """Log the results report; the markdown artifact to save (its arguments)."""
        self.state, self.tasks = self.client.state(self.job), self.client.tasks(self.job)
        report = format_results(self.state, self.tasks)
        for line in report.splitlines():
            self.log.info("%s", line)
        return {
            "markdown": f"# Air-Executor job `{self.job}`: {self.state.get('state')}\n\n```\n{report}\n```\n",
            "key": _artifact_key(self.job),
            "description": f"Results of Air-Executor job {self.job}",
        }

    def outcome(self, fail_on_job_failure: bool) -> dict[str, Any]:
        if self.state.get("state") != lifecycle.COMPLETED and fail_on_job_failure:
            raise AirExecutorJobFailed(failure_message(self.state, self.tasks))
        return job_results(self.state, self.tasks)


def _artifact_key(job: str) -> str:
    """Artifact keys are lower-case letters, digits and dashes."""
    return "air-executor-" + "".join(c if c.isalnum() else "-" for c in job.lower())


@task(name="air-executor-job", retries=0)
def run_air_executor_job(
    job_name: str,
    tasks: Sequence[Mapping[str, Any]] | None = None,
    *,
    job_options: Mapping[str, Any] | None = None,
    base_path: str | None = None,
    if_exists: IfExists = "reuse",
    poll_interval: float = 1.0,
    timeout: float | None = None,
    fail_on_job_failure: bool = True,
) -> dict[str, Any]:
    """Submit `tasks` as job `job_name` (or attach to it when `tasks` is None), wait, return its results.

    :param job_options: job fields such as `{"max_parallel": 2, "priority": 5}`
    :param base_path: the base folder (default `$AIR_EXECUTOR_BASE_PATH`, else `.air-executor`)
    :param if_exists: `reuse` waits on a job of that name that exists (a retry), `fail` refuses it
    :param timeout: give up waiting after this many seconds (the job runs on); None: never
    :param fail_on_job_failure: raise AirExecutorJobFailed when the job does not complete
    """
    follow = _Follow(job_name, base_path, timeout)
    follow.begin(tasks, job_options or {}, if_exists)
    with follow.watching():
        while not follow.look():
            time.sleep(poll_interval)
    artifacts.create_markdown_artifact(**follow.report())
    return follow.outcome(fail_on_job_failure)


@task(name="air-executor-job-async", retries=0)
async def arun_air_executor_job(
    job_name: str,
    tasks: Sequence[Mapping[str, Any]] | None = None,
    *,
    job_options: Mapping[str, Any] | None = None,
    base_path: str | None = None,
    if_exists: IfExists = "reuse",
    poll_interval: float = 1.0,
    timeout: float | None = None,
    fail_on_job_failure: bool = True,
) -> dict[str, Any]:
    """`run_air_executor_job` for async flows: waits with asyncio, so other tasks run meanwhile."""
    follow = _Follow(job_name, base_path, timeout)
    follow.begin(tasks, job_options or {}, if_exists)
    with follow.watching():
        while not follow.look():
            await asyncio.sleep(poll_interval)
    # In a coroutine Prefect's artifact helpers are coroutines too (acreate_* in newer releases).
    create = getattr(artifacts, "acreate_markdown_artifact", artifacts.create_markdown_artifact)
    await create(**follow.report())
    return follow.outcome(fail_on_job_failure)
