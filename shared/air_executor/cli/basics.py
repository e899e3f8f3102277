"""What every command needs, without click: the global options' values, error lines, the base and lock checks.

Kept free of click, rich and pydantic: `add-task` (cli/addtask.py) runs on these alone.
"""

from __future__ import annotations

import os
import sys

from air_executor.errors import AirExecutorError, ConfigError, LockTimeout

TYPE_CHECKING = False  # typing costs add-task's light path a few milliseconds
if TYPE_CHECKING:
    from air_executor.storage.file_store import FileStore

LOCK_TIMEOUT = 30.0  # as long as the job store waits for a job's lock
LOCK_NOTICE_AFTER = 1.0


class Globals:
    """The global options as given on the command line (None when not given)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.base_path: str | None = None
        self.config_file: str | None = None
        self.debug = False


GLOBALS = Globals()  # one command per process: the error handler reads `debug` after the command ran


def interrupted(exc: BaseException) -> bool:
    """Ctrl-C, even when it landed inside code that wraps what it catches (an import being run, say:
    dataclasses turn it into a RuntimeError) and so arrives as another exception caused by it."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def fail(message: str, code: int, debug: bool) -> int:
    """Print one `error:` line (the traceback above it with --debug); return the exit code."""
    if debug:
        import traceback  # only here: it costs add-task a few milliseconds otherwise

        traceback.print_exc()
    print(f"error: {message}", file=sys.stderr)
    return code


def os_error_message(exc: OSError) -> str:
    where = f": {exc.filename}" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"


def check_base(base: str | os.PathLike[str]) -> None:
    """Refuse a base folder that is a file, or lies under one, in one line rather than a traceback."""
    path = os.fspath(base)
    for folder in (path, os.path.join(path, "jobs")):
        if os.path.exists(folder) and not os.path.isdir(folder):
            raise ConfigError(f"base path {path} is not usable: {folder} is not a folder")
    parent = os.path.dirname(path)
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent) if os.path.dirname(parent) != parent else ""
    if parent and not os.path.isdir(parent):
        raise ConfigError(f"base path {path} is not usable: {parent} is a file, not a folder")


def wait_for_job_lock(store: FileStore, job: str, timeout: float = LOCK_TIMEOUT) -> None:
    """Before changing a job: while another process holds its lock, say so (after a second) and wait.

    The store then takes the lock itself; this only makes a long wait visible instead of
    30 silent seconds. A shared, non-blocking probe fails only while someone holds it.
    """
    import fcntl
    import time

    try:
        with store.open_job(job) as job_dir:  # the lock file is opened like every job file: no symlink, no FIFO
            fd = job_dir.open(".lock")
    except (OSError, AirExecutorError):  # no lock file yet, or no job: nobody holds it; the store says why later
        return
    job_folder = store.job_folder(job)
    try:
        start, told = time.monotonic(), False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return  # free; closing the file below lets go of the probe
            except BlockingIOError:
                waited = time.monotonic() - start
                if waited >= timeout:
                    raise LockTimeout(f"timed out after {timeout:g} s waiting for the lock of job {job}") from None
                if not told and waited >= LOCK_NOTICE_AFTER:
                    notice = f"Waiting for job {job}'s lock ({job_folder}/.lock): another process holds it"
                    print(notice, file=sys.stderr, flush=True)
                    told = True
                time.sleep(0.05)
    finally:
        os.close(fd)
