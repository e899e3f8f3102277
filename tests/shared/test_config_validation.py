"""Config: defaults, the seeds' example, one-line refusals naming field and range, env overrides."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from air_executor.config import Config
from air_executor.errors import ConfigError
from conftest import DATA

OUT_OF_RANGE = [
    ("poll_interval: 0", "poll_interval", "between 1 and 60"),
    ("poll_interval: 61", "poll_interval", "between 1 and 60"),
    ("task_timeout: 59", "task_timeout", "between 60 and 7200"),
    ("task_timeout: 7201", "task_timeout", "between 60 and 7200"),
    ("max_concurrent_runners: 0", "max_concurrent_runners", "between 1 and 50"),
    ("max_concurrent_runners: 51", "max_concurrent_runners", "between 1 and 50"),
    ("log_format: xml", "log_format", "one of 'json', 'text'"),
    ("log_level: LOUD", "log_level", "one of 'DEBUG', 'INFO'"),
    ("poll_interval: soon", "poll_interval", "between 1 and 60"),
    ("pol_interval: 5", "pol_interval", "unknown setting"),
    ("launcher: kubernetes", "launcher", "'docker', 'swarm', 'auto'"),
    ("swarm: {volume: 'a b'}", "swarm.volume", "a volume name"),
    ("swarm: {constraints: ['node.role']}", "swarm.constraints", "Swarm constraints such as"),
    ("swarm: {preferences: ['spread=node.labels.zone']}", "swarm.preferences", "node labels to spread over"),
    ("swarm: {volume_options: {o: [1]}}", "swarm.volume_options", "driver option names to strings"),
    ("swarm: {colour: red}", "swarm: unknown option 'colour'", "known: volume"),
]


def _load(folder: Path, text: str | None = None, **env: str) -> Config:
    if text is not None:
        (folder / "config.yaml").write_text(text)
    return Config.load(base_path=folder, environ=env)


def test_defaults_without_a_file(tmp_path: Path) -> None:
    """With no config file and no environment the documented defaults apply."""
    config = _load(tmp_path)
    assert (config.poll_interval, config.task_timeout, config.max_concurrent_runners) == (5, 1800, 10)
    assert (config.log_level, config.log_format, config.max_parallel) == ("INFO", "json", 1)
    assert config.base == tmp_path.absolute()


def test_the_seeds_config_example_loads(tmp_path: Path) -> None:
    """The README's config.yaml example, given with --config, loads with its values.

    Its relative `base_path: .air-executor` means the folder beside the config file.
    """
    shutil.copy(DATA / "seed_config.yaml", tmp_path / "seed.yaml")
    config = Config.load(tmp_path / "seed.yaml", environ={})
    assert (config.poll_interval, config.task_timeout, config.max_concurrent_runners) == (5, 1800, 10)
    assert (config.base, config.log_level, config.log_format) == (tmp_path / ".air-executor", "INFO", "json")


def test_every_boundary_value_is_accepted(tmp_path: Path) -> None:
    """The ends of each documented range are allowed."""
    low = _load(tmp_path, "poll_interval: 1\ntask_timeout: 60\nmax_concurrent_runners: 1\nlog_format: text\n")
    assert (low.poll_interval, low.task_timeout, low.max_concurrent_runners, low.log_format) == (1, 60, 1, "text")
    high = _load(tmp_path, "poll_interval: 60\ntask_timeout: 7200\nmax_concurrent_runners: 50\n")
    assert (high.poll_interval, high.task_timeout, high.max_concurrent_runners) == (60, 7200, 50)


@pytest.mark.parametrize(("text", "field", "allowed"), OUT_OF_RANGE, ids=[c[0] for c in OUT_OF_RANGE])
def test_a_bad_value_is_refused_in_one_line_naming_field_and_range(
    tmp_path: Path, text: str, field: str, allowed: str
) -> None:
    """Each out-of-range or unknown setting raises ConfigError: one line, the field, the allowed values."""
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    message = str(caught.value)
    assert "\n" not in message and field in message and allowed in message, message
    assert str(tmp_path / "config.yaml") in message


def test_environment_overrides_win_over_the_file(tmp_path: Path) -> None:
    """AIR_EXECUTOR_<FIELD> variables replace the file's values."""
    text = "poll_interval: 5\ntask_timeout: 1800\nmax_concurrent_runners: 10\nlog_format: json\nlog_level: INFO\n"
    config = _load(
        tmp_path,
        text,
        AIR_EXECUTOR_POLL_INTERVAL="2",
        AIR_EXECUTOR_TASK_TIMEOUT="90",
        AIR_EXECUTOR_MAX_CONCURRENT_RUNNERS="3",
        AIR_EXECUTOR_LOG_FORMAT="text",
        AIR_EXECUTOR_LOG_LEVEL="DEBUG",
    )
    assert (config.poll_interval, config.task_timeout, config.max_concurrent_runners) == (2, 90, 3)
    assert (config.log_format, config.log_level) == ("text", "DEBUG")


def test_base_path_from_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    """AIR_EXECUTOR_BASE_PATH picks the base folder even when a config file names another."""
    (tmp_path / "custom.yaml").write_text("base_path: /somewhere/else\n")
    config = Config.load(tmp_path / "custom.yaml", environ={"AIR_EXECUTOR_BASE_PATH": str(tmp_path / "b")})
    assert config.base == tmp_path / "b"


def test_a_bad_environment_value_is_refused_naming_the_variable(tmp_path: Path) -> None:
    """An out-of-range override is refused in one line naming its variable and range."""
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, None, AIR_EXECUTOR_MAX_CONCURRENT_RUNNERS="99")
    message = str(caught.value)
    assert "\n" not in message and "$AIR_EXECUTOR_MAX_CONCURRENT_RUNNERS" in message
    assert "between 1 and 50" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("poll_interval: [1\n", "is not valid YAML at line"),
        ("poll_interval: 1\n  task_timeout: 60\n", "is not valid YAML at line 2"),
        ("- poll_interval\n- 5\n", "must be a mapping of settings"),
    ],
    ids=["unclosed", "bad-indent", "a-list"],
)
def test_invalid_yaml_gives_a_clear_error(tmp_path: Path, text: str, expected: str) -> None:
    """A config file that is not a YAML mapping is refused in one line that says so and where."""
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    message = str(caught.value)
    assert expected in message and "\n" not in message, message


def test_an_empty_file_means_defaults(tmp_path: Path) -> None:
    """An empty config.yaml (or only comments) is the same as none."""
    assert _load(tmp_path, "# nothing set yet\n").poll_interval == 5


def test_a_missing_explicit_config_file_is_an_error(tmp_path: Path) -> None:
    """--config naming a file that does not exist is refused, not silently ignored."""
    with pytest.raises(ConfigError, match="does not exist"):
        Config.load(tmp_path / "nope.yaml", environ={})


def test_every_setting_states_its_rule_and_the_rule_matches_its_bounds() -> None:
    """Each setting has a rule in words; a numeric range in the rule is the one its constraints enforce."""
    for name, info in Config.model_fields.items():
        extra = info.json_schema_extra
        assert isinstance(extra, dict) and extra.get("rule"), name
        bounds = {key: getattr(m, key) for m in info.metadata for key in ("ge", "gt", "le") if hasattr(m, key)}
        if "ge" in bounds and "le" in bounds:
            assert f"between {bounds['ge']:g} and {bounds['le']:g}" in str(extra["rule"]), name
        if "gt" in bounds:
            assert f"above {bounds['gt']:g} and at most {bounds['le']:g}" in str(extra["rule"]), name
