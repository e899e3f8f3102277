"""Log limits: a task printing without end leaves a log of about the cap, head and tail, and harms nobody."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import Base, ManagerProcess, cli

GIB = 1 << 30
MIB = 1 << 20


def numbered(count: int) -> dict:
    """A task printing `count` bytes of numbered 16-byte lines (`seq`), so head and tail can be told apart."""
    return {"command": "sh", "args": ["-c", f"seq -w 100000000000000 1 999999999999999 | head -c {count}"]}


def on_disk(folder: Path) -> int:
    """Bytes the files under `folder` take on disk (allocated blocks, so sparse tricks do not hide any)."""
    return sum(p.lstat().st_blocks * 512 for p in folder.rglob("*"))


@pytest.mark.slow
def test_a_task_printing_a_gib_leaves_a_log_at_the_cap(base: Base) -> None:
    base.config(max_log_mb=1)
    manager = ManagerProcess(base).start()
    try:
        base.submit("flood", [{"id": "loud", **numbered(GIB)}])
        base.submit("neighbour", [{"id": "quiet", "command": "echo", "args": ["fine"]}])
        assert base.wait_state("neighbour")["state"] == "completed"
        assert base.wait_state("flood", timeout=300)["state"] == "completed", manager.log()
        log_path = base.job_dir("flood") / "logs" / "loud.log"
        size = log_path.stat().st_size
        assert MIB <= size <= MIB + 1024, size
        text = log_path.read_text()
        head, _, rest = text.partition("\n[air-executor] the log reached its cap of 1 MiB")
        assert head.startswith("100000000000000\n100000000000001\n")
        assert "further output is dropped but for its last 512 KiB, added when the task ends" in rest
        marker = next(line for line in rest.splitlines() if "bytes of output dropped" in line)
        dropped = int(marker.split("[air-executor] ")[1].split()[0])
        tail = rest.split(marker + "\n", 1)[1]
        assert len(tail) == MIB // 2
        assert len(head) + dropped + len(tail) == GIB  # nothing else went missing
        last_line = tail.splitlines()[-1]
        assert len(last_line) <= 15  # the very end of the output (cut mid-line by head -c)
        task = base.task("flood", "loud")
        assert task["history"][-1]["log_dropped"] == dropped
        results = cli("results", "--job", "flood", base=base)
        assert f"Log: over its cap, {dropped} bytes of output dropped" in results.stdout
        logs = cli("logs", "--job", "flood", "--task", "loud", "--tail", "5", base=base)
        assert logs.returncode == 0
        assert f"this log passed its cap: {dropped} bytes of output were dropped" in logs.stdout
        assert logs.stdout.rstrip().endswith(last_line)
        # The base folder holds about a MiB, not a GiB (the disk's free space is shared, so it is not the measure).
        assert on_disk(base.path) < 16 * MIB
    finally:
        manager.stop()


def test_a_task_may_lower_its_cap_but_not_raise_it(base: Base) -> None:
    base.config(max_log_mb=1)
    manager = ManagerProcess(base).start()
    try:
        base.submit(
            "caps",
            [
                {"id": "lower", **numbered(4 * MIB), "max_log_mb": 0.25},
                {"id": "higher", **numbered(4 * MIB), "max_log_mb": 3},
                {"id": "under", **numbered(1000), "max_log_mb": 0.25},
            ],
            max_parallel=3,
        )
        assert base.wait_state("caps")["state"] == "completed", manager.log()
        logs = base.job_dir("caps") / "logs"
        assert MIB // 4 <= (logs / "lower.log").stat().st_size <= MIB // 4 + 1024
        assert MIB <= (logs / "higher.log").stat().st_size <= MIB + 1024
        assert (logs / "under.log").stat().st_size == 1000  # under the cap: untouched, no marker
        assert "log_dropped" not in base.task("caps", "under")["history"][-1]
    finally:
        manager.stop()


def test_log_cap_action_fail_stops_the_task_with_a_clear_reason(base: Base) -> None:
    base.config(max_log_mb=1, log_cap_action="fail")
    manager = ManagerProcess(base).start()
    try:
        base.submit(
            "chatty", [{"id": "yes", "command": "yes"}, {"id": "after", "command": "true", "dependencies": ["yes"]}]
        )
        assert base.wait_state("chatty")["state"] == "failed", manager.log()
        task = base.task("chatty", "yes")
        assert task["result"] == "failed" and "its log passed the cap of 1048576 bytes (max_log_mb)" in task["error"]
        text = (base.job_dir("chatty") / "logs" / "yes.log").read_text()
        assert "the log reached its cap of 1 MiB: the task is stopped (log_cap_action: fail)" in text
        assert (base.job_dir("chatty") / "logs" / "yes.log").stat().st_size < MIB + 4096
        assert base.task("chatty", "after")["status"] == "skipped"
    finally:
        manager.stop()


def test_a_process_left_holding_the_output_does_not_hold_the_task(base: Base, manager: ManagerProcess) -> None:
    """Something the task starts in a session of its own keeps the pipe open; the task still ends when
    its command does (and what was printed before is in the log)."""
    base.submit("daemon", [{"id": "t", "command": "sh", "args": ["-c", "setsid sleep 300 & echo started"]}])
    try:
        assert base.wait_state("daemon", timeout=30)["state"] == "completed", manager.log()
        assert base.log("daemon", "t") == "started\n"
    finally:
        os.system("pkill -f 'sleep 300' >/dev/null 2>&1")
