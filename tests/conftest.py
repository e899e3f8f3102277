"""Fixtures shared by every test: a base folder, a real manager process, the real CLI.

Nothing here is mocked: managers and runners are real processes on real files.
Deadlines in `wait_for` only stop a hung test; they never assert speed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml
from air_executor.errors import AirExecutorError
from air_executor.storage.file_store import FileStore

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CLI = str(BIN / "air-executor")
DEADLINE = 60.0


def wait_for(predicate: Callable[[], Any], timeout: float = DEADLINE, what: str = "condition") -> Any:
    """Poll until `predicate()` is truthy; fail the test (not assert speed) if it never is."""
    end = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except (FileNotFoundError, ValueError, KeyError, TypeError, AirExecutorError):  # not there or not right yet
            value = None
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


class Base:
    """A base folder with helpers to write and read jobs the way outside programs do."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.store = FileStore(path)

    def config(self, **values: Any) -> None:
        current = {}
        if (self.path / "config.yaml").exists():
            current = yaml.safe_load((self.path / "config.yaml").read_text()) or {}
        current.update(values)
        (self.path / "config.yaml").write_text(yaml.safe_dump(current))

    def job_dir(self, name: str) -> Path:
        return self.path / "jobs" / name

    def state(self, name: str) -> dict[str, Any]:
        return read_json(self.job_dir(name) / "state.json")

    def tasks(self, name: str) -> list[dict[str, Any]]:
        """The job's tasks as they are now: tasks.json with its journal folded in (as status reads them)."""
        return self.store.read_tasks(name)

    def tasks_file(self, name: str) -> list[dict[str, Any]]:
        """tasks.json exactly as a seed-style reader opens it (it may lag the journal by max_file_lag)."""
        return read_json(self.job_dir(name) / "tasks.json")

    def task(self, name: str, task_id: str) -> dict[str, Any]:
        return next(t for t in self.tasks(name) if t["id"] == task_id)

    def log(self, name: str, task_id: str) -> str:
        path = self.job_dir(name) / "logs" / f"{task_id}.log"
        return path.read_text() if path.exists() else ""

    def submit(self, name: str, tasks: list[dict[str, Any]], **job: Any) -> None:
        """Create a job through the client API (locked, atomic)."""
        from air_executor.client import create_job

        create_job(self.store, name, tasks, **job)

    def wait_state(self, name: str, *states: str, timeout: float = DEADLINE) -> dict[str, Any]:
        wanted = states or ("completed", "failed", "cancelled")
        return wait_for(
            lambda: (s := self.state(name)) and s["state"] in wanted and s,
            timeout,
            f"job {name} to reach {'/'.join(wanted)}",
        )


class ManagerProcess:
    """A real manager (`python -m air_executor_manager`) on a base folder."""

    def __init__(self, base: Base) -> None:
        self.base = base
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = base.path / "manager.log"

    def start(self, cwd: Path | None = None, **env: str) -> ManagerProcess:
        """Start it; runners (and so tasks) inherit `cwd` and `env`."""
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "air_executor_manager", "--base-path", str(self.base.path)],
                stdout=log,
                stderr=log,
                env={**os.environ, **env},
                cwd=cwd,
                start_new_session=True,
            )
        pid_file = self.base.path / "manager.pid"
        wait_for(
            lambda: (
                pid_file.exists() and pid_file.read_text().strip() == str(self.proc.pid) or self.proc.poll() is not None
            ),
            what="the manager to start",
        )
        assert self.proc.poll() is None, self.log()
        return self

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


@pytest.fixture(scope="session", autouse=True)
def _tasks_may_enter_tmp(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Run as root, the manager runs tasks as their job folder's owner (uid 10001 for the
    root-owned folders tests make): let them through pytest's private temporary folders."""
    if os.geteuid() == 0:
        root = tmp_path_factory.getbasetemp()
        for folder in (root, *root.parents):
            if folder == Path("/"):
                break
            folder.chmod(folder.stat().st_mode | 0o011)


