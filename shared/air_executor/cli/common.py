"""What every command shares: the --config/--base-path options and the loaded config."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from air_executor.config import Config
from air_executor.storage.file_store import FileStore

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Env:
    """The loaded config and the store it points at, handed to each command."""

    config: Config
    config_file: str | None
    store: FileStore


def with_env(func: F) -> F:
    """Add `--config` and `--base-path` and pass an `Env` as the first argument."""

    @click.option(
        "--config",
        "config_file",
        envvar="AIR_EXECUTOR_CONFIG",
        type=click.Path(dir_okay=False),
        help="Config file (default: <base>/config.yaml).",
    )
    @click.option(
        "--base-path",
        envvar="AIR_EXECUTOR_BASE_PATH",
        type=click.Path(file_okay=False),
        help="Base folder holding jobs/ (default: .air-executor).",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, config_file: str | None, base_path: str | None, **kwargs: Any) -> Any:
        config = Config.load(config_file, base_path)
        env = Env(config=config, config_file=config_file, store=FileStore(config.base))
        return func(env, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def job_option(required: bool = True) -> Callable[[F], F]:
    return click.option(
        "--job",
        "job",
        required=required,
        envvar="AIR_EXECUTOR_JOB" if not required else None,
        help="Job name.",
    )
