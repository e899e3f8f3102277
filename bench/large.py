"""Large jobs and many jobs: what a task costs must not grow with its job, and no job starves another.

- one job of N no-op tasks (max_parallel 10) against one of 100, and against the plain loop
  (the same runners driven by a thread pool, throughput.py);
- building a job with N add-task calls made from inside a running task, and with one submit,
  at N and 10 N (linear: the time per task stays the same);
- the dispatch latency of a new single-task job beside 1,000 active jobs of 100 pending tasks
  each (waiting on a retry an hour away), against the same beside one active job;
- a new single-task job beside a job of 5,000 tasks at full parallelism: how long until it
  starts, against the big job's runner turnaround;
- the manager's memory holding the big job.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import psutil
from air_executor.client import create_job
from common import PYTHON, TASK_CLOCK, base_folder, manager_process, percentiles, task_clock, wait_done
from throughput import plain_loop

NOOP = {"command": "true"}
# A task that queues `n` tasks into its own job through the Python API, one call each, and prints how long it took.
SPAWNER = (
    "import sys, time\n"
    "from air_executor.client import Client\n"
    "client, job, n = Client(), sys.argv[1], int(sys.argv[2])\n"
    "t0 = time.perf_counter()\n"
    "for i in range(n):\n"
    "    client.add_task(job, 'true', id=f'sub-{i}')\n"
    "print(time.perf_counter() - t0)\n"
)


def one_job_rate(tasks: int, parallel: int = 10) -> tuple[float, float]:
    """Tasks per second of one job of `tasks` no-op tasks; and the manager's peak memory (MiB)."""
    with base_folder(max_concurrent_runners=parallel) as store, manager_process(store) as manager:
        proc = psutil.Process(manager.pid)
        t0 = time.monotonic()
        create_job(store, "big", [{"id": f"t{i}", **NOOP} for i in range(tasks)], max_parallel=parallel)
        peak = 0.0
        while True:
            peak = max(peak, proc.memory_info().rss / 2**20)
            try:
                if wait_done(store, "big", timeout=1.0)["state"] == "completed":
                    break
            except TimeoutError:
                continue
        return tasks / (time.monotonic() - t0), peak


def build_by_add_task(count: int) -> float:
    """Seconds for a task to queue `count` tasks into its own job, one add-task call each."""
    with base_folder(max_tasks_per_job=100_000) as store, manager_process(store):
        create_job(store, "grow", [{"id": "spawner", "command": PYTHON, "args": ["-c", SPAWNER, "grow", str(count)]}])
        state = wait_done(store, "grow", timeout=3600)
        assert state["state"] == "completed", state
        return float(store.log_path("grow", "spawner").read_text().split()[0])


def build_by_submit(count: int) -> float:
    with base_folder() as store:
        tasks = [{"id": f"t{i}", **NOOP} for i in range(count)]
        t0 = time.perf_counter()
        create_job(store, "submitted", tasks)
        return time.perf_counter() - t0


def latency_beside(active: int, per_job: int, probes: int) -> float:
    """Median dispatch latency of new single-task jobs beside `active` jobs of `per_job` pending tasks.

    Each active job's tasks wait on a first one that failed and retries in an hour: the jobs stay
    active (in the manager's memory, their tasks pending) but start nothing, so the runner slots
    are free and what the probe waits for is the manager's own work, beside 1 job or 1,000.
    """
    gate = {"id": "gate", "command": "false", "retries": 3, "retry_delay": 3600}
    waiting = [{"id": f"t{i}", **NOOP, "dependencies": ["gate"]} for i in range(per_job - 1)]
    with base_folder(max_concurrent_runners=10) as store:
        for j in range(active):
            create_job(store, f"busy-{j}", [gate, *waiting])
        with manager_process(store):
            _wait_gates_failed(store, active)
            latencies = []
            for i in range(probes):
                name = f"probe-{i}"
                t0 = time.time()
                create_job(store, name, [{"id": "t", "command": TASK_CLOCK[0], "args": TASK_CLOCK[1:]}])
                wait_done(store, name, timeout=120)
                latencies.append(task_clock(store, name) - t0)
        return percentiles(latencies)["p50"]


