"""The dashboard beside 10,000 finished jobs: its jobs page, its JSON API and its start-up index.

Each figure stands next to what it saves: the page next to a trivial request to the same
server (/healthz, so the ratio is the page's own cost), the API page next to reading every
job's state.json directly (what a dashboard without an index would do per page), and the
start-up index next to reading every job's two files with plain `json`.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from common import PYTHON, base_folder
from scale import write_finished

CLI = str(Path(PYTHON).parent / "air-executor")
REQUESTS = 20
TARGET = 1.0  # seconds: the first page with 10,000 finished jobs


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> float:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as reply:
        reply.read()
    return time.perf_counter() - start


def _median_get(url: str, count: int) -> float:
    return statistics.median(_get(url) for _ in range(count))


def _raw_read_states(jobs: Path) -> float:
    start = time.perf_counter()
    for job in jobs.iterdir():
        json.loads((job / "state.json").read_bytes())
    return time.perf_counter() - start


def _raw_read_all(jobs: Path) -> float:
    start = time.perf_counter()
    for job in jobs.iterdir():
        json.loads((job / "state.json").read_bytes())
        json.loads((job / "tasks.json").read_bytes())
    return time.perf_counter() - start


def run(size: int) -> list[dict[str, Any]]:
    with base_folder() as store:
        write_finished(store.jobs_path, size)
        raw_all = _raw_read_all(store.jobs_path)  # also warms the page cache for both sides
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "AIR_EXECUTOR_BASE_PATH": str(store.base_path)}
        started = time.perf_counter()
        proc = subprocess.Popen(
            [CLI, "dashboard", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            index = _wait_indexed(url, started, proc)
            page = _median_get(f"{url}/", REQUESTS)
            api = _median_get(f"{url}/api/jobs?state=completed&name=done-0", REQUESTS)
            health = _median_get(f"{url}/healthz", REQUESTS)
            raw_states = statistics.median(_raw_read_states(store.jobs_path) for _ in range(3))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return [
        _row(f"dashboard jobs page, {size} finished jobs", page, health, f"< {TARGET:g} s", page < TARGET),
        _row(f"dashboard /api/jobs filtered, {size} finished jobs", api, raw_states, "", None),
        _row(f"dashboard start-up index, {size} finished jobs", index, raw_all, "", None),
    ]


def _wait_indexed(url: str, started: float, proc: subprocess.Popen[bytes]) -> float:
    while True:
        if proc.poll() is not None:
            raise RuntimeError("the dashboard exited at start")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=5) as reply:
                if json.loads(reply.read())["indexed"]:
                    return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(0.02)


def _row(figure: str, value: float, baseline: float, target: str, met: bool | None) -> dict[str, Any]:
    return {
        "figure": figure,
        "value": value,
        "baseline": baseline,
        "ratio": value / baseline,
        "unit": "s",
        "target": target,
        "met": met,
    }
