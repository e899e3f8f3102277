"""Dispatch latency: client writes a job -> its first task's command starts."""

from __future__ import annotations

import time
from typing import Any

from common import (
    PYTHON,
    TASK_CLOCK,
    base_folder,
    manager_process,
    open_to_runner_containers,
    percentiles,
    run_runner_container,
    submit,
    task_clock,
    wait_done,
    wait_task_done,
    write_claimed,
)

RUNNER = [PYTHON, "-m", "air_executor_runner"]


def through_manager(launcher: str, count: int, **config: Any) -> list[float]:
    """Latency of `count` single-task jobs, one after another, through a running manager."""
    with base_folder(launcher=launcher, **config) as store, manager_process(store):
        latencies = []
        for i in range(count):
            name = f"lat-{i}"
            t0 = time.time()
            submit(store, name, [{"id": "t", "command": TASK_CLOCK[0], "args": TASK_CLOCK[1:]}])
            wait_done(store, name)
            latencies.append(task_clock(store, name) - t0)
        return latencies


def subprocess_baseline(count: int) -> list[float]:
    """The same runner started directly with subprocess on a claimed task."""
    import subprocess

    with base_folder() as store:
        latencies = []
        for i in range(count):
            name = f"raw-{i}"
            launch_id = write_claimed(store, name, TASK_CLOCK)
            t0 = time.time()
            subprocess.Popen([*RUNNER, str(store.base_path), name, "t", launch_id]).wait()
            latencies.append(task_clock(store, name) - t0)
        return latencies


def interpreter_baseline(count: int) -> list[float]:
    """A bare interpreter spawned directly: from the spawn to its first line of code running."""
    import subprocess

    latencies = []
    for _ in range(count):
        t0 = time.time()
        out = subprocess.run([PYTHON, "-c", "import time; print(time.time())"], capture_output=True, text=True)
        latencies.append(float(out.stdout) - t0)
    return latencies


CHAIN = 5
ONE_LINER = [PYTHON, "-c", "import time; print(time.time())"]


def chain_gaps(count: int, length: int = CHAIN, python: str = PYTHON, **config: Any) -> list[float]:
    """Gaps between the starts of consecutive tasks in chains of `length` dependent Python one-liners."""
    gaps: list[float] = []
    with base_folder(**config) as store, manager_process(store):
        for run in range(max(count // length, 2)):
            name = f"chain-{run}"
            tasks = [
                {"id": f"s{i}", "command": python, "args": ONE_LINER[1:], "dependencies": [f"s{i - 1}"] * (i > 0)}
                for i in range(length)
            ]
            submit(store, name, tasks)
            wait_done(store, name)
            starts = [task_clock(store, name, f"s{i}") for i in range(length)]
            gaps += [after - before for before, after in zip(starts, starts[1:], strict=False)]
    return gaps


def raw_chain_gaps(count: int) -> list[float]:
    """The same one-liners spawned one after another, each when the one before has exited."""
    import subprocess

    gaps: list[float] = []
    for _ in range(max(count // CHAIN, 2)):
        starts = [float(subprocess.run(ONE_LINER, capture_output=True, text=True).stdout) for _ in range(CHAIN)]
        gaps += [after - before for before, after in zip(starts, starts[1:], strict=False)]
    return gaps


DOCKER_CHAIN = 6


def raw_docker_chain_gaps(count: int, image: str) -> list[float]:
    """The same one-liner in the runner image through sequential `docker run --rm` (the SDK's run)."""
    import docker

    client = docker.from_env()
    gaps: list[float] = []
    for _ in range(max(count // DOCKER_CHAIN, 2)):
        starts = []
        for _ in range(DOCKER_CHAIN):
            out = client.containers.run(image, ONE_LINER[1:], entrypoint=["python"], remove=True, user="10001:10001")
            starts.append(float(out))
        gaps += [after - before for before, after in zip(starts, starts[1:], strict=False)]
    return gaps


def docker_baseline(count: int, image: str) -> list[float]:
    """The same runner image run directly through the Docker SDK on a claimed task."""
    import docker

    client = docker.from_env()
    with base_folder() as store:
        latencies = []
        for i in range(count):
            name = f"raw-{i}"
            launch_id = write_claimed(store, name, TASK_CLOCK)
            open_to_runner_containers(store, name)
            t0 = time.time()
            container = run_runner_container(client, image, store, name, launch_id)
            container.wait()
            wait_task_done(store, name)
            latencies.append(task_clock(store, name) - t0)
            container.remove(force=True)
        return latencies


def run(count: int, docker_count: int, image: str | None) -> list[dict[str, Any]]:
    rows = []
    warm, cold = through_manager("subprocess", count), through_manager("subprocess", count, warm_start=False)
    raw, bare = subprocess_baseline(count), interpreter_baseline(count)
    rows.append(
        _row(
            "dispatch latency p50, subprocess (warm)",
            warm,
            bare,
            "p50",
            "s",
            target="< bare interpreter spawn",
            ok=lambda o, b: o < b,
        )
    )
    rows.append(_row("dispatch latency p95, subprocess (warm)", warm, bare, "p95", "s"))
    rows.append(
        _row(
            "dispatch latency p50, subprocess (cold)",
            cold,
            raw,
            "p50",
            "s",
            target="within 0.050 s of a raw runner spawn",
            ok=lambda o, b: o - b <= 0.050,
        )
    )
    rows.append(
        _row(
            "chain of 5: median gap between starts, subprocess (warm)",
            chain_gaps(count),
            raw_chain_gaps(count),
            "p50",
            "s",
            target="within 0.020 s of sequential raw spawns",
            ok=lambda o, b: o - b <= 0.020,
        )
    )
    if image:
        ours, raw = through_manager("docker", docker_count), docker_baseline(docker_count, image)
        rows.append(
            _row(
                "dispatch latency p50, docker",
                ours,
                raw,
                "p50",
                "s",
                target="<= 1.25 x baseline",
                ok=lambda o, b: o <= 1.25 * b,
            )
        )
        rows.append(_row("dispatch latency p95, docker", ours, raw, "p95", "s"))
        rows.append(
            _row(
                f"chain of {DOCKER_CHAIN}: median gap between starts, docker (warm)",
                chain_gaps(docker_count, DOCKER_CHAIN, "python", launcher="docker", runner_image=image),
                raw_docker_chain_gaps(docker_count, image),
                "p50",
                "s",
                target="<= 0.4 x sequential docker run",
                ok=lambda o, b: o <= 0.4 * b,
            )
        )
    return rows


def _row(
    name: str, ours: list[float], raw: list[float], stat: str, unit: str, target: str = "", ok: Any = None
) -> dict[str, Any]:
    o, b = percentiles(ours)[stat], percentiles(raw)[stat]
    return {
        "figure": name,
        "value": o,
        "baseline": b,
        "ratio": o / b if b else None,
        "unit": unit,
        "target": target,
        "met": None if ok is None else bool(ok(o, b)),
        "samples": len(ours),
    }
