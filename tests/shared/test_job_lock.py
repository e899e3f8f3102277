"""The job lock works between processes, and an outside program can join it with a bare flock."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from air_executor.errors import LockTimeout
from conftest import REPO, Base

CYCLES = 200

# A project writer: locked read-increment-write cycles through FileStore.transaction.
PROJECT_WRITER = """
import sys
from air_executor.storage.file_store import FileStore
store = FileStore(sys.argv[1])
for _ in range(int(sys.argv[3])):
    with store.transaction(sys.argv[2]) as files:
        files.state["counter"] = files.state.get("counter", 0) + 1
"""

# An outside writer that knows only the documented protocol: flock <job>/.lock, then
# read, change and atomically replace the file. No project imports.
OUTSIDE_WRITER = """
import fcntl, json, os, sys
job_dir, cycles = sys.argv[1], int(sys.argv[2])
for i in range(cycles):
    fd = os.open(os.path.join(job_dir, ".lock"), os.O_RDWR | os.O_CREAT, 0o666)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        path = os.path.join(job_dir, "state.json")
        with open(path) as f:
            state = json.load(f)
        state["counter"] = state.get("counter", 0) + 1
        tmp = os.path.join(job_dir, f".state.json.outside-{os.getpid()}.tmp")
        with open(tmp, "w") as f:
            json.dump(state, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
"""

# Project writers bumping a counter kept in the first task of tasks.json.
PROJECT_TASKS_WRITER = """
import sys
from air_executor.storage.file_store import FileStore
store = FileStore(sys.argv[1])
for _ in range(int(sys.argv[3])):
    with store.transaction(sys.argv[2]) as files:
        files.tasks[0]["counter"] = files.tasks[0].get("counter", 0) + 1
"""

# Holds the job's lock until its stdin closes.
HOLDER = """
import fcntl, os, sys
fd = os.open(os.path.join(sys.argv[1], ".lock"), os.O_RDWR | os.O_CREAT, 0o666)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
"""


def _spawn(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", script, *args], stderr=subprocess.PIPE, text=True)


def _join(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err


def test_concurrent_project_writers_lose_no_update(base: Base) -> None:
    """4 processes x 200 locked read-increment-write cycles on one job end with exactly 800."""
    base.submit("counted", [{"id": "noop", "command": "true"}])
    procs = [_spawn(PROJECT_WRITER, str(base.path), "counted", str(CYCLES)) for _ in range(4)]
    _join(procs)
    assert base.state("counted")["counter"] == 4 * CYCLES
    assert base.state("counted")["name"] == "counted"  # the rest of the document survived


def test_outside_flock_writer_interleaves_with_project_writers(base: Base) -> None:
    """A bare-flock outside writer and two project writers, 200 cycles each, lose no update between them."""
    base.submit("shared", [{"id": "noop", "command": "true"}])
    procs = [
        _spawn(OUTSIDE_WRITER, str(base.job_dir("shared")), str(CYCLES)),
        _spawn(PROJECT_WRITER, str(base.path), "shared", str(CYCLES)),
        _spawn(PROJECT_WRITER, str(base.path), "shared", str(CYCLES)),
    ]
    _join(procs)
    assert base.state("shared")["counter"] == 3 * CYCLES


def test_a_held_lock_blocks_a_transaction_until_released(base: Base) -> None:
    """While another process holds the job's flock a transaction times out with a clear error; after, it works."""
    base.submit("held", [{"id": "noop", "command": "true"}])
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(base.job_dir("held"))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(LockTimeout) as caught, base.store.transaction("held", timeout=0.3):
            pass
        assert "lock" in str(caught.value) and "\n" not in str(caught.value)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    with base.store.transaction("held", timeout=5) as files:
        assert files.state is not None
        files.state["after"] = True
    assert base.state("held")["after"] is True


def _readme_lock_example() -> str:
    """The Python example of the lock protocol in README.md ("The job lock")."""
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    return next(block for block in blocks if "fcntl.flock" in block and "def update_tasks" in block)


def test_the_readme_lock_example_interleaves_with_project_writers(base: Base) -> None:
    """README's `update_tasks` example, 200 calls in its own process, and two project writers lose no update."""
    base.submit("documented", [{"id": "a", "command": "echo"}])
    outside = _readme_lock_example() + (
        "import sys\n"
        "def bump(tasks):\n"
        "    tasks[0]['counter'] = tasks[0].get('counter', 0) + 1\n"
        "for _ in range(int(sys.argv[2])):\n"
        "    update_tasks(sys.argv[1], bump)\n"
    )
    procs = [
        _spawn(outside, str(base.job_dir("documented")), str(CYCLES)),
        _spawn(PROJECT_TASKS_WRITER, str(base.path), "documented", str(CYCLES)),
        _spawn(PROJECT_TASKS_WRITER, str(base.path), "documented", str(CYCLES)),
    ]
    _join(procs)
    task = base.tasks("documented")[0]
    assert task["counter"] == 3 * CYCLES
    assert (task["id"], task["command"], task["status"]) == ("a", "echo", "pending")
