"""The manager's runners: launched, adopted after a restart, ended, overdue, lost.

The manager keeps nothing it cannot rebuild: after a restart the journal's claim records
and the launcher (processes, labelled containers) say which runners still live. Runners
are found by their launch id only, never by a pid or a name a job file gives.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from air_executor.config import Config

from air_executor_manager.launchers import Launcher, RunnerState

log = logging.getLogger("air_executor.manager")

EXIT_CHECK = 0.03  # first look, in seconds, for a runner that recorded its outcome to have exited


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
    launching: bool = False  # its launch is still in flight on a worker thread
    ended: RunnerState | None = None  # its process or container is gone
    recorded: bool = False  # its attempt's outcome is in the job's documents
    stop_sent: bool = False
    kill_sent: bool = False
    exit_checks: int = 0  # looks taken since its outcome was recorded but it had not exited yet


@dataclass
class RunnerBook:
    """Every runner of this manager, by launch id."""

    config: Config
    launcher: Launcher
    runners: dict[str, Runner] = field(default_factory=dict)
    cleanups: list[tuple[str | None, str, bool]] = field(default_factory=list)  # (runner, launch, lost)

    def add(self, runner: Runner) -> None:
        self.runners[runner.launch_id] = runner

    def get(self, launch_id: str) -> Runner | None:
        return self.runners.get(launch_id)

    def of_job(self, job: str) -> list[Runner]:
        return [r for r in self.runners.values() if r.job == job]

    def busy(self) -> int:
        """Runners holding a slot: every one not yet exited."""
        return sum(1 for r in self.runners.values() if r.ended is None)

    def free_slots(self) -> int:
        return self.config.max_concurrent_runners - self.busy()

    def deadline(self, timeout: object, launched: float) -> float:
        """When the manager stops a runner itself: the task's timeout plus start-up and grace."""
        seconds = timeout if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) else None
        return (
            launched
            + float(seconds or self.config.task_timeout)
            + self.config.runner_start_timeout
            + (self.config.stop_grace)
        )

    def reap(self) -> set[str]:
        """Notice runners whose process or container is gone; returns their jobs."""
        jobs: set[str] = set()
        if not self.runners:
            return jobs
        self.launcher.begin_pass()
        for runner in self.runners.values():
            if runner.ended is None and runner.runner_id and not runner.launching:
                state = self.launcher.state(runner.runner_id)
                if not state.alive:
                    runner.ended = state
                    jobs.add(runner.job)
        return jobs

    def adopt(self, job: str, task_id: str, launch_id: str, launched: float, timeout: object) -> Runner | None:
        """The live runner of a launch an earlier manager made, if there is one."""
        runner_id = self.launcher.find(launch_id) if plausible(launch_id) else None
        if not runner_id or not self.launcher.state(runner_id).alive:
            return None
        runner = Runner(job, task_id, launch_id, runner_id, launched, self.deadline(timeout, launched), adopted=True)
        self.add(runner)
        log.info("job %s: adopted the live runner %s of task %s", job, runner_id, task_id, extra={"job": job})
        return runner

    def drop(self, runner: Runner, *, lost: bool = False) -> None:
        """Forget a runner; the launcher removes what is left of it (outside any lock)."""
        self.runners.pop(runner.launch_id, None)
        self.cleanups.append((runner.runner_id, runner.launch_id, lost))

    def stop(self, runner: Runner, why: str) -> None:
        if runner.runner_id and not runner.stop_sent and runner.ended is None:
            log.info("job %s: %s, stopping task %s", runner.job, why, runner.task_id, extra={"job": runner.job})
            self.launcher.stop(runner.runner_id)
            runner.stop_sent = True

    def enforce_deadline(self, runner: Runner, now: float) -> None:
        """Backstop for a runner that outlives its task's timeout: SIGTERM, then SIGKILL."""
        if not runner.runner_id or runner.ended is not None or now < runner.deadline:
            return
        if not runner.stop_sent:
            log.warning(
                "task %s: past its timeout, stopping runner %s",
                runner.task_id,
                runner.runner_id,
                extra={"job": runner.job, "task": runner.task_id},
            )
            self.launcher.stop(runner.runner_id)
            runner.stop_sent = True
        elif not runner.kill_sent and now >= runner.deadline + self.config.stop_grace:
            self.launcher.stop(runner.runner_id, force=True)
            runner.kill_sent = True

    def next_look(self, runner: Runner, now: float) -> float | None:
        """When to look at this runner again: its deadline, or soon after its outcome was recorded
        (a container gives no signal when it exits), backing off."""
        if runner.ended is not None:
            return None
        if runner.recorded:
            runner.exit_checks += 1
            return now + min(EXIT_CHECK * 2 ** (runner.exit_checks - 1), 2.0)
        if runner.kill_sent:
            return None
        return runner.deadline + (self.config.stop_grace if runner.stop_sent else 0)

    def lost_reason(self, runner: Runner | None, state: RunnerState | None) -> str:
        """Why a runner is lost, in words, with what the launcher knows of how it ended."""
        if state is not None and state.details.get("never_started"):
            why = state.details.get("start_error")
            if why:  # the Swarm launcher's: what Swarm said (no node fits, no such image)
                return f"runner never started: {why}"
            return f"runner container never started within {self.config.runner_start_timeout:g} s"
        if runner is None or state is None:
            error = "runner is gone (its process or container no longer exists)"
        else:
            code = f" (exit code {state.exit_code})" if state.exit_code is not None else ""
            error = f"runner died before recording an outcome{code}"
        if state is not None and state.details.get("oom_killed"):
            error += "; it was killed for exceeding its memory limit"
        tail = self.launcher.logs_tail(runner.runner_id) if runner is not None and runner.runner_id else ""
        if tail:
            error += f": {tail.splitlines()[-1][:200]}"
        return error


def plausible(launch_id: str) -> bool:
    """Launch ids are ours: 32 hex digits (anything else in a job file names no runner of ours)."""
    return len(launch_id) == 32 and all(c in "0123456789abcdef" for c in launch_id)
