"""Manager commands: `start` (background, PID file), `stop`, `run` (foreground)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import click

from air_executor.cli.common import Env, with_env
from air_executor.errors import ManagerError
from air_executor.storage.manager_lock import running_manager_pid

MANAGER_MODULE = "air_executor_manager"
LOG_FILE = "manager.log"


def _manager_argv(env: Env) -> list[str]:
    try:
        __import__(MANAGER_MODULE)
    except ImportError:
        raise ManagerError("the manager is not installed here (pip install air-executor-manager)") from None
    argv = [sys.executable, "-m", MANAGER_MODULE, "--base-path", str(env.config.base)]
    if env.config_file:
        argv += ["--config", os.path.abspath(env.config_file)]
    return argv


@click.command()
@click.option(
    "--timeout",
    default=15.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds to wait for the manager to come up; if it has not, it is stopped.",
)
@with_env
def start(env: Env, timeout: float) -> None:
    """Start the job manager in the background (log: <base>/manager.log)."""
    base = env.config.base
    _refuse_if_running(env)
    base.mkdir(parents=True, exist_ok=True)
    log_path = base / LOG_FILE
    with open(log_path, "ab") as log:
        child = subprocess.Popen(
            _manager_argv(env), stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running_manager_pid(base) == child.pid:
            click.echo(f"Job manager started (PID {child.pid})")
            return
        if child.poll() is not None:
            raise ManagerError(f"the job manager exited at start: {_last_line(log_path)}")
        time.sleep(0.05)
    _stop_child(child)  # an error must not leave a manager behind that nobody knows about
    raise ManagerError(f"the job manager did not come up within {timeout:g} s and was stopped; see {log_path}")


def _stop_child(child: subprocess.Popen[bytes]) -> None:
    child.terminate()
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


@click.command()
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait before giving up.")
@with_env(lenient=True)
def stop(env: Env, timeout: float) -> None:
    """Stop the job manager gracefully (SIGTERM); running tasks finish on their own."""
    base = env.config.base
    pid = running_manager_pid(base)
    if pid is None:
        missing = "" if base.is_dir() else " (no such folder: is --base-path the folder you meant?)"
        click.echo(f"No job manager is running on {base}{missing}")
        return
    if pid <= 1:  # the lock is held but no PID is written: never signal 0, 1 or -1 (everyone)
        raise ManagerError(f"a job manager holds {base / 'manager.pid'} but its PID cannot be read yet; try again")
    click.echo(f"Stopping job manager (PID {pid})...")
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    # Stopped: the lock is free and the process is gone (a zombie its parent has not reaped counts).
    while running_manager_pid(base) is not None or _still_running(pid):
        if time.monotonic() > deadline:
            raise ManagerError(f"the job manager (PID {pid}) did not stop within {timeout:g} s")
        time.sleep(0.05)
    click.echo("Job manager stopped")


def _still_running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


@click.command()
@click.option(
    "--standby",
    is_flag=True,
    envvar="AIR_EXECUTOR_STANDBY",
    help="If a manager is active on the base folder, wait and take over when it stops or dies.",
)
@with_env
def run(env: Env, standby: bool) -> None:
    """Run the job manager in the foreground (for containers and supervisors)."""
    if not standby:
        _refuse_if_running(env)
    argv = _manager_argv(env) + (["--standby"] if standby else [])
    sys.stdout.flush()
    os.execv(argv[0], argv)


def _refuse_if_running(env: Env) -> None:
    pid = running_manager_pid(env.config.base)
    if pid is not None:
        raise ManagerError(f"a job manager is already running on {env.config.base} (PID {pid})")


def _last_line(path: os.PathLike[str]) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = [line.strip() for line in handle if line.strip()]
    except OSError:
        return "no log"
    return lines[-1] if lines else "no log"