@pytest.fixture
def base(tmp_path: Path) -> Iterator[Base]:
    if os.geteuid() == 0:
        tmp_path.chmod(0o1777)  # tasks (run as uid 10001) leave their marks here, like in /tmp
    path = tmp_path / "ae"
    path.mkdir()
    b = Base(path)
    b.config(poll_interval=1, log_format="text", log_level="DEBUG", launcher="subprocess")
    yield b
    _kill_leftovers(path)


@pytest.fixture
def manager(base: Base) -> Iterator[ManagerProcess]:
    """A manager already running on `base`; stopped (and its runners reaped) afterwards."""
    m = ManagerProcess(base).start()
    yield m
    m.stop()


@pytest.fixture
def manager_factory(base: Base) -> Iterator[Callable[[], ManagerProcess]]:
    """Make managers on demand (for restart tests); all are stopped afterwards."""
    made: list[ManagerProcess] = []

    def make() -> ManagerProcess:
        m = ManagerProcess(base)
        made.append(m)
        return m

    yield make
    for m in made:
        m.stop()


def cli(
    *args: str,
    base: Base | None = None,
    input: str | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run the real `air-executor` console script."""
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    if base is not None:
        full_env["AIR_EXECUTOR_BASE_PATH"] = str(base.path)
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, input=input, env=full_env, cwd=cwd, timeout=timeout
    )


def _kill_leftovers(path: Path) -> None:
    """Kill any process still working for this base folder, so no test leaks processes."""
    marker = str(path)
    for proc in psutil.process_iter(["cmdline", "environ"]):
        try:
            cmdline = " ".join(proc.info.get("cmdline") or [])
            environ = proc.info.get("environ") or {}
        except (psutil.Error, OSError):
            continue
        if proc.pid != os.getpid() and (marker in cmdline or environ.get("AIR_EXECUTOR_BASE_PATH") == marker):
            try:
                proc.kill()
            except psutil.Error:
                pass


def parse_time(value: str) -> float:
    from air_executor.core.clock import parse_iso

    parsed = parse_iso(value)
    assert parsed is not None, value
    return parsed


# -- helpers added for tests/shared and tests/cli -------------------------------------------

DATA = REPO / "tests" / "data"


def error_line(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """Assert a CLI run failed with `code` and exactly one stderr line `error: ...`; return that line."""
    lines = result.stderr.splitlines()
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def files_under(path: Path) -> set[str]:
    """Every file and folder below `path` (relative), to show what an action created."""
    return {str(p.relative_to(path)) for p in path.rglob("*")}


def gated_task(task_id: str, gate: Path, before: str = "before", after: str = "after", **fields: Any) -> dict[str, Any]:
    """A task that prints `before`, waits until the file `gate` exists, then prints `after`."""
    script = f'echo {before}; while [ ! -e "{gate}" ]; do sleep 0.05; done; echo {after}'
    return {"id": task_id, "command": "sh", "args": ["-c", script], **fields}


def naive_write(path: Path, data: Any) -> None:
    """Write a document the way the seeds' client does: plain `json.dump`, no lock, not atomic."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        json.dump(data, handle, indent=2)


def plain_table(stdout: str, header_start: str) -> list[dict[str, str]]:
    """The rows of a table printed for a pipe (plain columns), found by its header line's first column."""
    import re

    lines = stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    header = lines[at]
    names = re.split(r"\s{2,}", header.strip())
    starts: list[int] = []
    for name in names:
        starts.append(header.index(name, starts[-1] + 1 if starts else 0))
    rows = []
    for line in lines[at + 1 :]:
        if not line.strip() or line.split()[0].endswith(":"):  # a blank line or a message ends the table
            break
        ends = [*starts[1:], None]
        rows.append({name: line[start:end].strip() for name, start, end in zip(names, starts, ends, strict=True)})
    return rows
