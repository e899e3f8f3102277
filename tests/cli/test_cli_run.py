"""`run` is the manager in the foreground: same process, runs jobs, stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from conftest import CLI, Base, cli, error_line, wait_for


def test_run_in_the_foreground_until_sigterm(base: Base, tmp_path: Path) -> None:
    """`air-executor run` becomes the manager (its PID in manager.pid), runs a job, exits 0 on SIGTERM."""
    env = {**os.environ, "AIR_EXECUTOR_BASE_PATH": str(base.path)}
    log_path, pid_file = tmp_path / "run.log", base.path / "manager.pid"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([CLI, "run"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: pid_file.read_text().strip() == str(proc.pid) or proc.poll() is not None, what="run")
        assert proc.poll() is None
        assert f"running (PID {proc.pid})" in cli("status", base=base).stdout
        assert error_line(cli("start", base=base)).startswith("error: a job manager is already running")
        base.submit("fg", [{"command": "echo", "args": ["in the foreground"]}])
        assert base.wait_state("fg")["state"] == "completed"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = log_path.read_text()
    assert proc.returncode == 0, out
    assert "received SIGTERM" in out and "manager stopped" in out
    assert pid_file.read_text() == ""  # emptied, never deleted (see manager_lock.py)
