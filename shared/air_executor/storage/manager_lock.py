"""One manager per base folder: an exclusive flock on `<base>/manager.pid`, held for life.

The lock, not the PID written inside, says whether a manager runs, so a stale
file left by a crash never blocks a new manager.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from air_executor.errors import ManagerError

PID_FILE = "manager.pid"


class ManagerLock:
    def __init__(self, base: Path) -> None:
        self.path = base / PID_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise ManagerError(f"another manager is already running on {self.path.parent} (PID {pid})") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass
            os.close(self._fd)
            self._fd = None


def running_manager_pid(base: Path) -> int | None:
    """The PID of the manager holding `base`, or None when none runs."""
    path = base / PID_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 32).decode(errors="replace").strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
