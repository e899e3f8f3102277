"""Claim the task, run its command in its own session, record the outcome.

The command runs without a shell through posix_spawn (no `subprocess` import:
it would double the runner's start-up). It gets its own process group, so a
timeout or a stop signal can end all of it: SIGTERM first, SIGKILL after the
grace period.
"""

from __future__ import annotations

# `_signal` is the C module behind `signal`: the same functions and numbers without the
# enum classes `signal` builds at import, which cost the runner a few milliseconds per task.
import _signal as signal
import os
import sys
import time

from air_executor.core import lifecycle
from air_executor.core.clock import now_iso
from air_executor.errors import AirExecutorError, FileUnreadable, LockTimeout
from air_executor.storage.file_store import FileStore

from air_executor_runner import EXIT_COMPLETED, EXIT_FAILED, EXIT_STALE, EXIT_UNRECORDED

TYPE_CHECKING = False  # not `typing.TYPE_CHECKING`: importing typing costs the runner ~2 ms
if TYPE_CHECKING:
    from typing import Any

DEFAULT_TIMEOUT = 1800.0
DEFAULT_GRACE = 10.0
RECORD_ATTEMPTS = 20


class Outcome:
    def __init__(self, result: str, error: str | None = None, exit_code: int | None = None) -> None:
        self.result, self.error, self.exit_code = result, error, exit_code
        self.details: dict[str, Any] = {}


def run_task(base: str, job: str, task_id: str, launch_id: str) -> int:
    try:
        store = FileStore(base)
        task = claim_retrying(store, job, task_id, launch_id)
    except AirExecutorError as exc:
        print(f"air-executor-runner: {exc}", file=sys.stderr)
        return EXIT_UNRECORDED
    if task is None:
        return EXIT_STALE
    started = time.monotonic()
    outcome = execute(store, job, task)
    outcome.details["wall_time"] = round(time.monotonic() - started, 6)
    if not record(store, job, task_id, launch_id, outcome):
        return EXIT_UNRECORDED
    return EXIT_COMPLETED if outcome.result == lifecycle.SUCCESS else EXIT_FAILED


def claim_retrying(store: FileStore, job: str, task_id: str, launch_id: str) -> dict[str, Any] | None:
    """`claim`, read again while the files are caught half written or the lock is busy (as `record` does)."""
    pause = 0.05
    for attempt in range(RECORD_ATTEMPTS):
        try:
            return claim(store, job, task_id, launch_id)
        except (FileUnreadable, LockTimeout) as exc:
            if attempt == RECORD_ATTEMPTS - 1:
                raise
            print(f"air-executor-runner: cannot claim the task yet: {exc}", file=sys.stderr)
            time.sleep(pause)
            pause = min(pause * 2, 3.0)
    return None


def claim(store: FileStore, job: str, task_id: str, launch_id: str) -> dict[str, Any] | None:
    """Mark the task started if it is still ours; None if the launch is stale."""
    with store.transaction(job) as files:
        task = files.task(task_id)
        if task is None or task.get("launch_id") != launch_id or task.get("status") != lifecycle.RUNNING:
            return None
        if (files.state or {}).get("state") == lifecycle.CANCELLED:
            lifecycle.finish_attempt(task, result=lifecycle.KILLED, error="cancelled", job_cancelled=True)
            return None
        task["started_at"] = now_iso()
        task["runner_pid"] = os.getpid()
        task["runner_host"] = os.uname().nodename
        return dict(task)


