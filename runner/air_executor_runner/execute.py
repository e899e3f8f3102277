"""Start the task, run its command in its own session, record the outcome.

The runner reads only its launch's claim record (runs/<launch>.json, written by the
manager) and state.json, and writes two small records of its own (runs/<launch>.start,
then .end; storage/journal.py): it never reads or rewrites tasks.json and takes no
lock, so what it costs does not grow with its job. Creating `.start` is the claim: if
the manager gave up on this launch first, it exists already and nothing runs.

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
from air_executor.errors import AirExecutorError
from air_executor.storage import journal
from air_executor.storage.file_store import FileStore
from air_executor.storage.jobdir import JobDir

from air_executor_runner import EXIT_COMPLETED, EXIT_FAILED, EXIT_STALE, EXIT_UNRECORDED
from air_executor_runner.logcap import MIB, CappedLog

TYPE_CHECKING = False  # not `typing.TYPE_CHECKING`: importing typing costs the runner ~2 ms
if TYPE_CHECKING:
    from typing import Any

DEFAULT_TIMEOUT = 1800.0
DEFAULT_GRACE = 10.0
DEFAULT_MAX_LOG_MB = 100.0
DEFAULT_RUNNER_USER = "10001:10001"
RECORD_ATTEMPTS = 20


class Settings:
    """What the manager tells the runner, read from its environment once, before a task's own
    `env` is applied: a task cannot change its timeout or grace."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.timeout = _float(env.get("AIR_EXECUTOR_TASK_TIMEOUT"), DEFAULT_TIMEOUT)
        self.grace = _float(env.get("AIR_EXECUTOR_STOP_GRACE"), DEFAULT_GRACE)
        self.runner_user = _user(env.get("AIR_EXECUTOR_RUNNER_USER") or DEFAULT_RUNNER_USER)
        self.folder_id = env.get("AIR_EXECUTOR_JOB_FOLDER_ID") or None
        max_log_mb = _float(env.get("AIR_EXECUTOR_MAX_LOG_MB"), DEFAULT_MAX_LOG_MB)
        self.max_log = int(max_log_mb * MIB) if max_log_mb > 0 else None  # bytes; None: no cap
        self.log_cap_fails = env.get("AIR_EXECUTOR_LOG_CAP_ACTION") == "fail"
        as_user = env.get("AIR_EXECUTOR_RUNNER_AS")  # the identity the manager chose (the folder's owner)
        self.run_as = _user(as_user) if as_user else None
        # The task's secrets (the manager read them at launch): out of the runner's own environment,
        # into the task's only, and masked in its log.
        self.secrets = _secrets(env.pop(SECRETS_ENV, None))


class Outcome:
    def __init__(self, result: str, error: str | None = None, exit_code: int | None = None) -> None:
        self.result, self.error, self.exit_code = result, error, exit_code
        self.details: dict[str, Any] = {}


def run_task(base: str, job: str, task_id: str, launch_id: str) -> int:
    settings = Settings()
    try:
        store = FileStore(base)
        job_dir = store.open_job(job)
    except AirExecutorError as exc:
        print(f"air-executor-runner: {exc}", file=sys.stderr)
        return EXIT_UNRECORDED
    with job_dir:
        if settings.folder_id is not None and settings.folder_id.split(":")[-1] != job_dir.ident.split(":")[-1]:
            print(f"air-executor-runner: job {job!r}: its folder was replaced since the launch", file=sys.stderr)
            return EXIT_STALE
        drop_privileges(job_dir, settings)
        try:
            task = start(job_dir, task_id, launch_id)
        except AirExecutorError as exc:
            print(f"air-executor-runner: {exc}", file=sys.stderr)
            return EXIT_UNRECORDED
        if task is None:
            return EXIT_STALE
        started = time.monotonic()
        outcome = execute(store, job_dir, task, settings)
        outcome.details["wall_time"] = round(time.monotonic() - started, 6)
        if not record(job_dir, launch_id, outcome, task):
            return EXIT_UNRECORDED
    return EXIT_COMPLETED if outcome.result == lifecycle.SUCCESS else EXIT_FAILED


def drop_privileges(job_dir: JobDir, settings: Settings) -> None:
    """Never run a task as root: become the job folder's owner (launchers start us as that user
    already; this is the last line if something started the runner as root)."""
    if os.geteuid() != 0:
        return
    uid, gid = settings.run_as or job_dir.runner_identity(settings.runner_user)
    if uid == 0:
        raise SystemExit("air-executor-runner: refusing to run a task as root")
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    home = _home_of(uid)
    os.environ.update(HOME=home, USER=str(uid), LOGNAME=str(uid))


