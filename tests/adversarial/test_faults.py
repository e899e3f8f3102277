"""Faults: the manager and runners SIGKILLed again and again during hundreds of tasks, and a volume that
fills up. Nothing runs twice, nothing is lost, files stay valid, and work resumes."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest
from conftest import Base, ManagerProcess, cli, wait_for
from taskkit import PY, free_port, metric, scrape, writable_dir

pytestmark = pytest.mark.slow

JOBS, TASKS = 10, 30  # 300 tasks
# Each task records its side effect once, at its end: a line with its job and id in a shared file.
EFFECT = (
    "import os, sys, time\ntime.sleep(0.3)\n"
    "fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)\n"
    "os.write(fd, (sys.argv[2] + '\\n').encode())\n"
)


def _runner_pids(base: Path) -> list[int]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if "air_executor_runner" in cmdline and str(base) in cmdline:
            found.append(proc.pid)
    return found


def _all_files_valid(base: Path) -> None:
    """Every job file parses. (A writer SIGKILLed mid-write may leave its hidden `.NAME.*.tmp`; no reader
    ever takes it for a job file.)"""
    for job in (base / "jobs").iterdir():
        for name in ("state.json", "tasks.json"):
            json.loads((job / name).read_text())


def test_repeated_sigkill_of_manager_and_runners_loses_nothing_and_runs_nothing_twice(
    base: Base, tmp_path: Path
) -> None:
    base.config(max_concurrent_runners=6, runner_start_timeout=5)
    effects = writable_dir(tmp_path / "effects") / "done"
    for j in range(JOBS):
        base.submit(
            f"job-{j}",
            [
                {"id": f"t{i}", "command": PY, "args": ["-c", EFFECT, str(effects), f"job-{j}/t{i}"]}
                for i in range(TASKS)
            ],
            max_parallel=2,
        )
    stop = threading.Event()
    managers: list[ManagerProcess] = []
    kills = Counter[str]()

    def chaos() -> None:
        rng = random.Random(7)
        while not stop.wait(rng.uniform(0.3, 0.8)):
            if rng.random() < 0.5:
                manager = managers[-1]
                if manager.proc is not None and manager.proc.poll() is None:
                    manager.kill()
                    kills["manager"] += 1
                    managers.append(ManagerProcess(base).start())
            else:
                pids = _runner_pids(base.path)
                if pids:
                    try:
                        os.kill(rng.choice(pids), signal.SIGKILL)
                        kills["runner"] += 1
                    except ProcessLookupError:
                        pass

    managers.append(ManagerProcess(base).start())
    killer = threading.Thread(target=chaos)
    killer.start()
    try:
        wait_for(lambda: kills["manager"] >= 5 and kills["runner"] >= 5, timeout=120, what="the chaos to happen")
    finally:
        stop.set()
        killer.join()
    try:
        for j in range(JOBS):
            base.wait_state(f"job-{j}", timeout=180)
    finally:
        for manager in managers:
            manager.stop()
    counts = Counter(effects.read_text().split()) if effects.exists() else Counter()
    assert max(counts.values(), default=0) <= 1, [k for k, v in counts.items() if v > 1]  # nothing ran twice
    finals = Counter()
    for j in range(JOBS):
        for task in base.tasks(f"job-{j}"):
            key = f"job-{j}/{task['id']}"
            finals[task["status"]] += 1
            assert task["status"] in ("completed", "failed"), task  # nothing left pending or running
            if task["status"] == "completed":
                assert counts[key] == 1, (key, task)  # nothing lost: a completed task's effect happened
            else:
                assert task["result"] in ("runner_lost", "killed"), task  # only what the chaos did
    assert finals["completed"] >= JOBS * TASKS // 2, (finals, kills)
    _all_files_valid(base.path)


@pytest.fixture
def small_volume(tmp_path: Path) -> Path:
    """A 3 MiB tmpfs as the base folder (root: mount)."""
    if os.geteuid() != 0:
        pytest.skip("mounts a tmpfs: needs root")
    tmp_path.chmod(0o755)  # runners (uid 10001) must get through
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m,mode=0755", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_volume_keeps_files_valid_and_work_resumes(small_volume: Path, tmp_path: Path) -> None:
    """The volume fills up while jobs run: the manager lives on, every job file stays valid JSON, and once
    space is back the jobs finish (a task whose attempt was lost to the full disk is retried)."""
    base = Base(small_volume)
    base.config(
        poll_interval=1,
        log_format="text",
        log_level="DEBUG",
        launcher="subprocess",
        unreadable_after=600,
        min_free_space_mb=0,  # here the volume does fill up: no floor to stop launches before it
    )
    manager = ManagerProcess(base)
    manager.log_path = tmp_path / "manager.log"  # the manager's own log is not on the small volume
    manager.start()
    try:
        chatty = {"command": "sh", "args": ["-c", "for i in $(seq 50); do echo line $i; sleep 0.02; done"]}
        for j in range(3):
            base.submit(f"busy-{j}", [{"id": f"t{i}", **chatty, "retries": 3, "retry_delay": 0.5} for i in range(6)])
        filler = small_volume / "filler"
        with open(filler, "wb") as handle:
            try:
                while True:
                    handle.write(b"\0" * 65536)
                    handle.flush()
            except OSError:
                pass  # the volume is full
        time.sleep(3)  # runners and the manager hit ENOSPC meanwhile
        assert manager.proc is not None and manager.proc.poll() is None, manager.log()
        _all_files_valid(small_volume)
        filler.unlink()
        for j in range(3):
            assert base.wait_state(f"busy-{j}", timeout=120)["state"] == "completed", manager.log()
        base.submit("after", [{"command": "true"}])
        assert base.wait_state("after")["state"] == "completed", manager.log()
    finally:
        manager.stop()
    _all_files_valid(small_volume)


def test_disk_pressure_pauses_launches_and_resumes_by_itself(small_volume: Path, tmp_path: Path) -> None:
    """Under min_free_space_mb no runner starts (the log, status, health and metrics say why) and a
    running task goes on; once space is back the waiting job runs without anyone's help."""
    base = Base(small_volume)
    port = free_port()
    base.config(poll_interval=1, log_format="text", launcher="subprocess", min_free_space_mb=2, metrics_port=port)
    gate = tmp_path / "gate"
    tmp_path.chmod(0o1777)
    manager = ManagerProcess(base)
    manager.log_path = tmp_path / "manager.log"
    manager.start()
    try:
        base.submit(
            "running", [{"id": "held", "command": "sh", "args": ["-c", f"while [ ! -e {gate} ]; do sleep 0.05; done"]}]
        )
        wait_for(lambda: base.task("running", "held").get("started_at"), what="the held task to start")
        filler = small_volume / "filler"
        filler.write_bytes(b"\0" * (3 * 2**20 // 2))  # 1.5 MiB of 3: under the 2 MiB floor
        wait_for(lambda: "launches paused" in manager.log(), what="the manager to pause launches")
        base.submit("later", [{"id": "t", "command": "true"}])
        status = cli("status", base=base)
        assert "Launches paused: only" in status.stdout and "min_free_space_mb" in status.stdout, status.stdout
        assert metric(scrape(port), "air_executor_launches_paused") == 1
        reply = _health_once(base)
        assert reply["manager"] == "running" and "min_free_space_mb" in reply["launches_paused"], reply
        time.sleep(2)  # passes go by: nothing may start meanwhile
        assert not base.task("later", "t").get("launched_at"), base.task("later", "t")
        assert base.task("running", "held")["status"] == "running"  # not killed for it
        gate.touch()
        assert base.wait_state("running")["state"] == "completed"
        assert base.state("later")["state"] == "waiting"
        filler.unlink()
        assert base.wait_state("later")["state"] == "completed", manager.log()
        assert "launches resumed" in manager.log()
        assert "Launches paused" not in cli("status", base=base).stdout
        assert metric(scrape(port), "air_executor_launches_paused") == 0
        assert _health_once(base)["launches_paused"] is None
    finally:
        manager.stop()


def _health_once(base: Base) -> dict:
    """What the manager container's health endpoint answers for this base folder."""
    import urllib.request

    port = free_port()
    server = subprocess.Popen(
        [PY, "-m", "air_executor_manager.health", "--port", str(port)],
        env={**os.environ, "AIR_EXECUTOR_BASE_PATH": str(base.path)},
    )
    try:

        def ask() -> dict | None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as reply:
                    return json.loads(reply.read())
            except OSError:
                return None

        return wait_for(ask, what="the health endpoint")
    finally:
        server.terminate()
        server.wait(timeout=10)
