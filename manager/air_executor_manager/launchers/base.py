"""What a launcher is: start a runner for one task, tell if it lives, stop it, clean it up."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from air_executor.config import Config
from air_executor.errors import AirExecutorError

SECRETS_ENV = "AIR_EXECUTOR_SECRETS"  # the task's secrets as JSON; the runner takes it out of its environment
SECRETS_ON_STDIN = "stdin"  # ... or this word: they come on the runner's stdin (a container's, at its start)


class LaunchError(AirExecutorError):
    """A runner could not be started; its task fails with this message."""


@dataclass
class LaunchSpec:
    """Everything a launcher needs to start the runner of one task attempt."""

    base_path: Path
    job: str
    task_id: str
    launch_id: str
    task: dict[str, Any]
    config: Config
    user: tuple[int, int]  # the job folder's owner: the runner runs as this uid:gid, never root
    folder_id: str  # the job folder's device:inode when claimed; the runner checks it is the same folder
    # The values of the secrets the task names, read at launch (secrets.py): never written to the volume.
    secrets: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def runner_args(self) -> list[str]:
        return [str(self.base_path), self.job, self.task_id, self.launch_id]

    @property
    def runner_env(self) -> dict[str, str]:
        """Settings the runner reads before the task's own `env` applies, and guardrails for
        `add-task` inside the task (a runner container does not see the config file)."""
        config = self.config
        return {
            "AIR_EXECUTOR_TASK_TIMEOUT": str(config.task_timeout),
            "AIR_EXECUTOR_STOP_GRACE": str(config.stop_grace),
            "AIR_EXECUTOR_MAX_LOG_MB": str(config.max_log_mb),
            "AIR_EXECUTOR_LOG_CAP_ACTION": config.log_cap_action,
            "AIR_EXECUTOR_MAX_RETRY_DELAY": str(config.max_retry_delay),
            "AIR_EXECUTOR_MAX_JOB_FILE_MB": str(config.max_job_file_mb),
            "AIR_EXECUTOR_RUNNER_USER": config.runner_user,
            "AIR_EXECUTOR_MAX_TASKS_PER_JOB": str(config.max_tasks_per_job),
            "AIR_EXECUTOR_MAX_SPAWN_DEPTH": str(config.max_spawn_depth),
            "AIR_EXECUTOR_JOB_FOLDER_ID": self.folder_id,
            **({SECRETS_ENV: json.dumps(self.secrets)} if self.secrets else {}),
        }

    @property
    def user_spec(self) -> str:
        return f"{self.user[0]}:{self.user[1]}"


@dataclass
class RunnerState:
    """What a launcher knows of a runner that has ended."""

    alive: bool
    exit_code: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


class Launcher(Protocol):
    """The pluggable part of the manager (subprocess and Docker implement it)."""

    name: str

    def begin_pass(self) -> None:
        """Called once per manager pass before liveness checks (a launcher may batch them)."""

    def on_exit(self, wake: Callable[[], None]) -> None:
        """Call `wake` (from any thread) when a runner exits, where the launcher hears of it."""

    def runner_id_for(self, spec: LaunchSpec) -> str | None:
        """The runner id known before launching (a container name), else None."""

    def launch(self, spec: LaunchSpec) -> str:
        """Start the runner; returns its id. Raises LaunchError."""

    def state(self, runner_id: str) -> RunnerState:
        """Whether the runner still lives, and how it ended if it did not."""

    def find(self, spec_launch_id: str) -> str | None:
        """The id of a live runner started for this launch (after a manager restart)."""

    def stop(self, runner_id: str, force: bool = False) -> None:
        """Ask the runner to stop (it records the task as killed); `force` kills it outright."""

    def cleanup(self, runner_id: str | None, *, launch_id: str = "", lost: bool = False) -> None:
        """Forget an ended runner; when `lost`, also end whatever its launch left running."""

    def logs_tail(self, runner_id: str, lines: int = 20) -> str:
        """The runner's own last output (not the task's log), for error messages."""

    def orphans(self, live_launch_ids: set[str]) -> list[str]:
        """Ended runners of this base left by an earlier manager, safe to remove."""

    def close(self) -> None:
        """Release resources on manager shutdown (runners keep running)."""


@runtime_checkable
class WarmContainers(Protocol):
    """A launcher that can start a job's next runner ahead, waiting for its task (the Docker one)."""

    def warm_launch_id(self, job: str, task: dict[str, Any]) -> str | None:
        """The launch id of a waiting runner of `job` that can run `task`, now handed to it; "" if one
        is still starting (waiting for it is quicker than starting another); else None."""

    def has_warm(self, job: str) -> bool:
        """Whether runners of `job` wait (or are being started) for a task."""

    def reserve_warm(self, spec: LaunchSpec, pending: int) -> bool:
        """Book a runner to start ahead for `spec.job` under `spec.launch_id`, set up for a task like
        `spec.task`, if the bounds allow one more (the job has `pending` tasks to come)."""

    def prepare_warm(self, spec: LaunchSpec) -> None:
        """Start the runner booked by `reserve_warm` (slow: called on a worker thread)."""

    def discard_warm(self, job: str) -> None:
        """Remove the runners of `job` waiting for a task (slow: called on a worker thread)."""
