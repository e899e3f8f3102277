"""`air-executor backup FILE`: a tar of the base folder, each job copied under its lock.

Taken while the manager runs, it is still consistent: a job's files and journal are read under
the job's lock (the manager folds and removes records only under it), the journal is folded in,
and a task running at that moment is stored pending again (its attempt not counted): restored,
it runs again, since the runner that had it does not come along. Everything is read through
`JobDir` (no symlinks, no FIFOs), and the archive holds only plain files and folders, so
extracting it is safe.
"""

from __future__ import annotations

import io
import os
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from air_executor.core import transitions as rules
from air_executor.core.lifecycle import RUNNING
from air_executor.errors import AirExecutorError, InvalidJob
from air_executor.storage import file_format, journal
from air_executor.storage.file_store import (
    LOGS_DIR,
    STATE_FILE,
    TASKS_FILE,
    FileStore,
    JobFiles,
    dump_json,
    encode_task,
    encode_tasks,
)
from air_executor.storage.jobdir import JobDir
from air_executor.storage.lock import JobLock

CHUNK = 1 << 20


class Summary:
    def __init__(self) -> None:
        self.jobs: list[str] = []
        self.requeued: dict[str, list[str]] = {}  # job -> tasks stored pending again
        self.skipped: dict[str, str] = {}  # job -> why it is not in the archive
        self.bytes = 0


def backup(
    store: FileStore, dest: Path, *, lock_timeout: float = 30.0, progress: Callable[[str], None] | None = None
) -> Summary:
    """Write the archive to `dest` (.tar, .tar.gz or .tgz); refuses to overwrite a file."""
    gzip = dest.name.endswith((".tar.gz", ".tgz"))
    if not dest.name.endswith((".tar", ".tar.gz", ".tgz")):
        raise InvalidJob(f"{dest}: a backup file name must end in .tar, .tar.gz or .tgz")
    if dest.exists() or dest.is_symlink():
        raise InvalidJob(f"{dest} already exists; choose a new file name")
    summary = Summary()
    partial = dest.with_name(f".{dest.name}.{os.getpid()}.partial")
    try:
        with tarfile.open(partial, "w:gz") if gzip else tarfile.open(partial, "w") as tar:
            _add_bytes(tar, file_format.BASE_FILE, f"{file_format.FORMAT_VERSION}\n".encode(), time.time())
            config = store.base_path / "config.yaml"
            if config.is_file() and not config.is_symlink():
                _add_bytes(tar, "config.yaml", config.read_bytes(), config.stat().st_mtime)
            for name in store.list_job_names():
                try:
                    _add_job(store, tar, name, lock_timeout, summary)
                except (AirExecutorError, OSError) as exc:
                    summary.skipped[name] = str(exc)
                    continue
                summary.jobs.append(name)
                if progress is not None:
                    progress(name)
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)
    summary.bytes = dest.stat().st_size
    return summary


def _add_job(store: FileStore, tar: tarfile.TarFile, name: str, timeout: float, summary: Summary) -> None:
    with store.open_job(name) as job_dir, JobLock(job_dir, timeout=timeout):
        files = JobFiles(job_dir).load(max_retry_delay=store.max_retry_delay)
        state, tasks = files.state or {}, files.tasks or []
        requeued = []
        for task in tasks:
            if task.get("status") == RUNNING:
                rules.unclaim(task)
                requeued.append(str(task.get("id")))
        if requeued:
            summary.requeued[name] = requeued
        owner = os.fstat(job_dir.fd)
        now = time.time()
        prefix = f"jobs/{name}"
        _add_folder(tar, prefix, owner, now)
        _add_bytes(tar, f"{prefix}/{STATE_FILE}", dump_json(state), now, owner)
        _add_bytes(tar, f"{prefix}/{TASKS_FILE}", encode_tasks([encode_task(t) for t in tasks]), now, owner)
        for folder in (journal.IDS, LOGS_DIR):  # the add-task index, the logs
            _add_files(tar, job_dir, folder, prefix, owner)


def _add_files(tar: tarfile.TarFile, job_dir: JobDir, folder: str, prefix: str, owner: os.stat_result) -> None:
    sub = journal.open_folder(job_dir, folder)
    if sub is None:
        return
    with sub:
        _add_folder(tar, f"{prefix}/{folder}", owner, time.time())
        for entry in sub.names():
            try:
                fd = job_dir.open(entry, folder_fd=sub.fd)
            except FileNotFoundError:
                continue
            except AirExecutorError:
                continue  # not a plain file (a job author's symlink or FIFO): not backed up
            with os.fdopen(fd, "rb") as file:
                st = os.fstat(file.fileno())
                info = _info(f"{prefix}/{folder}/{entry}", st.st_mtime, owner)
                info.size = st.st_size  # a log still growing: exactly what was there when we looked
                tar.addfile(info, _Exactly(file, st.st_size))


class _Exactly(io.RawIOBase):
    """`size` bytes of a file that may grow meanwhile (padded with nothing: it only grows)."""

    def __init__(self, file: Any, size: int) -> None:
        self.file, self.left = file, size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left, CHUNK)
        data = self.file.read(n)
        self.left -= len(data)
        return data


def _info(name: str, mtime: float, owner: os.stat_result | None = None) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = int(mtime)
    info.mode = 0o644
    if owner is not None:
        info.uid, info.gid = owner.st_uid, owner.st_gid
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: float, owner: os.stat_result | None = None) -> None:
    info = _info(name, mtime, owner)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _add_folder(tar: tarfile.TarFile, name: str, owner: os.stat_result, mtime: float) -> None:
    info = _info(name, mtime, owner)
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    tar.addfile(info)
