"""Standby managers (README "Standby managers"): a second manager on one base folder waits on the
manager lock and takes over when the active one dies; it adopts the runners and finishes the jobs,
and no task runs twice (each task's side effect is counted from what it recorded)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

from conftest import Base, ManagerProcess, cli, wait_for
from taskkit import mark_task, read_intervals, standby, writable_dir


def test_the_standby_takes_over_a_killed_manager_and_nothing_runs_twice(base: Base, tmp_path: Path) -> None:
    base.config(max_parallel=2, max_concurrent_runners=4)
    active = ManagerProcess(base).start()
    waiting = standby(base)
    try:
        host = socket.gethostname()
        shown = cli("status", base=base).stdout
        assert f"Manager: running (PID {active.proc.pid}) on {host}" in shown  # type: ignore[union-attr]
        assert f"Standby managers: 1 (PID {waiting.pid} on {host})" in shown
        marks = writable_dir(tmp_path / "m") / "marks"
        tasks = [mark_task(f"t{i}", marks, sleep=0.4) for i in range(8)]
        base.submit("work", tasks, max_parallel=2)
        wait_for(lambda: base.state("work")["state"] == "working" and marks.exists(), what="work to start")
        active.kill()  # SIGKILL: no goodbye, its runners go on
        wait_for(lambda: "taking over on" in (base.path / "standby.log").read_text(), what="the standby to take over")
        assert base.wait_state("work")["state"] == "completed", (base.path / "standby.log").read_text()
        runs = read_intervals(marks)  # refuses a task that started twice
        assert sorted(runs) == sorted(f"t{i}" for i in range(8))
        shown = cli("status", base=base).stdout
        assert f"Manager: running (PID {waiting.pid}) on {host}" in shown and "Standby managers" not in shown
    finally:
        waiting.send_signal(signal.SIGTERM)
        waiting.wait(timeout=30)
        active.stop()


def test_a_waiting_standby_stops_on_sigterm_and_is_no_longer_counted(base: Base, manager: ManagerProcess) -> None:
    waiting = standby(base)
    waiting.send_signal(signal.SIGTERM)
    assert waiting.wait(timeout=30) is not None
    assert "Standby managers" not in cli("status", base=base).stdout
    assert manager.proc is not None and manager.proc.poll() is None  # the active one is untouched


def test_without_standby_a_second_manager_is_still_refused(base: Base, manager: ManagerProcess) -> None:
    second = subprocess.run(
        [sys.executable, "-m", "air_executor_manager", "--base-path", str(base.path)], capture_output=True, text=True
    )
    assert second.returncode == 1 and "another manager is already running" in second.stderr
