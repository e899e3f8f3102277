"""Shared pieces of the benchmark: base folders, jobs written like a client, timing statistics."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from air_executor.client import create_job
from air_executor.core.clock import now_iso
from air_executor.core.transitions import claim_record
from air_executor.errors import AirExecutorError
from air_executor.storage import journal
from air_executor.storage.file_store import FileStore, dump_json

PYTHON = sys.executable
TASK_CLOCK = ["date", "+%s.%N"]  # the task records its own start time in its log


@contextmanager
def base_folder(**config: Any) -> Iterator[FileStore]:
    """A fresh base folder under /tmp (bind-mountable into runner containers)."""
    path = Path(tempfile.mkdtemp(prefix="ae-bench-")) / "ae"
    path.parent.chmod(0o755)  # a root manager runs tasks as uid 10001: it must get in
    path.mkdir()
    (path / "config.yaml").write_text(yaml.safe_dump({"log_format": "text", **config}))
    try:
        yield FileStore(path)
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)


@contextmanager
def manager_process(store: FileStore, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    with open(store.base_path / "manager.log", "ab") as log:
        proc = subprocess.Popen(
            [PYTHON, "-m", "air_executor_manager", "--base-path", str(store.base_path)],
            stdout=log,
            stderr=log,
            env={**os.environ, **env},
            start_new_session=True,
        )
    pid_file = store.base_path / "manager.pid"
    deadline = time.monotonic() + 30
    while not (pid_file.exists() and pid_file.read_text().strip() == str(proc.pid)):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"manager did not start: {(store.base_path / 'manager.log').read_text()[-2000:]}")
        time.sleep(0.01)
    wait_warm(store, deadline)
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def wait_warm(store: FileStore, deadline: float) -> None:
    """Until a subprocess manager's fork server is ready (README "Warm starts"): measure the steady state."""
    config = yaml.safe_load((store.base_path / "config.yaml").read_text()) or {}
    if config.get("launcher", "subprocess") != "subprocess" or config.get("warm_start") is False:
        return
    log = store.base_path / "manager.log"
    while "fork server ready" not in log.read_text():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the fork server did not start: {log.read_text()[-2000:]}")
        time.sleep(0.01)


def submit(store: FileStore, name: str, tasks: list[dict[str, Any]]) -> None:
    create_job(store, name, tasks)


def write_claimed(store: FileStore, name: str, command: list[str]) -> str:
    """A one-task job already claimed for a runner (what a manager writes before launching); returns its launch id."""
    launch_id = uuid.uuid4().hex
    store.create_job_dir(name)
    stamp = now_iso()
    task = {
        "id": "t",
        "job_name": name,
        "command": command[0],
        "args": command[1:],
        "dependencies": [],
        "status": "running",
        "created_at": stamp,
        "started_at": None,
        "completed_at": None,
        "error": None,
        "attempts": 1,
        "launch_id": launch_id,
        "launched_at": stamp,
    }
    with store.open_job(name) as handle:
        handle.write("tasks.json", dump_json([task]))
        state = {"id": name, "name": name, "state": "working", "created_at": stamp, "updated_at": stamp}
        handle.write("state.json", dump_json(state))
        journal.write_claim(handle, launch_id, claim_record(task, name))  # what the runner reads
    return launch_id


def open_to_runner_containers(store: FileStore, name: str) -> None:
    """Let a runner container (uid 10001) write a job that the benchmark wrote as root."""
    for folder in (store.job_dir(name), store.job_dir(name) / "logs", store.job_dir(name) / "runs"):
        folder.chmod(0o777)


def run_runner_container(client: Any, image: str, store: FileStore, name: str, launch_id: str) -> Any:
    """Start the runner image on a claimed task directly through the Docker SDK, hardened like the launcher."""
    from docker.types import Mount

    base = str(store.base_path)
    return client.containers.run(
        image,
        [base, name, "t", launch_id],
        detach=True,
        user="10001:10001",
        mounts=[Mount(base, base, type="bind")],
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
    )


def wait_done(store: FileStore, name: str, timeout: float = 120) -> dict[str, Any]:
    path = store.job_dir(name) / "state.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = json.loads(path.read_text())
            if state.get("state") in ("completed", "failed", "cancelled"):
                return state
        except (OSError, ValueError):
            pass
        time.sleep(0.002)
    raise TimeoutError(f"job {name} did not finish within {timeout} s")


def wait_task_done(store: FileStore, name: str, timeout: float = 120) -> None:
    """Until the runner has recorded its task's end (runs/<launch>.end, folded in by the store's read)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if all(t["status"] in ("completed", "failed") for t in store.read_tasks(name)):
                return
        except (OSError, ValueError, KeyError, AirExecutorError):
            pass
        time.sleep(0.002)
    raise TimeoutError(f"job {name} did not finish within {timeout} s")


def task_clock(store: FileStore, name: str, task_id: str = "t") -> float:
    return float(store.log_path(name, task_id).read_text().split()[0])


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {"p50": statistics.median(ordered), "p95": p95, "n": len(ordered)}


# -- a one-node Swarm, shared by the tests and the benchmark -------------------------------

SWARM_BOOK = Path(tempfile.gettempdir()) / "air-executor-swarm.json"


@contextmanager
def one_node_swarm(client: Any) -> Iterator[None]:
    """This engine as a one-node Swarm listening on loopback: `swarm init` when it is not one, and
    `swarm leave --force` when the last process that needed it is done, if one of them made it."""
    with _swarm_book() as book:
        if client.info()["Swarm"]["LocalNodeState"] != "active":
            client.swarm.init(advertise_addr="127.0.0.1", listen_addr="127.0.0.1:2377")
            book["made"] = True
        book["users"].append(os.getpid())
    try:
        yield
    finally:
        with _swarm_book() as book:
            book["users"] = [pid for pid in book["users"] if pid != os.getpid()]
            if not book["users"] and book["made"]:
                client.swarm.leave(force=True)
                book["made"] = False


@contextmanager
def _swarm_book() -> Iterator[dict[str, Any]]:
    """Which processes use the Swarm, and whether one of them made it (one file, under an flock)."""
    with open(SWARM_BOOK.with_suffix(".lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        book = json.loads(SWARM_BOOK.read_text()) if SWARM_BOOK.exists() else {"users": [], "made": False}
        book["users"] = [pid for pid in book["users"] if _alive(pid)]
        yield book
        SWARM_BOOK.write_text(json.dumps(book))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True
