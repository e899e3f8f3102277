"""Idle manager: CPU and memory over a quiet period, against an idle bare interpreter."""

from __future__ import annotations

import subprocess
import time
from typing import Any

import psutil
from common import PYTHON, base_folder, manager_process


def _usage(proc: psutil.Process, seconds: float) -> tuple[float, float]:
    before = proc.cpu_times()
    time.sleep(seconds)
    after = proc.cpu_times()
    cpu = (after.user + after.system) - (before.user + before.system)
    return cpu / seconds * 100, proc.memory_info().rss / 2**20


def run(seconds: float) -> list[dict[str, Any]]:
    with base_folder() as store, manager_process(store) as manager:
        time.sleep(1)  # past start-up
        ours = _usage(psutil.Process(manager.pid), seconds)
    bare = subprocess.Popen([PYTHON, "-c", f"import time; time.sleep({seconds + 5})"])
    try:
        time.sleep(0.5)
        raw = _usage(psutil.Process(bare.pid), seconds)
    finally:
        bare.kill()
        bare.wait()
    return [
        {
            "figure": f"idle manager CPU over {seconds:g} s",
            "value": ours[0],
            "baseline": raw[0],
            "ratio": None,
            "unit": "% of a core",
            "target": "< 1%",
            "met": ours[0] < 1.0,
        },
        {
            "figure": "idle manager memory",
            "value": ours[1],
            "baseline": raw[1],
            "ratio": ours[1] / raw[1],
            "unit": "MiB",
            "target": "< 80 MiB",
            "met": ours[1] < 80,
        },
    ]
