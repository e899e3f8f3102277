"""FileStore: the one place that builds paths under the base folder and touches job files.

Layout (PRODUCT.md §3)::

    <base>/jobs/<job-name>/state.json   the job
    <base>/jobs/<job-name>/tasks.json   list of tasks
    <base>/jobs/<job-name>/logs/<task-id>.log
    <base>/jobs/<job-name>/.lock        the job's lock (see lock.py)

Documents are plain dicts here, so fields this version does not know survive
every read-modify-write untouched. This module imports only the standard
library's light parts: the runner uses it for every task.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from air_executor.errors import FileUnreadable, JobNotFound
from air_executor.storage.lock import JobLock
from air_executor.storage.names import check_job_name, check_task_id, is_valid_name

STATE_FILE = "state.json"
TASKS_FILE = "tasks.json"
LOGS_DIR = "logs"
DEFAULT_BASE = ".air-executor"
BASE_ENV = "AIR_EXECUTOR_BASE_PATH"

_tmp_counter = itertools.count()


def default_base_path() -> Path:
    """The base folder: `$AIR_EXECUTOR_BASE_PATH`, else `.air-executor` in the working directory."""
    return Path(os.environ.get(BASE_ENV) or DEFAULT_BASE)


def dump_json(data: Any) -> str:
    """The on-disk text of a document: two-space indent, like the seeds' `json.dump`."""
    return json.dumps(data, indent=2) + "\n"


def atomic_write_text(path: Path, text: str) -> None:
    """Replace `path` atomically: temporary file in the same folder, fsync, rename.

    Temporary names start with `.` and end with `.tmp`, so listings skip them.
    """
    tmp = path.parent / f".{path.name}.{os.getpid()}.{next(_tmp_counter)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with _suppress_missing():
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def read_json_text(path: Path) -> tuple[Any, str]:
    """Parse a job file; a missing, empty or half-written one raises FileUnreadable."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise FileUnreadable(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FileUnreadable(f"{path} cannot be read: {exc}") from None
    try:
        return json.loads(text), text
    except ValueError as exc:
        raise FileUnreadable(f"{path} is not valid JSON ({exc})") from None


class JobFiles:
    """One job's documents as read under its lock; changed ones are written back on exit."""

    def __init__(self, store: FileStore, name: str) -> None:
        self.store = store
        self.name = name
        self.dir = store.job_dir(name)
        self.state: dict[str, Any] | None = None
        self.tasks: list[dict[str, Any]] | None = None
        self._state_text = ""
        self._tasks_text = ""

    def load(self, *, require_tasks: bool = True) -> JobFiles:
        if not self.dir.is_dir():
            raise JobNotFound(f"job {self.name!r} not found in {self.store.jobs_path}")
        state, self._state_text = read_json_text(self.dir / STATE_FILE)
        if not isinstance(state, dict):
            raise FileUnreadable(f"{self.dir / STATE_FILE} must hold a JSON object")
        self.state = state
        tasks_path = self.dir / TASKS_FILE
        if require_tasks or tasks_path.exists():
            tasks, self._tasks_text = read_json_text(tasks_path)
            if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
                raise FileUnreadable(f"{tasks_path} must hold a JSON list of task objects")
            self.tasks = tasks
        else:
            self.tasks = []
        return self

    def task(self, task_id: str) -> dict[str, Any] | None:
        for task in self.tasks or ():
            if task.get("id") == task_id:
                return task
        return None

    def save(self) -> bool:
        """Write back whichever document changed; True if anything was written."""
        wrote = False
        if self.tasks is not None:
            text = dump_json(self.tasks)
            if text != self._tasks_text:
                atomic_write_text(self.dir / TASKS_FILE, text)
                self._tasks_text, wrote = text, True
        if self.state is not None:
            text = dump_json(self.state)
            if text != self._state_text:
                atomic_write_text(self.dir / STATE_FILE, text)
                self._state_text, wrote = text, True
        return wrote


