"""Config: `<base>/config.yaml`, validated, with `AIR_EXECUTOR_<FIELD>` environment overrides.

Every setting states its rule in words (`rule=`), next to the constraints that enforce
it, so an invalid value is refused with one line naming the setting, that rule and
the value given. A test checks that each rule's bounds match its constraints.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, ValidationInfo, field_validator

from air_executor import config_file as sources
from air_executor.config_file import (  # noqa: F401  (re-exported)
    CONFIG_ENV,
    CONFIG_FILE,
    DEFAULT_MAX_SPAWN_DEPTH,
    DEFAULT_MAX_TASKS_PER_JOB,
    ENV_PREFIX,
)
from air_executor.core.container import ContainerOptions, ExtraMount, SwarmSettings
from air_executor.core.policy import TaskPolicy
from air_executor.core.retention import DURATION_RULE, Retention, RetentionRule
from air_executor.core.secrets import GRANTEE, SECRET_NAME
from air_executor.core.task_rules import POOL_NAME
from air_executor.errors import ConfigError
from air_executor.storage.file_store import BASE_ENV, DEFAULT_BASE, FileStore


def setting(default: Any, rule: str, **constraints: Any) -> Any:
    """A field with its rule in words, as error messages show it: `must be <rule>`."""
    if callable(default):
        return Field(default_factory=default, json_schema_extra={"rule": rule}, **constraints)
    return Field(default, json_schema_extra={"rule": rule}, **constraints)


class Config(BaseModel):
    """Every setting, with its default and allowed range (README "Configuration")."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # The seeds' settings.
    poll_interval: float = setting(5, "a number of seconds between 1 and 60", ge=1, le=60)
    task_timeout: int = setting(1800, "a whole number of seconds between 60 and 7200", ge=60, le=7200)
    max_concurrent_runners: int = setting(10, "a whole number between 1 and 50", ge=1, le=50)
    base_path: str = setting(DEFAULT_BASE, "a folder path", min_length=1)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = setting(
        "INFO", "one of 'DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'"
    )
    log_format: Literal["json", "text"] = setting("json", "one of 'json', 'text'")
    # Per-job defaults; a job may override them in its state.json.
    max_parallel: int = setting(1, "a whole number between 1 and 50", ge=1, le=50)
    max_tasks_per_job: int = setting(DEFAULT_MAX_TASKS_PER_JOB, "a whole number between 1 and 100000", ge=1, le=100_000)
    max_spawn_depth: int = setting(DEFAULT_MAX_SPAWN_DEPTH, "a whole number between 0 and 100", ge=0, le=100)
    # Launching runners.
    launcher: Literal["subprocess", "docker", "swarm", "auto"] = setting(
        "subprocess", "one of 'subprocess', 'docker', 'swarm', 'auto'"
    )
    runner_image: str = setting("air-executor-runner:latest", "an image name such as 'air-executor-runner:latest'")
    runner_cpus: float | None = setting(None, "a number of CPUs above 0 and at most 256, or null", gt=0, le=256)
    runner_memory: str | None = setting(
        None, "a size such as '512m' or '2g' (digits, then b, k, m or g), or null", pattern=r"^[0-9]+[bkmgBKMG]?$"
    )
    runner_user: str = setting(
        "10001:10001",
        "a uid or uid:gid with a uid other than 0, such as '10001:10001' (runner containers never run as root)",
        pattern=r"^[1-9][0-9]*(:[0-9]+)?$",
    )
    container_options: ContainerOptions = setting(ContainerOptions, "a mapping of container options")
    # The Swarm launcher (README "Scaling out"): its volume and where its runner services go.
    swarm: SwarmSettings = setting(SwarmSettings, "a mapping of Swarm launcher settings")
    # Runners started warm (README "Warm starts"): subprocess runners forked from a server with the
    # runner loaded; Docker runners started ahead for a job's next task, at most warm_containers at once.
    warm_start: bool = setting(True, "true or false")
    warm_containers: int = setting(4, "a whole number between 0 and 50 (0: no container started ahead)", ge=0, le=50)
    runner_start_timeout: float = setting(30, "a number of seconds between 1 and 600", ge=1, le=600)
    stop_grace: float = setting(10, "a number of seconds between 0 and 300", ge=0, le=300)
    unreadable_after: float = setting(30, "a number of seconds between 1 and 3600", ge=1, le=3600)
    # What job files may ask for, and how much of them is read (README "Trust model").
    task_policy: TaskPolicy = setting(TaskPolicy, "a mapping of what tasks may ask for (see README 'Trust model')")
    max_job_file_mb: int = setting(64, "a whole number of MiB between 1 and 4096", ge=1, le=4096)
    max_retry_delay: float = setting(3600, "a number of seconds between 1 and 604800", ge=1, le=604_800)
    # How long finished jobs stay (README "Retention"); nothing is removed by default.
    retention: Retention = setting(Retention, "a mapping of finished states to {max_age, max_count}")
    # A task's log past this many MiB keeps its head and tail (README "Log limits"); 0: no cap.
    max_log_mb: int = setting(100, "a whole number of MiB between 0 and 100000 (0: no cap)", ge=0, le=100_000)
    log_cap_action: Literal["truncate", "fail"] = setting("truncate", "one of 'truncate', 'fail'")
    # Under this much free space on the volume, no new runners start (README "Disk space").
    min_free_space_mb: int = setting(
        100, "a whole number of MiB between 0 and 999999 (0: never pause launches)", ge=0, le=999_999
    )
    # How far tasks.json may lag the journal of a big job (small jobs are written at once).
    max_file_lag: float = setting(1.0, "a number of seconds between 0 and 10", ge=0, le=10)
    # Prometheus metrics and the health check (README "Metrics and health").
    metrics_port: int = setting(0, "a port number between 0 and 65535 (0: no metrics endpoint)", ge=0, le=65535)
    metrics_host: str = setting("127.0.0.1", "an address to listen on, such as '127.0.0.1'", min_length=1)
    health_stale_after: float = setting(60, "a number of seconds between 5 and 3600", ge=5, le=3600)
    # Named concurrency limits shared by all jobs (README "Scheduling"): a task names one in `pool`.
    pools: dict[Annotated[str, StringConstraints(pattern=POOL_NAME)], Annotated[int, Field(ge=1, le=10_000)]] = setting(
        dict, "a mapping of pool names (letters, digits, '.', '_', '-') to sizes, each a whole number from 1 to 10000"
    )
    # The dashboard (README "Dashboard"): its actions (cancel, reset) are off unless a token is set.
    dashboard_token: str | None = setting(
        None,
        "a secret of 16 to 1024 printable characters without spaces, or null (dashboard actions off)",
        min_length=16,
        max_length=1024,
        pattern=r"^[!-~]+$",
    )

    # Secrets a task may name (README "Trust model"): the manager reads them at launch, never
    # from the volume, for the job folder owners they are granted to (default: none).
    secrets_dir: str | None = setting(
        None, "an absolute path of a folder outside the base folder (base_path), or null", min_length=1
    )
    docker_secrets: bool = setting(False, "true or false (read secrets from /run/secrets, as Docker mounts them)")
    secret_grants: dict[
        Annotated[str, StringConstraints(pattern=GRANTEE)], list[Annotated[str, StringConstraints(pattern=SECRET_NAME)]]
    ] = setting(
        dict,
        "a mapping of job folder owners (a uid, a user name or '*') to lists of secret names "
        "(environment variable names)",
    )

    @field_validator("secrets_dir")
    @classmethod
    def _secrets_outside_base(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Whoever can write the volume is a job author: secrets kept in it would be theirs to read.
        base = info.data.get("base_path")
        if value is None or base is None:
            return value
        folder, inside = Path(value), Path(os.path.realpath(Path(base).absolute()))
        if not folder.is_absolute() or Path(os.path.realpath(folder)).is_relative_to(inside):
            raise ValueError("inside the base folder")
        return value

    @classmethod
    def load(
        cls,
        config_file: str | os.PathLike[str] | None = None,
        base_path: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Config:
        """Read the file (explicit, else `<base>/config.yaml` if present), then apply env overrides.

        The base folder comes from, in order: `base_path`, `$AIR_EXECUTOR_BASE_PATH`,
        the file's `base_path` (relative to the file's folder), the default `.air-executor`.
        """
        env = os.environ if environ is None else environ
        return cls.from_source(_read(config_file, base_path, env))

    @classmethod
    def from_source(cls, source: sources.Source, only: Iterable[str] | None = None) -> Config:
        """Validate what was read (only the settings named in `only`, if given; the rest keep defaults)."""
        values = source.values if only is None else {k: v for k, v in source.values.items() if k in set(only)}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(_describe(exc, source)) from None

    @classmethod
    def load_lenient(
        cls,
        config_file: str | os.PathLike[str] | None = None,
        base_path: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> tuple[Config, str | None]:
        """Like `load`, but a bad setting falls back to its default: `(config, what was wrong or None)`.

        For the commands an operator needs most when the config is broken (stop, status,
        logs, results, cancel): they must never be locked out by a typo in config.yaml.
        """
        env = os.environ if environ is None else environ
        try:
            return cls.load(config_file, base_path, env), None
        except ConfigError as exc:
            problem = str(exc)
        try:
            values = _read(config_file, base_path, env).values
        except ConfigError:  # the file itself is unusable: keep only an explicit base folder
            explicit = base_path if base_path is not None else env.get(BASE_ENV)
            values = {"base_path": str(explicit)} if explicit else {}
        return cls._without_bad_settings(values), problem

    @classmethod
    def _without_bad_settings(cls, values: dict[str, Any]) -> Config:
        while True:
            try:
                return cls.model_validate(values)
            except ValidationError as exc:
                bad = {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
                if not bad & set(values):
                    return cls()
                values = {key: value for key, value in values.items() if key not in bad}

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
        return FileStore(
            self.base, max_file_bytes=self.max_job_file_mb * 1024 * 1024, max_retry_delay=self.max_retry_delay
        )


def _read(
    config_file: str | os.PathLike[str] | None, base_path: str | os.PathLike[str] | None, env: Any
) -> sources.Source:
    return sources.read(config_file, base_path, env, Config.model_fields)


# -- one line per invalid value ----------------------------------------------------------

# The rules of the nested settings, by their dotted path (the models live in core/container.py and
# core/policy.py, shared with tasks).
NESTED_RULES = {
    "container_options.shm_size": "a size such as '1g' (digits, then b, k, m or g)",
    "container_options.devices": "a list of 'host:container[:permissions]' strings",
    "container_options.gpus": "'all' or a whole number of GPUs",
    "container_options.runtime": "a runtime name such as 'nvidia' (letters, digits, '.', '_' and '-')",
    "container_options.network_mode": "one of 'bridge', 'none', 'host'",
    "container_options.mounts": "a list of mounts, each {source, target, type, read_only}",
    "container_options.pids_limit": "a whole number between 16 and 1000000",
    "container_options.read_only_root": "true or false",
    "container_options.placement": "a list of Swarm constraints such as 'node.labels.gpu==true'",
    "swarm.volume": "a volume name (letters, digits, '_', '.', '-'), or null",
    "swarm.volume_driver": "a volume driver name such as 'local'",
    "swarm.volume_options": "a mapping of driver option names to strings",
    "swarm.constraints": "a list of Swarm constraints such as 'node.role==worker'",
    "swarm.preferences": "a list of node labels to spread over, such as 'node.labels.zone'",
    "container_options.mounts.source": "a host path or volume name",
    "container_options.mounts.target": "an absolute path in the container",
    "container_options.mounts.type": "one of 'bind', 'volume'",
    "container_options.mounts.read_only": "true or false",
    "retention.completed": "a mapping {max_age, max_count}",
    "retention.failed": "a mapping {max_age, max_count}",
    "retention.cancelled": "a mapping {max_age, max_count}",
    "retention.completed.max_age": DURATION_RULE + ", or null",
    "retention.failed.max_age": DURATION_RULE + ", or null",
    "retention.cancelled.max_age": DURATION_RULE + ", or null",
    "retention.completed.max_count": "a whole number between 0 and 10000000, or null",
    "retention.failed.max_count": "a whole number between 0 and 10000000, or null",
    "retention.cancelled.max_count": "a whole number between 0 and 10000000, or null",
    "task_policy.images": "a list of image patterns such as 'ci/*'",
    "task_policy.mount_sources": "a list of host folders or volume names",
    "task_policy.writable_mounts": "true or false",
    "task_policy.devices": "a list of host device paths such as '/dev/fuse'",
    "task_policy.host_network": "true or false",
    "task_policy.runtimes": "a list of runtime names",
    "task_policy.gpus": "true or false",
    "task_policy.max_cpus": "a number of CPUs above 0 and at most 256, or null",
    "task_policy.max_memory": "a size such as '4g' (digits, then b, k, m or g), or null",
    "task_policy.max_shm_size": "a size such as '1g' (digits, then b, k, m or g), or null",
    "task_policy.max_pids": "a whole number between 16 and 1000000, or null",
    "task_policy.placement": "a list of constraint patterns such as 'node.labels.gpu==*'",
}
_MODELS: dict[tuple[str, ...], type[BaseModel]] = {
    (): Config,
    ("container_options",): ContainerOptions,
    ("container_options", "mounts"): ExtraMount,
    ("task_policy",): TaskPolicy,
    ("swarm",): SwarmSettings,
    ("retention",): Retention,
    ("retention", "completed"): RetentionRule,
    ("retention", "failed"): RetentionRule,
    ("retention", "cancelled"): RetentionRule,
}


def _describe(exc: ValidationError, source: sources.Source) -> str:
    """One line: where the value came from, the setting, its rule in words, the value given."""
    error = exc.errors()[0]
    path = _field_path(error["loc"])
    where = source.where(path[0]) if path else source.where("")
    if error["type"] == "extra_forbidden":
        model = _MODELS.get(path[:-1], Config)
        kind = "setting" if model is Config else "option"
        known = ", ".join(model.model_fields)
        prefix = f"{'.'.join(path[:-1])}: " if len(path) > 1 else ""
        return f"{where}: {prefix}unknown {kind} {path[-1]!r} (known: {known})"
    loc = error["loc"][:1] if len(path) == 1 else error["loc"]  # a mapping setting (pools): the whole of it
    value = _value(source.values, loc) if error["type"] != "missing" else None
    return f"{where}: {'.'.join(path)} must be {_rule(path)}, got {value!r}"


def _field_path(loc: tuple[Any, ...]) -> tuple[str, ...]:
    """The setting's names in `loc`, without list indices and pydantic's union-member tags."""
    path: tuple[str, ...] = ()
    for part in loc:
        if isinstance(part, int):
            continue
        model = _MODELS.get(path)
        if model is None or part not in model.model_fields:
            if model is not None:  # an unknown key is still part of the path
                path += (str(part),)
            break
        path += (str(part),)
    return path


def _rule(path: tuple[str, ...]) -> str:
    if len(path) == 1:
        extra = Config.model_fields[path[0]].json_schema_extra
        return str(extra["rule"]) if isinstance(extra, dict) else "valid"
    return NESTED_RULES.get(".".join(path), "valid")


def _value(values: Any, loc: tuple[Any, ...]) -> Any:
    """The value the user gave at `loc` (pydantic's `input` is the innermost, union-tagged one)."""
    for part in loc:
        in_dict = isinstance(values, dict) and part in values
        in_list = isinstance(values, list) and isinstance(part, int) and part < len(values)
        if in_dict or in_list:
            values = values[part]
        else:
            break
    return values
