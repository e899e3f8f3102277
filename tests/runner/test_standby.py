"""A runner started ahead (`--standby`): it waits for its launch's claim, then runs that one task."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from conftest import Base
from taskkit import naive_job
from test_runner_module import LAUNCH, claimed, prepare


def standby(base: Base, job: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "air_executor_runner", "--standby", str(base.path), job, LAUNCH],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


def test_it_waits_for_the_claim_then_runs_that_task_once(base: Base) -> None:
    naive_job(base.path / "jobs", "job", [{"id": "t", "command": "echo", "args": ["hi"]}], state="working")
    runner = standby(base, "job")
    time.sleep(0.3)
    assert runner.poll() is None  # no claim yet: it waits, and runs nothing
    assert not (base.job_dir("job") / "logs" / "t.log").exists()
    prepare(base, claimed("t", "echo", "hi"))  # what the manager writes when it hands the task over
    assert runner.wait(timeout=30) == 0, runner.stderr.read() if runner.stderr else ""
    assert base.log("job", "t") == "hi\n"
    assert base.task("job", "t")["result"] == "success"


def test_with_no_claim_it_gives_up_after_its_wait(base: Base) -> None:
    naive_job(base.path / "jobs", "job", [{"id": "t", "command": "true"}], state="working")
    runner = standby(base, "job", AIR_EXECUTOR_STANDBY_WAIT="0.3")
    assert runner.wait(timeout=30) == 3  # EXIT_STALE: nothing was run
    assert runner.stderr is not None
    assert f"no task came for launch {LAUNCH} within 0.3 s" in runner.stderr.read()
