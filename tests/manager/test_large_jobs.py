"""Large jobs and many jobs: a task's cost does not grow with its job, the files follow the journal
within max_file_lag, and a free slot goes to the job that has the fewest runners.

Costs are counted, not timed: bytes a process reads (/proc/self/io), records left behind,
launch order from the recorded timestamps.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time

from conftest import Base, ManagerProcess, parse_time, wait_for

# Queue one task through the Python API (as add-task does) and print the bytes this took to read.
ADD_ONE = """
import sys
from air_executor.client import Client
def read_bytes():
    for line in open("/proc/self/io"):
        if line.startswith("rchar:"):
            return int(line.split()[1])
client = Client(sys.argv[1])
client.add_task(sys.argv[2], "true", id="warm-up")  # builds the job's index once (journal.py)
before = read_bytes()
client.add_task(sys.argv[2], "true", id="measured", dedup_key="k")
print(read_bytes() - before)
"""


def _bytes_read_by_add_task(base: Base, name: str, tasks: int) -> int:
    base.submit(name, [{"id": f"t{i}", "command": "echo", "args": ["x" * 100]} for i in range(tasks)])
    out = subprocess.run(
        [sys.executable, "-c", ADD_ONE, str(base.path), name], capture_output=True, text=True, check=True, timeout=120
    )
    return int(out.stdout.strip())


def test_queuing_a_task_reads_as_much_in_a_job_of_5000_tasks_as_in_one_of_50(base: Base) -> None:
    """add-task checks ids, dedup keys and the count in the job's index: what it reads does not grow
    with the job (a tasks.json of 5,000 tasks is about 1 MB)."""
    base.config(max_tasks_per_job=10_000)
    small = _bytes_read_by_add_task(base, "small", 50)
    large = _bytes_read_by_add_task(base, "large", 5000)
    assert (base.job_dir("large") / "tasks.json").stat().st_size > 500_000
    assert large <= small + 16_384, (small, large)
    assert {"warm-up", "measured"} <= {t["id"] for t in base.tasks("large")}


def test_records_are_folded_and_removed_once_the_files_hold_them(base: Base, manager: ManagerProcess) -> None:
    """A job whose tasks queue more tasks ends with every attempt and queued task in tasks.json, and no
    record left in runs/ or queue/."""
    spawn = "for i in 1 2 3 4 5; do air-executor add-task --id sub-$i echo sub $i; done"
    base.submit("folded", [{"id": "spawner", "command": "sh", "args": ["-c", spawn]}])
    assert base.wait_state("folded")["state"] == "completed", manager.log()
    tasks = base.tasks_file("folded")
    assert sorted(t["id"] for t in tasks) == ["spawner", *(f"sub-{i}" for i in range(1, 6))]
    assert {t["status"] for t in tasks} == {"completed"}
    wait_for(
        lambda: (
            not list((base.job_dir("folded") / "runs").iterdir())
            and not list((base.job_dir("folded") / "queue").iterdir())
        ),
        what="the journal to be emptied",
    )


def test_tasks_json_follows_the_journal_within_max_file_lag(base: Base) -> None:
    """While a big job runs, what the journal says at any moment is in tasks.json (what a seed-style reader
    opens) no later than max_file_lag after, plus one pass."""
    base.config(max_file_lag=1, max_concurrent_runners=4)
    lag = 1.0
    manager = ManagerProcess(base).start()
    try:
        base.submit(
            "steady", [{"id": f"t{i}", "command": "sleep", "args": ["0.05"]} for i in range(400)], max_parallel=4
        )
        checks = 0
        while checks < 5:
            seen = {t["id"] for t in base.tasks("steady") if t["status"] == "completed"}
            if not seen:
                time.sleep(0.1)
                continue
            taken = time.monotonic()
            wait_for(
                lambda seen=seen: seen <= {t["id"] for t in base.tasks_file("steady") if t["status"] == "completed"},
                timeout=lag + 30,
                what="tasks.json to catch up",
            )
            assert time.monotonic() - taken <= lag + 2.0  # the contract: max_file_lag, plus one pass
            checks += 1
        assert base.wait_state("steady", timeout=300)["state"] == "completed", manager.log()
    finally:
        manager.stop()


def test_a_late_small_job_gets_the_next_free_slot_beside_a_big_one(base: Base) -> None:
    """Fair share: with a job of 200 tasks holding every slot, a single-task job submitted later starts
    at the next free slot: no more than the slots' worth of big-job launches come between."""
    base.config(max_concurrent_runners=3)
    manager = ManagerProcess(base).start()
    try:
        base.submit("big", [{"id": f"t{i}", "command": "sleep", "args": ["0.1"]} for i in range(200)], max_parallel=3)
        wait_for(
            lambda: sum(1 for t in base.tasks("big") if t["status"] == "completed") >= 6, what="the big job to run"
        )
        base.submit("small", [{"id": "only", "command": "true"}])
        submitted = parse_time(base.state("small")["created_at"])
        assert base.wait_state("small")["state"] == "completed", manager.log()
        started = parse_time(base.task("small", "only")["launched_at"])
        between = [
            t["id"]
            for t in base.tasks("big")
            if t.get("launched_at") and submitted <= parse_time(t["launched_at"]) < started
        ]
        assert len(between) < 3, between
    finally:
        manager.stop()


