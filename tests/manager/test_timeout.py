"""Timeouts end the task's whole process group: SIGTERM first, SIGKILL after the grace period."""

from __future__ import annotations

from pathlib import Path

from conftest import Base, ManagerProcess, wait_for
from taskkit import PY, alive, read_pids, write_script


def test_timeout_kills_the_whole_process_group(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """A task over its timeout is failed as timed_out and none of its processes (children too) survive."""
    pids = tmp_path / "pids"
    script = write_script(
        tmp_path / "forks.sh",
        '#!/bin/sh\nsleep 100 &\necho $! >> "$1"\nsleep 100 &\necho $! >> "$1"\necho $$ >> "$1"\nwait\n',
    )
    base.submit("slow", [{"id": "t", "command": script, "args": [str(pids)], "timeout": 1}])
    wait_for(lambda: len(read_pids(pids)) == 3, what="the script to record its pids")
    state = base.wait_state("slow")
    assert state["state"] == "failed", manager.log()
    task = base.task("slow", "t")
    assert task["status"] == "failed"
    assert task["result"] == "timed_out"
    assert "timed out after 1 s" in task["error"]
    survivors = [pid for pid in read_pids(pids) if alive(pid)]
    assert survivors == []


def test_a_command_that_ignores_sigterm_is_sigkilled_after_the_grace(base: Base, tmp_path: Path) -> None:
    """A command trapping SIGTERM gets SIGTERM first, then SIGKILL once stop_grace has passed."""
    base.config(stop_grace=1)
    pids, seen = tmp_path / "pids", tmp_path / "got-term"
    script = (
        "import os, signal, sys, time\n"
        "def note(*_):\n"
        "    open(sys.argv[2], 'a').write('TERM\\n')\n"
        "signal.signal(signal.SIGTERM, note)\n"
        "open(sys.argv[1], 'w').write(str(os.getpid()))\n"
        "while True: time.sleep(0.05)\n"
    )
    manager = ManagerProcess(base).start()
    try:
        base.submit(
            "stubborn", [{"id": "t", "command": PY, "args": ["-c", script, str(pids), str(seen)], "timeout": 1}]
        )
        state = base.wait_state("stubborn")
        assert state["state"] == "failed", manager.log()
    finally:
        manager.stop()
    task = base.task("stubborn", "t")
    assert task["result"] == "timed_out"
    assert task["exit_code"] == -9  # it did not exit on SIGTERM: SIGKILL ended it
    assert seen.read_text() == "TERM\n"
    assert not alive(read_pids(pids)[0])


def test_timed_out_task_with_retries_is_retried(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """A timeout counts as a failed attempt: with retries 1 the second, quick attempt completes the job."""
    count = tmp_path / "count"
    script = (
        "import sys, time\n"
        "p = sys.argv[1]\n"
        "n = len(open(p).read()) if __import__('os').path.exists(p) else 0\n"
        "open(p, 'a').write('x')\n"
        "time.sleep(100 if n == 0 else 0)\n"
    )
    base.submit(
        "slow-once",
        [{"id": "t", "command": PY, "args": ["-c", script, str(count)], "timeout": 1, "retries": 1, "retry_delay": 0}],
    )
    assert base.wait_state("slow-once")["state"] == "completed", manager.log()
    task = base.task("slow-once", "t")
    assert task["attempts"] == 2
    assert [h["result"] for h in task["history"]] == ["timed_out", "success"]
    assert count.read_text() == "xx"
