"""FileStore: the one place that builds paths under the base folder and touches job files.

Layout (PRODUCT.md §3)::

    <base>/jobs/<job-name>/state.json   the job
    <base>/jobs/<job-name>/tasks.json   list of tasks
    <base>/jobs/<job-name>/logs/<task-id>.log
    <base>/jobs/<job-name>/.lock        the job's lock (see lock.py)

Documents are plain dicts here, so fields this version does not know survive
every read-modify-write untouched. Files are opened only through `JobDir`
(jobdir.py), which refuses symlinks, special files and oversized files. The
runner uses this module for every task, so it imports only light standard
modules: paths are strings inside, and `pathlib` is imported only when a caller
asks for a `Path`.
"""

from __future__ import annotations

import os

from air_executor.errors import FileUnreadable, JobExists, JobFileRefused, JobNotFound, LockTimeout
from air_executor.storage import file_format as job_format
from air_executor.storage import jsonfile
from air_executor.storage.jobdir import JobDir, open_folder
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


def default_base_path() -> str:
    """The base folder: `$AIR_EXECUTOR_BASE_PATH`, else `.air-executor` in the working directory."""
    return os.environ.get(BASE_ENV) or DEFAULT_BASE


def dump_json(data: Any) -> bytes:
    """The on-disk bytes of a document: two-space indent, like the seeds' `json.dump`."""
    return (jsonfile.dumps(data) + "\n").encode()


def encode_task(task: dict[str, Any]) -> bytes:
    """One task as one line of tasks.json (the standard library's C encoder: fast for big jobs)."""
    import json

    try:
        return json.dumps(task, allow_nan=True).encode()
    except (TypeError, ValueError):
        return jsonfile.dumps(task).replace("\n", "").encode()


def encode_tasks(lines: list[bytes]) -> bytes:
    """tasks.json from its tasks' lines: a JSON list, one task per line (readable, diffable, and
    written at C speed; readers just `json.load` it)."""
    if not lines:
        return b"[]\n"
    return b"[\n" + b",\n".join(lines) + b"\n]\n"


def parse_json(data: bytes, where: str) -> Any:
    """Parse a job file's bytes; empty or invalid (half written) raises FileUnreadable."""
    if not data.strip():
        raise FileUnreadable(f"{where} is empty")
    try:
        return jsonfile.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise FileUnreadable(f"{where} is not valid JSON (not UTF-8: {exc.reason})") from None
    except ValueError as exc:
        message = str(exc)
        if message.startswith("nested too deeply"):
            raise JobFileRefused(f"{where} is {message}") from None
        raise FileUnreadable(f"{where} is not valid JSON ({message})") from None


def read_document(job_dir: JobDir, name: str, signatures: dict[str, Any] | None = None) -> tuple[Any, bytes]:
    """One job file, parsed; FileUnreadable when absent, empty or half written. The signature of
    what was read goes into `signatures` when given."""
    where = os.path.join(job_dir.path, name)
    try:
        data, signature = job_dir.read_signed(name)
    except FileNotFoundError:
        raise FileUnreadable(f"{where} does not exist") from None
    if signatures is not None:
        signatures[name] = signature
    return parse_json(data, where), data


