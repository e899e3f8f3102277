"""An open job folder, and the one way to open a file inside it.

Everyone who can write the volume is a job author (README "Trust model"), and the
manager may run as root, so a job folder is hostile ground:

- every open is relative to a handle on the folder, with O_NOFOLLOW: a symlink
  (to /etc/shadow, to another job) is refused, never followed, and a folder swapped
  for a symlink after it was opened changes nothing;
- O_NONBLOCK, then fstat: a FIFO or a device is refused without blocking;
- a file with other hard links, or larger than the size limit, is refused;
- a root process gives whatever it creates here to the folder's owner, so the
  runner (which runs as that owner) can always lock and update its own job.

Refusals raise `JobFileRefused`: the job is invalid, unlike `FileUnreadable`
(missing or half written: "not ready yet").
"""

from __future__ import annotations

import errno
import os
import stat

from air_executor.errors import FileUnreadable, JobFileRefused, JobNotFound

TYPE_CHECKING = False  # not `typing.TYPE_CHECKING`: importing typing costs the runner ~2 ms
if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import TracebackType

DEFAULT_LIMIT_MB = 64
LIMIT_ENV = "AIR_EXECUTOR_MAX_JOB_FILE_MB"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_SAFE = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symbolic link"),
)


def default_limit() -> int:
    """The largest job file read, in bytes: `$AIR_EXECUTOR_MAX_JOB_FILE_MB` MiB, default 64."""
    try:
        return max(int(os.environ.get(LIMIT_ENV, DEFAULT_LIMIT_MB)), 1) * 1024 * 1024
    except ValueError:
        return DEFAULT_LIMIT_MB * 1024 * 1024


def _kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def open_folder(parent_fd: int | None, path: str, what: str) -> int:
    """A handle on a folder that is not a symlink (relative to `parent_fd` when given)."""
    try:
        return os.open(path, _DIR_FLAGS, dir_fd=parent_fd)
    except FileNotFoundError:
        raise JobNotFound(f"{what} does not exist") from None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # a symlink; a file (or a symlink to one)
            raise JobFileRefused(f"{what} is {_describe_entry(parent_fd, path)}, not a folder") from None
        raise FileUnreadable(f"{what} cannot be opened: {exc.strerror}") from None


def _describe_entry(parent_fd: int | None, path: str) -> str:
    try:
        return _kind(os.lstat(path, dir_fd=parent_fd).st_mode)
    except OSError:
        return "not a folder"


