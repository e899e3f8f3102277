"""Keeping track of runners: which live, which ended, which were lost, which to adopt.

The manager launches runners and forgets nothing it cannot rebuild: after a restart the
job files (launch id, runner id) and the launcher (processes, labelled containers) tell
it which runners still live. This mixin holds that bookkeeping for `Manager`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from air_executor.config import Config
from air_executor.core import lifecycle
from air_executor.core.clock import parse_iso

from air_executor_manager.launchers import Launcher, RunnerState

log = logging.getLogger("air_executor.manager")


@dataclass
class Runner:
    """A runner this manager launched or adopted, keyed by its task attempt's launch id."""

    job: str
    task_id: str
    launch_id: str
    runner_id: str | None
    launched: float
    deadline: float
    adopted: bool = False
    ended: RunnerState | None = None
    stop_sent: bool = False
    kill_sent: bool = False
    exit_checks: int = 0  # looks taken since its outcome was on disk but it had not exited yet
    launching: bool = False  # its launch is still in flight on a worker thread


class RunnerBook:
    """The runners of a manager, keyed by launch id, and what to do when one ends or vanishes."""

    config: Config
    runners: dict[str, Runner]
    timers: dict[str, float]
    cleanups: list[tuple[str | None, str, bool]]

    @property
    def _launcher(self) -> Launcher:
        raise NotImplementedError

    def free_slots(self) -> int:
        busy = sum(1 for r in self.runners.values() if r.ended is None)
        return self.config.max_concurrent_runners - busy

    def runners_of(self, name: str) -> list[Runner]:
        return [r for r in self.runners.values() if r.job == name]

    def deadline(self, task: dict[str, Any], launched: float) -> float:
        """When the manager stops a runner itself: the task's timeout plus start-up and grace."""
        timeout = task.get("timeout") or self.config.task_timeout
        return launched + float(timeout) + self.config.runner_start_timeout + self.config.stop_grace

    def reap_finished(self) -> set[str]:
        """Notice runners that ended; their jobs get a look this tick."""
        jobs: set[str] = set()
        if not self.runners:
            return jobs
        self._launcher.begin_pass()
        for runner in self.runners.values():
            if runner.ended is None and runner.runner_id and not runner.launching:
                state = self._launcher.state(runner.runner_id)
                if not state.alive:
                    runner.ended = state
                    jobs.add(runner.job)
        return jobs

    def check_running(self, name: str, task: dict[str, Any], state: dict[str, Any]) -> None:
        """A task marked running: is its runner ours and alive, adoptable, or lost?"""
        launch_id = str(task.get("launch_id") or "")
        runner = self.runners.get(launch_id)
        if runner is None:
            self.adopt_or_lose(name, task, launch_id)
            return
        ended = runner.ended
        if runner.launching:
            return  # not started yet: nothing to check
        if ended is None and runner.runner_id:
            current = self._launcher.state(runner.runner_id)
            ended = None if current.alive else current
        if ended is None:
            self.enforce_deadline(runner)
            return
        code = f" (exit code {ended.exit_code})" if ended.exit_code is not None else ""
        self.lose(task, runner.runner_id, f"runner died before recording an outcome{code}", ended.details)
        del self.runners[launch_id]

    def adopt_or_lose(self, name: str, task: dict[str, Any], launch_id: str) -> None:
        # The runner is found by its launch id through the launcher (a process's command line, a
        # container's labels), never taken from the job file's `runner_id`: a job author could
        # name any process or container there, and a lost runner is killed and removed.
        runner_id = self._launcher.find(launch_id) if _plausible(launch_id) else None
        if runner_id and self._launcher.state(runner_id).alive:
            launched = parse_iso(task.get("launched_at")) or time.time()
            self.runners[launch_id] = Runner(
                name, str(task.get("id")), launch_id, runner_id, launched, self.deadline(task, launched), adopted=True
            )
            task["runner_id"] = runner_id
            log.info(
                "job %s: adopted the live runner %s of task %s",
                name,
                runner_id,
                task.get("id"),
                extra={"job": name, "task": task.get("id")},
            )
            return
        launched = parse_iso(task.get("launched_at")) or 0.0
        if not runner_id and time.time() - launched < self.config.runner_start_timeout:
            self.timers[name] = launched + self.config.runner_start_timeout
            return  # launched moments ago by a manager that died: give it time to appear
        ended = self._launcher.state(runner_id) if runner_id else RunnerState(alive=False)
        self.lose(task, runner_id, "runner is gone (its process or container no longer exists)", ended.details)

    def lose(self, task: dict[str, Any], runner_id: str | None, error: str, details: dict[str, Any]) -> None:
        if details.get("oom_killed"):
            error += "; it was killed for exceeding its memory limit"
        if details.get("never_started"):
            error = f"runner container never started within {self.config.runner_start_timeout:g} s"
        tail = self._launcher.logs_tail(runner_id) if runner_id else ""
        if tail:
            error += f": {tail.splitlines()[-1][:200]}"
        log.error("task %s: %s", task.get("id"), error, extra={"task": task.get("id")})
        self.cleanups.append((runner_id, str(task.get("launch_id") or ""), True))
        lifecycle.finish_attempt(
            task,
            result=lifecycle.RUNNER_LOST,
            error=error,
            details=details or None,
            max_delay=self.config.max_retry_delay,
        )

    def enforce_deadline(self, runner: Runner) -> None:
        """Backstop for a runner that outlives its task's timeout: SIGTERM, then SIGKILL."""
        if not runner.runner_id or time.time() < runner.deadline:
            return
        if not runner.stop_sent:
            log.warning(
                "task %s: past its timeout, stopping runner %s",
                runner.task_id,
                runner.runner_id,
                extra={"job": runner.job, "task": runner.task_id},
            )
            self._launcher.stop(runner.runner_id)
            runner.stop_sent = True
        elif not runner.kill_sent and time.time() >= runner.deadline + self.config.stop_grace:
            self._launcher.stop(runner.runner_id, force=True)
            runner.kill_sent = True

    def stop_cancelled(self, name: str, tasks: list[dict[str, Any]]) -> None:
        """Stop the runners of a cancelled job; tasks with no live runner are cancelled here."""
        for task in tasks:
            if task.get("status") != lifecycle.RUNNING:
                continue
            runner = self.runners.get(str(task.get("launch_id") or ""))
            alive = runner is not None and runner.ended is None and runner.runner_id is not None
            if alive and runner is not None and runner.runner_id is not None:
                if not runner.stop_sent:
                    log.info("job %s: cancelled, stopping task %s", name, task.get("id"), extra={"job": name})
                    self._launcher.stop(runner.runner_id)
                    runner.stop_sent = True
                continue
            if runner is None:
                launch_id = str(task.get("launch_id") or "")
                runner_id = self._launcher.find(launch_id) if _plausible(launch_id) else None
                if runner_id and self._launcher.state(runner_id).alive:
                    self.adopt_or_lose(name, task, str(task.get("launch_id") or ""))
                    continue
            lifecycle.finish_attempt(task, result=lifecycle.KILLED, error="cancelled", job_cancelled=True)

    def drop_ended_runners(self, name: str, tasks: list[dict[str, Any]]) -> None:
        """Forget runners whose outcome is on disk; the launcher may now remove them."""
        live_launches = {t.get("launch_id") for t in tasks if t.get("status") == lifecycle.RUNNING}
        for runner in self.runners_of(name):
            if runner.launch_id in live_launches:
                continue
            if runner.ended is not None or runner.adopted:
                del self.runners[runner.launch_id]
                if runner.ended is not None and runner.ended.details:
                    _merge_attempt_details(tasks, runner.launch_id, runner.ended.details)
                if runner.runner_id:
                    self.cleanups.append((runner.runner_id, runner.launch_id, False))


def _plausible(launch_id: str) -> bool:
    """Launch ids are ours: 32 hex digits (anything else in a job file names no runner of ours)."""
    return len(launch_id) == 32 and all(c in "0123456789abcdef" for c in launch_id)


def _merge_attempt_details(tasks: list[dict[str, Any]], launch_id: str, details: dict[str, Any]) -> None:
    """Add what the launcher saw (container id, image, OOM, exit code) to that attempt's record."""
    for task in tasks:
        for attempt in reversed(task.get("history") or []):
            if attempt.get("launch_id") == launch_id:
                for key, value in details.items():
                    attempt.setdefault(key, value)
                if details.get("oom_killed") and task.get("launch_id") == launch_id and task.get("error"):
                    note = "; the container hit its memory limit (OOM)"
                    attempt["error"] = f"{attempt.get('error')}{note}"
                    task["error"] += note
                return
