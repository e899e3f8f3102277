"""What the manager counts as it works, for Prometheus (`/metrics` on `metrics_port`), and its heartbeat.

A scrape never reads a job file: counters and histograms move as the loop works, and the
gauges (runners, jobs by state, ready tasks) are taken from what the manager holds in memory
when Prometheus asks. The heartbeat is `<base>/manager.heartbeat`, touched after each pass (at
most once a second): the container's health check calls a manager whose loop has not finished a
pass for `health_stale_after` seconds unhealthy, even while it holds the manager lock.
"""

from __future__ import annotations

import os
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from air_executor.core.clock import parse_iso
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from air_executor_manager.manager import Manager

HEARTBEAT = "manager.heartbeat"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200)
PASS_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5)


class Metrics:
    """The manager's instruments, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.finished = Counter(
            "air_executor_tasks_finished", "Task attempts that ended, by result", ["result"], registry=r
        )
        self.launch_errors = Counter("air_executor_launch_errors", "Runners that could not be started", registry=r)
        self.dispatch = Histogram(
            "air_executor_dispatch_latency_seconds",
            "From a task being ready to its runner starting it",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.duration = Histogram(
            "air_executor_task_duration_seconds",
            "From a task's start to its end, per attempt",
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.pass_duration = Histogram(
            "air_executor_pass_duration_seconds",
            "How long one pass of the manager's loop took",
            buckets=PASS_BUCKETS,
            registry=r,
        )
        self.last_pass = Gauge("air_executor_last_pass_timestamp_seconds", "When the last pass ended", registry=r)
        self._heartbeat_at = 0.0

    def watch(self, manager: Manager) -> None:
        """Gauges read from the manager's memory at each scrape."""
        self.registry.register(_State(manager))

    def serve(self, host: str, port: int) -> Callable[[], None]:
        """Serve /metrics in a thread; returns what stops it."""
        server, thread = start_http_server(port, addr=host, registry=self.registry)

        def stop() -> None:
            server.shutdown()
            thread.join(timeout=5)

        return stop

    def started(self, ready_since: float | None, record: dict[str, Any] | None) -> None:
        """A runner started its task: how long the task waited since it was ready."""
        at = parse_iso(record.get("started_at")) if record else None
        if ready_since is not None and at is not None:
            self.dispatch.observe(max(at - ready_since, 0.0))

    def ended(self, record: dict[str, Any]) -> None:
        """An attempt of ours ended: its result, and how long it ran."""
        self.finished.labels(str(record.get("result") or "unknown")).inc()
        details = record.get("details")
        wall = details.get("wall_time") if isinstance(details, dict) else None
        if not isinstance(wall, int | float) or isinstance(wall, bool):
            start, end = parse_iso(record.get("started_at")), parse_iso(record.get("ended_at"))
            wall = end - start if start is not None and end is not None else None
        if wall is not None and wall >= 0:
            self.duration.observe(wall)

    def pass_done(self, started: float, base: Path) -> None:
        now = time.time()
        self.pass_duration.observe(time.monotonic() - started)
        self.last_pass.set(now)
        if now - self._heartbeat_at >= 1.0:
            self._heartbeat_at = now
            beat(base)


def beat(base: Path) -> None:
    """Touch the heartbeat (made if absent)."""
    path = base / HEARTBEAT
    try:
        os.utime(path)
    except FileNotFoundError:
        path.touch()
    except OSError:
        pass  # a full disk must not stop the loop; the health check will say so in time


def heartbeat_age(base: Path) -> float | None:
    """Seconds since the manager's last pass ended; None when it never beat."""
    try:
        return max(time.time() - (base / HEARTBEAT).stat().st_mtime, 0.0)
    except OSError:
        return None


class _State(Collector):
    def __init__(self, manager: Manager) -> None:
        self.manager = manager

    def collect(self) -> Iterator[Any]:
        manager = self.manager
        runners = GaugeMetricFamily("air_executor_runners", "Runners not yet exited")
        runners.add_metric([], manager.book.busy())
        yield runners
        jobs = GaugeMetricFamily("air_executor_jobs", "Jobs the manager knows, by state", labels=["state"])
        states: Tally[str] = Tally()
        ready = 0
        for entry in list(manager.jobs.values()):
            model = entry.model
            if model is not None:
                states[str(model.state.get("state"))] += 1
                ready += len(model.ready)
            elif entry.done:
                states[entry.final or "finished"] += 1
        for state, count in sorted(states.items()):
            jobs.add_metric([state], count)
        yield jobs
        paused = GaugeMetricFamily(
            "air_executor_launches_paused", "1 while no runner starts because the volume is nearly full"
        )
        paused.add_metric([], 1 if manager.disk.reason is not None else 0)
        yield paused
        tasks_ready = GaugeMetricFamily("air_executor_tasks_ready", "Tasks ready to start, waiting for a runner slot")
        tasks_ready.add_metric([], ready)
        yield tasks_ready
        pools = manager.pools.view()
        used = GaugeMetricFamily(
            "air_executor_pool_slots_used", "Slots of each pool running tasks hold", labels=["pool"]
        )
        size = GaugeMetricFamily("air_executor_pool_slots", "Each pool's size (config pools)", labels=["pool"])
        for pool, use in pools.items():
            used.add_metric([pool], use["used"])
            size.add_metric([pool], use["size"])
        yield used
        yield size
