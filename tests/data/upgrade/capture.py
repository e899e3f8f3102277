"""Capture a volume written by this release, as the fixture later releases must run unchanged.

    python tests/data/upgrade/capture.py tests/data/upgrade/<release>

It drives the real manager and runners of the checkout it runs in: jobs in every state, dynamic
tasks, retries, a cancelled job, an invalid one, jobs written while no manager ran (by the seeds'
client and by the CLI), and a manager SIGKILLed mid-job whose runner then died too (as on a host
reboot). The base folder it leaves is the fixture (tests/upgrade/ copies it and runs it to the end).
Commands are portable: `python` and `sh` from the runner's PATH, no absolute paths.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from air_executor.client import Client, cancel_job

# First attempt holds (so the manager can be killed under it), later attempts finish at once.
HOLD_FIRST = "import os, time; time.sleep(600 if os.environ.get('AIR_EXECUTOR_ATTEMPT') == '1' else 0)"
FAIL_FIRST = "import os, sys; sys.exit(3 if os.environ.get('AIR_EXECUTOR_ATTEMPT') == '1' else 0)"
SPAWN = "air-executor add-task --id sub-$1 echo sub $1"


def _wait(predicate: object, what: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > end:
            raise SystemExit(f"capture: timed out waiting for {what}")
        time.sleep(0.05)


def _state(base: Path, name: str) -> str:
    try:
        return str(json.loads((base / "jobs" / name / "state.json").read_text())["state"])
    except (OSError, ValueError, KeyError):
        return ""


def _task(base: Path, name: str, task_id: str) -> dict:
    tasks = json.loads((base / "jobs" / name / "tasks.json").read_text())
    return next(t for t in tasks if t["id"] == task_id)


def capture(target: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="ae-capture-"))
    work.chmod(0o755)  # a root manager runs tasks as uid 10001: they must get in
    base = work / "base"
    base.mkdir()
    (base / "config.yaml").write_text("poll_interval: 1\nlog_format: text\n")
    client = Client(base)
    env = {**os.environ, "AIR_EXECUTOR_BASE_PATH": str(base)}
    manager = subprocess.Popen(
        [sys.executable, "-m", "air_executor_manager", "--base-path", str(base)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    try:
        client.create_job(
            "completed-chain",
            [
                {"id": "greet", "command": "echo", "args": ["Hello from Air-Executor!"]},
                {"id": "process", "command": "sleep", "args": ["0.2"], "dependencies": ["greet"]},
                {"id": "complete", "command": "echo", "args": ["done"], "dependencies": ["process"]},
            ],
        )
        client.create_job(
            "failed-with-skip",
            [
                {
                    "id": "flaky",
                    "command": "sh",
                    "args": ["-c", "echo failing; exit 3"],
                    "retries": 1,
                    "retry_delay": 0,
                },
                {"id": "after", "command": "echo", "args": ["never"], "dependencies": ["flaky"]},
                {"id": "aside", "command": "echo", "args": ["independent"]},
            ],
            max_parallel=2,
        )
        client.create_job(
            "dynamic",
            [
                {
                    "id": "spawner",
                    "command": "sh",
                    "args": ["-c", f"for i in 1 2 3; do {SPAWN.replace('$1', '$i')}; done"],
                },
            ],
        )
        client.create_job("invalid", [{"id": "a", "command": "echo"}])
        with client.store.transaction("invalid") as files:
            files.tasks[0]["dependencies"] = ["nowhere"]  # an outside writer's mistake
        client.create_job(
            "cancelled",
            [
                {"id": "long", "command": "sleep", "args": ["600"]},
                {"id": "next", "command": "true", "dependencies": ["long"]},
            ],
        )
        client.create_job(
            "retry-pending",
            [{"id": "second-time", "command": "python", "args": ["-c", FAIL_FIRST], "retries": 2, "retry_delay": 1}],
        )
        client.create_job(
            "mid-flight",
            [
                {"id": "first", "command": "echo", "args": ["first"]},
                {
                    "id": "held",
                    "command": "python",
                    "args": ["-c", HOLD_FIRST],
                    "dependencies": ["first"],
                    "retries": 1,
                },
                {"id": "last", "command": "echo", "args": ["last"], "dependencies": ["held"]},
            ],
        )
        for name in ("completed-chain", "failed-with-skip", "dynamic", "invalid"):
            _wait(lambda n=name: _state(base, n) in ("completed", "failed"), f"{name} to finish")
        _wait(lambda: _task(base, "cancelled", "long").get("started_at"), "the long task to start")
        cancel_job(client.store, "cancelled")
        _wait(
            lambda: (
                _state(base, "cancelled") == "cancelled" and _task(base, "cancelled", "long")["status"] == "cancelled"
            ),
            "the cancel",
        )
        _wait(
            lambda: (
                _task(base, "retry-pending", "second-time").get("attempts") == 1
                and _task(base, "retry-pending", "second-time")["status"] == "pending"
            ),
            "the first failed attempt",
        )
        _wait(lambda: _task(base, "mid-flight", "held").get("started_at"), "the held task to start")
    finally:
        manager.send_signal(signal.SIGKILL)  # mid-job, as a crash or a reboot would
        manager.wait()
    held = _task(base, "mid-flight", "held")
    os.kill(int(held["runner_id"].split(":")[0]), signal.SIGKILL)  # its runner dies too (a reboot)
    for proc_dir in Path("/proc").iterdir():  # and the task's own process
        try:
            if f"AIR_EXECUTOR_LAUNCH_ID={held['launch_id']}".encode() in (proc_dir / "environ").read_bytes():
                os.kill(int(proc_dir.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue

    # Written while no manager runs: by the client, and by the seeds' client (plain json.dump, no lock).
    client.create_job("waiting-client", [{"id": "hello", "command": "echo", "args": ["waited"]}])
    naive = base / "jobs" / "waiting-naive"
    (naive / "logs").mkdir(parents=True)
    stamp = "2025-10-02T07:30:15.123456Z"
    (naive / "state.json").write_text(
        json.dumps(
            {
                "id": "waiting-naive-1",
                "name": "waiting-naive",
                "state": "waiting",
                "created_at": stamp,
                "updated_at": stamp,
            },
            indent=2,
        )
    )
    seed_task = {
        "job_name": "waiting-naive",
        "args": [],
        "dependencies": [],
        "status": "pending",
        "created_at": stamp,
        "started_at": None,
        "completed_at": None,
        "error": None,
    }
    (naive / "tasks.json").write_text(json.dumps([{"id": "task-1", "command": "echo", **seed_task}], indent=2))
    for leftover in ("manager.pid", "manager.log"):
        (base / leftover).unlink(missing_ok=True)
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(base, target, symlinks=True)
    shutil.rmtree(work)
    print(f"capture: wrote {target}")


if __name__ == "__main__":
    capture(Path(sys.argv[1]).resolve())
