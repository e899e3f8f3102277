"""Cost of a CLI call: `air-executor --version` and `add-task`, each against a bare interpreter start;
and what `submit --wait` costs while it waits on a big job.

Tasks call `add-task` once per subtask (README "Dynamic tasks"), so its start-up is paid
per file of a loop. Both rows run beside `python -c pass` with the same interpreter,
interleaved so that a slow moment of the machine hits ours and the baseline alike.

A CI job often waits on its work with `submit --wait`: on a job of 100,000 tasks that waiter
must not keep a core busy. Its CPU is sampled beside a naive waiter that parses the job's two
files every 0.2 s, the poll interval of a small job.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import psutil
from common import PYTHON, base_folder, submit

CLI = str(Path(PYTHON).parent / "air-executor")
TARGET = 2.0  # x a bare interpreter start


def _wall(argv: list[str], env: dict[str, str]) -> float:
    """Seconds from spawning `argv` to its exit (output to /dev/null); it must succeed."""
    devnull = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_WRONLY, 0) for fd in (1, 2)]
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=devnull)
    _, status = os.waitpid(pid, 0)
    wall = time.perf_counter() - start
    assert os.waitstatus_to_exitcode(status) == 0, argv
    return wall


def run(count: int) -> list[dict[str, Any]]:
    with base_folder() as store:
        submit(store, "loop", [{"id": "discover", "command": "true"}])
        env = {**os.environ, "AIR_EXECUTOR_BASE_PATH": str(store.base_path)}
        version, add_task, bare = [], [], []
        for n in range(count):
            bare.append(_wall([PYTHON, "-c", "pass"], env))
            version.append(_wall([CLI, "--version"], env))
            argv = [CLI, "add-task", "--job", "loop", "--id", f"load-{n}", "--dedup-key", f"load-{n}.csv"]
            add_task.append(_wall([*argv, "python", "load.py", f"{n}.csv"], env))
    baseline = statistics.median(bare)
    return [
        _row("CLI `air-executor --version`", version, baseline),
        _row("CLI `add-task`, one task", add_task, baseline),
    ]


def _row(figure: str, walls: list[float], baseline: float) -> dict[str, Any]:
    value = statistics.median(walls)
    return {
        "figure": figure,
        "value": value,
        "baseline": baseline,
        "ratio": value / baseline,
        "unit": "s",
        "target": f"<= {TARGET:g} x interpreter start",
        "met": value <= TARGET * baseline,
    }


NAIVE_WAITER = """
import json, sys, time
while True:
    for name in ("state.json", "tasks.json"):
        with open(sys.argv[1] + "/" + name) as f:
            json.load(f)
    time.sleep(0.2)
"""


def _cpu_share(proc: subprocess.Popen[bytes], seconds: float) -> float:
    """Percent of a core `proc` used over `seconds`."""
    handle = psutil.Process(proc.pid)
    before = handle.cpu_times()
    time.sleep(seconds)
    after = handle.cpu_times()
    return ((after.user + after.system) - (before.user + before.system)) / seconds * 100


def waiter(tasks: int, seconds: float) -> list[dict[str, Any]]:
    """CPU of `submit --wait` on a job of `tasks` tasks that waits (no manager runs), beside a naive waiter."""
    with base_folder() as store:
        spec = store.base_path / "big.json"
        job = {"name": "big", "tasks": [{"id": f"t{n}", "command": "true"} for n in range(tasks)]}
        spec.write_text(json.dumps(job))
        env = {**os.environ, "AIR_EXECUTOR_BASE_PATH": str(store.base_path)}
        ours = subprocess.Popen(
            [CLI, "submit", str(spec), "--wait"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 120
            while not (store.job_dir("big") / "state.json").exists():  # written last
                assert time.monotonic() < deadline and ours.poll() is None, "submit --wait never wrote the job"
                time.sleep(0.2)
            time.sleep(2)  # past writing the job: only waiting is measured
            value = _cpu_share(ours, seconds)
        finally:
            ours.send_signal(signal.SIGINT)
            ours.wait(timeout=30)
        naive = subprocess.Popen([PYTHON, "-c", NAIVE_WAITER, str(store.job_dir("big"))])
        try:
            time.sleep(1)
            baseline = _cpu_share(naive, seconds)
        finally:
            naive.kill()
            naive.wait()
    return [
        {
            "figure": f"CLI `submit --wait` waiting on a {tasks:,}-task job, CPU",
            "value": value,
            "baseline": baseline,
            "ratio": value / baseline if baseline else None,
            "unit": "% of a core",
            "target": "< 20% of a core",
            "met": value < 20,
        }
    ]
