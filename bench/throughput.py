"""Throughput: many no-op tasks over many jobs, through the manager vs a plain loop of runners."""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from common import (
    PYTHON,
    base_folder,
    manager_process,
    open_to_runner_containers,
    run_runner_container,
    submit,
    wait_done,
    write_claimed,
)

RUNNER = [PYTHON, "-m", "air_executor_runner"]


def through_manager(launcher: str, jobs: int, per_job: int, concurrency: int) -> float:
    """Tasks per second: `jobs` jobs of `per_job` sequential no-op tasks, `concurrency` runners at once."""
    with base_folder(launcher=launcher, max_concurrent_runners=concurrency) as store, manager_process(store):
        t0 = time.monotonic()
        for j in range(jobs):
            submit(store, f"tp-{j}", [{"id": f"t{i}", "command": "true"} for i in range(per_job)])
        for j in range(jobs):
            assert wait_done(store, f"tp-{j}", timeout=600)["state"] == "completed"
        return jobs * per_job / (time.monotonic() - t0)


def plain_loop(launcher: str, jobs: int, per_job: int, concurrency: int, image: str | None) -> float:
    """The same runners, same concurrency, driven by a thread pool: each worker runs whole jobs in order."""
    with base_folder() as store:
        claimed = [
            [(f"raw-{j}-{i}", write_claimed(store, f"raw-{j}-{i}", ["true"])) for i in range(per_job)]
            for j in range(jobs)
        ]
        client = None
        if launcher == "docker":
            import docker

            client = docker.from_env()
            for job in claimed:
                for name, _ in job:
                    open_to_runner_containers(store, name)

        def run_job(job: list[tuple[str, str]]) -> None:
            for name, launch_id in job:
                args = [str(store.base_path), name, "t", launch_id]
                if client is None:
                    subprocess.run([*RUNNER, *args], check=True)
                else:
                    container = run_runner_container(client, image or "", store, name, launch_id)
                    container.wait()
                    container.remove(force=True)

        t0 = time.monotonic()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(run_job, claimed))
        return jobs * per_job / (time.monotonic() - t0)


def run(sub: tuple[int, int], dock: tuple[int, int], concurrency: int, image: str | None) -> list[dict[str, Any]]:
    rows = []
    jobs, per_job = sub
    ours = through_manager("subprocess", jobs, per_job, concurrency)
    raw = plain_loop("subprocess", jobs, per_job, concurrency, None)
    rows.append(_row(f"throughput, subprocess ({jobs * per_job} tasks / {jobs} jobs)", ours, raw))
    if image:
        jobs, per_job = dock
        ours = through_manager("docker", jobs, per_job, concurrency)
        raw = plain_loop("docker", jobs, per_job, concurrency, image)
        rows.append(_row(f"throughput, docker ({jobs * per_job} tasks / {jobs} jobs)", ours, raw))
    return rows


def _row(name: str, ours: float, raw: float) -> dict[str, Any]:
    return {
        "figure": name,
        "value": ours,
        "baseline": raw,
        "ratio": ours / raw,
        "unit": "tasks/s",
        "target": ">= 0.8 x baseline",
        "met": ours >= 0.8 * raw,
    }
