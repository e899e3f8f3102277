"""Retries with back-off: every attempt is recorded, and the wait between attempts grows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import Base, ManagerProcess, parse_time, wait_for
from taskkit import PY

# argv: COUNTER SUCCEED_FROM — appends one line per run; exits 1 until run number SUCCEED_FROM.
FLAKY = (
    "import sys\n"
    "path, succeed_from = sys.argv[1], int(sys.argv[2])\n"
    "with open(path, 'a+') as f:\n"
    "    f.seek(0); run = len(f.readlines()) + 1; f.write('run\\n')\n"
    "print(f'run {run}')\n"
    "sys.exit(0 if run >= succeed_from else 1)\n"
)


def flaky(task_id: str, counter: Path, succeed_from: int, **fields: Any) -> dict[str, Any]:
    return {"id": task_id, "command": PY, "args": ["-c", FLAKY, str(counter), str(succeed_from)], **fields}


def test_flaky_task_completes_on_its_third_attempt(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """retries 2: two failures then a success end completed, with attempts 3 and three history entries."""
    counter = tmp_path / "count"
    base.submit("flaky", [flaky("t", counter, 3, retries=2, retry_delay=0.2)])
    assert base.wait_state("flaky")["state"] == "completed", manager.log()
    task = base.task("flaky", "t")
    assert task["status"] == "completed" and task["error"] is None
    assert task["attempts"] == 3
    assert [h["attempt"] for h in task["history"]] == [1, 2, 3]
    assert [h["result"] for h in task["history"]] == ["failed", "failed", "success"]
    assert [h["exit_code"] for h in task["history"]] == [1, 1, 0]
    assert len({h["launch_id"] for h in task["history"]}) == 3
    assert counter.read_text().count("run") == 3
    output = [line for line in base.log("flaky", "t").splitlines() if not line.startswith("[air-executor]")]
    assert output == ["run 1", "run 2", "run 3"]  # the log keeps every attempt's output


def test_always_failing_task_fails_after_retries_plus_one_attempts(
    base: Base, manager: ManagerProcess, tmp_path: Path
) -> None:
    """retries 2 on a task that always fails: exactly three runs, then failed, and the job fails."""
    counter = tmp_path / "count"
    base.submit(
        "doomed",
        [
            flaky("t", counter, 99, retries=2, retry_delay=0.1),
            {"id": "after", "command": "true", "dependencies": ["t"]},
        ],
    )
    state = base.wait_state("doomed")
    assert state["state"] == "failed", manager.log()
    task = base.task("doomed", "t")
    assert task["status"] == "failed" and task["attempts"] == 3
    assert [h["result"] for h in task["history"]] == ["failed"] * 3
    assert "exited with code 1" in task["error"] and "retrying" not in task["error"]
    assert counter.read_text().count("run") == 3
    assert base.task("doomed", "after")["status"] == "skipped"


def test_delay_between_attempts_grows_with_backoff(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """retry_delay 0.3 with retry_backoff 3: the next attempt starts at least 0.3 s, then 0.9 s, after a failure."""
    counter = tmp_path / "count"
    base.submit("backoff", [flaky("t", counter, 3, retries=2, retry_delay=0.3, retry_backoff=3)])
    assert base.wait_state("backoff")["state"] == "completed", manager.log()
    history = base.task("backoff", "t")["history"]
    gaps = [parse_time(history[i + 1]["started_at"]) - parse_time(history[i]["ended_at"]) for i in range(2)]
    # Lower bounds from the contract (the manager must not start early); nothing about speed.
    assert gaps[0] >= 0.3 - 1e-3, gaps
    assert gaps[1] >= 0.9 - 1e-3, gaps


def test_retry_waits_do_not_block_other_jobs(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """While one job waits out a long retry delay, another job runs to completion."""
    counter = tmp_path / "count"
    base.submit("patient", [flaky("t", counter, 2, retries=1, retry_delay=30)])
    base.wait_state("patient", "working")
    wait_for(
        lambda: counter.exists() and base.task("patient", "t")["status"] == "pending", what="the first attempt to fail"
    )
    assert "retrying in 30 s" in base.task("patient", "t")["error"]
    base.submit("meanwhile", [{"id": "t", "command": "true"}])
    assert base.wait_state("meanwhile")["state"] == "completed", manager.log()
    assert base.task("patient", "t")["status"] == "pending"
