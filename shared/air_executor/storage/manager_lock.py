"""One manager per base folder: an exclusive flock on `<base>/manager.pid`, held for life.

The lock, not the PID written inside, says whether a manager runs, so a stale
file left by a crash never blocks a new manager. The file is never deleted (a
manager that unlinked it before closing would let the next one lock a new
file while it still held the old): a stopping manager empties it instead.
"""

from __future__ import annotations

import fcntl
import os
import socket
import stat
import time
from collections.abc import Callable
from pathlib import Path

from air_executor.errors import ManagerError
from air_executor.storage.jobdir import write_out

PID_FILE = "manager.pid"


class ManagerLock:
    def __init__(self, base: Path) -> None:
        self.path = base / PID_FILE
        self._fd: int | None = None

    def acquire(self, standby: Callable[[str], None] | None = None) -> None:
        """Take the lock. Held by another manager: refuse, or with `standby`, say so (it gets the
        holder's PID) and wait until the lock is free: the holder stopped or died (README "Standby
        managers")."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.read(fd, 32).decode(errors="replace").strip() or "?"
            if standby is None:
                os.close(fd)
                raise ManagerError(f"another manager is already running on {self.path.parent} (PID {pid})") from None
            with StandbyMark(self.path.parent):
                standby(pid)
                fcntl.flock(fd, fcntl.LOCK_EX)  # the kernel hands it over when the holder's last fd closes
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            write_small(self.path.parent / ACTIVE_FILE, f"{os.getpid()} {socket.gethostname()}\n".encode())
        except OSError:
            pass  # status shows less; the lock is what counts
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None


ACTIVE_FILE = "manager.active"  # "PID HOST" of the manager holding the lock (hosts differ on shared volumes)
STANDBY_PREFIX = "manager.standby."


class StandbyMark:
    """`<base>/manager.standby.<host>.<pid>`, locked while this manager waits: status counts the
    locked ones (a dead standby's file is unlocked, so it never counts)."""

    def __init__(self, base: Path) -> None:
        self.path = base / f"{STANDBY_PREFIX}{socket.gethostname()}.{os.getpid()}"
        self._fd: int | None = None

    def __enter__(self) -> StandbyMark:
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return self

    def __exit__(self, *_: object) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        if self._fd is not None:
            os.close(self._fd)


def active_manager(base: Path) -> str | None:
    """`PID on HOST` of the manager holding `base` as it wrote it, or None."""
    text = _read_small(base / ACTIVE_FILE)
    parts = text.split() if text else []
    return f"{parts[0]} on {parts[1]}" if len(parts) == 2 and parts[0].isdigit() else None


def standby_managers(base: Path) -> list[str]:
    """`PID on HOST` of each manager waiting to take over `base` (its mark is locked)."""
    found = []
    try:
        names = sorted(n for n in os.listdir(base) if n.startswith(STANDBY_PREFIX))
    except OSError:
        return []
    for name in names:
        host, _, pid = name[len(STANDBY_PREFIX) :].rpartition(".")
        try:
            fd = os.open(base / name, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                found.append(f"{pid} on {host}")  # locked: its manager waits
                continue
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
    return found


def write_small(path: Path, data: bytes, *, durable: bool = False) -> None:
    """Replace a small file beside the job folders (manager.*, format, schedules/), where job authors
    may plant links: the temporary file is made anew (never written through a link of its name), and
    the rename replaces a link at `path` itself, never what it points at. OSError when it cannot."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        os.unlink(tmp)  # a leftover, or a planted link
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        write_out(fd, data, durable)
    finally:
        os.close(fd)
    os.replace(tmp, path)


UNKNOWN = 0  # a manager holds the lock but its PID is not written (yet)


def running_manager_pid(base: Path, wait: float = 1.0) -> int | None:
    """The PID of the manager holding `base`; None when none runs; UNKNOWN (0) when one holds the
    lock but no PID could be read within `wait` seconds (it is starting or stopping)."""
    path = base / PID_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:
        return UNKNOWN
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                text = os.pread(fd, 32, 0).decode(errors="replace").strip()
                if text.isdigit() and int(text) > 1:
                    return int(text)
                if time.monotonic() >= deadline:
                    return UNKNOWN
                time.sleep(0.02)
                continue
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
    finally:
        os.close(fd)


PAUSED_FILE = "manager.paused"
POOLS_FILE = "manager.pools"


def launches_paused(base: Path) -> str | None:
    """Why the running manager starts no runners now (a nearly full volume), or None. The manager
    writes the reason into `<base>/manager.paused` and removes it when it resumes or stops."""
    text = _read_small(base / PAUSED_FILE)
    return text.strip() or None if text is not None else None


def pool_use(base: Path) -> dict[str, dict[str, int]]:
    """`{pool: {size, used}}` as the running manager last wrote it into `<base>/manager.pools`
    (README "Scheduling"); empty when it has no pools or says nothing readable."""
    import json

    text = _read_small(base / POOLS_FILE, 65536)
    try:
        doc = json.loads(text) if text else {}
    except ValueError:
        return {}
    if not isinstance(doc, dict):
        return {}
    return {
        str(pool): {"size": use["size"], "used": use["used"]}
        for pool, use in doc.items()
        if isinstance(use, dict) and all(isinstance(use.get(k), int) for k in ("size", "used"))
    }


def _read_small(path: Path, limit: int = 4096) -> str | None:
    import stat

    try:  # the volume is writable by job authors: no symlink, no FIFO to hang on, a bounded read
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, limit).decode(errors="replace")
    except OSError:
        return None
    finally:
        os.close(fd)