def test_a_task_queues_hundreds_of_subtasks_that_all_run(base: Base, manager: ManagerProcess) -> None:
    """A task that queues 300 tasks into its own job, one call each (dedup keys, dependencies): all run once."""
    code = (
        "from air_executor.client import Client\n"
        "client = Client()\n"
        "for i in range(300):\n"
        "    deps = [f'sub-{i - 1}'] if i % 50 else []\n"
        "    client.add_task('fan', 'true', id=f'sub-{i}', dedup_key=f'k{i}', dependencies=deps)\n"
        "assert client.add_task('fan', 'true', id='again', dedup_key='k7') == 'sub-7'\n"
    )
    base.config(max_tasks_per_job=1000)
    base.submit("fan", [{"id": "spawner", "command": sys.executable, "args": ["-c", code]}])
    assert base.wait_state("fan", timeout=300)["state"] == "completed", manager.log()
    tasks = base.tasks_file("fan")
    assert len(tasks) == 301 and len({t["id"] for t in tasks}) == 301
    assert all(t["attempts"] == 1 and t["status"] == "completed" for t in tasks)
    assert json.loads((base.job_dir("fan") / "ids" / ".count").read_text()) == 301


def test_an_outside_writer_under_the_lock_still_joins_a_running_job(base: Base, manager: ManagerProcess) -> None:
    """A task appended to tasks.json by an outside writer following the lock protocol (README "The job
    lock") runs; the journal's records are applied on top, so nothing the manager knew is lost."""
    base.submit("joined", [{"id": f"t{i}", "command": "sleep", "args": ["0.05"]} for i in range(20)], max_parallel=2)
    wait_for(lambda: any(t["status"] == "completed" for t in base.tasks("joined")), what="the job to run")
    extra = {
        "id": "extra",
        "job_name": "joined",
        "command": "true",
        "args": [],
        "dependencies": [],
        "status": "pending",
        "created_at": "2025-10-02T07:30:15.000000Z",
        "started_at": None,
        "completed_at": None,
        "error": None,
    }
    path = base.job_dir("joined") / "tasks.json"
    with open(base.job_dir("joined") / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        tasks = json.loads(path.read_text())
        tmp = base.job_dir("joined") / ".tasks.json.outside.tmp"
        tmp.write_text(json.dumps([*tasks, extra], indent=2))
        os.replace(tmp, path)
    assert base.wait_state("joined", timeout=120)["state"] == "completed", manager.log()
    tasks = base.tasks_file("joined")
    assert len(tasks) == 21 and {t["status"] for t in tasks} == {"completed"}
    assert all(t.get("attempts") == 1 for t in tasks), [t for t in tasks if t.get("attempts") != 1]
