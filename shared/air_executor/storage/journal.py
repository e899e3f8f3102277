"""How a job changes without rewriting its tasks.json: one small record per change.

A job of 10,000 tasks must not rewrite a 10,000-task file three times per task. So the
ones who change a job leave records beside it, and the manager folds them into
`tasks.json` in one write per job now and then (README "Job files"):

    <job>/runs/<launch>.json    the claim: the task as the manager launched it (the runner
                                reads only this); written before the runner starts
    <job>/runs/<launch>.start   the runner started it: created once (O_EXCL), so a manager
                                that gives up on a launch that never started (it creates
                                the name itself) and a late runner cannot both win
    <job>/runs/<launch>.end     how the attempt ended: created once, by the runner, or by
                                the manager for a runner that died without saying
    <job>/queue/<stamp>.json    tasks `add-task` queued, not yet in tasks.json
    <job>/ids/<task id>         one marker per task (its spawn depth inside), and
    <job>/ids/<hash>.dedup      one per dedup key (its task id inside), so `add-task` checks
                                ids and keys without reading tasks.json
    <job>/ids/.count            how many tasks the job has

Records are applied by launch id and task id, so folding one twice changes nothing, and
they are removed only once a `tasks.json` holding them is on disk. Everything here is
opened through `JobDir` (no symlinks, no FIFOs) and imports only what the runner may.
"""

from __future__ import annotations

import os

from air_executor.storage import jsonfile

TYPE_CHECKING = False  # not `typing.TYPE_CHECKING`: importing typing costs the runner ~2 ms
if TYPE_CHECKING:
    from typing import Any

    from air_executor.storage.jobdir import JobDir

RUNS = "runs"
QUEUE = "queue"
IDS = "ids"
COUNT = ".count"
CLAIM, START, END = ".json", ".start", ".end"


def record_bytes(doc: dict[str, Any]) -> bytes:
    return (jsonfile.dumps(doc) + "\n").encode()


def parse_record(data: bytes) -> dict[str, Any] | None:
    """A record's document; None while it is being written (empty or cut short) or if it is not one."""
    try:
        doc = jsonfile.loads(data.decode("utf-8"))
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