def _home_of(uid: int) -> str:
    import pwd

    try:
        home = pwd.getpwuid(uid).pw_dir
    except KeyError:
        return "/tmp"
    return home if home and os.access(home, os.W_OK | os.X_OK) else "/tmp"


def start(job_dir: JobDir, task_id: str, launch_id: str) -> dict[str, Any] | None:
    """The task as claimed for this launch, once this runner has recorded its start; None if the
    launch is stale (no claim, another task, an outcome already there, given up on, job cancelled)."""
    claim = _retrying(lambda: journal.read_claim(job_dir, launch_id))
    task = claim.get("task") if claim is not None else None
    if not isinstance(task, dict) or claim.get("task_id") != task_id or task.get("id") != task_id:
        return None
    if _job_cancelled(job_dir):
        journal.mark(job_dir, launch_id, journal.END, _end(lifecycle.KILLED, "cancelled"))
        return None
    mark = {"started_at": now_iso(), "runner_pid": os.getpid(), "runner_host": os.uname().nodename, **_whose(claim)}
    if not _retrying(lambda: journal.mark(job_dir, launch_id, journal.START, mark)):
        return None  # the manager gave up on this launch first
    task.update(mark)
    return task


def _whose(claim: dict[str, Any]) -> dict[str, Any]:
    """What names the attempt in the runner's own records, so they need no claim to be applied."""
    return {key: claim.get(key) for key in ("task_id", "attempt", "launched_at", "launcher")}


def _job_cancelled(job_dir: JobDir) -> bool:
    try:
        state = journal.parse_record(job_dir.read("state.json"))
    except (OSError, AirExecutorError):
        return False
    return state is not None and state.get("state") == lifecycle.CANCELLED


def _retrying(action: Any) -> Any:
    """Run `action` again while the volume refuses a write for a moment (a full disk, say)."""
    pause = 0.05
    for attempt in range(RECORD_ATTEMPTS):
        try:
            return action()
        except OSError as exc:
            if attempt == RECORD_ATTEMPTS - 1:
                raise AirExecutorError(f"cannot write the task's records: {exc.strerror or exc}") from None
            print(f"air-executor-runner: cannot write the task's records yet: {exc}", file=sys.stderr)
            time.sleep(pause)
            pause = min(pause * 2, 3.0)
    return None


def _end(result: str, error: str | None, exit_code: int | None = None, details: Any = None) -> dict[str, Any]:
    return {"ended_at": now_iso(), "result": result, "error": error, "exit_code": exit_code, "details": details or {}}


def execute(store: FileStore, job_dir: JobDir, task: dict[str, Any], settings: Settings) -> Outcome:
    try:
        log_fd = job_dir.open_log(f"{task['id']}.log")
    except AirExecutorError as exc:
        return Outcome(lifecycle.FAILED_TO_START, f"cannot open the task's log: {exc}")
    early_stops: list[int] = []  # a stop signal before the supervisor is in place must not be lost
    for signum in STOP_SIGNALS:
        signal.signal(signum, lambda signum, _frame: early_stops.append(signum))
    read_end, write_end = os.pipe2(os.O_CLOEXEC)  # the task's output comes through the runner (logcap.py)
    task = _with_secrets(task, settings.secrets)
    sink = CappedLog(log_fd, _log_cap(task, settings), fail=settings.log_cap_fails, mask=_mask(task, settings))
    try:
        try:
            pid_or_outcome = spawn(store, job_dir.name, task, log_fd, write_end)
        finally:
            os.close(write_end)
        if early_stops and not isinstance(pid_or_outcome, Outcome):
            _reap_at_once(pid_or_outcome)
            pid_or_outcome = Outcome(lifecycle.KILLED, f"stopped by {_signal_name(early_stops[0])}")
        if isinstance(pid_or_outcome, Outcome):
            outcome = pid_or_outcome
        else:
            outcome = Supervisor(pid_or_outcome, _timeout(task, settings), settings.grace).wait(read_end, sink)
        sink.close()
        if sink.dropped:
            outcome.details["log_dropped"] = sink.dropped
        if outcome.result != lifecycle.SUCCESS:
            _describe_failure(outcome, task, job_dir)
            os.write(log_fd, f"[air-executor] {outcome.error}\n".encode())
    finally:
        os.close(read_end)
        os.close(log_fd)
    return outcome


