"""Removing finished jobs (config `retention`, `air-executor prune`), never one in use.

A job is removed only under its lock, taken without waiting (a client or reader holding it keeps
the job for now), and only if its state.json, read again under that lock, still says it finished
as expected. The folder is first renamed to a hidden name in jobs/ (atomic: from then on the
name is free for a new job, and readers see the job as gone), then deleted without following
any link inside it.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable

from air_executor.core.clock import parse_iso
from air_executor.core.retention import FINISHED, Finished
from air_executor.errors import AirExecutorError, LockTimeout
from air_executor.storage.file_store import STATE_FILE, FileStore
from air_executor.storage.lock import JobLock

TRASH_PREFIX = ".pruned-"


def finished_at(state: dict, fallback: float) -> float:
    """When a finished job finished: its state.json's updated_at (or the file's time)."""
    return parse_iso(state.get("updated_at")) or fallback


def finished_jobs(store: FileStore, names: Iterable[str] | None = None) -> list[Finished]:
    """Every finished job on disk (a lock-free read of each state.json)."""
    found = []
    for name in store.list_job_names() if names is None else names:
        try:
            with store.open_job(name) as job_dir:
                state = store.read_state_in(job_dir)
                mtime = os.stat(STATE_FILE, dir_fd=job_dir.fd, follow_symlinks=False).st_mtime
        except (AirExecutorError, OSError):
            continue  # unreadable, refused or gone: not ours to remove
        if state.get("state") in FINISHED:
            found.append(Finished(name, str(state["state"]), finished_at(state, mtime)))
    return found


def remove_job(store: FileStore, job: Finished) -> str | None:
    """Remove `job` if it is still as seen; None when removed, else why it was kept."""
    try:
        with store.open_job(job.name) as job_dir:
            try:
                with JobLock(job_dir, timeout=0):
                    state = store.read_state_in(job_dir)
                    if state.get("state") != job.state:
                        return f"it is {state.get('state')} now"
                    if finished_at(state, job.finished_at) > job.finished_at + 1:
                        return "it has run again since"
                    trash = f"{TRASH_PREFIX}{job.name}-{uuid.uuid4().hex[:8]}"
                    # A rename (of the name, never of a link's target) moves the folder we hold open.
                    os.rename(os.path.join(store.jobs_folder, job.name), os.path.join(store.jobs_folder, trash))
            except LockTimeout:
                return "its lock is held (it is being read or changed)"
    except (AirExecutorError, OSError) as exc:
        return str(exc)
    empty_trash(store, trash)
    return None


def empty_trash(store: FileStore, only: str | None = None) -> None:
    """Delete renamed job folders (all of them, e.g. after a crash mid-delete, or `only`)."""
    try:
        names = [only] if only else [n for n in os.listdir(store.jobs_folder) if n.startswith(TRASH_PREFIX)]
    except OSError:
        return
    for name in names:
        # rmtree works through file descriptors here (Linux): a symlink inside is removed, never followed.
        shutil.rmtree(os.path.join(store.jobs_folder, name), ignore_errors=True)