class Folder:
    """A subfolder of an open job (runs/, queue/, ids/), made on demand and closed after use."""

    def __init__(self, job_dir: JobDir, name: str, *, create: bool = False) -> None:
        self.job_dir, self.name = job_dir, name
        self.fd = job_dir.subfolder(name, create=create)

    def read(self, name: str) -> dict[str, Any] | None:
        """A record, or None if it is absent or not whole yet."""
        try:
            return parse_record(self.job_dir.read(name, folder_fd=self.fd))
        except FileNotFoundError:
            return None

    def read_text(self, name: str) -> str | None:
        try:
            return self.job_dir.read(name, folder_fd=self.fd).decode("utf-8", "replace")
        except FileNotFoundError:
            return None

    def create_once(self, name: str, doc: dict[str, Any], *, durable: bool = False) -> bool:
        return self.job_dir.create_once(name, record_bytes(doc), folder_fd=self.fd, durable=durable)

    def write(self, name: str, data: bytes, *, durable: bool = False) -> None:
        self.job_dir.write(name, data, folder_fd=self.fd, durable=durable)

    def names(self) -> list[str]:
        return self.job_dir.names(self.fd)

    def exists(self, name: str) -> bool:
        try:
            os.lstat(name, dir_fd=self.fd)
        except FileNotFoundError:
            return False
        return True

    def remove(self, name: str) -> None:
        self.job_dir.remove(name, folder_fd=self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Folder:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def open_folder(job_dir: JobDir, name: str, *, create: bool = False) -> Folder | None:
    """The job's `name` folder, or None when it does not exist (and `create` is not asked)."""
    from air_executor.errors import JobNotFound

    try:
        return Folder(job_dir, name, create=create)
    except JobNotFound:
        return None


# -- attempts ------------------------------------------------------------------------------


class Attempt:
    """What runs/ holds for one launch: its claim, its start, its end (each may be missing)."""

    def __init__(self, launch: str) -> None:
        self.launch = launch
        self.claim: dict[str, Any] | None = None
        self.start: dict[str, Any] | None = None
        self.end: dict[str, Any] | None = None
        self.started = False  # a .start exists (even one still being written)
        self.ended = False

    @property
    def task_id(self) -> str | None:
        return None if self.claim is None else self.claim.get("task_id")


def read_attempts(job_dir: JobDir, launches: set[str] | None = None) -> dict[str, Attempt]:
    """The attempts recorded in runs/ (only `launches` when given), by launch id."""
    folder = open_folder(job_dir, RUNS)
    if folder is None:
        return {}
    with folder:
        names = folder.names()
        attempts: dict[str, Attempt] = {}
        for name in names:
            launch, dot, kind = name.partition(".")
            if not dot or (launches is not None and launch not in launches):
                continue
            attempt = attempts.setdefault(launch, Attempt(launch))
            if "." + kind == CLAIM:
                attempt.claim = folder.read(name)
            elif "." + kind == START:
                attempt.started, attempt.start = True, folder.read(name)
            elif "." + kind == END:
                attempt.ended, attempt.end = True, folder.read(name)
        return attempts


def write_claim(job_dir: JobDir, launch: str, doc: dict[str, Any]) -> None:
    """The claim record, before the runner is launched. Not synced: a claim matters only while its
    runner lives, and a runner does not outlive its host; the end record (synced) names its task and
    attempt itself, so an outcome is never lost with a claim."""
    with Folder(job_dir, RUNS, create=True) as folder:
        folder.write(launch + CLAIM, record_bytes(doc))


def read_claim(job_dir: JobDir, launch: str) -> dict[str, Any] | None:
    folder = open_folder(job_dir, RUNS)
    if folder is None:
        return None
    with folder:
        return folder.read(launch + CLAIM)


def mark(job_dir: JobDir, launch: str, kind: str, doc: dict[str, Any]) -> bool:
    """Create the launch's `.start` or `.end` record once; False if it already exists.

    Not synced here (a sync per task would make every runner wait on the disk): the manager
    syncs the volume every second (writer.py's checkpoint), so an outcome survives a crash of
    any process at once, and of the host after that second.
    """
    with Folder(job_dir, RUNS, create=True) as folder:
        return folder.create_once(launch + kind, doc)


def replace_end(job_dir: JobDir, launch: str, doc: dict[str, Any]) -> None:
    """Overwrite an `.end` left unreadable by a runner that died writing it (it writes no more)."""
    with Folder(job_dir, RUNS, create=True) as folder:
        folder.write(launch + END, record_bytes(doc))


def remove_attempts(job_dir: JobDir, launches: list[str]) -> None:
    folder = open_folder(job_dir, RUNS)
    if folder is None:
        return
    with folder:
        for launch in launches:
            for kind in (END, START, CLAIM):  # the claim last: while it exists, so does the launch
                folder.remove(launch + kind)


# -- queued tasks ---------------------------------------------------------------------------


def queue_tasks(job_dir: JobDir, docs: list[dict[str, Any]]) -> str:
    """Leave new task documents for the manager to fold into tasks.json; returns the record's name."""
    import time

    name = f"{time.time_ns():020d}-{os.getpid()}-{_next()}.json"
    with Folder(job_dir, QUEUE, create=True) as folder:
        folder.write(name, record_bytes({"tasks": docs}), durable=True)
    return name


def read_queue(job_dir: JobDir) -> list[tuple[str, list[dict[str, Any]]]]:
    """The queued records, oldest first: (name, task documents)."""
    folder = open_folder(job_dir, QUEUE)
    if folder is None:
        return []
    with folder:
        found = []
        for name in sorted(folder.names()):
            doc = folder.read(name)
            tasks = doc.get("tasks") if doc is not None else None
            if isinstance(tasks, list):
                found.append((name, [t for t in tasks if isinstance(t, dict)]))
        return found


def remove_queued(job_dir: JobDir, names: list[str]) -> None:
    folder = open_folder(job_dir, QUEUE)
    if folder is None:
        return
    with folder:
        for name in names:
            folder.remove(name)


_counter = [0]


def _next() -> int:
    _counter[0] += 1
    return _counter[0]


# -- the index of task ids and dedup keys ---------------------------------------------------


class Index:
    """ids/: a marker per task id (holding its depth), per dedup key (holding the task id), and the
    count, so queuing a task costs the same in a job of ten tasks or of ten thousand.

    Kept by everyone who adds tasks under the job's lock. A job written by a naive writer
    has none until the first protocol writer (or the manager) builds it from tasks.json.
    """

    def __init__(self, folder: Folder) -> None:
        self.folder = folder

    @classmethod
    def open(cls, job_dir: JobDir, *, create: bool = False) -> Index | None:
        folder = open_folder(job_dir, IDS, create=create)
        return None if folder is None else cls(folder)

    def close(self) -> None:
        self.folder.close()

    @property
    def complete(self) -> bool:
        return self.folder.exists(COUNT)

    def count(self) -> int:
        text = self.folder.read_text(COUNT)
        try:
            return int(text or 0)
        except ValueError:
            return 0

    def has(self, task_id: str) -> bool:
        return self.folder.exists(task_id)

    def depth(self, task_id: str) -> int | None:
        text = self.folder.read_text(task_id)
        if text is None:
            return None
        try:
            return int(text.strip() or 0)
        except ValueError:
            return 0

    def dedup(self, key: str) -> str | None:
        text = self.folder.read_text(dedup_name(key))
        return text.strip() if text else None

    def add(self, task: dict[str, Any]) -> None:
        task_id = str(task["id"])
        self.folder.write(task_id, str(_int(task.get("depth"))).encode())
        if isinstance(task.get("dedup_key"), str):
            self.folder.write(dedup_name(task["dedup_key"]), task_id.encode())

    def set_count(self, count: int) -> None:
        self.folder.write(COUNT, str(count).encode())

    def rebuild(self, tasks: list[dict[str, Any]]) -> None:
        """Markers for every task that lacks one, and the count (from tasks.json and the queue)."""
        present = set(self.folder.names())
        for task in tasks:
            task_id = task.get("id")
            if isinstance(task_id, str) and task_id not in present:
                self.add(task)
                present.add(task_id)
        self.set_count(len(tasks))


def dedup_name(key: str) -> str:
    import hashlib

    return hashlib.sha256(key.encode()).hexdigest()[:40] + ".dedup"


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