def _argv(task: dict[str, Any]) -> list[str] | None:
    """`[command, *args]` if the task's fields have the right types (a job file may say anything)."""
    command, args = task.get("command"), task.get("args") or []
    if not isinstance(command, str) or not command or not isinstance(args, list):
        return None
    if not all(isinstance(a, str) for a in args):
        return None
    return [command, *args]


def _environment(store: FileStore, job: str, task: dict[str, Any]) -> dict[str, str]:
    """The runner's environment, then the task's `env`, then the task's context (which wins)."""
    env = dict(os.environ)
    own = task.get("env")
    if isinstance(own, dict):
        env.update({str(k): str(v) for k, v in own.items()})
    # The runner's own bin folder comes first, so a task finds `air-executor` (to queue
    # subtasks) and a `python` that can import air_executor, as in the runner image.
    own_bin = os.path.dirname(sys.executable)
    path = env.get("PATH", "")
    if own_bin not in path.split(os.pathsep):
        env["PATH"] = own_bin + os.pathsep + path if path else own_bin
    env.update(
        AIR_EXECUTOR_BASE_PATH=store.base,
        AIR_EXECUTOR_JOB=job,
        AIR_EXECUTOR_TASK_ID=str(task["id"]),
        AIR_EXECUTOR_ATTEMPT=str(task.get("attempts", 1)),
        AIR_EXECUTOR_LAUNCH_ID=str(task.get("launch_id", "")),  # how a manager finds what a lost runner left
    )
    return env


def spawn(store: FileStore, job: str, task: dict[str, Any], log_fd: int, output_fd: int) -> int | Outcome:
    """Start the command in its own process group with stdout and stderr on `output_fd` (the
    pipe to the log); notes before it starts go straight to the log."""
    argv = _argv(task)
    if argv is None:
        return Outcome(lifecycle.FAILED_TO_START, "invalid task: command must be a string and args a list of strings")
    command = argv[0]
    environ = _environment(store, job, task)
    try:
        note = _enter_working_directory(task, store.job_folder(job))
    except OSError as exc:
        return Outcome(lifecycle.FAILED_TO_START, f"working directory {exc.filename!r} is not usable: {exc.strerror}")
    if note:
        os.write(log_fd, f"[air-executor] {note}\n".encode())
    program = _which(command, environ["PATH"])
    if program is None:
        return Outcome(lifecycle.FAILED_TO_START, f"command not found: {command}")
    try:
        return os.posix_spawn(
            program,
            argv,
            environ,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, output_fd, 1),
                (os.POSIX_SPAWN_DUP2, output_fd, 2),
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
LOG_CAP = "log_cap"  # why a task was stopped: its log passed the cap (log_cap_action: fail)
POLL_MS = 200
CHUNK = 1 << 16


def _which(command: str, path: str) -> str | None:
    """The program `command` names: itself if it holds a `/`, else the first executable file of that
    name on the task's PATH. Folders this user may not enter are skipped, as a shell skips them (so a
    missing command is "not found", not "permission denied" because of some folder on the PATH)."""
    if "/" in command:
        return command
    for folder in path.split(os.pathsep):
        candidate = os.path.join(folder or ".", command)
        try:
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
        except OSError:
            continue
    return None


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

    def wait(self, output: int, sink: CappedLog) -> Outcome:
        """Copy the command's output to its log until it exits (and its pipe closes); end it on
        timeout, on a stop signal, or (log_cap_action: fail) when its log passes the cap."""
        import select

        signal.signal(signal.SIGALRM, lambda *_: self._escalate(lifecycle.TIMED_OUT))
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_stop)
        signal.setitimer(signal.ITIMER_REAL, self.timeout)
        poller = select.poll()
        poller.register(output, select.POLLIN)
        reading, status = True, None
        while status is None:
            if reading:
                # A child that exits closes the pipe (EOF at once); the timeout only matters when
                # something it started outside its group still holds the pipe open.
                for _ in poller.poll(POLL_MS):
                    data = os.read(output, CHUNK)
                    if not data:
                        reading = False
                        break
                    sink.write(data)
                    if sink.over and sink.fail:
                        self._escalate(LOG_CAP)
            pid, code = os.waitpid(self.pid, os.WNOHANG if reading else 0)
            if pid:
                status = code
        signal.setitimer(signal.ITIMER_REAL, 0)
        self._kill(signal.SIGKILL)  # whatever the command left behind in its group
        if reading:
            _drain(output, sink)
        return self._outcome(os.waitstatus_to_exitcode(status), sink)

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

    def _outcome(self, code: int, sink: CappedLog) -> Outcome:
        if self.reason == LOG_CAP:
            return Outcome(lifecycle.RESULT_FAILED, f"its log passed the cap of {sink.cap} bytes (max_log_mb)", code)
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