class JobDir:
    """A handle on `<jobs>/<name>`; every file operation inside the job goes through it."""

    def __init__(self, jobs_folder: str, name: str, *, create: bool = False, limit: int | None = None) -> None:
        self.name = name
        self.path = os.path.join(jobs_folder, name)
        self.limit = default_limit() if limit is None else limit
        self.is_root = os.geteuid() == 0
        if create:
            os.makedirs(jobs_folder, exist_ok=True)
        jobs_fd = open_folder(None, jobs_folder, f"the jobs folder {jobs_folder}")
        try:
            if create:
                self._make_job_folder(jobs_fd, name)
            self.fd = open_folder(jobs_fd, name, f"job {name!r} ({self.path})")
        finally:
            os.close(jobs_fd)
        st = os.fstat(self.fd)
        self.uid, self.gid = st.st_uid, st.st_gid
        self.ident = f"{st.st_dev}:{st.st_ino}"

    def _make_job_folder(self, jobs_fd: int, name: str) -> None:
        try:
            os.mkdir(name, 0o777, dir_fd=jobs_fd)
        except FileExistsError:
            return
        # A folder root makes in a jobs folder someone else owns (Airflow's uid, say) is theirs.
        jobs = os.fstat(jobs_fd)
        if self.is_root and jobs.st_uid != 0:
            os.chown(name, jobs.st_uid, jobs.st_gid, dir_fd=jobs_fd, follow_symlinks=False)

    # -- opening ---------------------------------------------------------------------------

    def open(self, name: str, flags: int = os.O_RDONLY, *, folder_fd: int | None = None) -> int:
        """Open a regular file of the job (never a symlink, FIFO, device or hard link); a raw fd."""
        where = self.fd if folder_fd is None else folder_fd
        try:
            fd = os.open(name, flags | _SAFE, 0o666, dir_fd=where)
        except FileNotFoundError:
            raise
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a symlink
                raise JobFileRefused(
                    f"{self._show(name)} is a symbolic link; job files must be regular files"
                ) from None
            raise FileUnreadable(f"{self._show(name)} cannot be opened: {exc.strerror}") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise JobFileRefused(f"{self._show(name)} is {_kind(st.st_mode)}; job files must be regular files")
            if st.st_nlink > 1:
                raise JobFileRefused(f"{self._show(name)} has {st.st_nlink} hard links; job files must have one")
            if flags & os.O_CREAT:
                self._give_to_owner(fd, st)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def read(self, name: str, *, folder_fd: int | None = None) -> bytes:
        """A whole job file, at most `limit` bytes; FileNotFoundError if it is absent."""
        return self.read_signed(name, folder_fd=folder_fd)[0]

    def read_signed(self, name: str, *, folder_fd: int | None = None) -> tuple[bytes, tuple[int, ...]]:
        """`read`, and the signature (inode, size, mtime) of what was read."""
        fd = self.open(name, folder_fd=folder_fd)
        try:
            st = os.fstat(fd)
            size = st.st_size
            if size > self.limit:
                raise JobFileRefused(
                    f"{self._show(name)} is {_mib(size)}, over the {_mib(self.limit)} limit for job files "
                    "(config max_job_file_mb)"
                )
            chunks, total = [], 0
            while True:
                chunk = os.read(fd, max(size - total, 0) + 65536)
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
                if total > self.limit:  # grew while we read it
                    raise JobFileRefused(f"{self._show(name)} is over the {_mib(self.limit)} limit for job files")
            return b"".join(chunks), _signature(st)
        finally:
            os.close(fd)

    def exists(self, name: str) -> bool:
        try:
            os.lstat(name, dir_fd=self.fd)
        except FileNotFoundError:
            return False
        return True

    def entry_mode(self, name: str) -> int | None:
        try:
            return os.lstat(name, dir_fd=self.fd).st_mode
        except FileNotFoundError:
            return None

    # -- writing ---------------------------------------------------------------------------

    def write(
        self, name: str, data: bytes, *, folder_fd: int | None = None, durable: bool = True, sync_folder: bool = True
    ) -> tuple[int, ...]:
        """Replace `name` atomically: temporary file, fsync, rename; owned by the folder's owner.

        Temporary names start with `.` and end with `.tmp`, so listings skip them. The rename
        replaces a symlink or FIFO of that name too, never what it points at. Returns the new
        file's signature (inode, size, mtime): who else changed it since shows as a new one.
        `durable=False` skips the fsyncs: the file survives a crash of any process, not of the host.
        `sync_folder=False` leaves the folder's fsync to the caller (`sync`), for several files at once.
        """
        where = self.fd if folder_fd is None else folder_fd
        tmp = f".{name}.{os.getpid()}.{_next_tmp()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _SAFE, 0o666, dir_fd=where)
        try:
            try:
                self._give_to_owner(fd, os.fstat(fd))
                write_out(fd, data, durable)
                signature = _signature(os.fstat(fd))
            finally:
                os.close(fd)
            os.rename(tmp, name, src_dir_fd=where, dst_dir_fd=where)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=where)
            except FileNotFoundError:
                pass
            raise
        if durable and sync_folder:
            self.sync(folder_fd)
        return signature

    def sync(self, folder_fd: int | None = None) -> None:
        """fsync the folder: renames in it are durable only once its entries are on disk."""
        try:
            os.fsync(self.fd if folder_fd is None else folder_fd)
        except OSError:
            pass

    def create_once(self, name: str, data: bytes, *, folder_fd: int, durable: bool = False) -> bool:
        """Create `name` with `data` unless it exists (O_EXCL): False if someone created it first.

        The one writer that creates a name wins; readers see it empty or partial until its
        writer closes it (inotify's CLOSE_WRITE), and treat it as not there yet meanwhile.
        """
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _SAFE, 0o666, dir_fd=folder_fd)
        except FileExistsError:
            return False
        try:
            self._give_to_owner(fd, os.fstat(fd))
            write_out(fd, data, durable)
        finally:
            os.close(fd)
        if durable:
            self.sync(folder_fd)
        return True

    def names(self, folder_fd: int) -> list[str]:
        """The visible entries of a folder of the job (hidden and temporary ones skipped)."""
        return [name for name in os.listdir(folder_fd) if not name.startswith(".")]

    def remove(self, name: str, *, folder_fd: int) -> None:
        try:
            os.unlink(name, dir_fd=folder_fd)
        except FileNotFoundError:
            pass

    def signature(self, name: str) -> tuple[int, ...] | None:
        """(inode, size, mtime) of a job file without opening it; None if absent."""
        try:
            return _signature(os.lstat(name, dir_fd=self.fd))
        except FileNotFoundError:
            return None

    def subfolder(self, name: str, *, create: bool = False) -> int:
        """A handle on a folder inside the job (`logs`), made (and given to the owner) if asked."""
        if create:
            try:
                os.mkdir(name, 0o777, dir_fd=self.fd)
            except FileExistsError:
                pass
        fd = open_folder(self.fd, name, f"{self._show(name)}")
        try:
            self._give_to_owner(fd, os.fstat(fd))
        except BaseException:
            os.close(fd)
            raise
        return fd

    def open_log(self, task_file: str) -> int:
        """`logs/<task>.log` for appending (made if needed); a raw fd."""
        logs = self.subfolder("logs", create=True)
        try:
            return self.open(task_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, folder_fd=logs)
        finally:
            os.close(logs)

    # -- ownership -------------------------------------------------------------------------

    def _give_to_owner(self, fd: int, st: os.stat_result) -> None:
        """As root, hand what root created (or an old root-owned lock) to the folder's owner."""
        if self.is_root and st.st_uid == 0 and self.uid != 0:
            os.fchown(fd, self.uid, self.gid)

    def hand_over(self, uid: int, gid: int, *, only_root_owned: bool = False) -> None:
        """Give the job folder and what is in it (and in logs/, runs/) to `uid:gid` (root only).

        Entries are changed through the folder's handle, never through a path, and
        symlinks are left alone, so nothing outside the job changes hands. With
        `only_root_owned`, only entries root owns change (healing a folder an older
        release or a root client left root-owned files in).
        """
        if not only_root_owned or self.uid == 0:
            os.fchown(self.fd, uid, gid)
        self.uid, self.gid = uid, gid
        for folder_fd in self._own_folders():
            try:
                if folder_fd != self.fd and (not only_root_owned or os.fstat(folder_fd).st_uid == 0):
                    os.fchown(folder_fd, uid, gid)
                for entry in os.scandir(folder_fd):
                    if not (entry.is_file(follow_symlinks=False) or entry.is_dir(follow_symlinks=False)):
                        continue
                    if only_root_owned and entry.stat(follow_symlinks=False).st_uid != 0:
                        continue
                    os.chown(entry.name, uid, gid, dir_fd=folder_fd, follow_symlinks=False)
            finally:
                if folder_fd != self.fd:
                    os.close(folder_fd)

    def runner_identity(self, fallback: tuple[int, int], *, heal: bool = False) -> tuple[int, int]:
        """The uid and gid this job's tasks run as: the folder's owner, never root.

        A root-owned folder (made by a root client) is first handed to `fallback`, the
        config's `runner_user`, when this process may do so. With `heal`, root-owned
        entries of a folder someone else owns are given to that owner.
        """
        if self.uid != 0:
            if heal and self.is_root:
                self.hand_over(self.uid, self.gid, only_root_owned=True)
            return self.uid, self.gid
        if self.is_root:
            self.hand_over(*fallback)
            return fallback
        return os.geteuid(), os.getegid()

    def _own_folders(self) -> Iterator[int]:
        yield self.fd
        for sub in ("logs", "runs", "queue", "ids"):
            try:
                yield open_folder(self.fd, sub, sub)
            except (JobNotFound, JobFileRefused, FileUnreadable):
                continue

    # -- life ------------------------------------------------------------------------------

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> JobDir:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _show(self, name: str) -> str:
        return f"job {self.name!r}: {name}"


_counter = [0]


def _next_tmp() -> int:
    _counter[0] += 1
    return _counter[0]


def _signature(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _mib(size: int) -> str:
    return f"{size / 1048576:.1f} MiB"


def write_out(fd: int, data: bytes, durable: bool = False) -> None:
    """All of `data` to `fd` (os.write may write less), then fsync when `durable`."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    if durable:
        os.fsync(fd)
