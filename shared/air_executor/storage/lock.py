"""The per-job lock: an exclusive flock(2) on `<job>/.lock`.

flock works between processes and between containers that share the volume on
one host (same kernel, same inode), and any language can take it, which is
why the protocol is just "flock this file" rather than a library's format.
The lock file is never deleted: deleting it would let two holders lock two
different inodes. Writes themselves go through atomic rename, so readers that
do not lock still never see a half-written file from us.

The lock file is opened like every job file (jobdir.py): a symlink or FIFO named
`.lock` is refused, and a root process gives a lock file it creates (or an old
root-owned one) to the job folder's owner, so that owner's runners can take it.
"""

from __future__ import annotations

import fcntl
import os
import time

from air_executor.errors import LockTimeout

TYPE_CHECKING = False  # not `typing.TYPE_CHECKING`: importing typing costs the runner ~2 ms
if TYPE_CHECKING:
    from types import TracebackType

    from air_executor.storage.jobdir import JobDir

LOCK_FILE = ".lock"


class JobLock:
    """Context manager holding the exclusive lock of one open job folder."""

    def __init__(self, job_dir: JobDir, timeout: float | None = 30.0) -> None:
        self.job_dir = job_dir
        self.timeout = timeout
        self._fd: int | None = None

    @property
    def path(self) -> str:
        return os.path.join(self.job_dir.path, LOCK_FILE)

    def acquire(self) -> None:
        fd = self.job_dir.open(LOCK_FILE, os.O_RDWR | os.O_CREAT)
        try:
            if self.timeout is None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            else:
                self._wait(fd, self.timeout)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def _wait(self, fd: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pause = 0.001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(f"timed out after {timeout:g} s waiting for the lock {self.path}") from None
                time.sleep(pause)
                pause = min(pause * 2, 0.05)

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> JobLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