def check_task_list(tasks: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        raise JobFileRefused(f"{where} must hold a JSON list of task objects")
    return tasks


def fold_journal(
    job_dir: JobDir, state: dict[str, Any], tasks: list[dict[str, Any]], max_retry_delay: float | None
) -> Any:
    """Apply the job's journal records to its documents (core/transitions.py: fold); returns what was
    used up, or None when the job has no records (the runner path never gets here)."""
    from air_executor.storage import journal

    queued = journal.read_queue(job_dir)
    attempts = journal.read_attempts(job_dir)
    if not queued and not attempts:
        return None
    from air_executor.core import transitions

    delay = transitions.DEFAULT_MAX_RETRY_DELAY if max_retry_delay is None else max_retry_delay
    return transitions.fold(state, tasks, attempts, queued, max_delay=delay)


def forget_journal(job_dir: JobDir, folded: Any) -> None:
    """Remove the records a written tasks.json now holds (never before: a crash in between keeps them)."""
    from air_executor.storage import journal

    journal.remove_queued(job_dir, folded.queue_names)
    journal.remove_attempts(job_dir, folded.done_launches)


class JobFiles:
    """One job's documents as read under its lock; changed ones are written back on exit."""

    def __init__(self, job_dir: JobDir) -> None:
        self.job_dir = job_dir
        self.name = job_dir.name
        self.folder = job_dir.path
        self.state: dict[str, Any] | None = None
        self.tasks: list[dict[str, Any]] | None = None
        self._state_raw = b""
        self._tasks_raw = b""
        self.folded: Any = None  # what the journal added (records to remove once written)
        self.signatures: dict[str, Any] = {}  # (inode, size, mtime) of the files as read

    def load(self, *, require_tasks: bool = True, max_retry_delay: float | None = None) -> JobFiles:
        """Read state.json and tasks.json, and fold in the journal (runs/, queue/: journal.py)."""
        state, self._state_raw = read_document(self.job_dir, STATE_FILE, self.signatures)
        if not isinstance(state, dict):
            raise JobFileRefused(f"{os.path.join(self.folder, STATE_FILE)} must hold a JSON object")
        job_format.check_state(state, self.folder)
        self.state = state
        if require_tasks or self.job_dir.exists(TASKS_FILE):
            tasks, self._tasks_raw = read_document(self.job_dir, TASKS_FILE, self.signatures)
            self.tasks = check_task_list(tasks, os.path.join(self.folder, TASKS_FILE))
        else:
            self.tasks = []
            self.signatures[TASKS_FILE] = None
        self.folded = fold_journal(self.job_dir, state, self.tasks, max_retry_delay)
        return self

    def task(self, task_id: str) -> dict[str, Any] | None:
        for task in self.tasks or ():
            if task.get("id") == task_id:
                return task
        return None

    def save(self) -> bool:
        """Write back whichever document changed, then remove the journal records it now holds;
        True if anything was written."""
        wrote = False
        if self.tasks is not None:
            data = encode_tasks([encode_task(t) for t in self.tasks])
            if _changed(data, self._tasks_raw, self.tasks):
                self.job_dir.write(TASKS_FILE, data)
                self._tasks_raw, wrote = data, True
        if self.state is not None:
            data = dump_json(self.state)
            if _changed(data, self._state_raw, self.state):
                self.job_dir.write(STATE_FILE, data)
                self._state_raw, wrote = data, True
        if self.folded is not None:
            forget_journal(self.job_dir, self.folded)
            self.folded = None
        return wrote


class Transaction:
    """`with store.transaction(name) as files:` lock, load, and save what changed if the block succeeds."""

    def __init__(
        self, store: FileStore, name: str, timeout: float | None, require_tasks: bool, job_dir: JobDir | None
    ) -> None:
        self.store, self.name = store, name
        self.timeout, self.require_tasks = timeout, require_tasks
        self.given = job_dir  # an already open folder (kept open); else one is opened and closed here
        self.files: JobFiles | None = None
        self.lock: JobLock | None = None

    def __enter__(self) -> JobFiles:
        job_dir = self.given or self.store.open_job(self.name)
        try:
            self.lock = JobLock(job_dir, self.timeout)
            self.lock.acquire()
            try:
                self.files = JobFiles(job_dir).load(
                    require_tasks=self.require_tasks, max_retry_delay=self.store.max_retry_delay
                )
            except BaseException:
                self.lock.release()
                raise
        except BaseException:
            if self.given is None:
                job_dir.close()
            raise
        return self.files

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self.files is not None and self.lock is not None
        try:
            if exc_type is None:
                self.files.save()
        finally:
            self.lock.release()
            if self.given is None:
                self.files.job_dir.close()


class FileStore:
    """The base folder. `FileStore()` uses `$AIR_EXECUTOR_BASE_PATH` or `.air-executor`.

    `max_file_bytes` bounds every job file read (default `$AIR_EXECUTOR_MAX_JOB_FILE_MB`, 64 MiB).
    """

    def __init__(
        self,
        base_path: str | os.PathLike[str] | None = None,
        max_file_bytes: int | None = None,
        max_retry_delay: float | None = None,
    ) -> None:
        self.base = os.path.abspath(os.fspath(base_path if base_path is not None else default_base_path()))
        self.jobs_folder = os.path.join(self.base, "jobs")
        self.max_file_bytes = max_file_bytes
        self.max_retry_delay = max_retry_delay

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

    def open_job(self, name: str, *, create: bool = False) -> JobDir:
        """A handle on the job's folder (JobNotFound if there is none; JobFileRefused if it is a symlink)."""
        check_job_name(name)
        try:
            return JobDir(self.jobs_folder, name, create=create, limit=self.max_file_bytes)
        except JobNotFound:
            raise JobNotFound(f"job {name!r} not found in {self.jobs_folder}") from None

    def exists(self, name: str) -> bool:
        try:
            os.lstat(os.path.join(self.job_folder(name), STATE_FILE))
        except (FileNotFoundError, NotADirectoryError):
            return False
        return True

    def list_job_names(self) -> list[str]:
        """Every job folder name (symlinked ones too, to be reported), sorted; hidden and temporary
        entries are skipped."""
        try:
            fd = open_folder(None, self.jobs_folder, f"the jobs folder {self.jobs_folder}")
        except JobNotFound:
            return []
        try:
            with os.scandir(fd) as entries:
                return sorted(e.name for e in entries if is_valid_name(e.name) and _job_like(e))
        finally:
            os.close(fd)

    def read_log(
        self, name: str, task_id: str, start: int = 0, *, last: int | None = None, limit: int = 8 << 20
    ) -> tuple[bytes, int]:
        """A task's log from byte `start` (or only its `last` bytes), at most `limit` bytes, and the
        offset where what was read ends; (b"", 0) if it has no log yet.

        Opened like every job file: a log that is a symlink or a FIFO is refused (JobFileRefused).
        """
        log_name = f"{check_task_id(task_id)}.log"
        with self.open_job(name) as job_dir:
            try:
                logs = job_dir.subfolder(LOGS_DIR)
            except JobNotFound:
                return b"", 0
            try:
                fd = job_dir.open(log_name, folder_fd=logs)
            except FileNotFoundError:
                return b"", 0
            finally:
                os.close(logs)
        try:
            size = os.fstat(fd).st_size
            if last is not None:
                start = max(size - last, 0)
            end = min(size, start + limit)
            chunks = []
            while start < end:
                chunk = os.pread(fd, min(end - start, 1 << 20), start)
                if not chunk:
                    break
                chunks.append(chunk)
                start += len(chunk)
            return b"".join(chunks), start
        finally:
            os.close(fd)

    def sync(self) -> None:
        """Everything written on the base folder's file system, on disk (syncfs; sync elsewhere)."""
        import ctypes

        fd = os.open(self.base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            if ctypes.CDLL(None, use_errno=True).syncfs(fd) != 0:
                os.sync()
        except (OSError, AttributeError):
            os.sync()
        finally:
            os.close(fd)

    def create_job_dir(self, name: str) -> Path:
        with self.open_job(name, create=True) as job_dir:
            os.close(job_dir.subfolder(LOGS_DIR, create=True))
        return _path(self.job_folder(name))

    # -- locking and documents -----------------------------------------------------

    def transaction(
        self, name: str, *, timeout: float | None = 30.0, require_tasks: bool = True, job_dir: JobDir | None = None
    ) -> Transaction:
        """Lock the job, load its documents, and save the changed ones if the block succeeds.

        `job_dir`: a folder handle already open (the runner's, checked once), used instead of the path.
        """
        check_job_name(name)
        return Transaction(self, name, timeout, require_tasks, job_dir)

    def read_state(self, name: str) -> dict[str, Any]:
        """A lock-free snapshot of state.json (atomic writes make it consistent)."""
        with self.open_job(name) as job_dir:
            return self.read_state_in(job_dir)

    def read_state_in(self, job_dir: JobDir) -> dict[str, Any]:
        state, _ = read_document(job_dir, STATE_FILE)
        if not isinstance(state, dict):
            raise JobFileRefused(f"{os.path.join(job_dir.path, STATE_FILE)} must hold a JSON object")
        job_format.check_state(state, job_dir.path)
        return state

    def read_tasks(self, name: str) -> list[dict[str, Any]]:
        """The job's tasks as they are now: tasks.json with the journal's newer records folded in
        (lock-free; what the manager will write there within max_file_lag)."""
        return self.read_job(name)[1]

    def read_job(self, name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """(state, tasks) read together, the journal folded in; state.json may lack tasks.json yet
        (FileUnreadable)."""
        with self.open_job(name) as job_dir:
            files = JobFiles(job_dir).load(max_retry_delay=self.max_retry_delay)
        state, tasks = files.state or {}, files.tasks or []
        if state.get("state") == "waiting" and any(t.get("status") == "running" for t in tasks):
            state["state"] = "working"  # started since state.json was last written (it follows within a pass)
        return state, tasks

    def write_new_job(self, state: dict[str, Any], tasks: list[dict[str, Any]]) -> Path:
        """Create a job's files under its lock: tasks first, so the manager never sees a job half made.

        Whether the job exists is decided under the lock, so of two creators of one name
        exactly one wins and the other gets JobExists.
        """
        name = state["name"]
        with self.open_job(name, create=True) as job_dir, JobLock(job_dir):
            if job_dir.exists(STATE_FILE):
                raise JobExists(f"job {name!r} already exists in {self.jobs_folder}; pick another name")
            os.close(job_dir.subfolder(LOGS_DIR, create=True))
            job_dir.write(TASKS_FILE, dump_json(tasks))
            job_dir.write(STATE_FILE, dump_json(state))
        return _path(self.job_folder(name))

    # -- the seeds' API (README "Usage Examples") --------------------------------------

    def write_job_state(self, job: Any) -> None:
        """Write a `Job` (or a dict) as state.json under the job's lock, keeping unknown fields."""
        doc = job.to_dict() if hasattr(job, "to_dict") else dict(job)
        with self.open_job(doc["name"], create=True) as job_dir, JobLock(job_dir):
            os.close(job_dir.subfolder(LOGS_DIR, create=True))
            try:
                current, _ = read_document(job_dir, STATE_FILE)
            except FileUnreadable:
                current = {}
            merged = {**current, **doc} if isinstance(current, dict) else doc
            job_dir.write(STATE_FILE, dump_json(merged))

    def fail_invalid_job(self, name: str, reason: str, *, replace_unreadable: bool = False) -> bool:
        """Mark a job that cannot be run failed with `reason` in its state.json; True if written.

        state.json keeps its fields when it can be read. One that is refused (a symlink, a FIFO,
        too large, not an object) is replaced by a fresh document; one that is merely not valid
        JSON is left byte-identical unless `replace_unreadable`. Best effort: a lock that cannot
        be taken (a `.lock` that is a symlink) does not stop the verdict being written.
        """
        from air_executor.core.clock import now_iso

        with self.open_job(name) as job_dir:
            lock = JobLock(job_dir, timeout=2.0)
            try:
                lock.acquire()
            except (JobFileRefused, FileUnreadable, LockTimeout):
                lock = None  # type: ignore[assignment]
            try:
                try:
                    state, _ = read_document(job_dir, STATE_FILE)
                except JobFileRefused:
                    state = None
                except FileUnreadable:
                    if not replace_unreadable and job_dir.exists(STATE_FILE):
                        return False
                    state = None
                if not isinstance(state, dict):
                    state = {"name": name}
                if state.get("state") == "failed" and state.get("error") == reason:
                    return False
                state.update(state="failed", error=reason, updated_at=now_iso())
                job_dir.write(STATE_FILE, dump_json(state))
                return True
            finally:
                if lock is not None:
                    lock.release()

    def read_job_state(self, name: str) -> Any:
        """The job as a `Job` model."""
        from air_executor.core.job import Job

        return Job.model_validate(self.read_state(name))


def _job_like(entry: os.DirEntry[str]) -> bool:
    return entry.is_dir(follow_symlinks=False) or entry.is_symlink()


def _changed(new: bytes, old: bytes, data: Any) -> bool:
    """True if the document differs from what was read; a file formatted by another writer
    (different spacing, same data) is not rewritten just to reformat it."""
    if new == old:
        return False
    if not old:
        return True
    try:
        return bool(jsonfile.loads(old.decode("utf-8")) != data)
    except ValueError:
        return True


def _path(value: str) -> Path:
    from pathlib import Path

    return Path(value)
