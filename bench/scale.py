"""Scale: the manager's time per poll and its memory beside 100 / 1,000 / 10,000 finished jobs.

Each size runs in a fresh process (`python scale.py probe BASE`) so memory figures are the
manager's own. A "poll" is one pass of the loop over the active jobs, as the fallback timer runs it.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import PYTHON, base_folder

ACTIVE = 10
POLLS = 30


def write_finished(jobs_path: Path, count: int) -> None:
    """Finished jobs written straight to disk (fast), as a long-lived base folder would hold."""
    stamp = "2025-10-02T07:30:15.000000Z"
    for i in range(count):
        job = jobs_path / f"done-{i:05d}"
        (job / "logs").mkdir(parents=True)
        (job / "state.json").write_text(
            json.dumps({"id": str(i), "name": job.name, "state": "completed", "created_at": stamp, "updated_at": stamp})
        )
        (job / "tasks.json").write_text(
            json.dumps(
                [
                    {
                        "id": "t",
                        "job_name": job.name,
                        "command": "true",
                        "args": [],
                        "dependencies": [],
                        "status": "completed",
                        "created_at": stamp,
                        "started_at": stamp,
                        "completed_at": stamp,
                        "error": None,
                    }
                ]
            )
        )


def probe(base: str) -> dict[str, float]:
    """In a fresh process: start a manager's state on `base`, then time its polls."""
    import psutil
    from air_executor.client import cancel_job, create_job
    from air_executor.config import Config
    from air_executor.core.clock import now_iso
    from air_executor_manager.manager import Manager
    from air_executor_manager.watcher import ALL, RESCAN, Watcher

    config = Config.load(base_path=base)
    manager = Manager(config)
    manager.watcher = Watcher(manager.store.jobs_path)
    for i in range(ACTIVE):
        # Active, but with nothing ready for an hour: a poll then has only itself to do.
        # (`not_before` is what a retry's back-off writes; the client does not take it from users.)
        create_job(manager.store, f"active-{i}", [{"id": "long", "command": "sleep", "args": ["300"]}])
        tasks_file = manager.store.job_dir(f"active-{i}") / "tasks.json"
        tasks = json.loads(tasks_file.read_text())
        tasks[0]["not_before"] = now_iso(time.time() + 3600)
        tasks_file.write_text(json.dumps(tasks))
    t0 = time.perf_counter()
    manager.tick({ALL: {RESCAN}})  # start-up: every job read once
    startup = time.perf_counter() - t0
    times = []
    for _ in range(POLLS):
        manager.last_sweep = 0.0  # make this pass the periodic one
        t0 = time.perf_counter()
        manager.tick({})
        times.append(time.perf_counter() - t0)
    rss = psutil.Process().memory_info().rss / 2**20
    for i in range(ACTIVE):
        cancel_job(manager.store, f"active-{i}")
    manager.tick({ALL: {RESCAN}})
    return {"poll": statistics.median(times), "startup": startup, "rss": rss}


def run(sizes: list[int]) -> list[dict[str, Any]]:
    results = {}
    for size in sizes:
        with base_folder(poll_interval=5) as store:
            write_finished(store.jobs_path, size)
            out = subprocess.run(
                [PYTHON, __file__, "probe", str(store.base_path)],
                capture_output=True,
                text=True,
                check=True,
                timeout=900,
            )
            results[size] = json.loads(out.stdout.strip().splitlines()[-1])
    small, rows = results[sizes[0]], []
    for size in sizes:
        r = results[size]
        met = r["poll"] <= 2 * small["poll"] if size == sizes[-1] else None
        rows.append(
            {
                "figure": f"manager poll, {size} finished + {ACTIVE} active jobs",
                "value": r["poll"],
                "baseline": small["poll"],
                "ratio": r["poll"] / small["poll"],
                "unit": "s",
                "target": f"<= 2 x {sizes[0]} jobs" if size == sizes[-1] else "",
                "met": met,
            }
        )
        rows.append(
            {
                "figure": f"manager memory, {size} finished jobs",
                "value": r["rss"],
                "baseline": small["rss"],
                "ratio": r["rss"] / small["rss"],
                "unit": "MiB",
                "target": "",
                "met": None,
            }
        )
        rows.append(
            {
                "figure": f"manager start-up scan, {size} finished jobs",
                "value": r["startup"],
                "baseline": small["startup"],
                "ratio": r["startup"] / small["startup"],
                "unit": "s",
                "target": "",
                "met": None,
            }
        )
    return rows


if __name__ == "__main__" and sys.argv[1:2] == ["probe"]:
    print(json.dumps(probe(sys.argv[2])))
