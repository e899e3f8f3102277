"""FileStore: the one place that builds paths under the base folder and touches job files.

Layout (PRODUCT.md §3)::

    <base>/jobs/<job-name>/state.json   the job
    <base>/jobs/<job-name>/tasks.json   list of tasks
    <base>/jobs/<job-name>/logs/<task-id>.log
    <base>/jobs/<job-name>/.lock        the job's lock (see lock.py)

Documents are plain dicts here, so fields this version does not know survive
every read-modify-write untouched. The runner uses this module for every task,
so it imports only light standard modules: paths are strings inside, and
`pathlib` is imported only when a caller asks for a `Path`.
"""

from __future__ import annotations

import itertools
import os

from air_executor.errors import FileUnreadable, JobNotFound
from air_executor.storage import jsonfile
from air_executor.storage.lock import JobLock
from air_executor.storage.names import check_job_name, check_task_id, is_valid_name

TYPE_CHECKING = False  # not `typing.TYPE_CHECKING`: importing typing costs the runner ~2 ms
if TYPE_CHECKING:
    from pathlib import Path
    from types import TracebackType
    from typing import Any

STATE_FILE = "state.json"
TASKS_FILE = "tasks.json"
LOGS_DIR = "logs"
DEFAULT_BASE = ".air-executor"
BASE_ENV = "AIR_EXECUTOR_BASE_PATH"

_tmp_counter = itertools.count()


def default_base_path() -> str:
    """The base folder: `$AIR_EXECUTOR_BASE_PATH`, else `.air-executor` in the working directory."""
    return os.environ.get(BASE_ENV) or DEFAULT_BASE


def dump_json(data: Any) -> str:
    """The on-disk text of a document: two-space indent, like the seeds' `json.dump`."""
    return jsonfile.dumps(data) + "\n"


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Replace `path` atomically: temporary file in the same folder, fsync, rename.

    Temporary names start with `.` and end with `.tmp`, so listings skip them.
    """
    folder, name = os.path.split(os.fspath(path))
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.{next(_tmp_counter)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(folder)


def read_json_text(path: str | os.PathLike[str]) -> tuple[Any, str]:
    """Parse a job file; a missing, empty or half-written one raises FileUnreadable."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise FileUnreadable(f"{os.fspath(path)} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FileUnreadable(f"{os.fspath(path)} cannot be read: {exc}") from None
    try:
        return jsonfile.loads(text), text
    except ValueError as exc:
        raise FileUnreadable(f"{os.fspath(path)} is not valid JSON ({exc})") from None


class JobFiles:
    """One job's documents as read under its lock; changed ones are written back on exit."""

    def __init__(self, store: FileStore, name: str) -> None:
        self.store = store
        self.name = name
        self.folder = store.job_folder(name)
        self.state: dict[str, Any] | None = None
        self.tasks: list[dict[str, Any]] | None = None
        self._state_text = ""
        self._tasks_text = ""

    @property
    def dir(self) -> Path:
        return _path(self.folder)

    def load(self, *, require_tasks: bool = True) -> JobFiles:
        if not os.path.isdir(self.folder):
            raise JobNotFound(f"job {self.name!r} not found in {self.store.jobs_folder}")
        state_path = os.path.join(self.folder, STATE_FILE)
        state, self._state_text = read_json_text(state_path)
        if not isinstance(state, dict):
            raise FileUnreadable(f"{state_path} must hold a JSON object")
        self.state = state
        tasks_path = os.path.join(self.folder, TASKS_FILE)
        if require_tasks or os.path.exists(tasks_path):
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
            if _changed(text, self._tasks_text, self.tasks):
                atomic_write_text(os.path.join(self.folder, TASKS_FILE), text)
                self._tasks_text, wrote = text, True
        if self.state is not None:
            text = dump_json(self.state)
            if _changed(text, self._state_text, self.state):
                atomic_write_text(os.path.join(self.folder, STATE_FILE), text)
                self._state_text, wrote = text, True
        return wrote


class Transaction:
    """`with store.transaction(name) as files:` lock, load, and save what changed if the block succeeds."""

    def __init__(self, files: JobFiles, timeout: float | None, require_tasks: bool) -> None:
        self.files, self.require_tasks = files, require_tasks
        self.lock = JobLock(files.folder, timeout)

    def __enter__(self) -> JobFiles:
        self.lock.acquire()
        try:
            return self.files.load(require_tasks=self.require_tasks)
        except BaseException:
            self.lock.release()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                self.files.save()
        finally:
            self.lock.release()