def fair_share(big: int, probes: int) -> tuple[float, float]:
    """(median wait of a new job to start, median runner turnaround of the big job's tasks)."""
    sleeper = {"command": "sleep", "args": ["0.2"]}
    with base_folder(max_concurrent_runners=10) as store:
        create_job(store, "huge", [{"id": f"t{i}", **sleeper} for i in range(big)], max_parallel=10)
        with manager_process(store):
            _wait_started(store, "huge")
            waits = []
            for i in range(probes):
                name = f"late-{i}"
                t0 = time.time()
                create_job(store, name, [{"id": "t", "command": TASK_CLOCK[0], "args": TASK_CLOCK[1:]}])
                wait_done(store, name, timeout=120)
                waits.append(task_clock(store, name) - t0)
            turnaround = _turnaround(store.read_tasks("huge"))
        return statistics.median(waits), turnaround


def _turnaround(tasks: list[dict[str, Any]]) -> float:
    """Median time a slot of the big job is held: launch to the end of its attempt."""
    from air_executor.core.clock import parse_iso

    spans = []
    for task in tasks:
        launched, ended = parse_iso(task.get("launched_at")), parse_iso(task.get("completed_at"))
        if launched is not None and ended is not None and task.get("status") == "completed":
            spans.append(ended - launched)
    return statistics.median(spans)


def _wait_gates_failed(store: Any, active: int) -> None:
    """Until every busy job's first task has failed once and waits for its retry."""
    left = {f"busy-{j}" for j in range(active)}
    deadline = time.monotonic() + 1800
    while left and time.monotonic() < deadline:
        for name in sorted(left):
            try:
                gate = store.read_tasks(name)[0]
            except Exception:  # not readable yet
                continue
            if gate.get("attempts") and gate.get("status") == "pending":
                left.discard(name)
        time.sleep(0.5)
    if left:
        raise TimeoutError(f"{len(left)} busy jobs never failed their first task")


def _wait_started(store: Any, name: str) -> None:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            if any(t.get("started_at") for t in store.read_tasks(name)):
                return
        except Exception:  # not readable yet
            pass
        time.sleep(0.05)
    raise TimeoutError(f"job {name} never started")


def run(settings: dict[str, Any]) -> list[dict[str, Any]]:
    small, large = settings["sizes"]
    rows = []
    small_rate, small_rss = one_job_rate(small)
    large_rate, large_rss = one_job_rate(large)
    plain = plain_loop("subprocess", 10, max(small // 10, 1), 10, None)
    rows.append(
        _row(f"one job of {small} tasks", small_rate, plain, "tasks/s", ">= 0.8 x baseline", small_rate >= 0.8 * plain)
    )
    rows.append(
        _row(
            f"one job of {large} tasks, vs {small}",
            large_rate,
            small_rate,
            "tasks/s",
            ">= 0.7 x baseline",
            large_rate >= 0.7 * small_rate,
        )
    )
    rows.append(
        _row(
            f"one job of {large} tasks, vs plain loop",
            large_rate,
            plain,
            "tasks/s",
            ">= 0.8 x baseline",
            large_rate >= 0.8 * plain,
        )
    )
    rows.append(_row(f"manager memory, job of {large} tasks", large_rss, small_rss, "MiB", "", None))
    n, ten_n = settings["build"]
    per_small = build_by_add_task(n) / n
    per_large = build_by_add_task(ten_n) / ten_n
    rows.append(
        _row(
            f"add-task from a task, per task, {ten_n} vs {n}",
            per_large,
            per_small,
            "s",
            "<= 1.25 x baseline",
            per_large <= 1.25 * per_small,
        )
    )
    sub_small = build_by_submit(n * 10) / (n * 10)
    sub_large = build_by_submit(ten_n * 10) / (ten_n * 10)
    rows.append(
        _row(
            f"submit, per task, {ten_n * 10} vs {n * 10} tasks",
            sub_large,
            sub_small,
            "s",
            "<= 1.25 x baseline",
            sub_large <= 1.25 * sub_small,
        )
    )
    active, per_job, probes = settings["many"]
    one = latency_beside(1, per_job, probes)
    many = latency_beside(active, per_job, probes)
    rows.append(
        _row(
            f"new job dispatch p50 beside {active} active jobs, vs 1",
            many,
            one,
            "s",
            "<= 2 x baseline",
            many <= 2 * one,
        )
    )
    big, fair_probes = settings["fair"]
    wait, turnaround = fair_share(big, fair_probes)
    rows.append(
        _row(
            f"new job start beside a {big}-task job, vs its runner turnaround",
            wait,
            turnaround,
            "s",
            "<= 1 x baseline",
            wait <= turnaround,
        )
    )
    return rows


def _row(name: str, value: float, baseline: float, unit: str, target: str, met: bool | None) -> dict[str, Any]:
    return {
        "figure": name,
        "value": value,
        "baseline": baseline,
        "ratio": value / baseline,
        "unit": unit,
        "target": target,
        "met": met,
    }
