"""Where settings come from, read but not validated: the config file, `AIR_EXECUTOR_*` variables, the base folder.

Validation is `Config`'s job (config.py, pydantic). This module stays light (the
standard library, and PyYAML only when there is a file to read) so that `add-task`,
which tasks call in loops, can read the two settings it needs without pydantic.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from air_executor.errors import ConfigError
from air_executor.storage.file_store import BASE_ENV, DEFAULT_BASE

ENV_PREFIX = "AIR_EXECUTOR_"
CONFIG_FILE = "config.yaml"
CONFIG_ENV = "AIR_EXECUTOR_CONFIG"
STRUCTURED = frozenset({"container_options", "task_policy", "secret_grants"})  # given in the environment as JSON

# The guardrails on dynamic tasks: `add-task` needs only these, and only their defaults
# when neither the file nor the environment sets them (Config's fields use these too).
DEFAULT_MAX_TASKS_PER_JOB = 1000
DEFAULT_MAX_SPAWN_DEPTH = 10
GUARDRAILS = ("max_tasks_per_job", "max_spawn_depth")


class Guardrails:
    """The two settings queuing a task needs, at their defaults."""

    def __init__(self) -> None:
        self.max_tasks_per_job = DEFAULT_MAX_TASKS_PER_JOB
        self.max_spawn_depth = DEFAULT_MAX_SPAWN_DEPTH


def default_guardrails(source: Source) -> Guardrails | None:
    """The guardrails' defaults, unless the file or the environment sets one (then Config must check it)."""
    return None if any(name in source.values for name in GUARDRAILS) else Guardrails()


class Source:
    """Raw setting values, the file they came from, and which of them came from the environment."""

    # A plain class: `dataclasses` imports `inspect`, a cost add-task should not pay.
    def __init__(self, path: Path | None = None) -> None:
        self.values: dict[str, Any] = {}
        self.path = path
        self.from_env: set[str] = set()

    def where(self, name: str) -> str:
        """`$AIR_EXECUTOR_NAME` or `config FILE`: where a bad value should be fixed."""
        if name in self.from_env:
            return f"${ENV_PREFIX}{name.upper()}"
        return f"config {self.path}" if self.path else "config"


def read(
    config_file: str | os.PathLike[str] | None,
    base_path: str | os.PathLike[str] | None,
    environ: Mapping[str, str],
    names: Iterable[str],
    *,
    only_names: bool = False,
) -> Source:
    """The file (explicit, else `<base>/config.yaml` if present), then the environment's overrides of `names`.

    `only_names`: the caller needs `names` alone, so a file that mentions none of them
    (nor `base_path`, when that is still to be found) is not parsed at all.

    The base folder comes from, in order: `base_path`, `$AIR_EXECUTOR_BASE_PATH`, the
    file's `base_path` (relative to the file's folder), the default `.air-executor`.
    """
    explicit_base = str(base_path) if base_path is not None else environ.get(BASE_ENV)
    path = config_path(config_file or environ.get(CONFIG_ENV), explicit_base)
    source = Source(path=path)
    names = list(names)
    if path is not None:
        wanted = None if not only_names else names if explicit_base else [*names, "base_path"]
        source.values = read_yaml(path, wanted)
        _anchor_base(source.values, path)
    for name in names:
        value = environ.get(ENV_PREFIX + name.upper())
        if value and name != "base_path":  # empty means unset (compose's ${VAR:-})
            source.values[name] = _json_if_structured(name, value)
            source.from_env.add(name)
    if explicit_base:
        source.values["base_path"] = explicit_base
    return source


def config_path(config_file: str | os.PathLike[str] | None, base: str | None) -> Path | None:
    if config_file:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        return path
    default = Path(base or DEFAULT_BASE) / CONFIG_FILE
    return default if default.is_file() else None


def read_yaml(path: Path, wanted: Iterable[str] | None = None) -> dict[str, Any]:
    """The file's settings; with `wanted`, `{}` when its text names none of them.

    A YAML key is in the text as written, so a file that never names a wanted setting
    cannot set it: `add-task`, which needs two settings, then skips importing PyYAML
    (a third of its start-up) for a config.yaml that only sets, say, the log format.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from None
    if wanted is not None and not any(name in text for name in wanted):
        return {}
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config {path} is not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config {path} must be a mapping of settings, got {type(data).__name__}")
    return data


def _anchor_base(values: dict[str, Any], path: Path) -> None:
    """A relative `base_path` in a config file means a folder beside that file, wherever one runs from."""
    base = values.get("base_path")
    if isinstance(base, str) and base and not os.path.isabs(base):
        values["base_path"] = str(path.absolute().parent / base)


def _json_if_structured(name: str, value: str) -> Any:
    """Structured settings (container_options, task_policy) come from the environment as JSON."""
    if name not in STRUCTURED:
        return value
    import json

    try:
        return json.loads(value)
    except ValueError:
        raise ConfigError(f"${ENV_PREFIX}{name.upper()} must be JSON, got {value!r}") from None
