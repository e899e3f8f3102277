"""Cost of a CLI call: `air-executor --version` and `add-task`, each against a bare interpreter start.

Tasks call `add-task` once per subtask (README "Dynamic tasks"), so its start-up is paid
per file of a loop. Both rows run beside `python -c pass` with the same interpreter,
interleaved so that a slow moment of the machine hits ours and the baseline alike.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any

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
