"""Ctrl-C (SIGINT to the real process): `submit --wait` says the job runs on; `logs --follow` just stops."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import CLI, Base, ManagerProcess, gated_task, wait_for


def _start(base: Base, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "AIR_EXECUTOR_BASE_PATH": str(base.path), "COLUMNS": "200"}
    return subprocess.Popen([CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _interrupt(proc: subprocess.Popen[str]) -> tuple[str, str]:
    try:
        proc.send_signal(signal.SIGINT)
        return proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_ctrl_c_on_submit_wait_says_the_job_keeps_running(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """SIGINT while waiting: exit 130, no 'error:', a line saying the job runs on and how to follow or cancel it."""
    gate = tmp_path / "gate"
    job_file = tmp_path / "long.json"
    job_file.write_text(json.dumps({"name": "long", "tasks": [gated_task("hold", gate)]}))
    proc = _start(base, "submit", str(job_file), "--wait")
    assert proc.stdout is not None
    assert proc.stdout.readline() == "Submitted job long (1 task)\n"
    wait_for(lambda: base.log("long", "hold") == "before\n", what="the task to start")
    out, err = _interrupt(proc)
    assert proc.returncode == 130, (out, err)
    assert "error" not in err, err
    assert err.splitlines() == [
        "Stopped waiting; job long keeps running. Follow it with 'air-executor logs --job long --follow' "
        "or 'air-executor status --job long'; stop it with 'air-executor cancel --job long'."
    ]
    assert base.state("long")["state"] == "working"  # the job was not touched
    gate.touch()
    assert base.wait_state("long")["state"] == "completed"


def test_ctrl_c_on_logs_follow_exits_quietly(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """SIGINT while following a log: exit 0 and nothing on stderr."""
    gate = tmp_path / "gate"
    base.submit("followed", [gated_task("hold", gate)])
    wait_for(lambda: base.log("followed", "hold") == "before\n", what="the task to start")
    proc = _start(base, "logs", "--job", "followed", "--follow")
    assert proc.stdout is not None
    first = [proc.stdout.readline() for _ in range(4)]
    assert first == ["Logs for job followed:\n", "\n", "--- hold.log ---\n", "before\n"]
    out, err = _interrupt(proc)
    assert (proc.returncode, err) == (0, ""), (out, err)
    gate.touch()
    assert base.wait_state("followed")["state"] == "completed"


def test_ctrl_c_that_python_wrapped_still_counts_as_ctrl_c() -> None:
    """Ctrl-C landing in a lazy import arrives wrapped (Python 3.11 turns an exception in __set_name__,
    run by every dataclass an import makes, into a RuntimeError): the CLI still takes it for Ctrl-C."""
    from air_executor.cli.basics import interrupted

    class Trips:
        def __set_name__(self, owner: type, name: str) -> None:
            raise KeyboardInterrupt

    with pytest.raises(BaseException) as caught:
        type("Owner", (), {"field": Trips()})
    assert interrupted(caught.value)
    assert not interrupted(RuntimeError("a real error"))
    try:
        raise ValueError("later") from RuntimeError("earlier")
    except ValueError as exc:
        assert not interrupted(exc)
