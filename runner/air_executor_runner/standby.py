"""A pre-started runner container waiting for its one task (README "Warm starts").

Started as ``python -m air_executor_runner --standby BASE JOB LAUNCH_ID``: the Docker launcher
starts the container ahead, while the job's current task runs, under a launch id it has chosen
but given to no task yet. When a task of the job becomes ready the manager claims it under that
launch id, which writes the claim record; the waiting runner sees it appear and runs that task
exactly as a cold runner would (the claim names the task, and the launch's start record is
created once). It never runs a second task; one whose claim never comes exits after its wait.
"""

from __future__ import annotations

import _signal as signal
import os
import sys
import time

from air_executor_runner import EXIT_STALE, EXIT_UNRECORDED

DEFAULT_WAIT = 600.0
POLL = 0.005  # seconds between looks for the claim: the hand-over's latency, at a few syscalls a look


def run_standby(base: str, job: str, launch_id: str) -> int:
    from air_executor.errors import AirExecutorError
    from air_executor.storage import journal
    from air_executor.storage.file_store import FileStore

    # PID 1 of a container ignores signals it has no handler for: stop when asked.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: os._exit(EXIT_STALE))
    wait = _seconds(os.environ.get("AIR_EXECUTOR_STANDBY_WAIT"), DEFAULT_WAIT)
    deadline = time.monotonic() + wait
    try:
        store = FileStore(base)
        while True:
            with store.open_job(job) as job_dir:
                claim = journal.read_claim(job_dir, launch_id)
            if claim is not None:
                break
            if time.monotonic() > deadline:
                print(f"air-executor-runner: no task came for launch {launch_id} within {wait:g} s", file=sys.stderr)
                return EXIT_STALE
            time.sleep(POLL)
    except AirExecutorError as exc:
        print(f"air-executor-runner: {exc}", file=sys.stderr)
        return EXIT_UNRECORDED
    task_id = claim.get("task_id")
    if not isinstance(task_id, str) or not task_id:
        print(f"air-executor-runner: the claim of launch {launch_id} names no task", file=sys.stderr)
        return EXIT_STALE
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_DFL)  # the task's runner installs its own
    from air_executor_runner.execute import run_task

    return run_task(base, job, task_id, launch_id)


def _seconds(value: str | None, default: float) -> float:
    try:
        number = float(value) if value else default
    except ValueError:
        return default
    return number if 0 < number < float("inf") else default
