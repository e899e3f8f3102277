"""Config: `<base>/config.yaml`, validated, with `AIR_EXECUTOR_<FIELD>` environment overrides."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from air_executor.core.container import ContainerOptions
from air_executor.core.policy import TaskPolicy
from air_executor.errors import ConfigError
from air_executor.storage.file_store import BASE_ENV, DEFAULT_BASE, FileStore

ENV_PREFIX = "AIR_EXECUTOR_"
CONFIG_FILE = "config.yaml"
CONFIG_ENV = "AIR_EXECUTOR_CONFIG"


class Config(BaseModel):
    """Every setting, with its default and allowed range (README "Configuration")."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # The seeds' settings.
    poll_interval: float = Field(5, ge=1, le=60, description="fallback poll, seconds")
    task_timeout: int = Field(1800, ge=60, le=7200, description="default task timeout, seconds")
    max_concurrent_runners: int = Field(10, ge=1, le=50)
    base_path: str = DEFAULT_BASE
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    # Per-job defaults; a job may override them in its state.json.
    max_parallel: int = Field(1, ge=1, le=50, description="runners at once per job")
    max_tasks_per_job: int = Field(1000, ge=1, le=100_000)
    max_spawn_depth: int = Field(10, ge=0, le=100)
    # Launching runners.
    launcher: Literal["subprocess", "docker", "auto"] = "subprocess"
    runner_image: str = "air-executor-runner:latest"
    runner_cpus: float | None = Field(None, gt=0, le=256)
    runner_memory: str | None = Field(None, pattern=r"^[0-9]+[bkmgBKMG]?$")
    runner_user: str = Field("10001:10001", pattern=r"^[1-9][0-9]*(:[0-9]+)?$", description="uid:gid, never root")
    container_options: ContainerOptions = Field(default_factory=lambda: ContainerOptions())
    runner_start_timeout: float = Field(30, ge=1, le=600, description="seconds to start a runner")
    stop_grace: float = Field(10, ge=0, le=300, description="SIGTERM to SIGKILL, seconds")
    unreadable_after: float = Field(30, ge=1, le=3600, description="report unreadable files after")
    # What job files may ask for, and how much of them is read (README "Trust model").
    task_policy: TaskPolicy = Field(default_factory=lambda: TaskPolicy())
    max_job_file_mb: int = Field(64, ge=1, le=4096, description="largest state.json or tasks.json read, MiB")
    max_retry_delay: float = Field(3600, ge=1, le=604_800, description="cap on a retry's back-off, seconds")

    @classmethod
    def load(
        cls,
        config_file: str | os.PathLike[str] | None = None,
        base_path: str | os.PathLike[str] | None = None,
        environ: dict[str, str] | None = None,
    ) -> Config:
        """Read the file (explicit, else `<base>/config.yaml` if present), then apply env overrides.

        The base folder comes from, in order: `base_path`, `$AIR_EXECUTOR_BASE_PATH`,
        the file's `base_path`, the default `.air-executor`.
        """
        env = os.environ if environ is None else environ
        explicit_base = str(base_path) if base_path is not None else env.get(BASE_ENV)
        path = _config_path(config_file or env.get(CONFIG_ENV), explicit_base)
        values = _read_yaml(path) if path is not None else {}
        overrides = _env_overrides(env)
        values.update(overrides)
        if explicit_base:
            values["base_path"] = explicit_base
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(_describe(exc, path, set(overrides))) from None

    @property
    def base(self) -> Path:
        return Path(self.base_path).absolute()

    @property
    def runner_ids(self) -> tuple[int, int]:
        """`runner_user` as (uid, gid): who runs the tasks of a root-owned job folder."""
        uid, _, gid = self.runner_user.partition(":")
        return int(uid), int(gid or uid)

    def file_store(self) -> FileStore:
        """The base folder's store, reading job files up to `max_job_file_mb`."""
        return FileStore(self.base, max_file_bytes=self.max_job_file_mb * 1024 * 1024)


def _config_path(config_file: str | os.PathLike[str] | None, base: str | None) -> Path | None:
    if config_file:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        return path
    default = Path(base or DEFAULT_BASE) / CONFIG_FILE
    return default if default.is_file() else None


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config {path} is not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config {path} must be a mapping of settings, got {type(data).__name__}")
    return data


def _env_overrides(env: Any) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for name in Config.model_fields:
        value = env.get(ENV_PREFIX + name.upper())
        if value and name != "base_path":  # empty means unset (compose's ${VAR:-})
            overrides[name] = _json_if_structured(name, value)
    return overrides


def _json_if_structured(name: str, value: str) -> Any:
    """Structured settings (container_options, task_policy) come from the environment as JSON."""
    if name not in ("container_options", "task_policy"):
        return value
    import json

    try:
        return json.loads(value)
    except ValueError:
        raise ConfigError(f"${ENV_PREFIX}{name.upper()} must be JSON, got {value!r}") from None


def _describe(exc: ValidationError, path: Path | None, from_env: set[str]) -> str:
    """One line naming where the value came from, the field, the allowed values and what was given."""
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"])
    top = str(first["loc"][0]) if first["loc"] else field
    source = f"${ENV_PREFIX}{top.upper()}" if top in from_env else f"config {path}" if path else "config"
    if first["type"] == "extra_forbidden":
        known = ", ".join(Config.model_fields)
        return f"{source}: unknown setting {field!r} (known: {known})"
    info = Config.model_fields.get(field)
    allowed = _allowed(info) if info is not None else ""
    if first["type"] in ("int_from_float", "int_parsing", "float_parsing"):
        kind = "a whole number" if first["type"] != "float_parsing" else "a number"
        allowed = f"must be {kind}" + (f" ({allowed.removeprefix('must be ')})" if allowed else "")
    return f"{source}: {field} {allowed or first['msg']}, got {first.get('input')!r}"


def _allowed(info: Any) -> str:
    bounds: dict[str, Any] = {}
    for item in info.metadata:
        for key in ("ge", "gt", "le", "lt", "pattern"):
            if getattr(item, key, None) is not None:
                bounds[key] = getattr(item, key)
    low = bounds.get("ge", bounds.get("gt"))
    high = bounds.get("le", bounds.get("lt"))
    if low is not None and high is not None:
        return f"must be between {low:g} and {high:g}"
    if "pattern" in bounds:
        return "must look like 512m or 2g"
    annotation = str(info.annotation)
    if "Literal" in annotation:
        options = annotation.split("[", 1)[1].rstrip("]")
        return f"must be one of {options}"
    return ""