class FileStore:
    """The base folder. `FileStore()` uses `$AIR_EXECUTOR_BASE_PATH` or `.air-executor`."""

    def __init__(self, base_path: str | os.PathLike[str] | None = None) -> None:
        self.base = os.path.abspath(os.fspath(base_path if base_path is not None else default_base_path()))
        self.jobs_folder = os.path.join(self.base, "jobs")

    @property
    def base_path(self) -> Path:
        return _path(self.base)

    @property
    def jobs_path(self) -> Path:
        return _path(self.jobs_folder)

    # -- paths ------------------------------------------------------------------

    def job_folder(self, name: str) -> str:
        return os.path.join(self.jobs_folder, check_job_name(name))

    def job_dir(self, name: str) -> Path:
        return _path(self.job_folder(name))

    def log_file(self, name: str, task_id: str) -> str:
        return os.path.join(self.job_folder(name), LOGS_DIR, f"{check_task_id(task_id)}.log")

    def log_path(self, name: str, task_id: str) -> Path:
        return _path(self.log_file(name, task_id))

    def exists(self, name: str) -> bool:
        return os.path.exists(os.path.join(self.job_folder(name), STATE_FILE))

    def list_job_names(self) -> list[str]:
        """Every valid job folder name, sorted; hidden and temporary entries are skipped."""
        try:
            entries = os.scandir(self.jobs_folder)
        except FileNotFoundError:
            return []
        with entries:
            return sorted(e.name for e in entries if is_valid_name(e.name) and e.is_dir())

    def create_job_dir(self, name: str) -> Path:
        folder = self.job_folder(name)
        os.makedirs(os.path.join(folder, LOGS_DIR), exist_ok=True)
        return _path(folder)

    # -- locking and documents -----------------------------------------------------

    def lock(self, name: str, timeout: float | None = 30.0) -> JobLock:
        return JobLock(self.job_folder(name), timeout)

    def transaction(self, name: str, *, timeout: float | None = 30.0, require_tasks: bool = True) -> Transaction:
        """Lock the job, load its documents, and save the changed ones if the block succeeds."""
        files = JobFiles(self, name)
        if not os.path.isdir(files.folder):
            raise JobNotFound(f"job {name!r} not found in {self.jobs_folder}")
        return Transaction(files, timeout, require_tasks)

    def read_state(self, name: str) -> dict[str, Any]:
        """A lock-free snapshot of state.json (atomic writes make it consistent)."""
        return JobFiles(self, name).load(require_tasks=False).state or {}

    def read_tasks(self, name: str) -> list[dict[str, Any]]:
        path = os.path.join(self.job_folder(name), TASKS_FILE)
        tasks, _ = read_json_text(path)
        if not isinstance(tasks, list):
            raise FileUnreadable(f"{path} must hold a JSON list of task objects")
        return tasks

    def write_new_job(self, state: dict[str, Any], tasks: list[dict[str, Any]]) -> Path:
        """Create a job's files under its lock: tasks first, so the manager never sees a job half made."""
        folder = os.fspath(self.create_job_dir(state["name"]))
        with JobLock(folder):
            atomic_write_text(os.path.join(folder, TASKS_FILE), dump_json(tasks))
            atomic_write_text(os.path.join(folder, STATE_FILE), dump_json(state))
        return _path(folder)

    # -- the seeds' API (README "Usage Examples") --------------------------------------

    def write_job_state(self, job: Any) -> None:
        """Write a `Job` (or a dict) as state.json under the job's lock, keeping unknown fields."""
        doc = job.to_dict() if hasattr(job, "to_dict") else dict(job)
        folder = os.fspath(self.create_job_dir(doc["name"]))
        with JobLock(folder):
            path = os.path.join(folder, STATE_FILE)
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


def _changed(new_text: str, old_text: str, data: Any) -> bool:
    """True if the document differs from what was read; a file formatted by another writer
    (different spacing, same data) is not rewritten just to reformat it."""
    if new_text == old_text:
        return False
    if not old_text:
        return True
    return bool(jsonfile.loads(old_text) != data)


def _path(value: str) -> Path:
    from pathlib import Path

    return Path(value)


def _fsync_dir(path: str) -> None:
    # The rename is durable only once the folder's entry is on disk.
    try:
        fd = os.open(path or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
