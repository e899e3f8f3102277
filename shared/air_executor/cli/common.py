"""What every command shares: the global options, the loaded config and the store it points at.

`--base-path`, `--config` and `--debug` work before the command (`air-executor
--base-path b status`) and after it (`air-executor status --base-path b`); the one
after the command wins. Their environment variables are read by `Config.load`, so a
command-line value always beats `$AIR_EXECUTOR_BASE_PATH` and `$AIR_EXECUTOR_CONFIG`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from air_executor.errors import ConfigError

if TYPE_CHECKING:
    from air_executor.config import Config
    from air_executor.storage.file_store import FileStore

F = TypeVar("F", bound=Callable[..., Any])


class Globals:
    """The global options as given on the command line (None when not given)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.base_path: str | None = None
        self.config_file: str | None = None
        self.debug = False


GLOBALS = Globals()  # one command per process: main() reads `debug` after the command ran


class Env:
    """The loaded config and the store it points at, handed to each command."""

    def __init__(self, config: Config, config_file: str | None) -> None:
        from air_executor.storage.file_store import FileStore

        self.config = config
        self.config_file = config_file
        self.store: FileStore = FileStore(config.base)


def global_options(func: F) -> F:
    """`--base-path`, `--config` and `--debug`, recorded in GLOBALS: for the group and every command."""

    def remember(name: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
        def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
            if value:  # a later (command-level) value replaces an earlier (group-level) one
                setattr(GLOBALS, name, value)
            return value

        return callback

    options = (
        click.option(
            "--base-path",
            type=click.Path(file_okay=False),
            expose_value=False,
            callback=remember("base_path"),
            help="Base folder holding jobs/ (default: $AIR_EXECUTOR_BASE_PATH or .air-executor).",
        ),
        click.option(
            "--config",
            type=click.Path(dir_okay=False),
            expose_value=False,
            callback=remember("config_file"),
            help="Config file (default: $AIR_EXECUTOR_CONFIG or <base>/config.yaml).",
        ),
        click.option(
            "--debug", is_flag=True, expose_value=False, callback=remember("debug"), help="Show tracebacks on errors."
        ),
    )
    for option in reversed(options):
        func = option(func)
    return func


def with_env(func: F | None = None, *, lenient: bool = False) -> Any:
    """Add the global options to a command and pass an `Env` as its first argument.

    `lenient=True` is for the commands an operator needs when the config is broken
    (stop, status, logs, results, cancel): a bad setting is reported in one warning
    line and replaced by its default instead of refusing to work.
    """

    def decorate(command: F) -> F:
        @global_options
        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            env = Env(load_config(lenient), GLOBALS.config_file)
            check_base(env.config.base)
            return command(env, *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate(func) if func is not None else decorate


def load_config(lenient: bool) -> Config:
    from air_executor.config import Config

    if not lenient:
        return Config.load(GLOBALS.config_file, GLOBALS.base_path)
    config, problem = Config.load_lenient(GLOBALS.config_file, GLOBALS.base_path)
    if problem:
        click.echo(f"warning: {problem} (ignored: this command uses the default)", err=True)
    return config


def check_base(base: os.PathLike[str]) -> None:
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


def job_option(required: bool = True) -> Callable[[F], F]:
    return click.option(
        "--job",
        "job",
        required=required,
        envvar="AIR_EXECUTOR_JOB" if not required else None,
        help="Job name.",
    )


LOCK_TIMEOUT = 30.0  # as long as the job store waits for a job's lock
LOCK_NOTICE_AFTER = 1.0


def wait_for_job_lock(job_folder: str, job: str, timeout: float = LOCK_TIMEOUT) -> None:
    """Before changing a job: while another process holds its lock, say so (after a second) and wait.

    The store then takes the lock itself; this only makes a long wait visible instead of
    30 silent seconds. A shared, non-blocking probe fails only while someone holds it.
    """
    import fcntl
    import time

    try:
        fd = os.open(os.path.join(job_folder, ".lock"), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:  # no lock file yet (or no job): nobody can hold it
        return
    try:
        start, told = time.monotonic(), False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return  # free; closing the file below lets go of the probe
            except BlockingIOError:
                waited = time.monotonic() - start
                if waited >= timeout:
                    from air_executor.errors import LockTimeout

                    raise LockTimeout(f"timed out after {timeout:g} s waiting for the lock of job {job}") from None
                if not told and waited >= LOCK_NOTICE_AFTER:
                    click.echo(f"Waiting for job {job}'s lock ({job_folder}/.lock): another process holds it", err=True)
                    told = True
                time.sleep(0.05)
    finally:
        os.close(fd)
