"""Prometheus metrics of a real manager, and a health check that tells a stuck loop from a live one."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

import pytest
from conftest import Base, ManagerProcess, wait_for
from taskkit import free_port, metric, scrape, scrape_soon


def test_metrics_count_what_the_manager_did(base: Base) -> None:
    port = free_port()
    base.config(metrics_port=port)
    manager = ManagerProcess(base).start()
    try:
        base.submit(
            "mixed",
            [
                {"id": "a", "command": "true"},
                {"id": "b", "command": "sleep", "args": ["0.3"], "dependencies": ["a"]},
                {"id": "c", "command": "false", "dependencies": ["b"]},
            ],
        )
        base.submit("fine", [{"id": "t", "command": "true"}])
        assert base.wait_state("mixed")["state"] == "failed"
        assert base.wait_state("fine")["state"] == "completed"

        def settled() -> dict[Any, float] | None:
            samples = scrape_soon(port)
            done = metric(samples, "air_executor_jobs", state="completed") + metric(
                samples, "air_executor_jobs", state="failed"
            )
            return samples if done == 2 and metric(samples, "air_executor_runners") == 0 else None

        samples = wait_for(settled, what="both jobs to be counted as finished")
        assert metric(samples, "air_executor_tasks_finished_total", result="success") == 3
        assert metric(samples, "air_executor_tasks_finished_total", result="failed") == 1
        assert metric(samples, "air_executor_launch_errors_total") == 0
        assert metric(samples, "air_executor_jobs", state="completed") == 1
        assert metric(samples, "air_executor_jobs", state="failed") == 1
        assert metric(samples, "air_executor_tasks_ready") == 0
        # Every attempt that started was ready first; every attempt that ended ran for a while.
        assert metric(samples, "air_executor_dispatch_latency_seconds_count") == 4
        assert metric(samples, "air_executor_task_duration_seconds_count") == 4
        # `sleep 0.3` is the only attempt of 0.25 s or more.
        assert metric(samples, "air_executor_task_duration_seconds_bucket", le="0.1") == 3
        assert metric(samples, "air_executor_task_duration_seconds_bucket", le="+Inf") == 4
        assert metric(samples, "air_executor_task_duration_seconds_sum") >= 0.3
        assert metric(samples, "air_executor_pass_duration_seconds_count") > 0
        assert metric(samples, "air_executor_last_pass_timestamp_seconds") > 0
    finally:
        manager.stop()
    with pytest.raises(OSError):  # the endpoint goes with the manager
        scrape(port)


def test_the_gauges_show_runners_and_waiting_tasks(base: Base) -> None:
    port = free_port()
    base.config(metrics_port=port, max_concurrent_runners=1)
    gate = base.path / "gate"
    manager = ManagerProcess(base).start()
    try:
        wait = f"while [ ! -e {gate} ]; do sleep 0.05; done"
        base.submit("busy", [{"id": f"t{i}", "command": "sh", "args": ["-c", wait]} for i in range(3)])
        base.submit("waiting", [{"id": "t", "command": "true"}])
        samples = wait_for(
            lambda: (s := scrape_soon(port)) and metric(s, "air_executor_runners") == 1 and s,
            what="one runner to be counted",
        )
        wait_for(lambda: metric(scrape(port), "air_executor_tasks_ready") >= 1, what="a ready task to be counted")
        assert metric(samples, "air_executor_jobs", state="working") >= 1
        gate.touch()
        base.wait_state("busy")
        base.wait_state("waiting")
        wait_for(lambda: metric(scrape(port), "air_executor_runners") == 0, what="the runners to be gone")
    finally:
        manager.stop()


def test_a_port_in_use_leaves_the_jobs_running(base: Base) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        base.config(metrics_port=taken.getsockname()[1])
        manager = ManagerProcess(base).start()
        try:
            base.submit("runs", [{"id": "t", "command": "true"}])
            assert base.wait_state("runs")["state"] == "completed"
            assert "cannot serve metrics" in manager.log()
        finally:
            manager.stop()


def health(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:  # not listening yet
        return 0, {}


@pytest.mark.slow
def test_health_calls_a_stopped_loop_stuck_and_a_dead_manager_down(base: Base) -> None:
    base.config(health_stale_after=5)
    port = free_port()
    env = {**os.environ, "AIR_EXECUTOR_BASE_PATH": str(base.path)}
    server = subprocess.Popen(
        [sys.executable, "-m", "air_executor_manager.health", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    manager = ManagerProcess(base).start()
    assert manager.proc is not None
    try:
        code, body = wait_for(
            lambda: (h := health(port))[0] == 200 and h[1]["last_pass_seconds_ago"] is not None and h,
            what="the health endpoint to see the first pass",
        )
        assert body["manager"] == "running" and body["pid"] == manager.proc.pid
        assert body["last_pass_seconds_ago"] < 5

        manager.proc.send_signal(signal.SIGSTOP)  # holds the lock, but its loop stands still
        try:
            wait_for(lambda: health(port)[0] == 503, timeout=30, what="a stopped loop to be called stuck")
            assert health(port)[1]["manager"] == "stuck"
            check = subprocess.run(
                [sys.executable, "-m", "air_executor_manager.health", "--check", "--port", str(port)],
                capture_output=True,
                text=True,
            )
            assert check.returncode == 1
        finally:
            manager.proc.send_signal(signal.SIGCONT)
        wait_for(lambda: health(port)[0] == 200, timeout=30, what="the loop to be healthy again")

        manager.stop()
        code, body = health(port)
        assert code == 503 and body["manager"] == "down"
    finally:
        manager.stop()
        server.terminate()
        server.wait(timeout=10)
