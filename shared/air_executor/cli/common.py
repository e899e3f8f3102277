"""What every command shares: the global options, the loaded config and the store it points at.

`--base-path`, `--config` and `--debug` work before the command (`air-executor
--base-path b status`) and after it (`air-executor status --base-path b`); the one
after the command wins. Their environment variables are read by `Config.load`, so a
command-line value always beats `$AIR_EXECUTOR_BASE_PATH` and `$AIR_EXECUTOR_CONFIG`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from air_executor.cli.basics import GLOBALS, check_base, wait_for_job_lock  # noqa: F401  (re-exported)

if TYPE_CHECKING:
    from air_executor.config import Config
    from air_executor.storage.file_store import FileStore

F = TypeVar("F", bound=Callable[..., Any])


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

    paths = (
        (
            "--base-path",
            "base_path",
            click.Path(file_okay=False),
            "Base folder holding jobs/",
            "$AIR_EXECUTOR_BASE_PATH or .air-executor",
        ),
        (
            "--config",
            "config_file",
            click.Path(dir_okay=False),
            "Config file",
            "$AIR_EXECUTOR_CONFIG or <base>/config.yaml",
        ),
    )
    options = [
        click.option(flag, type=kind, expose_value=False, callback=remember(name), help=f"{what} (default: {default}).")
        for flag, name, kind, what, default in paths
    ]
    options.append(
        click.option(
            "--debug", is_flag=True, expose_value=False, callback=remember("debug"), help="Show tracebacks on errors."
        )
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


def job_option(required: bool = True) -> Callable[[F], F]:
    return click.option(
        "--job",
        "job",
        required=required,
        envvar="AIR_EXECUTOR_JOB" if not required else None,
        help="Job name.",
    )