def record(job_dir: JobDir, launch_id: str, outcome: Outcome, task: dict[str, Any]) -> bool:
    """Create the launch's end record (the manager folds it into tasks.json)."""
    end = _end(outcome.result, outcome.error, outcome.exit_code, outcome.details)
    end.update(task_id=task.get("id"), attempt=task.get("attempts"), started_at=task.get("started_at"))
    try:
        if not _retrying(lambda: journal.mark(job_dir, launch_id, journal.END, end)):
            print("air-executor-runner: an outcome of this launch was already recorded", file=sys.stderr)
        return True
    except AirExecutorError as exc:
        print(f"air-executor-runner: {exc}", file=sys.stderr)
        return False


def _describe_failure(outcome: Outcome, task: dict[str, Any], job_dir: JobDir) -> None:
    if outcome.result == lifecycle.RESULT_FAILED:
        last = _last_line(job_dir, f"{task['id']}.log")
        outcome.error = f"{task.get('command')!s} {outcome.error}" + (f": {last}" if last else "")


def _last_line(job_dir: JobDir, log_name: str, limit: int = 200) -> str:
    try:
        logs = job_dir.subfolder("logs")
        try:
            fd = job_dir.open(log_name, folder_fd=logs)
        finally:
            os.close(logs)
        try:
            size = os.fstat(fd).st_size
            data = os.pread(fd, 4096, max(size - 4096, 0))
        finally:
            os.close(fd)
    except (OSError, AirExecutorError):
        return ""
    lines = data.decode("utf-8", "replace").strip().splitlines()
    # Skip the runner's own notes left by earlier attempts: they are not the command's words.
    lines = [line for line in lines if line.strip() and not line.startswith("[air-executor]")]
    return lines[-1][:limit] if lines else ""


def _timeout(task: dict[str, Any], settings: Settings) -> float:
    value = task.get("timeout")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 86_400:
        return float(value)
    return settings.timeout


def _drain(output: int, sink: CappedLog) -> None:
    """What is left in the pipe once the command's group is gone (a process it started in a
    session of its own may keep the pipe open: read what is there, do not wait for it)."""
    os.set_blocking(output, False)
    while True:
        try:
            data = os.read(output, CHUNK)
        except BlockingIOError:
            return
        if not data:
            return
        sink.write(data)


def _log_cap(task: dict[str, Any], settings: Settings) -> int | None:
    """The config's cap, or the task's own `max_log_mb` if lower."""
    value = task.get("max_log_mb")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        own = int(value * MIB)
        return own if settings.max_log is None else min(own, settings.max_log)
    return settings.max_log


SECRETS_ENV = "AIR_EXECUTOR_SECRETS"  # launchers/base.py


def _secrets(value: str | None) -> dict[str, str]:
    if not value:
        return {}
    import json

    try:
        secrets = json.loads(value)
    except ValueError:
        return {}
    ok = isinstance(secrets, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in secrets.items())
    return secrets if ok else {}


def _with_secrets(task: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    """The task with its secrets over its own `env`: a copy for spawning, never written anywhere."""
    if not secrets:
        return task
    own = task.get("env")
    return {**task, "env": {**(own if isinstance(own, dict) else {}), **secrets}}


def _mask(task: dict[str, Any], settings: Settings) -> list[str]:
    """What the log shows as `***`: the secrets' values, and the values of `env` keys that look secret."""
    env = task.get("env")
    if not settings.secrets and not env:
        return []
    from air_executor.core.secrets import mask_words

    words = mask_words({str(k): str(v) for k, v in env.items()}) if isinstance(env, dict) else []
    return [*settings.secrets.values(), *words]


def _float(value: str | None, default: float) -> float:
    try:
        number = float(value) if value else default
    except ValueError:
        return default
    return number if 0 <= number < float("inf") else default


def _user(value: str) -> tuple[int, int]:
    uid, _, gid = value.partition(":")
    try:
        ids = int(uid), int(gid or uid)
    except ValueError:
        ids = (10001, 10001)
    return ids if ids[0] > 0 else (10001, 10001)


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