class FileStore:
    """The base folder. `FileStore()` uses `$AIR_EXECUTOR_BASE_PATH` or `.air-executor`."""

    def __init__(self, base_path: str | os.PathLike[str] | None = None) -> None:
        self.base_path = Path(base_path if base_path is not None else default_base_path()).absolute()
        self.jobs_path = self.base_path / "jobs"

    # -- paths ------------------------------------------------------------------

    def job_dir(self, name: str) -> Path:
        return self.jobs_path / check_job_name(name)

    def log_path(self, name: str, task_id: str) -> Path:
        return self.job_dir(name) / LOGS_DIR / f"{check_task_id(task_id)}.log"

    def exists(self, name: str) -> bool:
        return (self.job_dir(name) / STATE_FILE).exists()

    def list_job_names(self) -> list[str]:
        """Every valid job folder name, sorted; hidden and temporary entries are skipped."""
        try:
            entries = os.scandir(self.jobs_path)
        except FileNotFoundError:
            return []
        with entries:
            return sorted(e.name for e in entries if is_valid_name(e.name) and e.is_dir())

    def create_job_dir(self, name: str) -> Path:
        job_dir = self.job_dir(name)
        (job_dir / LOGS_DIR).mkdir(parents=True, exist_ok=True)
        return job_dir

    # -- locking and documents -----------------------------------------------------

    def lock(self, name: str, timeout: float | None = 30.0) -> JobLock:
        return JobLock(self.job_dir(name), timeout)

    @contextmanager
    def transaction(
        self, name: str, *, timeout: float | None = 30.0, require_tasks: bool = True
    ) -> Iterator[JobFiles]:
        """Lock the job, load its documents, and save the changed ones if the block succeeds."""
        files = JobFiles(self, name)
        if not files.dir.is_dir():
            raise JobNotFound(f"job {name!r} not found in {self.jobs_path}")
        with JobLock(files.dir, timeout):
            files.load(require_tasks=require_tasks)
            yield files
            files.save()

    def read_state(self, name: str) -> dict[str, Any]:
        """A lock-free snapshot of state.json (atomic writes make it consistent)."""
        return JobFiles(self, name).load(require_tasks=False).state or {}

    def read_tasks(self, name: str) -> list[dict[str, Any]]:
        files = JobFiles(self, name)
        tasks, _ = read_json_text(files.dir / TASKS_FILE)
        if not isinstance(tasks, list):
            raise FileUnreadable(f"{files.dir / TASKS_FILE} must hold a JSON list of task objects")
        return tasks

    def write_new_job(self, state: dict[str, Any], tasks: list[dict[str, Any]]) -> Path:
        """Create a job's files under its lock: tasks first, so the manager never sees a job half made."""
        name = state["name"]
        job_dir = self.create_job_dir(name)
        with JobLock(job_dir):
            atomic_write_text(job_dir / TASKS_FILE, dump_json(tasks))
            atomic_write_text(job_dir / STATE_FILE, dump_json(state))
        return job_dir

    # -- the seeds' API (README "Usage Examples") --------------------------------------

    def write_job_state(self, job: Any) -> None:
        """Write a `Job` (or a dict) as state.json under the job's lock, keeping unknown fields."""
        doc = job.to_dict() if hasattr(job, "to_dict") else dict(job)
        name = doc["name"]
        job_dir = self.create_job_dir(name)
        with JobLock(job_dir):
            path = job_dir / STATE_FILE
            try:
                current, _ = read_json_text(path)
            except FileUnreadable:
                current = {}
            merged = {**current, **doc} if isinstance(current, dict) else doc
            atomic_write_text(path, dump_json(merged))

    def read_job_state(self, name: str) -> Any:
        """The job as a `Job` model."""
        from air_executor.core.job import Job

        return Job.model_validate(self.read_state(name))


def _fsync_dir(path: Path) -> None:
    # The rename is durable only once the folder's entry is on disk.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def _suppress_missing() -> Iterator[None]:
    try:
        yield
    except FileNotFoundError:
        pass