def execute(store: FileStore, job: str, task: dict[str, Any]) -> Outcome:
    log_path = store.log_file(job, task["id"])
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o666)
    early_stops: list[int] = []  # a stop signal before the supervisor is in place must not be lost
    for signum in STOP_SIGNALS:
        signal.signal(signum, lambda signum, _frame: early_stops.append(signum))
    try:
        pid_or_outcome = spawn(store, job, task, log_fd)
        if early_stops and not isinstance(pid_or_outcome, Outcome):
            _reap_at_once(pid_or_outcome)
            pid_or_outcome = Outcome(lifecycle.KILLED, f"stopped by {_signal_name(early_stops[0])}")
        if isinstance(pid_or_outcome, Outcome):
            outcome = pid_or_outcome
        else:
            grace = _env_float("AIR_EXECUTOR_STOP_GRACE", DEFAULT_GRACE)
            outcome = Supervisor(pid_or_outcome, _timeout(task), grace).wait()
        if outcome.result != lifecycle.SUCCESS:
            _describe_failure(outcome, task, log_path)
            os.write(log_fd, f"[air-executor] {outcome.error}\n".encode())
    finally:
        os.close(log_fd)
    return outcome


def spawn(store: FileStore, job: str, task: dict[str, Any], log_fd: int) -> int | Outcome:
    """Start the command in a new session with stdout and stderr on the log."""
    command = str(task.get("command") or "")
    argv = [command, *[str(a) for a in task.get("args") or []]]
    env = task.get("env")
    if isinstance(env, dict):
        os.environ.update({str(k): str(v) for k, v in env.items()})
    # The runner's own bin folder comes first, so a task finds `air-executor` (to queue
    # subtasks) and a `python` that can import air_executor, as in the runner image.
    own_bin = os.path.dirname(sys.executable)
    path = os.environ.get("PATH", "")
    if own_bin not in path.split(os.pathsep):
        os.environ["PATH"] = own_bin + os.pathsep + path if path else own_bin
    os.environ.update(
        AIR_EXECUTOR_BASE_PATH=store.base,
        AIR_EXECUTOR_JOB=job,
        AIR_EXECUTOR_TASK_ID=str(task["id"]),
        AIR_EXECUTOR_ATTEMPT=str(task.get("attempts", 1)),
    )
    try:
        note = _enter_working_directory(task, store.job_folder(job))
    except OSError as exc:
        return Outcome(lifecycle.FAILED_TO_START, f"working directory {exc.filename!r} is not usable: {exc.strerror}")
    if note:
        os.write(log_fd, f"[air-executor] {note}\n".encode())
    try:
        return os.posix_spawnp(
            command,
            argv,
            os.environ,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, log_fd, 1),
                (os.POSIX_SPAWN_DUP2, log_fd, 2),
            ],
            # Its own process group (for timeouts) inside the runner's session, so
            # a manager that finds the runner dead can still find and end it.
            setpgroup=0,
            # Python ignores SIGPIPE; the command must get the default back.
            setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
        )
    except FileNotFoundError:
        return Outcome(lifecycle.FAILED_TO_START, f"command not found: {command}")
    except PermissionError:
        return Outcome(lifecycle.FAILED_TO_START, f"command not executable: {command}")
    except (OSError, ValueError) as exc:
        return Outcome(lifecycle.FAILED_TO_START, f"cannot start {command!r}: {getattr(exc, 'strerror', None) or exc}")


