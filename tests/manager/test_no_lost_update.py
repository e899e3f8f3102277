"""No lost update (PRODUCT.md §7): manager, runners, tasks adding subtasks and an outside client all write at once."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from conftest import Base, ManagerProcess, wait_for
from taskkit import CLI, PY

JOBS = ["race-a", "race-b", "race-c"]
SUBTASKS = 8  # per spawner
ROUNDS = 30  # outside-client transactions per job, at least: it goes on until the spawners are done

SPAWN_CLI = (
    "import subprocess, sys\n"
    "for k in range(int(sys.argv[2])):\n"
    "    subprocess.run([sys.argv[1], 'add-task', '--id', f'cli-{k}', 'true'], check=True, stdout=subprocess.DEVNULL)\n"
)
SPAWN_API = (
    "import os, sys\n"
    "from air_executor.core.task import TaskQueue\n"
    "from air_executor.storage.file_store import FileStore\n"
    "job = os.environ['AIR_EXECUTOR_JOB']\n"
    "queue = TaskQueue(job, FileStore().jobs_path / job / 'tasks.json')\n"
    "for k in range(int(sys.argv[1])):\n"
    "    queue.add({'id': f'api-{k}', 'command': 'true'})\n"
)
GATE = "import os, sys, time\nwhile not os.path.exists(sys.argv[1]): time.sleep(0.02)\n"

# The documented protocol for outside writers, spelled out with nothing but the standard library:
# flock <job>/.lock, read, change, write a temporary file in the same folder, fsync, rename.
OUTSIDE_CLIENT = r"""
import fcntl, json, os, sys, time
jobs_path, rounds, done_file, report = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
names = sys.argv[5:]
wrote = {"task_fields": [], "state_fields": [], "tasks": []}

def replace(path, doc):
    tmp = f"{path}.outside.tmp"
    with open(tmp, "w") as handle:
        json.dump(doc, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.rename(tmp, path)

r = 0
spawners_busy = True
while (r < rounds or spawners_busy) and r < 3000:
    spawners_busy = False
    for name in names:
        job_dir = os.path.join(jobs_path, name)
        with open(os.path.join(job_dir, ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            with open(os.path.join(job_dir, "state.json")) as handle:
                state = json.load(handle)
            with open(os.path.join(job_dir, "tasks.json")) as handle:
                tasks = json.load(handle)
            time.sleep(0.002)  # hold the lock across the read-modify-write, as a slow client would
            spawners_busy |= any(t["id"].startswith("spawn-") and t["status"] != "completed" for t in tasks)
            target = tasks[(r * 7) % len(tasks)]
            field = f"outside_{r}"
            target[field] = r
            wrote["task_fields"].append([name, target["id"], field, r])
            state[field] = r
            wrote["state_fields"].append([name, field, r])
            if r % 3 == 0:
                tasks.append({"id": f"ext-{r}", "job_name": name, "command": "true", "args": [],
                              "dependencies": [], "status": "pending", "created_at": "2025-10-02T07:30:15Z",
                              "started_at": None, "completed_at": None, "error": None})
                wrote["tasks"].append([name, f"ext-{r}"])
            replace(os.path.join(job_dir, "tasks.json"), tasks)
            replace(os.path.join(job_dir, "state.json"), state)
            fcntl.flock(lock, fcntl.LOCK_UN)
    r += 1
    time.sleep(0.01)

with open(report, "w") as handle:
    json.dump(wrote, handle)
open(done_file, "w").close()
"""


def test_concurrent_writers_lose_nothing(base: Base, manager: ManagerProcess, tmp_path: Path) -> None:
    """Subtasks added by CLI and API race an outside flock client: every task and field survives, jobs complete."""
    done, report = tmp_path / "outside-done", tmp_path / "outside.json"
    for name in JOBS:
        base.submit(
            name,
            [
                {"id": "spawn-cli", "command": PY, "args": ["-c", SPAWN_CLI, CLI, str(SUBTASKS)]},
                {"id": "spawn-api", "command": PY, "args": ["-c", SPAWN_API, str(SUBTASKS)]},
                {"id": "gate", "command": PY, "args": ["-c", GATE, str(done)]},
            ],
            max_parallel=3,
        )
    outside = tmp_path / "outside.py"
    outside.write_text(OUTSIDE_CLIENT)
    client = subprocess.Popen(
        [sys.executable, str(outside), str(base.path / "jobs"), str(ROUNDS), str(done), str(report), *JOBS]
    )
    try:
        assert client.wait(timeout=120) == 0
    finally:
        if client.poll() is None:
            client.kill()
    for name in JOBS:
        assert base.wait_state(name, timeout=120)["state"] == "completed", manager.log()

    wrote = json.loads(report.read_text())
    rounds = len(wrote["state_fields"]) // len(JOBS)
    assert rounds >= ROUNDS and len(wrote["tasks"]) == len(JOBS) * len(range(0, rounds, 3))
    for name in JOBS:
        tasks = base.tasks(name)
        ids = Counter(t["id"] for t in tasks)
        expected = {
            "spawn-cli",
            "spawn-api",
            "gate",
            *(f"cli-{k}" for k in range(SUBTASKS)),
            *(f"api-{k}" for k in range(SUBTASKS)),
            *(i for n, i in wrote["tasks"] if n == name),
        }
        assert set(ids) == expected
        assert set(ids.values()) == {1}, ids
        assert [t["id"] for t in tasks if t["status"] != "completed"] == []
        by_id = {t["id"]: t for t in tasks}
        for k in range(SUBTASKS):
            assert by_id[f"cli-{k}"]["parent"] == "spawn-cli" and by_id[f"api-{k}"]["parent"] == "spawn-api"
        state = base.state(name)
        for job, task_id, field, value in wrote["task_fields"]:
            if job == name:
                assert by_id[task_id].get(field) == value, (name, task_id, field)
        for job, field, value in wrote["state_fields"]:
            if job == name:
                assert state.get(field) == value, (name, field)
    wait_for(lambda: not list((base.path / "jobs").glob("*/*.tmp")), what="no temporary files")
    assert manager.proc is not None and manager.proc.poll() is None
