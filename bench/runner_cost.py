"""Per-task cost of the runner: one runner executing `true` vs a bare interpreter start."""

from __future__ import annotations

import statistics
import subprocess
from typing import Any

from common import PYTHON, base_folder, write_claimed

# A small driver process does the spawning: a child's peak RSS as the kernel reports it
# includes the memory of the process it was spawned from, and the driver is tiny.
_DRIVER = """
import os, sys, time
argv = sys.argv[1:]
t0 = time.perf_counter()
pid = os.posix_spawn(argv[0], argv, os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - t0
print(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status))
"""


def _measure(argv: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of one process, from wait4's rusage."""
    out = subprocess.run([PYTHON, "-S", "-c", _DRIVER, *argv], capture_output=True, text=True, check=True).stdout
    wall, cpu, rss, code = out.split()
    assert code == "0", argv
    return float(wall), float(cpu), float(rss)


def _warm_walls(store: Any, count: int) -> list[float]:
    """Wall seconds of runners forked by a fork server (README "Warm starts"), from the request to
    the server's word that the runner exited."""
    import json
    import os
    import time

    server = subprocess.Popen(
        [PYTHON, "-m", "air_executor_runner.forkserver"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert server.stdin is not None and server.stdout is not None
    try:
        assert json.loads(server.stdout.readline()).get("ready")
        walls = []
        for i in range(count):
            name = f"warm-{i}"
            launch_id = write_claimed(store, name, ["true"])
            request = {"args": [str(store.base_path), name, "t", launch_id], "env": dict(os.environ)}
            t0 = time.perf_counter()
            server.stdin.write((json.dumps(request) + "\n").encode())
            server.stdin.flush()
            pid = json.loads(server.stdout.readline())["pid"]
            ended = json.loads(server.stdout.readline())
            walls.append(time.perf_counter() - t0)
            assert ended == {"exit": pid, "code": 0}, ended
        return walls
    finally:
        server.stdin.close()
        server.wait(timeout=30)


def run(count: int) -> list[dict[str, Any]]:
    with base_folder() as store:
        ours = []
        for i in range(count):
            name = f"cost-{i}"
            launch_id = write_claimed(store, name, ["true"])
            ours.append(_measure([PYTHON, "-m", "air_executor_runner", str(store.base_path), name, "t", launch_id]))
        warm = _warm_walls(store, count)
    raw = [_measure([PYTHON, "-c", "pass"]) for _ in range(count)]
    rows = []
    bare = statistics.median(m[0] for m in raw)
    rows.append(
        {
            "figure": "runner per task, wall (warm)",
            "value": statistics.median(warm),
            "baseline": bare,
            "ratio": statistics.median(warm) / bare if bare else None,
            "unit": "s",
            "target": "<= 1.1 x interpreter start",
            "met": statistics.median(warm) <= 1.1 * bare,
        }
    )
    for index, (label, unit) in enumerate((("wall", "s"), ("cpu", "s"), ("peak memory", "MiB"))):
        o = statistics.median(m[index] for m in ours)
        b = statistics.median(m[index] for m in raw)
        row: dict[str, Any] = {
            "figure": f"runner per task, {label} (cold)",
            "value": o,
            "baseline": b,
            "ratio": o / b if b else None,
            "unit": unit,
            "target": "",
            "met": None,
        }
        if label == "wall":
            row.update(target="<= 1.5 x interpreter start", met=o <= 1.5 * b)
        if label == "peak memory":
            row.update(target="< 40 MiB", met=o < 40)
        rows.append(row)
    return rows