def _enter_working_directory(task: dict[str, Any], job_folder: str) -> str | None:
    """Change to where the command runs; returns a note for the task's log when it had to fall back.

    Its `cwd` if set (an unusable one raises: the task fails); else `submit_dir`, the folder
    it was queued from, if this runner can enter it; else its job's folder.
    """
    cwd = task.get("cwd")
    if cwd:
        os.chdir(cwd)
        return None
    submit_dir = task.get("submit_dir")
    if not submit_dir:
        os.chdir(job_folder)  # written by a client that records no folder: nothing to report
        return None
    try:
        os.chdir(submit_dir)
        return None
    except OSError as exc:
        reason = f"cannot enter the submit directory {submit_dir} ({exc.strerror})"
    os.chdir(job_folder)
    return f"running in {job_folder}: {reason}"


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _reap_at_once(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    os.waitpid(pid, 0)


class Supervisor:
    """Wait for the command; on timeout or a stop signal end its process group."""

    def __init__(self, pid: int, timeout: float, grace: float) -> None:
        self.pid, self.timeout, self.grace = pid, timeout, grace
        self.reason: str | None = None
        self.signal_name = ""

    def wait(self) -> Outcome:
        signal.signal(signal.SIGALRM, lambda *_: self._escalate(lifecycle.TIMED_OUT))
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_stop)
        signal.setitimer(signal.ITIMER_REAL, self.timeout)
        _, status = os.waitpid(self.pid, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        self._kill(signal.SIGKILL)  # whatever the command left behind in its group
        return self._outcome(os.waitstatus_to_exitcode(status))

    def _on_stop(self, signum: int, _frame: Any) -> None:
        self.signal_name = _signal_name(signum)
        self._escalate(lifecycle.KILLED)

    def _escalate(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            self._kill(signal.SIGTERM)
            signal.setitimer(signal.ITIMER_REAL, max(self.grace, 0.001))
        else:
            self._kill(signal.SIGKILL)

    def _kill(self, signum: int) -> None:
        try:
            os.killpg(self.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def _outcome(self, code: int) -> Outcome:
        if self.reason == lifecycle.TIMED_OUT:
            return Outcome(lifecycle.TIMED_OUT, f"timed out after {self.timeout:g} s", code)
        if self.reason == lifecycle.KILLED:
            return Outcome(lifecycle.KILLED, f"stopped by {self.signal_name}", code)
        if code == 0:
            return Outcome(lifecycle.SUCCESS, None, 0)
        if code < 0:
            name = _signal_name(-code)
            outcome = Outcome(lifecycle.KILLED, f"killed by signal {-code} ({name})", code)
            outcome.details["signal"] = name
            return outcome
        return Outcome(lifecycle.RESULT_FAILED, f"exited with code {code}", code)


def record(store: FileStore, job: str, task_id: str, launch_id: str, outcome: Outcome) -> bool:
    """Write the outcome under the lock, retrying while the files are busy or unreadable."""
    pause = 0.05
    for _ in range(RECORD_ATTEMPTS):
        try:
            with store.transaction(job) as files:
                task = files.task(task_id)
                if task is None or task.get("launch_id") != launch_id:
                    return True  # reassigned meanwhile (recovered as lost): not ours to write
                cancelled = (files.state or {}).get("state") == lifecycle.CANCELLED
                lifecycle.finish_attempt(
                    task,
                    result=outcome.result,
                    error=outcome.error,
                    exit_code=outcome.exit_code,
                    details=outcome.details,
                    job_cancelled=cancelled,
                )
                return True
        except AirExecutorError as exc:
            print(f"air-executor-runner: cannot record the outcome yet: {exc}", file=sys.stderr)
            time.sleep(pause)
            pause = min(pause * 2, 3.0)
    return False


def _describe_failure(outcome: Outcome, task: dict[str, Any], log_path: Any) -> None:
    if outcome.result == lifecycle.RESULT_FAILED:
        last = _last_line(log_path)
        outcome.error = f"{task.get('command')!s} {outcome.error}" + (f": {last}" if last else "")


def _last_line(path: Any, limit: int = 200) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(handle.tell() - 4096, 0))
            lines = handle.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return ""
    # Skip the runner's own notes left by earlier attempts: they are not the command's words.
    lines = [line for line in lines if line.strip() and not line.startswith("[air-executor]")]
    return lines[-1][:limit] if lines else ""


def _timeout(task: dict[str, Any]) -> float:
    value = task.get("timeout")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return _env_float("AIR_EXECUTOR_TASK_TIMEOUT", DEFAULT_TIMEOUT)


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


_SIGNAL_NAMES = {
    getattr(signal, name): name
    for name in (
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGSYS",
    )
    if hasattr(signal, name)
}


def _signal_name(number: int) -> str:
    return _SIGNAL_NAMES.get(number, f"signal {number}")
